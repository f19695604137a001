"""The estimator layer shared by every skae autoencoder.

:class:`BaseAutoencoder` holds what the estimators have in common: the
parameter rules, input validation, scaling, training through
:mod:`skae._training`, chunked inference, feature names, tags and
persistence. A concrete estimator adds its own parameters and documentation,
and overrides a few hooks:

* ``_module_factory(n_features)`` -- the torch module (``encode``/``decode``);
* ``_loss(output, target)`` -- the training loss, in network units;
* ``_corruption(stats, device)`` -- what is done to the input while training;
* ``_encode(module, x)`` / ``_reconstruct(module, x)`` -- what inference uses;
* ``_check_params(n_features)`` -- checks the parameter rules cannot express;
* ``_fit_statistics(X)`` with ``_extra_statistics`` -- statistics learnt on
  the first fit;
* ``_resumable_params`` -- parameters that may change between a fit and a
  warm-started fit or ``partial_fit`` (all others define the network).
"""

import copy
import functools
import math
import numbers
import warnings
from numbers import Integral, Real

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
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.helper import predefined_split

from . import _modules
from ._training import (
    CHUNK_SIZE,
    AutoencoderNet,
    BatchIterator,
    ConvergenceMonitor,
    EpochProgressBar,
    ReconstructionCriterion,
    RowSource,
    SklearnCallbackBridge,
    numpy_to_tensors,
    resolve_device,
    tensors_to_numpy,
    to_network_units,
    torch_threads,
    training_threads,
)

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - older scikit-learn

    class CallbackSupportMixin:
        """Stand-in for scikit-learn versions without ``sklearn.callback``."""


def _mse(output, target):
    return torch.nn.functional.mse_loss(output, target)


def _check_hidden_layer_sizes(hidden_layer_sizes):
    sizes = (
        (hidden_layer_sizes,)
        if isinstance(hidden_layer_sizes, numbers.Integral)
        else tuple(hidden_layer_sizes)
    )
    for size in sizes:
        if (
            not isinstance(size, numbers.Integral)
            or isinstance(size, bool)
            or size < 1
        ):
            raise ValueError(
                "hidden_layer_sizes must hold positive integers; got "
                f"{hidden_layer_sizes!r}."
            )
    return tuple(int(size) for size in sizes)


