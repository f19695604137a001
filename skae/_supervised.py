"""Supervised estimators for the few-labels case: pretrain, then fine-tune.

:class:`AutoencoderClassifier` and :class:`AutoencoderRegressor` fit an
autoencoder on every row of X, labelled or not, then train the fitted
encoder (:meth:`~skae.AutoencoderTransformer.encoder_module`) plus a small
head on the labelled rows. Unlabeled rows are marked as scikit-learn's
semi-supervised estimators mark them: ``-1`` for a classifier, NaN for a
regressor.

The supervised loop is skorch's (``NeuralNetClassifier`` /
``NeuralNetRegressor``) with explicit generators for every random draw.
"""

import copy
import math
import numbers
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, clone
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback, EpochScoring, LRScheduler
from skorch.helper import predefined_split
from torch import nn

from . import _modules
from ._autoencoder import AutoencoderTransformer
from ._utils import epoch_budget, map_chunks, resolve_device, seed_sequence, torch_generator

# The automatic schedule of the supervised stage: about this many optimizer
# steps, within these bounds on the number of epochs.
STEP_BUDGET = 1000
EPOCH_BOUNDS = (20, 300)

# Patience covers at least this many optimizer steps, so that a handful of
# labelled rows (one step per epoch) is not stopped by a few noisy epochs.
MIN_PATIENCE_STEPS = 50

# Fewer validation (or training) rows than this and nothing is held out.
MIN_VALIDATION_ROWS = 2


class _Standardize(nn.Module):
    """``(z - mean) / scale`` with fixed statistics stored as buffers."""

    def __init__(self, mean, scale):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, z):
        return (z - self.mean) / self.scale


class EncoderWithHead(nn.Module):
    """A pretrained encoder followed by a head: ``head(encoder(x))``.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps inputs in the user's units to codes.
    head : torch.nn.Module
        Maps codes to outputs (class logits, or the standardised target).
    """

    def __init__(self, encoder, head):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x):
        return self.head(self.encoder(x))


class _Batches:
    """skorch iterator: minibatches sliced from tensors, shuffled by a generator.

    skorch's default, a ``DataLoader``, collates rows one at a time; the
    labelled rows fit in memory, so batches are slices of one tensor.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None):
        self.X = torch.as_tensor(dataset.X)
        self.y = None if dataset.y is None else torch.as_tensor(dataset.y)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self):
        return math.ceil(len(self.X) / self.batch_size)

    def __iter__(self):
        n = len(self.X)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            rows = slice(start, start + self.batch_size) if order is None else (
                order[start : start + self.batch_size]
            )
            yield self.X[rows], (None if self.y is None else self.y[rows])


_SHARED_PARAMETERS = """\
autoencoder : estimator or None, default=None
    The unfitted autoencoder pretrained on every row of X: any skae
    transformer with an ``encoder_module`` method, e.g.
    ``AutoencoderTransformer(n_components=16, hidden_layer_sizes=(64,))``
    or a :class:`~skae.DenoisingAutoencoderTransformer`. It is cloned, never
    fitted in place; if its ``random_state`` is None, the clone gets one
    drawn from ``random_state``. None means ``AutoencoderTransformer()``.
head_hidden_layer_sizes : tuple of int, default=()
    Widths of the head's hidden layers between the code and the output,
    which read the codes standardised on the rows the encoder saw. ``()``
    gives a linear head, which starts from the regularised linear model
    fitted to the labelled training rows' codes (scikit-learn's
    :class:`~sklearn.linear_model.LogisticRegression` or
    :class:`~sklearn.linear_model.Ridge` with default parameters); a
    deeper head starts from random weights.
activation : {"relu", "tanh", "logistic", "identity", "leaky_relu", \
"elu", "gelu"}, default="relu"
    Activation after every hidden layer of the head.
fine_tune : {"all", "head"}, default="all"
    What the labelled rows train. "all" trains the encoder and the head;
    "head" freezes the pretrained encoder (its weights stay bit-identical)
    and trains the head alone.
encoder_learning_rate_ratio : float, default=0.1
    With ``fine_tune="all"``, the encoder's step size is this fraction of
    ``learning_rate_init``, so that a few labels adjust the pretrained
    features rather than overwrite them. 1.0 trains both at the same rate.
pretrain : bool, default=True
    Whether the encoder starts from the autoencoder fitted on all rows.
    False gives the baseline that pretraining is measured against: the same
    encoder architecture, fitted to the labelled rows only and then
    re-initialised at random, trained from scratch with the same loop.
