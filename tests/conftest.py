"""Shared fixtures for the skae test suite.

Everything here is small on purpose: the suite has to run in a few minutes
on two CPU cores, so fits use a few hundred digits and tiny networks.
"""

import copy
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits


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
    """Parameters for a fit that takes a few tens of milliseconds."""
    return {"hidden_layer_sizes": (16,), "max_iter": 5, "random_state": 0}


@pytest.fixture(scope="session")
def _fit_cache():
    return {}


@pytest.fixture
def fitted_copy(_fit_cache, _digits_data):
    """``fitted_copy(Estimator, **params)`` -> a copy of a model fitted on X_small.

    Each (class, parameters) pair is fitted once per session; tests get deep
    copies, so they may change them freely.
    """

    def make(Estimator, **params):
        key = (Estimator, tuple(sorted(params.items())))
        if key not in _fit_cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _fit_cache[key] = Estimator(**params).fit(_digits_data[0][:240].copy())
        return copy.deepcopy(_fit_cache[key])

    return make


def _fitted_state(est):
    """Copy of everything a fit writes: trailing-underscore attributes and weights."""
    state = {}
    for key, value in vars(est).items():
        if key == "_cache":
            continue
        if key.endswith("_") or key in ("_weights", "_optimizer_state"):
            state[key] = _deep_copy(value)
    return state


def _deep_copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_deep_copy(v) for v in value)
    return value


def _assert_same(a, b, path="state"):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
        assert np.asarray(a).dtype == np.asarray(b).dtype, path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{path}: {a!r} != {b!r}"


class StateSnapshot:
    """What a fitted estimator is: its fitted attributes and its outputs on X.

    ``assert_unchanged(est)`` checks that the estimator is exactly as it was
    when the snapshot was taken.
    """

    def __init__(self, est, X):
        self.X = X.copy()
        self.keys = set(vars(est))
        self.state = _fitted_state(est)
        self.codes = est.transform(self.X)
        self.reconstruction = est.inverse_transform(self.codes)

    def assert_unchanged(self, est):
        assert set(vars(est)) - {"_cache"} == self.keys - {"_cache"}
        _assert_same(_fitted_state(est), self.state)
        np.testing.assert_array_equal(est.transform(self.X), self.codes)
        np.testing.assert_array_equal(
            est.inverse_transform(self.codes), self.reconstruction
        )


@pytest.fixture
def snapshot():
    """``snapshot(est, X)`` -> a :class:`StateSnapshot`."""
    return StateSnapshot