class BaseAutoencoder(
    CallbackSupportMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Shared estimator behind every skae autoencoder. Not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_modules.ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "device": [str],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        alpha=0.0,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
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

    # ------------------------------------------------------------------ hooks

    def _loss(self, output, target):
        """Training loss in network units; ``output`` is what ``forward`` returns."""
        return _mse(output, target)

    def _module_factory(self, n_features):
        """Return a no-argument callable that builds the torch module."""
        sizes = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        return lambda: _modules.MLPAutoencoder(
            n_features, sizes, self.n_components, self.activation
        )

    def _check_params(self, n_features):
        """Check what ``_parameter_constraints`` cannot express. Raise ValueError."""
        _check_hidden_layer_sizes(self.hidden_layer_sizes)

    # Names of the attributes returned by ``_fit_statistics``.
    _extra_statistics = ()

    def _fit_statistics(self, X):
        """Extra fitted attributes learnt from the data of the first fit."""
        return {}

    def _corruption(self, stats, device):
        """``corrupt(batch, *, generator) -> input`` for training batches, or None.

        ``stats`` holds the fitted statistics (``mean_``, ``scale_`` and those
        of ``_fit_statistics``). The result replaces the network's input
        while the target stays the clean batch: a tensor, or a dict of
        keyword arguments for the module's ``forward`` (skorch unpacks it),
        which is how the variational module receives its noise.
        """
        return None

    def _encode(self, module, x):
        return module.encode(x)

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
        self._fit(X, incremental=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train for one epoch over X, starting from the current state.

        An unfitted estimator is initialised first. The optimizer's state is
        kept from one call to the next, so a sequence of calls behaves like
        one long fit. There is no validation split and no convergence check.

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
        self._fit(X, incremental=True)
        return self

    def _fit(self, X, *, incremental):
        fitted = hasattr(self, "_weights")
        resume = fitted and (incremental or self.warm_start)
        if resume:
            # _fit_context skips this for partial_fit on a fitted estimator.
            self._validate_params()
            self._check_architecture_unchanged()
        # A fresh fit validates on a shallow copy: validate_data records the
        # feature count and names on the object it is given, and a fit that
        # fails later must leave a fitted estimator as it was.
        checked = self if resume else copy.copy(self)
        X = validate_data(
            checked,
            X,
            reset=not resume,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
        )
        n_samples, n_features = X.shape
        self._check_params(n_features)
        device = resolve_device(self.device)
        batch_size = self._resolve_batch_size(n_samples)
        if self.early_stopping and not incremental:
            n_valid = math.ceil(self.validation_fraction * n_samples)
            if n_samples - n_valid < 1:
                raise ValueError(
                    f"early_stopping needs at least 2 samples; got {n_samples}."
                )

        # Everything below builds new objects; the estimator is only written at
        # the end, in one step.
        previous_iter = self.n_iter_ if resume else 0
        seeds = self._seeds(previous_iter)
        if resume:
            stats = {"mean_": self.mean_, "scale_": self.scale_}
            stats.update(
                {k: getattr(self, k) for k in self._extra_statistics}
            )
        else:
            stats = self._data_statistics(X)
            stats.update(self._fit_statistics(X))
        stats["n_features_in_"] = checked.n_features_in_
        if hasattr(checked, "feature_names_in_"):
            stats["feature_names_in_"] = checked.feature_names_in_
        mean, scale = stats["mean_"], stats["scale_"]
        unit = scale**2

        init_generator = torch.Generator().manual_seed(int(seeds[0]))
        factory = self._module_factory(n_features)
        module = _modules.build(factory, self.activation, init_generator, device)
        if resume:
            module.load_state_dict(numpy_to_tensors(self._weights))

        if self.early_stopping and not incremental:
            order = np.random.default_rng(seeds[1]).permutation(n_samples)
            valid_idx, train_idx = np.sort(order[:n_valid]), np.sort(order[n_valid:])
            train = RowSource(X[train_idx], mean, scale, device)
            valid = RowSource(X[valid_idx], mean, scale, device)
        else:
            train, valid = RowSource(X, mean, scale, device), None

        corrupt = self._corruption(stats, device)
        if corrupt is not None:
            noise_generator = torch.Generator(device=device).manual_seed(int(seeds[2]))
            corrupt = functools.partial(corrupt, generator=noise_generator)

        epochs = 1 if incremental else self.max_iter
        monitor = ConvergenceMonitor(
            early_stopping=self.early_stopping and not incremental,
            tol=self.tol * unit,
            n_iter_no_change=self.n_iter_no_change,
            check_convergence=not incremental,
        )
        callbacks = [("monitor", monitor)]
        if self.verbose:
            callbacks.append(("progress", EpochProgressBar(epochs)))
        context = self._callback_context(epochs)
        if getattr(self, "_skl_callbacks", None):
            callbacks.append(
                (
                    "sklearn",
                    SklearnCallbackBridge(
                        context,
                        self,
                        X,
                        lambda net: self._fitted_attributes(net, stats, len(train), previous_iter),
                    ),
                )
            )

        net = AutoencoderNet(
            module,
            criterion=ReconstructionCriterion(self._loss, unit),
            optimizer=torch.optim.Adam,
            lr=self.learning_rate_init,
            max_epochs=epochs,
            batch_size=batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__generator=torch.Generator().manual_seed(int(seeds[3])),
            iterator_train__corrupt=corrupt,
            iterator_valid=BatchIterator,
            iterator_valid__batch_size=CHUNK_SIZE,
            train_split=None if valid is None else predefined_split(valid),
            callbacks=callbacks,
            device=device,
            verbose=int(self.verbose),
            alpha=self.alpha,
            **({"optimizer__fused": True} if device.type in ("cpu", "cuda") else {}),
        )
        net.initialize()
        if incremental and fitted and self._optimizer_state is not None:
            net.optimizer_.load_state_dict(numpy_to_tensors(self._optimizer_state))

        if context is not None:
            context.call_on_fit_task_begin(estimator=self, X=X)
        with torch_threads(training_threads(module, batch_size)):
            net.partial_fit(train)

        attributes = self._fitted_attributes(net, stats, len(train), previous_iter)
        if monitor.diverged_:
            attributes["_optimizer_state"] = None
            warnings.warn(
                f"Training diverged (non-finite loss) in epoch {attributes['n_iter_']}; "
                "the weights of the last finite epoch are kept. Try a smaller "
                "learning_rate_init.",
                RuntimeWarning,
            )
        elif not incremental and not monitor.converged_ and len(net.history) == epochs:
            warnings.warn(
                f"Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
            )
        if "feature_names_in_" not in attributes:
            self.__dict__.pop("feature_names_in_", None)
        self.__dict__.update(attributes)
        if context is not None:
            # The estimator itself is now the fitted state: nothing to rebuild.
            context.call_on_fit_task_end(
                estimator=self, X=X, reconstruction_attributes={}
            )

    def _fitted_attributes(self, net, stats, n_train, previous_iter):
        """Everything fit assigns, as plain data, from the state of ``net``.

        ``n_train`` is the number of rows trained on per epoch.
        """
        history = net.history
        losses = [row["train_loss"] for row in history]
        resume = previous_iter > 0
        attributes = dict(stats)
        attributes.update(
            _weights=tensors_to_numpy(net.module_.state_dict()),
            _optimizer_state=tensors_to_numpy(net.optimizer_.state_dict()),
            _cache={},
            _fitted_params=self.get_params(deep=False),
            n_iter_=previous_iter + len(history),
            t_=(self.t_ if resume else 0) + n_train * len(history),
            loss_curve_=(list(self.loss_curve_) if resume else []) + losses,
        )
        finite = [v for v in attributes["loss_curve_"] if math.isfinite(v)]
        attributes["best_loss_"] = min(finite) if finite else math.inf
        if self.early_stopping and len(history) and "valid_loss" in history[0]:
            scores = [-row["valid_loss"] for row in history]
            attributes["validation_scores_"] = scores
            attributes["best_validation_score_"] = max(scores)
        else:
            attributes["validation_scores_"] = None
            attributes["best_validation_score_"] = None
        return attributes

    def _callback_context(self, epochs):
        if not hasattr(self, "_init_callback_context"):
            return None
        return self._init_callback_context(max_subtasks=epochs)

    def _resolve_batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the {n_samples} "
                "samples; it is clipped to the number of samples.",
                UserWarning,
            )
        return min(self.batch_size, n_samples)

    # Parameters that may change between a fit and a warm-started fit or
    # partial_fit. Every other parameter defines the network.
    _resumable_params = (
        "alpha",
        "batch_size",
        "learning_rate_init",
        "max_iter",
        "tol",
        "n_iter_no_change",
        "early_stopping",
        "validation_fraction",
        "random_state",
        "verbose",
        "warm_start",
        "device",
    )

    def _check_architecture_unchanged(self):
        current = self.get_params(deep=False)
        changed = [
            name
            for name, value in self._fitted_params.items()
            if name not in self._resumable_params
            and not _same_param(value, current[name])
        ]
        if changed:
            detail = ", ".join(
                f"{name}={self._fitted_params[name]!r} -> {current[name]!r}"
                for name in changed
            )
            raise ValueError(
                f"Cannot continue training: the network was fitted with other "
                f"parameters ({detail}). Call fit with warm_start=False to start "
                "again."
            )

    def _fitted(self):
        """A consistent view of the fitted model, for inference.

        A shallow copy of the estimator taken from one read of its
        ``__dict__`` (so a refit in another thread cannot mix two states),
        with the parameters it was fitted with, except ``device``, which is
        where inference should run now.
        """
        check_is_fitted(self)
        view = object.__new__(type(self))
        view.__dict__ = self.__dict__.copy()
        params = dict(view._fitted_params)
        params.pop("device", None)
        view.__dict__.update(params)
        return view

    def _seeds(self, offset):
        """Four seeds (init, split, noise, shuffle) derived from random_state.

        ``offset`` (the number of epochs already run) makes each partial_fit
        call draw fresh shuffles and noise. With ``random_state=None`` the
        seeds come from fresh OS entropy; numpy's global generator is never
        touched.
        """
        if self.random_state is None:
            base = np.random.SeedSequence().entropy
        elif isinstance(self.random_state, numbers.Integral):
            base = int(self.random_state)
        else:
            base = int(check_random_state(self.random_state).randint(2**31 - 1))
        return np.random.SeedSequence([base, offset]).generate_state(4)

    @staticmethod
    def _data_statistics(X):
        """Centre per feature, scale by one number: the RMS of the feature spreads.

        A single scale keeps the network's squared error proportional to the
        squared error in the input's units, so training minimises what
        ``score`` reports, and near-constant features are not blown up.
        """
        if sp.issparse(X):
            mean, var = mean_variance_axis(X, axis=0)
        else:
            mean, var = X.mean(axis=0), X.var(axis=0)
        scale = float(np.sqrt(np.mean(var)))
        if not np.isfinite(scale) or scale <= np.finfo(np.float32).tiny:
            scale = 1.0
        return {"mean_": np.asarray(mean, dtype=np.float64), "scale_": scale}

    # ------------------------------------------------------------ inference

    def _inference_module(self, dtype):
        """``(module, mean, scale, device)`` for inference in ``dtype`` (cached).

        Call it on the view returned by :meth:`_fitted`.
        """
        device = resolve_device(self.device, for_training=False)
        key = (str(device), dtype)
        cached = self._cache.get(key)
        if cached is None:
            module = self._cpu_module().to(device=device, dtype=dtype)
            module = module.eval().requires_grad_(False)
            mean = torch.as_tensor(self.mean_, dtype=dtype, device=device)
            cached = self._cache[key] = (module, mean, self.scale_, device)
        return cached

    def _cpu_module(self):
        """A new float32 CPU module holding the fitted weights."""
        with torch.device("meta"):
            module = self._module_factory(self.n_features_in_)()
        module = module.to_empty(device="cpu")
        module.load_state_dict(numpy_to_tensors(self._weights))
        return module

    def _map_chunks(self, X, fn, width, dtype):
        """Apply ``fn(module, x, raw, mean)`` to X in row blocks.

        ``raw`` is a block of X as a tensor, ``x`` the same block in network
        units and ``mean`` the fitted mean as a tensor. Call it on the view
        returned by :meth:`_fitted`.

        Returns an ndarray of shape ``(n_samples, width)`` (or ``(n_samples,)``
        when ``width`` is None) of ``dtype``.
        """
        torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
        module, mean, scale, device = self._inference_module(torch_dtype)
        shape = (X.shape[0],) if width is None else (X.shape[0], width)
        out = np.empty(shape, dtype=dtype)
        with torch.inference_mode():
            for start in range(0, X.shape[0], CHUNK_SIZE):
                x = _as_tensor(X[start : start + CHUNK_SIZE], torch_dtype, device)
                result = fn(module, (x - mean) / scale, x, mean)
                out[start : start + CHUNK_SIZE] = result.cpu().numpy()
        return out

    def _validate_input(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32]
        )

    def transform(self, X):
        """Encode X into codes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            The codes, in X's floating dtype (float64 for integer input).
        """
        fitted = self._fitted()
        X = self._validate_input(X)
        return fitted._map_chunks(
            X,
            lambda m, x, raw, mean: fitted._encode(m, x),
            fitted.n_components,
            X.dtype,
        )

    def inverse_transform(self, X):
        """Decode codes back into the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Reconstructions, in the input's units.
        """
        fitted = self._fitted()
        Z = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        if Z.shape[1] != fitted.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects codes "
                f"of width n_components={fitted.n_components}."
            )
        torch_dtype = torch.float32 if Z.dtype == np.float32 else torch.float64
        module, mean, scale, device = fitted._inference_module(torch_dtype)
        out = np.empty((Z.shape[0], fitted.n_features_in_), dtype=Z.dtype)
        with torch.inference_mode():
            for start in range(0, Z.shape[0], CHUNK_SIZE):
                z = _as_tensor(Z[start : start + CHUNK_SIZE], torch_dtype, device)
                out[start : start + CHUNK_SIZE] = (
                    (module.decode(z) * scale + mean).cpu().numpy()
                )
        return out

    def _reconstruct(self, module, x):
        """Reconstruction of network-unit input ``x``, in network units."""
        return module.decode(self._encode(module, x))

    def _squared_errors(self, module, x, raw, mean):
        """Squared reconstruction errors of one block, in the input's units.

        Call it on the view returned by :meth:`_fitted`.
        """
        recon = self._reconstruct(module, x) * self.scale_ + mean
        return (recon.double() - raw.double()).square()

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
            input's units: higher means better reconstructed.
        """
        fitted = self._fitted()
        X = self._validate_input(X)
        return -fitted._map_chunks(
            X,
            lambda m, x, raw, mean: fitted._squared_errors(m, x, raw, mean).mean(dim=1),
            None,
            np.float64,
        )

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

    @property
    def module_(self):
        """A CPU float32 copy of the fitted torch module.

        Changing it does not change the estimator. Use it, for instance, to
        initialise a supervised network with the pretrained encoder
        (``est.module_.encoder``).
        """
        return self._fitted()._cpu_module()

    @property
    def _n_features_out(self):
        params = self.__dict__.get("_fitted_params", {})
        return params.get("n_components", self.n_components)

    # ----------------------------------------------------------- persistence

    def __getstate__(self):
        # The inference cache holds live torch modules: it is rebuilt on demand.
        state = dict(super().__getstate__())  # a copy: the base may return __dict__
        state.pop("_cache", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_weights" in state:
            self._cache = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _same_param(a, b):
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else np.array_equal(a, b)
    except Exception:  # objects without a usable ==
        return a is b


def _as_tensor(block, dtype, device):
    """A rows block (dense or sparse) as a tensor, never sharing read-only memory."""
    if sp.issparse(block):
        block = block.toarray()
    elif not block.flags.writeable:
        block = np.array(block)
    return torch.as_tensor(block, dtype=dtype).to(device)
