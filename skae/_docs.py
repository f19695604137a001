"""Docstring pieces shared by the estimators, so each is written once."""

PARAMETERS = """\
n_components : int, default=2
        Width of the code, i.e. the number of features ``transform`` returns.
        Small codes compress more and reconstruct less sharply; a code wider
        than the input compresses nothing.

    hidden_layer_sizes : tuple of int, default=(256, 128)
        Widths of the encoder's hidden layers, from the input inwards. The
        decoder mirrors them. ``()`` gives a single linear layer each way,
        which with ``activation="identity"`` spans the same subspace as PCA.

    activation : {"relu", "tanh", "logistic", "identity", "leaky_relu", \
"elu", "gelu"}, default="relu"
        Activation after every hidden layer. The code and the output layer
        are linear.

    alpha : float, default=0.0
        Strength of the L2 penalty on the weights, as in
        :class:`~sklearn.neural_network.MLPRegressor`. It is measured against
        the squared error of the internally scaled data, so its effect does
        not depend on the input's units.

    batch_size : int or "auto", default="auto"
        Rows per minibatch. "auto" means ``min(200, n_samples)``; larger
        values are clipped to ``n_samples`` with a warning.

    learning_rate_init : float, default=1e-3
        Step size of the Adam optimizer.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training data).

    tol : float, default=1e-4
        Improvement that counts as progress for the stopping rule, relative
        to the total variance of the training data (so it does not depend on
        the input's units). Training stops when the training loss (or, with
        ``early_stopping=True``, the validation score) has not improved by
        ``tol`` for more than ``n_iter_no_change`` consecutive epochs.

    n_iter_no_change : int, default=10
        Number of epochs without ``tol`` improvement tolerated before
        stopping.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        score stops improving, and restore the weights of the best epoch.

    validation_fraction : float, default=0.1
        Fraction of the training data held out when ``early_stopping=True``.
        The split is drawn from ``random_state``.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the shuffling, the validation split
        and any corruption. An int gives bit-identical results from one fit
        to the next on the CPU. Global random states are never used or
        changed.

    verbose : int, default=0
        If positive, print one line per epoch (epoch, training loss,
        validation loss, seconds), and show a progress bar for fits that run
        longer than a few seconds.

    warm_start : bool, default=False
        If True, ``fit`` continues from the weights of the previous fit
        instead of starting again.

    device : str, default="cpu"
        Where training runs: "cpu", "cuda", "cuda:N", "mps", or "auto" (an
        accelerator when one is available). Outputs are always numpy arrays,
        and a model fitted on a GPU transforms on a machine without one."""

ATTRIBUTES = """\
n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when X has feature
        names that are all strings.

    mean_ : ndarray of shape (`n_features_in_`,)
        Per-feature mean of the training data, subtracted before encoding.

    scale_ : float
        Root mean square of the features' standard deviations. Inputs are
        divided by this single number, which keeps the training loss
        proportional to the squared error in the input's units.

    n_iter_ : int
        Number of epochs run, summed over ``partial_fit`` and warm-started
        fits.

    t_ : int
        Number of training samples seen.

    loss_curve_ : list of float
        Training loss (mean squared error in the input's units, plus the
        penalty) at the end of each epoch.

    best_loss_ : float
        Lowest value of ``loss_curve_``.

    validation_scores_ : list of float or None
        Negative mean squared error on the validation split at each epoch;
        None unless ``early_stopping=True``.

    best_validation_score_ : float or None
        Best of ``validation_scores_``; None unless ``early_stopping=True``.

    module_ : torch.nn.Module
        A CPU copy of the trained network, with ``encode`` and ``decode``
        methods, e.g. to initialise a supervised network."""


def fill(cls):
    """Substitute ``%(parameters)s`` and ``%(attributes)s`` in a class docstring."""
    cls.__doc__ = cls.__doc__ % {"parameters": PARAMETERS, "attributes": ATTRIBUTES}
    return cls