batch_size : int or "auto", default="auto"
    Labelled rows per minibatch. "auto" means ``n_train // 10`` clipped to
    [16, 128] (and to ``n_train``), where ``n_train`` is the number of
    labelled training rows; larger values are clipped to ``n_train``.
learning_rate_init : float, default=1e-3
    Initial step size of Adam for the head, annealed to zero along a
    cosine over ``max_iter`` epochs.
max_iter : int or "auto", default="auto"
    Maximum number of fine-tuning epochs. "auto" means about 1,000
    optimizer steps, within 20 to 300 epochs.
tol : float, default=1e-4
    Improvement of the validation loss that resets the patience counter.
n_iter_no_change : int, default=10
    Fine-tuning stops after this many epochs without an improvement of
    ``tol`` (at least 50 optimizer steps' worth); the best epoch's weights
    are restored.
early_stopping : bool, default=True
    Hold out ``validation_fraction`` of the labelled rows to stop on and to
    pick the best epoch; the starting weights count as epoch 0, so
    fine-tuning that does not beat them on those rows is undone. Without it (or with fewer than 2 rows to hold
    out) every epoch of the schedule runs and the last weights are kept.
validation_fraction : float, default=0.2
    Fraction of the labelled rows held out for early stopping, stratified
    by class for the classifier. When there are too few labelled rows to
    stratify, the held-out rows are drawn so that every class keeps at
    least one training row.
random_state : int, RandomState instance or None, default=None
    Seeds the autoencoder (when its own ``random_state`` is None), the
    validation split, the head's initial weights and the shuffling, through
    explicit generators; global random states are never touched. Pass an
    int for reproducible results.
verbose : int, default=0
    Print skorch's progress table of the fine-tuning epochs.
device : str, default="cpu"
    Where the fine-tuning runs ("cpu", "cuda", "cuda:N", "mps" or "auto").
    The fitted network is kept on the CPU."""

_SHARED_ATTRIBUTES = """\
autoencoder_ : estimator
    The fitted autoencoder (before fine-tuning).
module_ : torch.nn.Module
    The fine-tuned network, a float32 CPU module in eval mode mapping X (in
    the user's units) to the head's output. A copy of it can be trained
    further.
n_components_ : int
    Width of the code the head reads.
n_labeled_ : int
    Number of labelled rows fine-tuning used (training and validation).
n_iter_ : int
    Number of fine-tuning epochs run.
best_epoch_ : int
    The epoch whose weights were kept; 0 means the starting weights.
loss_curve_ : list of float
    Training loss of every fine-tuning epoch.
validation_loss_curve_ : list of float or None
    Validation loss of every epoch; None without validation rows.
n_features_in_ : int
    Number of features seen during fit.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during fit. Defined only when X has feature
    names that are all strings."""


class _BaseFineTuned(BaseEstimator):
    """Pretrain on all rows, fine-tune on the labelled ones. Not for direct use."""

    _parameter_constraints: dict = {
        "autoencoder": [HasMethods(["fit", "encoder_module"]), None],
        "head_hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_modules.ACTIVATIONS))],
        "fine_tune": [StrOptions({"all", "head"})],
        "encoder_learning_rate_ratio": [Interval(Real, 0, None, closed="left")],
        "pretrain": ["boolean"],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str],
    }

    def __init__(
        self,
        autoencoder=None,
        *,
        head_hidden_layer_sizes=(),
        activation="relu",
        fine_tune="all",
        encoder_learning_rate_ratio=0.1,
        pretrain=True,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter="auto",
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=True,
        validation_fraction=0.2,
        random_state=None,
        verbose=0,
        device="cpu",
    ):
        self.autoencoder = autoencoder
        self.head_hidden_layer_sizes = head_hidden_layer_sizes
        self.activation = activation
        self.fine_tune = fine_tune
        self.encoder_learning_rate_ratio = encoder_learning_rate_ratio
        self.pretrain = pretrain
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------- hooks

    def _targets(self, y):
        """``(labelled_mask, encoded_targets, fitted_target_attributes)``."""
        raise NotImplementedError

    def _net_class(self):
        raise NotImplementedError

    def _n_outputs(self, attrs):
        raise NotImplementedError

    def _stratify(self, y):
        return None

    # ------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Pretrain an autoencoder on all rows of X, then fine-tune on the labelled ones.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, labelled and unlabeled rows alike.
        y : array-like of shape (n_samples,)
            Targets; unlabeled rows are marked ``-1`` (classifier) or NaN
            (regressor).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with torch.inference_mode(False), torch.enable_grad():
            fitted = self._fit(X, y)
        # Assign in one step: a failed fit leaves the previous model in place.
        for name in ("feature_names_in_",):
            if name not in fitted:
                self.__dict__.pop(name, None)
        self.__dict__.update(fitted)
        return self

    def _fit(self, X, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        checked = copy.copy(self)  # validate_data records the features on it
        X = validate_data(checked, X, accept_sparse="csr", dtype=[np.float64, np.float32])
        y = self._check_y(y)
        check_consistent_length(X, y)
        labelled, targets, attrs = self._targets(y)
        n_labeled = int(labelled.sum())
        if n_labeled == 0:
            raise ValueError(
                f"All {len(y)} rows are unlabeled (marked {self._unlabeled_marker}): "
                f"{type(self).__name__} needs labelled rows to fine-tune on."
            )
        device = resolve_device(self.device)
        ae_seq, split_seq, head_seq, shuffle_seq, reinit_seq = seed_sequence(
            self.random_state
        ).spawn(5)

        # 1. Pretrain on every row (or, without pretraining, fit the same
        #    architecture to the labelled rows and forget its weights).
        rows = np.flatnonzero(labelled)
        X_lab = X[rows]
        autoencoder = self._new_autoencoder(ae_seq)
        autoencoder.fit(X if self.pretrain else X_lab)
        encoder = autoencoder.encoder_module()
        if not self.pretrain:
            _modules.init_weights(
                encoder.network, getattr(autoencoder, "activation", "relu"),
                torch_generator(reinit_seq),
            )
        code_rows = X if self.pretrain else X_lab
        codes = self._encode(encoder, code_rows)
        code_mean = codes.mean(axis=0)
        code_scale = codes.std(axis=0)
        code_scale[~(code_scale > 1e-6 * max(float(code_scale.max(initial=0.0)), 1e-30))] = 1.0
        n_components = codes.shape[1]

        # 2. The head, initialised from an explicit generator.
        sizes = _check_sizes(self.head_hidden_layer_sizes)
        n_out = self._n_outputs(attrs)
        layers = _modules.build(
            lambda: _modules.mlp([n_components, *sizes, n_out], self.activation),
            self.activation, torch_generator(head_seq),
        )
        head = nn.Sequential(_Standardize(code_mean, code_scale), layers)
        module = EncoderWithHead(encoder, head)
        if self.fine_tune == "head":
            encoder.requires_grad_(False)

        # 3. A linear head starts from the regularised linear model fitted
        #    to the codes of the labelled training rows.
        train_idx, valid_idx = self._split(len(rows), split_seq, targets)
        if not sizes:
            lab_codes = self._encode(encoder, X_lab[train_idx]) if self.pretrain else (
                codes[train_idx]
            )
            weight, bias = self._linear_start(
                (lab_codes - code_mean) / code_scale, targets[train_idx], n_out
            )
            with torch.no_grad():
                layers[0].weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
                layers[0].bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

        # 4. Fine-tune on the labelled rows with skorch.
        X_dense = _dense_float32(X_lab)
        n_train = len(train_idx)
        batch_size = self._resolve_batch_size(n_train)
        steps_per_epoch = math.ceil(n_train / batch_size)
        epochs = self._resolve_max_iter(steps_per_epoch)
        patience = max(self.n_iter_no_change, math.ceil(MIN_PATIENCE_STEPS / steps_per_epoch))
        callbacks = [
            ("schedule", LRScheduler(
                torch.optim.lr_scheduler.CosineAnnealingLR,
                T_max=max(epochs * steps_per_epoch, 1), step_every="batch",
                event_name=None,
            )),
        ]
        has_valid = valid_idx is not None
        keeper = None
        if has_valid:
            callbacks.append(("valid_score", EpochScoring(
                self._valid_scoring, lower_is_better=False, on_train=False,
                name="valid_score",
            )))
            keeper = _KeepBest(
                X_dense[valid_idx], targets[valid_idx], self._criterion(), patience,
                self.tol,
            )
            callbacks.append(("keep_best", keeper))
        lr = self.learning_rate_init
        param_groups = []
        if self.fine_tune == "all":
            param_groups = [("encoder.*", {"lr": lr * self.encoder_learning_rate_ratio})]
        net = self._net_class()(
            module,
            criterion=self._criterion,
            optimizer=torch.optim.Adam,
            optimizer__param_groups=param_groups,
            lr=lr,
            max_epochs=epochs,
            batch_size=batch_size,
            iterator_train=_Batches,
            iterator_train__shuffle=True,
            iterator_train__generator=torch_generator(shuffle_seq),
            iterator_valid=_Batches,
            iterator_valid__batch_size=max(batch_size, 4096),
            train_split=(
                predefined_split(_dataset(X_dense[valid_idx], targets[valid_idx]))
                if has_valid else None
            ),
            callbacks=callbacks,
            device=device,
            verbose=self.verbose,
            **self._net_kwargs(),
        )
        net.fit(X_dense[train_idx], targets[train_idx])
        history = net.history
        module = net.module_.to("cpu").eval().requires_grad_(False)

        fitted = {
            **attrs,
            "autoencoder_": autoencoder,
            "module_": module,
            "n_components_": n_components,
            "n_labeled_": n_labeled,
            "n_iter_": len(history),
            "loss_curve_": [float(v) for v in history[:, "train_loss"]],
            "validation_loss_curve_": (
                [float(v) for v in history[:, "valid_loss"]] if has_valid else None
            ),
            "validation_scores_": (
                [float(v) for v in history[:, "valid_score"]] if has_valid else None
            ),
            "best_epoch_": keeper.best_epoch_ if has_valid else len(history),
            "n_features_in_": checked.n_features_in_,
        }
        if hasattr(checked, "feature_names_in_"):
            fitted["feature_names_in_"] = checked.feature_names_in_
        return fitted

    def _new_autoencoder(self, seq):
        autoencoder = (
            AutoencoderTransformer() if self.autoencoder is None else clone(self.autoencoder)
        )
        params = autoencoder.get_params(deep=False)
        if "random_state" in params and params["random_state"] is None:
            autoencoder.set_params(random_state=int(seq.generate_state(1)[0] >> 1))
        return autoencoder

    @staticmethod
    def _encode(encoder, X):
        return _predict(encoder, X)

    def _split(self, n, seq, targets):
        """Training and validation positions among the labelled rows."""
        everything = (np.arange(n), None)
        if not self.early_stopping:
            return everything
        n_valid = math.ceil(self.validation_fraction * n)
        if n_valid < MIN_VALIDATION_ROWS or n - n_valid < MIN_VALIDATION_ROWS:
            return everything
        seed = int(seq.generate_state(1)[0])
        stratify = self._stratify(targets)
        if stratify is None:
            train, valid = train_test_split(np.arange(n), test_size=n_valid, random_state=seed)
            return np.sort(train), np.sort(valid)
        try:
            train, valid = train_test_split(
                np.arange(n), test_size=n_valid, random_state=seed, stratify=stratify
            )
        except ValueError:  # too few rows per class to stratify on
            valid = _keep_every_class(stratify, n_valid, seed)
            if len(valid) < MIN_VALIDATION_ROWS:
                return everything
            train = np.setdiff1d(np.arange(n), valid)
        return np.sort(train), np.sort(valid)

    def _resolve_batch_size(self, n_train):
        if self.batch_size == "auto":
            return min(max(16, n_train // 10), 128, n_train)
        return min(self.batch_size, n_train)

    def _resolve_max_iter(self, steps_per_epoch):
        if self.max_iter != "auto":
            return self.max_iter
        return epoch_budget(steps_per_epoch, STEP_BUDGET, EPOCH_BOUNDS)

    # ---------------------------------------------------------- inference

    def _output(self, X):
        """The network's output for X, float64, shape (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32]
        )
        return _predict(self.module_, X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class _KeepBest(Callback):
    """Early stopping on the validation loss that keeps the best weights.

    The starting weights are a candidate too (epoch 0): when no epoch beats
    them on the validation rows, fine-tuning changes nothing. Training stops
    when the validation loss has not improved by ``tol`` for ``patience``
    epochs, by skorch's convention (``KeyboardInterrupt``, which skorch's
    ``fit`` catches).
    """

    def __init__(self, X_valid, y_valid, criterion, patience, tol):
        self.X_valid = X_valid
        self.y_valid = y_valid
        self.criterion = criterion
        self.patience = patience
        self.tol = tol

    def on_train_begin(self, net, **kwargs):
        module = net.module_
        was_training = module.training
        module.eval()
        with torch.no_grad():
            device = next(iter(module.buffers())).device
            out = module(torch.as_tensor(self.X_valid, device=device))
            start = float(self.criterion(out, torch.as_tensor(self.y_valid, device=device)))
        module.train(was_training)
        self.best_score_ = start if math.isfinite(start) else math.inf
        self.best_state_ = _state(module)
        self.best_epoch_ = 0
        self.reference_ = self.best_score_
        self.misses_ = 0

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1, "valid_loss"]
        if score < self.best_score_:
            self.best_score_, self.best_epoch_ = score, len(net.history)
            self.best_state_ = _state(net.module_)
        if score < self.reference_ - self.tol:
            self.reference_, self.misses_ = score, 0
        else:
            self.misses_ += 1
        if self.misses_ >= self.patience or not math.isfinite(score):
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        net.module_.load_state_dict(self.best_state_)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _check_sizes(sizes):
    sizes = (sizes,) if isinstance(sizes, numbers.Integral) else tuple(sizes)
    for size in sizes:
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
            raise ValueError(
                f"head_hidden_layer_sizes must hold positive integers; got {sizes!r}."
            )
    return tuple(int(s) for s in sizes)


def _dense_float32(X):
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=np.float32)


