"""Docstring entries shared by the estimators, each written once.

A class docstring holds ``%(parameters)s`` and ``%(attributes)s``;
:func:`fill` replaces them with the shared entries, in order, after applying
the class's overrides (an entry's new text, or None to leave it out).
"""

PARAMETERS = {
    "n_components": """\
n_components : int, float or None, default=None
    Width of the code, i.e. the number of features ``transform`` returns,
    as PCA's ``n_components``. An int is the width itself, at most
    ``n_features``. A float in (0, 1) asks for the smallest code with which
    PCA explains at least that fraction of the validation rows' variance;
    since the network starts from PCA and keeps PCA when it cannot beat
    it, the autoencoder explains at least as much. None is the same as
    0.95. The resolved width is ``n_components_``.""",
    "hidden_layer_sizes": """\
hidden_layer_sizes : tuple of int, default=(256, 128)
    Widths of the hidden layers of the nonlinear branch of the encoder,
    from the input inwards; the decoder's branch mirrors them. The network
    is PCA's linear encoder and decoder plus these branches, whose last
    layers start at zero, so training starts from PCA's solution. ``()``
    leaves the linear autoencoder alone.""",
    "activation": """\
activation : {"relu", "tanh", "logistic", "identity", "leaky_relu", \
"elu", "gelu"}, default="relu"
    Activation after every hidden layer. With "identity" the whole network
    is linear and stays at PCA's solution.""",
    "alpha": """\
alpha : float, default=0.0
    Strength of the L2 penalty on the weights, as in
    :class:`~sklearn.neural_network.MLPRegressor`. It is measured against
    the squared error of the internally scaled data, so its effect does not
    depend on the input's units.""",
    "batch_size": """\
batch_size : int or "auto", default="auto"
    Rows per minibatch. "auto" means ``n_train // 20`` clipped to
    [32, 256] (and to ``n_train``), where ``n_train`` is the number of
    training rows; larger values are clipped to ``n_train`` with a warning.""",
    "learning_rate_init": """\
learning_rate_init : float, default=1e-3
    Initial step size of the Adam optimizer. ``fit`` anneals it to zero
    along a cosine over ``max_iter`` epochs; ``partial_fit`` keeps it
    constant.""",
    "max_iter": """\
max_iter : int or "auto", default="auto"
    Maximum number of epochs (passes over the training rows), as in
    MLPRegressor. "auto" sizes the schedule in optimizer steps rather than
    epochs: about 4,000 steps, within 40 to 1,000 epochs, so small and large
    data sets both get enough updates. Since the step size then reaches
    zero at the end of the schedule, running to the end is convergence and
    raises no ConvergenceWarning; an int that runs out while the model is
    still improving does.""",
    "tol": """\
tol : float, default=1e-4
    Improvement of the loss that counts as progress for the stopping rule,
    relative to the mean variance of the features (so it does not depend
    on the input's units).""",
    "n_iter_no_change": """\
n_iter_no_change : int, default=10
    Number of epochs without ``tol`` improvement tolerated before stopping.
    Unlike MLPRegressor, the patience always covers at least 100 optimizer
    steps, so data small enough for one step per epoch is not stopped by a
    few noisy epochs.""",
    "early_stopping": """\
early_stopping : bool, default=True
    Hold out ``validation_fraction`` of the training rows, stop when the
    validation loss stops improving, and keep the weights of the best
    epoch, or PCA's when no epoch beats them (see ``is_pca_``). Unlike
    MLPRegressor, this is on by default: it is what guards small data
    against overfitting. With False, training runs on all rows and stops on
    the training loss.""",
    "validation_fraction": """\
validation_fraction : float, default=0.1
    Fraction of the training rows held out when ``early_stopping=True``,
    split with :func:`~sklearn.model_selection.train_test_split`. With fewer
    than 2 rows on either side nothing is held out.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the weight initialisation, the validation split, the shuffling
    and any corruption. An int gives bit-identical results from one fit to
    the next on the same device. Global random states are never used or
    changed.""",
    "verbose": """\
verbose : int, default=0
    If positive, report each epoch (loss, validation loss, seconds): a live
    progress bar in a terminal, one plain line per epoch otherwise.""",
    "warm_start": """\
warm_start : bool, default=False
    If True, ``fit`` continues from the weights of the previous fit instead
    of starting again; the parameters that shape the network must not have
    changed.""",
    "device": """\
device : str, default="cpu"
    Where training runs: "cpu", "cuda", "cuda:N", "mps", or "auto" (an
    accelerator when one is available). Outputs are always numpy arrays,
    and a model fitted on a GPU transforms on a machine without one.""",
}

