"""The estimator layer shared by every skae autoencoder.

:class:`BaseAutoencoder` validates, resolves and assigns; the training engine
(:func:`skae._training.train`) trains; the networks live in
:mod:`skae._modules`. A variant is a small subclass with its own parameters
and documentation that overrides some of these hooks:

* ``_build_network(n_features, n_components)`` -- the torch network, whose
  ``forward(x)`` returns ``(reconstruction, code, *extras)``;
* ``_loss(output, target, X)`` -- the training loss in network units, where
  ``output`` is what ``forward`` returned, ``target`` the clean batch and
  ``X`` the network's (possibly corrupted) input;
* ``_corruption(stats)`` -- what is done to the input while training;
* ``_check_params(n_features)`` -- checks the parameter rules cannot express;
* ``_fit_statistics(X, rows)`` -- extra fitted attributes learnt on the first fit.

Class attributes say the rest: ``_architecture_params`` (parameters that
shape the network, which a warm start may not change), ``_pca_anchored``
(the network starts as PCA), ``_overcomplete`` (a code wider than the input
is allowed) and ``_codes_in_input_units`` (codes scale with the input, as
PCA's do).
"""

import copy
import inspect
import math
import numbers
import sys
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _dask, _distributed, _modules
from ._version import __version__
from ._utils import (
    NETWORK_UNIT_LIMIT,
    as_tensor,
    check_has_columns,
    epoch_budget,
    map_chunks,
    numpy_to_tensors,
    resolve_device,
    seed_sequence,
    tensors_to_numpy,
    torch_generator,
)

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - older scikit-learn

    class CallbackSupportMixin:
        """Stand-in for scikit-learn versions without ``sklearn.callback``."""


# n_components=None keeps the smallest code that explains this fraction of
# the validation rows' variance.
DEFAULT_EXPLAINED_VARIANCE = 0.95

# The automatic schedule: about this many optimizer steps, within these
# bounds on the number of epochs.
STEP_BUDGET = 4000
EPOCH_BOUNDS = (40, 1000)

# Patience covers at least this many optimizer steps, so that data small
# enough for one step per epoch is not stopped by a few noisy epochs.
MIN_PATIENCE_STEPS = 100

# Fewer rows than this and nothing is held out for validation.
MIN_VALIDATION_ROWS = 2



class InconsistentVersionWarning(UserWarning):
    """An estimator was unpickled from another version of skae.

    Its state may not fit this version's code: refit it, or load it with
    the version that saved it.
    """


def _check_hidden_layer_sizes(hidden_layer_sizes):
    sizes = (
        (hidden_layer_sizes,)
        if isinstance(hidden_layer_sizes, numbers.Integral)
        else tuple(hidden_layer_sizes)
    )
    for size in sizes:
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
            raise ValueError(
                "hidden_layer_sizes must hold positive integers; got "
                f"{hidden_layer_sizes!r}."
            )
    return tuple(int(size) for size in sizes)


def _mse(output, target, X):
    return torch.nn.functional.mse_loss(output[0], target)