def _dataset(X, y):
    from skorch.dataset import Dataset

    return Dataset(X, y)


def _predict(module, X):
    """``module`` applied to X in row chunks, in float32, returned as float64."""
    module = module.eval()

    def block(rows):
        with torch.inference_mode():
            return module(torch.from_numpy(_dense_float32(rows))).double().numpy()

    first = block(X[:1]) if X.shape[0] else None
    n_out = first.shape[1] if first is not None else 0
    width = max(n_out, X.shape[1])
    return map_chunks(X, block, shape=(X.shape[0], n_out), dtype=np.float64,
                      row_bytes=16 * width + 4096)


class AutoencoderClassifier(ClassifierMixin, _BaseFineTuned):
    """Classifier for few labels: autoencoder pretraining, then fine-tuning.

    ``fit(X, y)`` first fits an autoencoder to every row of X, labelled or
    not, so that the encoder learns the structure of all the data. It then
    trains that encoder plus a small head (linear by default) on the
    labelled rows, with cross-entropy. As in scikit-learn's
    semi-supervised estimators (:class:`~sklearn.semi_supervised.SelfTrainingClassifier`,
    :class:`~sklearn.semi_supervised.LabelSpreading`), rows whose label is
    ``-1`` are unlabeled. When every row is labelled, pretraining still uses
    them all, without their labels.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen among the labelled rows.
    validation_scores_ : list of float or None
        Accuracy on the validation rows after every epoch; None without
        validation rows.
    %(attributes)s

    See Also
    --------
    AutoencoderRegressor : The same for a continuous target.
    AutoencoderTransformer : The autoencoder that is pretrained.
    sklearn.semi_supervised.SelfTrainingClassifier : Another use of unlabeled rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae import AutoencoderClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> y_few = np.full_like(y, -1)
    >>> y_few[:100] = y[:100]  # only 100 of the 1797 rows are labelled
    >>> clf = AutoencoderClassifier(
    ...     AutoencoderTransformer(n_components=16, hidden_layer_sizes=(64,)),
    ...     random_state=0,
    ... ).fit(X, y_few)
    >>> clf.predict(X[:5]).shape
    (5,)
    >>> clf.predict_proba(X[:5]).shape
    (5, 10)
    """

    _unlabeled_marker = "-1"
    _criterion = nn.CrossEntropyLoss
    _valid_scoring = "accuracy"

    def _check_y(self, y):
        return column_or_1d(y, warn=True)

    def _targets(self, y):
        labelled = _labelled_mask(y)
        if not labelled.any():
            return labelled, None, {}
        check_classification_targets(y[labelled])
        encoder = LabelEncoder().fit(y[labelled])
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes among the labelled "
                f"rows; got 1 class: {encoder.classes_[0]!r}."
            )
        targets = encoder.transform(y[labelled]).astype(np.int64)
        return labelled, targets, {"classes_": encoder.classes_}

    def _net_class(self):
        return NeuralNetClassifier

    def _net_kwargs(self):
        return {}

    def _n_outputs(self, attrs):
        return len(attrs["classes_"])

    def _stratify(self, targets):
        return targets

    @staticmethod
    def _linear_start(codes, targets, n_out):
        present = np.unique(targets)
        weight, bias = np.zeros((n_out, codes.shape[1])), np.zeros(n_out)
        if len(present) < 2:  # every training row in one class
            bias[present] = 1.0
            return weight, bias
        model = LogisticRegression().fit(codes, targets)
        if len(present) == 2:  # one score; split it between the two logits
            coef = np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
            intercept = np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
        else:
            coef, intercept = model.coef_, model.intercept_
        weight[present], bias[present] = coef, intercept
        # Classes absent from the training rows start unlikely.
        absent = np.setdiff1d(np.arange(n_out), present)
        bias[absent] = intercept.min() - 5.0
        return weight, bias

    def predict_proba(self, X):
        """Class probabilities of the rows of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, in the order of ``classes_``.
        """
        logits = self._output(X)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict(self, X):
        """Most probable class of each row of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        scores = self._output(X)  # checks that the estimator is fitted
        return self.classes_[np.argmax(scores, axis=1)]


class AutoencoderRegressor(RegressorMixin, _BaseFineTuned):
    """Regressor for few labels: autoencoder pretraining, then fine-tuning.

    ``fit(X, y)`` first fits an autoencoder to every row of X, labelled or
    not, then trains its encoder plus a small head (linear by default) on
    the labelled rows with the squared error. Rows whose target is NaN are
    unlabeled; the target is standardised on the labelled rows while
    training, and predictions are in its units.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    y_mean_ : float
        Mean of the labelled targets, added back to the network's output.
    y_scale_ : float
        Standard deviation of the labelled targets (1.0 if they are
        constant), which the network's output is multiplied by.
    validation_scores_ : list of float or None
        Coefficient of determination (R^2) on the validation rows after
        every epoch; None without validation rows.
    %(attributes)s

    See Also
    --------
    AutoencoderClassifier : The same for class labels.
    AutoencoderTransformer : The autoencoder that is pretrained.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from skae import AutoencoderTransformer
    >>> from skae import AutoencoderRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> y_few = y.copy()
    >>> y_few[100:] = np.nan  # only the first 100 rows are labelled
    >>> reg = AutoencoderRegressor(
    ...     AutoencoderTransformer(n_components=5, hidden_layer_sizes=(16,)),
    ...     random_state=0,
    ... ).fit(X, y_few)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _unlabeled_marker = "NaN"
    _criterion = nn.MSELoss
    _valid_scoring = "r2"

    def _check_y(self, y):
        y = check_array(
            y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
            input_name="y",
        )
        return column_or_1d(y, warn=True)

    def _targets(self, y):
        labelled = ~np.isnan(y)
        if not labelled.any():
            return labelled, None, {}
        values = y[labelled]
        mean = float(values.mean())
        scale = float(values.std())
        if not scale > 0:
            scale = 1.0
        targets = ((values - mean) / scale).astype(np.float32)[:, None]
        return labelled, targets, {"y_mean_": mean, "y_scale_": scale}

    def _net_class(self):
        return NeuralNetRegressor

    def _net_kwargs(self):
        return {}

    def _n_outputs(self, attrs):
        return 1

    @staticmethod
    def _linear_start(codes, targets, n_out):
        model = Ridge().fit(codes, targets[:, 0])
        return model.coef_[None, :], np.array([model.intercept_])

    def predict(self, X):
        """Predicted target of each row of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predictions in the target's units.
        """
        output = self._output(X)[:, 0]  # checks that the estimator is fitted
        return output * self.y_scale_ + self.y_mean_


def _keep_every_class(classes, n_valid, seed):
    """Up to ``n_valid`` random rows to hold out, leaving every class a training row."""
    left = dict(zip(*np.unique(classes, return_counts=True)))
    valid = []
    for row in np.random.default_rng(seed).permutation(len(classes)):
        if len(valid) == n_valid:
            break
        if left[classes[row]] > 1:
            left[classes[row]] -= 1
            valid.append(row)
    return np.array(valid, dtype=int)


def _labelled_mask(y):
    """Rows whose label is not scikit-learn's unlabeled marker ``-1``."""
    if y.dtype.kind in "iuf":
        return y != -1
    return np.array(
        [not (isinstance(v, numbers.Number) and not isinstance(v, bool) and v == -1)
         for v in y],
        dtype=bool,
    )


for _cls in (AutoencoderClassifier, AutoencoderRegressor):
    _cls.__doc__ = _cls.__doc__.replace(
        "%(parameters)s", _SHARED_PARAMETERS.replace("\n", "\n    ")
    ).replace("%(attributes)s", _SHARED_ATTRIBUTES.replace("\n", "\n    "))
del _cls