ATTRIBUTES = {
    "n_components_": """\
n_components_ : int
    Width of the code, as resolved from ``n_components``.""",
    "n_features_in_": """\
n_features_in_ : int
    Number of features seen during fit.""",
    "feature_names_in_": """\
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during fit. Defined only when X has feature
    names that are all strings.""",
    "mean_": """\
mean_ : ndarray of shape (`n_features_in_`,)
    Per-feature mean of the training rows, subtracted before encoding.""",
    "scale_": """\
scale_ : float
    Root mean square of the features' standard deviations. Inputs are
    divided by this single number, which keeps the training loss
    proportional to the squared error in the input's units.""",
    "validation_error_": """\
validation_error_ : float or None
    Training objective of the kept model on the validation rows, in the
    input's squared units (the mean squared reconstruction error for the
    plain autoencoder). None without validation rows.""",
    "pca_validation_error_": """\
pca_validation_error_ : float or None
    The same for PCA's solution, the network's starting point: compare it
    with ``validation_error_`` to see the gain over PCA. None without
    validation rows, and for networks that do not start from PCA.""",
    "is_pca_": """\
is_pca_ : bool
    True when no epoch beat PCA's solution, so the fitted model is PCA.""",
    "n_iter_": """\
n_iter_ : int
    Number of epochs run, summed over ``partial_fit`` and warm-started fits.""",
    "t_": """\
t_ : int
    Number of training rows seen.""",
    "loss_curve_": """\
loss_curve_ : list of float
    Training loss (in the input's squared units, plus the penalty) at the
    end of each epoch.""",
    "best_loss_": """\
best_loss_ : float
    Lowest value of ``loss_curve_``.""",
    "validation_scores_": """\
validation_scores_ : list of float or None
    Negative validation loss at each epoch; None without validation rows.""",
    "best_validation_score_": """\
best_validation_score_ : float or None
    Best of ``validation_scores_``; None without validation rows.""",
    "module_": """\
module_ : torch.nn.Module
    A float32 CPU copy of the fitted network, in network units (its input
    is ``(X - mean_) / scale_``); :meth:`encoder_module` and
    :meth:`decoder_module` give modules in the input's units.""",
}


def _indent(text):
    return "\n".join(("    " + line) if line else line for line in text.splitlines())


def _section(entries, overrides, extra):
    merged = {**entries, **(overrides or {}), **(extra or {})}
    texts = [text for text in merged.values() if text is not None]
    return "\n\n".join(_indent(text) for text in texts).lstrip()


def fill(parameters=None, attributes=None, extra_parameters=None, extra_attributes=None):
    """Class decorator filling ``%(parameters)s`` and ``%(attributes)s``.

    Parameters
    ----------
    parameters, attributes : dict, default=None
        Overrides of shared entries: name -> new text, or None to drop it.
    extra_parameters, extra_attributes : dict, default=None
        Entries of the class's own, appended after the shared ones.

    Returns
    -------
    decorator : callable
    """

    def decorate(cls):
        cls.__doc__ = cls.__doc__ % {
            "parameters": _section(PARAMETERS, parameters, extra_parameters),
            "attributes": _section(ATTRIBUTES, attributes, extra_attributes),
        }
        return cls

    return decorate