def warn_user(message, category):
    """Warn with the first frame outside skae and the libraries it calls."""
    skip = [str(Path(__file__).parent)]
    for name in ("sklearn", "skorch", "torch", "joblib"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            skip.append(str(Path(module.__file__).parent))
    level, frame = 2, sys._getframe(1)  # stacklevel 2 is the caller
    while frame is not None and frame.f_code.co_filename.startswith(tuple(skip)):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class BaseAutoencoder(
    CallbackSupportMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Shared estimator behind every skae autoencoder. Not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_modules.ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "device": [str],
    }

    _architecture_params = ("n_components", "hidden_layer_sizes", "activation")
    _pca_anchored = True
    _overcomplete = False
    _codes_in_input_units = True

    def __init__(
        self,
        n_components=None,
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        alpha=0.0,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter="auto",
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=True,
        validation_fraction=0.1,
        random_state=None,
        verbose=0,
        warm_start=False,
        device="cpu",
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device

    def __init_subclass__(cls, **kwargs):
        # A variant may write ``__init__(self, n_components=None, *, own=...,
        # **kwargs)`` and pass ``**kwargs`` on. Its signature, which
        # scikit-learn reads to list the parameters, then shows its own
        # parameters and those of the class it extends.
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)
        own = list(signature.parameters.values())
        if not own or own[-1].kind != inspect.Parameter.VAR_KEYWORD:
            return
        own = own[:-1]
        taken = {p.name for p in own}
        parent = inspect.signature(super(cls, cls).__init__).parameters.values()
        inherited = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in parent
            if p.name not in taken and p.name != "self"
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        init.__signature__ = signature.replace(parameters=own + inherited)

    # ------------------------------------------------------------------ hooks

    def _build_network(self, n_features, n_components):
        """The torch network for ``n_features`` inputs and a code of ``n_components``."""
        sizes = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        return _modules.mlp_autoencoder(n_features, sizes, n_components, self.activation)

    def _loss(self, output, target, X):
        """Training loss in network units: the mean squared reconstruction error."""
        return _mse(output, target, X)

    def _corruption(self, stats):
        """``corrupt(batch, generator) -> network_input`` for training, or None.

        ``stats`` holds the fitted statistics (``mean_``, ``scale_`` and those
        of :meth:`_fit_statistics`).
        """
        return None

    def _check_params(self, n_features):
        """Check what ``_parameter_constraints`` cannot express; raise ValueError."""
        if isinstance(self.n_components, bool):
            raise ValueError(
                f"n_components must be an int, a float in (0, 1) or None; got "
                f"{self.n_components!r}."
            )
        _check_hidden_layer_sizes(self.hidden_layer_sizes)

    def _targets(self, X, y):
        """Training targets other than X itself, or None (y is ignored here).

        A ``y`` shaped like X is most likely a target the caller meant to
        train on, as with MLPRegressor; say that it is ignored.
        """
        if _shape(y) == X.shape and X.shape[1] > 1:
            warn_user(
                f"{type(self).__name__}.fit ignores y, which has the shape of X: "
                "its target is always X itself. To train a denoiser on (noisy, "
                "clean) pairs, use DenoisingAutoencoderTransformer().fit(X_noisy, "
                "X_clean).",
                UserWarning,
            )
        return None

    def _fit_statistics(self, X, rows):
        """Extra fitted attributes learnt from the rows ``rows`` (None: all) of X."""
        return {}

    # -------------------------------------------------------------- fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the autoencoder to X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._fit(X, y, incremental=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train for one epoch over X, starting from the current state.

        An unfitted estimator is initialised from X first: its statistics
        and, for PCA-anchored networks, its starting point come from this
        first batch of data. The optimizer's state is kept from one call to
        the next, so a sequence of calls behaves like one long fit at a
        constant step size. There is no validation split and no stopping rule.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The updated estimator.
        """
        self._fit(X, y, incremental=True)
        return self

    def fit_transform(self, X, y=None):
        """Fit to X, then return its codes; a failure leaves the estimator as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_components_`)
            The codes of X.
        """
        trial = copy.copy(self)
        codes = trial.fit(X, y).transform(X)
        self._assign(trial._model)
        return codes

    def _fit(self, X, y, *, incremental):
        # The caller may be in inference mode or have grad disabled: fit needs
        # neither, and the context managers restore the caller's setting.
        with torch.inference_mode(False), torch.enable_grad():
            self._fit_checklist(X, y, incremental=incremental)

    def _fit_checklist(self, X, y, *, incremental):
        # The engine (and skorch) is imported when training starts, so that
        # `import skae` and inference never pay for it.
        from ._training import RowSource, network_statistics, principal_axes, to_tensor, train

        previous = self.__dict__.get("_model")
        resume = previous is not None and (incremental or self.warm_start)
        if resume:
            self._validate_params()  # _fit_context skips it for partial_fit
            self._check_architecture(previous)

        # 1. Validate, on a copy: validate_data records the features on the
        #    object it is given, and a failed fit must leave self as it was.
        checked = self._feature_view(previous) if resume else copy.copy(self)
        check_has_columns(X)
        X = validate_data(
            checked, X, reset=not resume, accept_sparse="csr",
            dtype=[np.float64, np.float32],
        )
        n_samples, n_features = X.shape
        self._check_params(n_features)
        targets = self._targets(X, y)
        device = resolve_device(self.device)

        # 2. Resolve: rows, statistics, code size, schedule.
        done = previous["n_iter"] if resume else 0
        split_seed, init_seq, shuffle_seq, noise_seq, valid_seq = seed_sequence(
            self.random_state, done
        ).spawn(5)
        split_seed, shuffle_seq, noise_seq, valid_seq = _distributed.per_rank(
            split_seed, shuffle_seq, noise_seq, valid_seq
        )
        _distributed.check_features(n_features)
        train_rows, valid_rows = _distributed.agree_split(
            *self._split(n_samples, split_seed, incremental)
        )
        if resume:
            stats = dict(previous["stats"])
        else:
            mean, scale = network_statistics(X, train_rows)
            stats = {"mean_": mean, "scale_": scale, **self._fit_statistics(X, train_rows)}
        mean, scale = stats["mean_"], stats["scale_"]
        data = to_tensor(X, mean, scale, device)
        if targets is not None:
            targets = to_tensor(targets, mean, scale, device)
        train_data = RowSource(data, train_rows, mean, scale, device, targets)
        valid_data = None if valid_rows is None else RowSource(
            data, valid_rows, mean, scale, device, targets
        )
        batch_size = _distributed.local_batch_size(len(train_data), self._resolve_batch_size)
        steps_per_epoch = _distributed.batches_per_epoch(len(train_data), batch_size)
        epochs = 1 if incremental else self._resolve_max_iter(steps_per_epoch)

        # 3. Build the network: from the previous weights, or from PCA.
        generator = torch_generator(init_seq)
        if resume:
            n_components = previous["n_components"]
            network = self._new_network(n_features, n_components, generator)
            network.load_state_dict(numpy_to_tensors(previous["weights"]))
        else:
            components = explained = None
            if self._pca_anchored or not isinstance(self.n_components, Integral):
                components, explained = principal_axes(train_data, valid_data)
            n_components = self._resolve_n_components(n_features, explained)
            network = self._new_network(n_features, n_components, generator)
            if self._pca_anchored:
                network.anchor(torch.from_numpy(components))
        if hasattr(network, "generator"):
            network.generator = torch_generator(noise_seq, device)

        # 4. Train.
        corrupt = self._corruption(stats)
        context = self._callback_context(epochs)
        if context is not None:
            context.call_on_fit_task_begin(estimator=self, X=X)
        result = train(
            network, train_data, valid_data,
            loss=self._loss,
            max_epochs=epochs,
            batch_size=batch_size,
            learning_rate=self.learning_rate_init,
            alpha=self.alpha,
            schedule="constant" if incremental else "cosine",
            tol=self.tol,
            patience=None if incremental else max(
                self.n_iter_no_change, math.ceil(MIN_PATIENCE_STEPS / steps_per_epoch)
            ),
            keep_start=not incremental and (resume or self._pca_anchored),
            corrupt=corrupt,
            shuffle_generator=torch_generator(shuffle_seq),
            noise_generator=torch_generator(noise_seq, device),
            valid_noise_seed=int(valid_seq.generate_state(1)[0]),
            device=device,
            optimizer_state=previous["optimizer_state"] if resume and incremental else None,
            callbacks=self._progress_callbacks(epochs, scale),
            on_epoch_end=self._callback_hook(context, X, stats, n_features, n_components),
        )

        if self._pca_anchored and not resume and valid_rows is not None and result.best_epoch == 0:
            # The model is PCA: refit it on all rows, as PCA itself would be.
            stats, result.weights = self._pca_on_all_rows(X, network, device)

        # 5. Warn.
        if result.diverged:
            warn_user(
                f"Training diverged (non-finite loss) in epoch {done + result.n_epochs}; "
                "the weights of the last finite epoch are kept. Try a smaller "
                "learning_rate_init.",
                RuntimeWarning,
            )
        elif (
            not incremental and self.max_iter != "auto" and not result.converged
            and result.n_epochs == epochs
        ):
            warn_user(
                f"Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet. Leave max_iter='auto' to size the "
                "schedule to the data.",
                ConvergenceWarning,
            )
        if self.verbose and result.best_epoch == 0 and self._pca_anchored and not resume:
            print(
                "The network did not beat PCA on the validation rows: the fitted "
                "model is PCA.",
                flush=True,
            )

        # 6. Assign, in one step.
        self._assign(
            self._fitted_state(
                result, previous if resume else None, stats, checked, n_components,
                len(train_data), anchored=self._pca_anchored and not resume,
            )
        )
        if context is not None:
            context.call_on_fit_task_end(estimator=self, X=X, reconstruction_attributes={})

    def _pca_on_all_rows(self, X, network, device):
        """Statistics and anchored weights of PCA fitted on every row of X."""
        from ._training import RowSource, network_statistics, principal_axes, to_tensor

        mean, scale = network_statistics(X)
        stats = {"mean_": mean, "scale_": scale, **self._fit_statistics(X, None)}
        rows = RowSource(to_tensor(X, mean, scale, device), None, mean, scale, device)
        components, _ = principal_axes(rows, None)
        network.anchor(torch.from_numpy(components))
        return stats, tensors_to_numpy(network.state_dict())

    def _new_network(self, n_features, n_components, generator):
        return _modules.build(
            lambda: self._build_network(n_features, n_components), self.activation, generator
        )

    def _split(self, n_samples, seed_seq, incremental):
        """Training and validation row indices (None for "all" / "none")."""
        if incremental or not self.early_stopping:
            return None, None
        n_valid = math.ceil(self.validation_fraction * n_samples)
        if n_valid < MIN_VALIDATION_ROWS or n_samples - n_valid < MIN_VALIDATION_ROWS:
            return None, None
        seed = int(seed_seq.generate_state(1)[0])
        train_rows, valid_rows = train_test_split(
            np.arange(n_samples), test_size=self.validation_fraction, random_state=seed
        )
        return np.sort(train_rows), np.sort(valid_rows)

    def _resolve_n_components(self, n_features, explained):
        n_components = self.n_components
        if n_components is None:
            n_components = DEFAULT_EXPLAINED_VARIANCE
        if not isinstance(n_components, Integral):
            reached = np.flatnonzero(explained >= n_components - 1e-12)
            return int(reached[0]) + 1 if len(reached) else n_features
        if n_components > n_features and not self._overcomplete:
            raise ValueError(
                f"n_components={n_components} must be between 1 and "
                f"n_features={n_features}: a code wider than the input compresses "
                "nothing."
            )
        return int(n_components)

    def _resolve_batch_size(self, n_train):
        if self.batch_size == "auto":
            return min(max(32, n_train // 20), 256, n_train)
        if self.batch_size > n_train:
            warn_user(
                f"batch_size={self.batch_size} is larger than the {n_train} "
                "training rows; it is clipped to the number of rows.",
                UserWarning,
            )
        return min(self.batch_size, n_train)

    def _resolve_max_iter(self, steps_per_epoch):
        if self.max_iter != "auto":
            return self.max_iter
        return epoch_budget(steps_per_epoch, STEP_BUDGET, EPOCH_BOUNDS)

    def _check_architecture(self, previous):
        fitted = previous["architecture"]
        changed = [
            name for name in self._architecture_params
            if not _same_param(fitted[name], getattr(self, name))
        ]
        if changed:
            detail = ", ".join(
                f"{name}={fitted[name]!r} -> {getattr(self, name)!r}" for name in changed
            )
            raise ValueError(
                "Cannot continue training: the network was fitted with another "
                f"architecture ({detail}). Call fit with warm_start=False to start "
                "again."
            )

    def _fitted_state(self, result, previous, stats, checked, n_components, n_train, anchored):
        """The fitted model (one dict) and the public fitted attributes, from a result."""
        def units(value):  # network units -> the input's squared units
            with np.errstate(over="ignore"):
                return float(min(np.float64(value) * np.float64(stats["scale_"]) ** 2, _MAX))

        losses = [units(v) for v in result.train_losses]
        valid = [units(v) for v in result.valid_losses]
        n_iter = (previous["n_iter"] if previous else 0) + result.n_epochs
        kept_valid = (
            valid[result.best_epoch - 1] if valid and result.best_epoch > 0
            else (units(result.start_loss) if result.start_loss is not None and valid else None)
        )
        model = {
            "architecture": {name: getattr(self, name) for name in self._architecture_params},
            "n_components": n_components,
            "n_features": checked.n_features_in_,
            "feature_names": getattr(checked, "feature_names_in_", None),
            "stats": stats,
            "weights": result.weights,
            "optimizer_state": result.optimizer_state,
            "n_iter": n_iter,
        }
        curve = (list(previous["public"]["loss_curve_"]) if previous else []) + losses
        finite = [v for v in curve if math.isfinite(v)]
        public = {
            **stats,
            "n_components_": n_components,
            "n_features_in_": checked.n_features_in_,
            "n_iter_": n_iter,
            "t_": (previous["public"]["t_"] if previous else 0) + n_train * result.n_epochs,
            "loss_curve_": curve,
            "best_loss_": min(finite) if finite else math.inf,
            "validation_scores_": [-v for v in valid] if valid else None,
            "best_validation_score_": -min(valid) if valid else None,
            "validation_error_": kept_valid,
            "pca_validation_error_": (
                units(result.start_loss)
                if anchored and result.start_loss is not None and valid else None
            ),
            "is_pca_": bool(anchored and result.best_epoch == 0),
        }
        if hasattr(checked, "feature_names_in_"):
            public["feature_names_in_"] = checked.feature_names_in_
        model["public"] = public
        return model

    def _assign(self, model):
        if "feature_names_in_" not in model["public"]:
            self.__dict__.pop("feature_names_in_", None)
        self.__dict__.update(model["public"])
        self._cache = {}
        self._model = model  # last: readers switch to the new model here

    def _progress_callbacks(self, epochs, scale):
        if not self.verbose:
            return ()
        from ._progress import EpochReporter

        with np.errstate(over="ignore"):
            unit = float(np.float64(scale) ** 2)
        return [("progress", EpochReporter(epochs, self.verbose, loss_scale=unit))]

    def _callback_context(self, epochs):
        if not getattr(self, "_skl_callbacks", None):
            return None
        return self._init_callback_context(max_subtasks=epochs)

    def _callback_hook(self, context, X, stats, n_features, n_components):
        """Report every epoch to scikit-learn's callbacks as a fit task."""
        if context is None:
            return None

        def on_epoch_end(network, epoch, row):
            def attributes():
                weights = {k: v.detach().cpu().numpy().copy()
                           for k, v in network.state_dict().items()}
                return {
                    **stats, "n_components_": n_components, "n_features_in_": n_features,
                    "n_iter_": epoch,
                    "_model": {
                        "architecture": {n: getattr(self, n) for n in self._architecture_params},
                        "n_components": n_components, "n_features": n_features,
                        "feature_names": None, "stats": stats, "weights": weights,
                        "optimizer_state": None, "n_iter": epoch, "public": {},
                    },
                    "_cache": {},
                }

            task = context.subcontext(task_name="epoch")
            task.call_on_fit_task_begin(estimator=self, X=X)
            return task.call_on_fit_task_end(
                estimator=self, X=X, reconstruction_attributes=attributes
            )

        return on_epoch_end

    # ------------------------------------------------------------ inference

    def __sklearn_is_fitted__(self):
        return self.__dict__.get("_model") is not None

    def _snapshot(self):
        """The fitted model, read once: a refit elsewhere cannot tear it."""
        check_is_fitted(self)
        return self._model

    def _feature_view(self, model):
        """An object that validate_data can check X against, from ``model``."""
        view = object.__new__(type(self))
        view.__dict__.update(self.get_params(deep=False))
        view.n_features_in_ = model["n_features"]
        if model["feature_names"] is not None:
            view.feature_names_in_ = model["feature_names"]
        return view

    def _validate_input(self, model, X):
        check_has_columns(X)
        return validate_data(
            self._feature_view(model), X, reset=False, accept_sparse="csr",
            dtype=[np.float64, np.float32],
        )

    def _network(self, model, dtype):
        """The fitted network on the inference device in ``dtype`` (cached)."""
        device = resolve_device(self.device, for_training=False)
        key = (str(device), dtype)
        cached = self._cache.get(key)
        if cached is None or cached[0] is not model:
            network = self._cpu_network(model).to(device=device, dtype=dtype)
            network = network.eval().requires_grad_(False)
            mean = torch.as_tensor(model["stats"]["mean_"], dtype=dtype, device=device)
            cached = self._cache[key] = (model, network, mean, device)
        return cached[1:]

    def _cpu_network(self, model):
        """A new float32 CPU network holding the fitted weights."""
        fitted = copy.copy(self)  # with the architecture it was fitted with
        fitted.__dict__.update(model["architecture"])
        with torch.device("meta"):
            network = fitted._build_network(model["n_features"], model["n_components"])
        network = network.to_empty(device="cpu").to(torch.float32)
        network.load_state_dict(numpy_to_tensors(model["weights"]))
        return network

    def _code_scale(self, model):
        return model["stats"]["scale_"] if self._codes_in_input_units else 1.0

    def _row_bytes(self, model, width):
        widest = max([model["n_features"], model["n_components"], *_sizes(self)])
        return 8 * (2 * model["n_features"] + 4 * widest + width)

    def _run(self, model, X, fn, width, dtype):
        """Apply ``fn(network, x_units, x, mean) -> tensor`` to X in row chunks."""
        torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
        network, mean, device = self._network(model, torch_dtype)
        scale = model["stats"]["scale_"]

        def block(rows):
            x = as_tensor(rows, torch_dtype, device)
            units = ((x - mean) / scale).clamp(-NETWORK_UNIT_LIMIT, NETWORK_UNIT_LIMIT)
            return _finite(fn(network, units, x, mean)).cpu().numpy()

        shape = (X.shape[0],) if width is None else (X.shape[0], width)
        with torch.inference_mode():
            return map_chunks(
                X, block, shape=shape, dtype=dtype,
                row_bytes=self._row_bytes(model, width or 1),
            )

    def transform(self, X):
        """Encode X into codes.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Input data. It is processed in row chunks sized by scikit-learn's
            ``working_memory``, so a memory-mapped array streams from disk.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_components_`)
            The codes, in X's floating dtype (float64 for integer input). For
            a dask array, a lazy dask array computed block by block.
        """
        model = self._snapshot()
        if _dask.is_dask_array(X):
            return _dask.map_blocks(self, "transform", X, model["n_components"])
        X = self._validate_input(model, X)
        code_scale = self._code_scale(model)
        return self._run(
            model, X, lambda net, x, raw, mean: net.encode(x) * code_scale,
            model["n_components"], X.dtype,
        )

    def inverse_transform(self, X):
        """Decode codes back into the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, `n_components_`)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, `n_features_in_`)
            Reconstructions, in the input's units.
        """
        model = self._snapshot()
        if _dask.is_dask_array(X):
            return _dask.map_blocks(self, "inverse_transform", X, model["n_features"])
        check_has_columns(X)
        Z = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        if Z.shape[1] != model["n_components"]:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects codes "
                f"of width n_components_={model['n_components']}."
            )
        code_scale, scale = self._code_scale(model), model["stats"]["scale_"]
        torch_dtype = torch.float32 if Z.dtype == np.float32 else torch.float64
        network, mean, device = self._network(model, torch_dtype)

        def block(rows):
            z = as_tensor(rows, torch_dtype, device) / code_scale
            z = z.clamp(-NETWORK_UNIT_LIMIT, NETWORK_UNIT_LIMIT)
            return _finite(network.decode(z) * scale + mean).cpu().numpy()

        with torch.inference_mode():
            return map_chunks(
                Z, block, shape=(Z.shape[0], model["n_features"]), dtype=Z.dtype,
                row_bytes=self._row_bytes(model, model["n_features"]),
            )

    def score_samples(self, X):
        """Negative mean squared reconstruction error of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-mean((X - inverse_transform(transform(X)))**2, axis=1)``, in the
            input's units: higher means better reconstructed. Computed without
            overflow; errors beyond float64's range give ``-numpy.finfo(float).max``.
        """
        model = self._snapshot()
        if _dask.is_dask_array(X):
            return _dask.map_blocks(self, "score_samples", X, None)
        X = self._validate_input(model, X)
        scale = model["stats"]["scale_"]

        def errors(net, x, raw, mean):
            recon = net.decode(net.encode(x)) * scale + mean
            return _mean_square(recon.double() - raw.double())

        return -self._run(model, X, errors, None, np.float64)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error, in the input's units.

        Higher is better, so model selection tools such as
        :class:`~sklearn.model_selection.GridSearchCV` can use it directly.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            The mean of :meth:`score_samples`.
        """
        return float(np.mean(self.score_samples(X)))

    def encoder_module(self):
        """The fitted encoder as a trainable PyTorch module, in the user's units.

        A fresh float32 CPU copy: training it does not change the estimator.
        The fitted scaling is folded in as buffers, so
        ``est.encoder_module()(torch.as_tensor(X, dtype=torch.float32))``
        equals ``est.transform(X)`` to float32 precision. Use it as the
        pretrained first part of a supervised network.

        Returns
        -------
        encoder : torch.nn.Module
            Maps a float32 tensor of shape ``(n, n_features_in_)`` to codes of
            shape ``(n, n_components_)``.
        """
        model = self._snapshot()
        encoder, _ = self._cpu_network(model).halves()
        stats = model["stats"]
        return _modules.UnitsWrapper(
            encoder, stats["mean_"], stats["scale_"], 0.0, self._code_scale(model)
        )

    def decoder_module(self):
        """The fitted decoder as a trainable PyTorch module, in the user's units.

        A fresh float32 CPU copy whose output equals :meth:`inverse_transform`
        to float32 precision; e.g. the receiver's half of a compression
        scheme.

        Returns
        -------
        decoder : torch.nn.Module
            Maps codes of shape ``(n, n_components_)`` to reconstructions of
            shape ``(n, n_features_in_)``.
        """
        model = self._snapshot()
        _, decoder = self._cpu_network(model).halves()
        stats = model["stats"]
        return _modules.UnitsWrapper(
            decoder, 0.0, self._code_scale(model), stats["mean_"], stats["scale_"]
        )

    @property
    def module_(self):
        """A CPU float32 copy of the whole fitted network, in network units.

        Its input is ``(X - mean_) / scale_``; prefer :meth:`encoder_module`
        and :meth:`decoder_module`, which take the user's units.
        """
        return self._cpu_network(self._snapshot())

    @property
    def _n_features_out(self):
        model = self.__dict__.get("_model")
        return model["n_components"] if model is not None else self.n_components

    # ----------------------------------------------------------- persistence

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the base may return __dict__
        state.pop("_cache", None)  # live torch modules, rebuilt on demand
        state["_skae_version"] = __version__
        return state

    def __setstate__(self, state):
        saved = state.pop("_skae_version", None)
        if saved != __version__ and "_model" in state:
            warnings.warn(
                f"Trying to unpickle {type(self).__name__} from skae version "
                f"{saved or 'unknown'} when using version {__version__}. Its state "
                "may not fit this version: refit it, or load it with the version "
                "that saved it.",
                InconsistentVersionWarning,
                stacklevel=2,
            )
        super().__setstate__(state)
        self._cache = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


_MAX = float(np.finfo(np.float64).max)


def _finite(result):
    """Outputs beyond the dtype's range (data near float32's limit) are clipped to it."""
    limit = torch.finfo(result.dtype).max
    return result.nan_to_num(nan=math.nan, posinf=limit, neginf=-limit)


def _shape(y):
    """The shape of an array-like ``y`` (None for None), without converting it."""
    if y is None:
        return None
    shape = getattr(y, "shape", None)
    if shape is None and isinstance(y, (list, tuple)):
        shape = np.shape(y)
    return None if shape is None else tuple(shape)


def _sizes(est):
    try:
        return _check_hidden_layer_sizes(est.hidden_layer_sizes)
    except (TypeError, ValueError):
        return ()


def _mean_square(errors):
    """Row means of ``errors**2`` without overflow, clipped to float64's range."""
    peak = errors.abs().amax(dim=1, keepdim=True).clamp_min(np.finfo(np.float64).tiny)
    result = (errors / peak).square().mean(dim=1) * peak.squeeze(1).square()
    return result.nan_to_num(posinf=np.finfo(np.float64).max)


def _same_param(a, b):
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else np.array_equal(a, b)
    except Exception:  # objects without a usable ==
        return a is b
