"""Shared fixtures for the skae test suite, and the one estimator registry.

Every suite that checks behaviour shared by all transformers (bad input,
persistence, failed-call atomicity, reproducibility, warm start,
partial_fit, sparse input, dtypes, feature names, clone and grid search)
takes the ``Estimator`` fixture, which runs the test once per entry of
:data:`TRANSFORMERS`. Adding an estimator to that dict is the only edit
needed to put it under all of them.

Everything here is small on purpose: the suite has to run in a few minutes
on two CPU cores, so fits use a few hundred digits and tiny networks.
"""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

# The suite runs thousands of fits of tiny networks, for which a second
# torch thread only adds synchronisation (benchmarks/results/speed.md, the
# threads table): the test process uses one. skae itself never sets it.
torch.set_num_threads(1)

# Every transformer, with the parameters of a tiny network for it. A test's
# own parameters (n_components, max_iter, ...) are added on top.
TRANSFORMERS = {
    AutoencoderTransformer: {"hidden_layer_sizes": (16,)},
    DenoisingAutoencoderTransformer: {"hidden_layer_sizes": (16,)},
    VariationalAutoencoderTransformer: {"hidden_layer_sizes": (16,)},
    ConvolutionalAutoencoderTransformer: {"hidden_layer_sizes": (4,)},
}

# Fast parameters shared by every transformer: five epochs, a fixed seed and
# a fixed code width. Five epochs is an int max_iter that runs out, so the
# tests that use it expect or filter the ConvergenceWarning explicitly.
COMMON_FAST = {"n_components": 3, "max_iter": 5, "random_state": 0}

# Estimators that are not transformers, used where the behaviour applies.
DETECTORS = {
    AutoencoderOutlierDetector: {
        "estimator": AutoencoderTransformer(
            n_components=3, hidden_layer_sizes=(16,), max_iter=5, random_state=0
        ),
        "random_state": 0,
    },
}


def fast_params_for(Estimator, **overrides):
    """Parameters of a fit of ``Estimator`` that takes a few tens of milliseconds."""
    if Estimator in DETECTORS:
        return {**copy.deepcopy(DETECTORS[Estimator]), **overrides}
    return {**COMMON_FAST, **TRANSFORMERS[Estimator], **overrides}


def _name(cls):
    return cls.__name__


@pytest.fixture(params=list(TRANSFORMERS), ids=_name)
def Estimator(request):
    """Each registered transformer class in turn."""
    return request.param


@pytest.fixture(params=[*TRANSFORMERS, *DETECTORS], ids=_name)
def AnyEstimator(request):
    """Each registered transformer and detector class in turn."""
    return request.param


@pytest.fixture
def make(Estimator):
    """``make(**overrides)`` -> an unfitted ``Estimator`` with fast parameters."""

    def make(**overrides):
        return Estimator(**fast_params_for(Estimator, **overrides))

    return make


@pytest.fixture(scope="session")
def _digits_data():
    X, y = load_digits(return_X_y=True)
    X = np.ascontiguousarray(X, dtype=np.float64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


@pytest.fixture
def digits(_digits_data):
    """All 1797 digits as a fresh float64 array and their labels."""
    X, y = _digits_data
    return X.copy(), y.copy()


@pytest.fixture
def X_small(_digits_data):
    """The first 240 digits, float64, shape (240, 64)."""
    return _digits_data[0][:240].copy()


@pytest.fixture
def y_small(_digits_data):
    """Labels of ``X_small``."""
    return _digits_data[1][:240].copy()


@pytest.fixture
def fast_params():
    """A tiny network, five epochs, a fixed seed: for tests of one estimator.

    No ``n_components``: tests pass their own (the default resolves 95% of
    the variance).
    """
    return {"hidden_layer_sizes": (16,), "max_iter": 5, "random_state": 0}


@pytest.fixture(scope="session")
def _fit_cache():
    return {}


@pytest.fixture
def fitted_copy(_fit_cache, _digits_data):
    """``fitted_copy(Estimator, **overrides)`` -> a copy of a model fitted on X_small.

    The model has the fast parameters of ``Estimator`` plus ``overrides``.
    Each (class, parameters) pair is fitted once per session; tests get deep
    copies, so they may change them freely.
    """

    def make(Estimator, **overrides):
        key = (Estimator, tuple(sorted(overrides.items(), key=repr)))
        if key not in _fit_cache:
            with warnings.catch_warnings():
                # Five epochs on purpose: the ConvergenceWarning is expected.
                warnings.simplefilter("ignore")
                est = Estimator(**fast_params_for(Estimator, **overrides))
                _fit_cache[key] = est.fit(_digits_data[0][:240].copy())
        return copy.deepcopy(_fit_cache[key])

    return make


def _fitted_state(est):
    """Copy of everything a fit writes: the ``_model`` dict and public attributes."""
    state = {}
    for key, value in vars(est).items():
        if key == "_model" or (key.endswith("_") and not key.startswith("_")):
            state[key] = _deep_copy(value)
    return state


def _deep_copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_deep_copy(v) for v in value)
    return copy.deepcopy(value)


def assert_same(a, b, path="state"):
    """Assert that two nested structures of arrays, dicts and scalars are equal."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
        assert np.asarray(a).dtype == np.asarray(b).dtype, path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{path}: {a!r} != {b!r}"


class StateSnapshot:
    """What a fitted estimator is: its fitted model, attributes and outputs on X.

    ``assert_unchanged(est)`` checks that the estimator is exactly as it was
    when the snapshot was taken: the same attribute names, the same ``_model``
    (compared deeply, arrays included), the same public fitted attributes and
    the same outputs.
    """

    def __init__(self, est, X):
        assert "_model" in vars(est), "snapshot a fitted estimator"
        self.X = X.copy()
        self.keys = set(vars(est))
        self.state = _fitted_state(est)
        self.codes = est.transform(self.X)
        self.reconstruction = est.inverse_transform(self.codes)

    def assert_unchanged(self, est):
        assert set(vars(est)) - {"_cache"} == self.keys - {"_cache"}
        assert_same(_fitted_state(est), self.state)
        np.testing.assert_array_equal(est.transform(self.X), self.codes)
        np.testing.assert_array_equal(
            est.inverse_transform(self.codes), self.reconstruction
        )


@pytest.fixture
def snapshot():
    """``snapshot(est, X)`` -> a :class:`StateSnapshot`."""
    return StateSnapshot
