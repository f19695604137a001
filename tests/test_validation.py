"""Bad input and bad parameters: clear errors, and a fitted model left intact.

scikit-learn's checks (test_common.py) already make sure that ``fit`` and
``transform`` reject NaN, infinity, complex, empty and one-dimensional input
on a fresh estimator. What they do not check, and this file does on every
registered transformer: the message names the problem for every entry
point (``partial_fit`` and ``inverse_transform`` included), and a call that
fails leaves an already fitted model exactly as it was.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import fast_params_for
from sklearn.exceptions import NotFittedError

from skae import (
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

# The fitted models are five-epoch fits: their ConvergenceWarning is expected.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _with(X, row, col, value):
    X = X.copy()
    X[row, col] = value
    return X


# name -> (make bad X from good X, regex the error message must match)
BAD_INPUTS = {
    "nan": (lambda X: _with(X, 3, 5, np.nan), "NaN"),
    "inf": (lambda X: _with(X, 0, 0, np.inf), "infinity"),
    "minus_inf": (lambda X: _with(X, 1, 2, -np.inf), "infinity"),
    "sparse_nan": (lambda X: sp.csr_matrix(_with(X, 3, 5, np.nan)), "NaN"),
    "no_rows": (lambda X: X[:0], "0 sample"),
    "no_columns": (lambda X: X[:, :0], "0 feature"),
    "one_dimensional": (lambda X: X[0], "Expected 2D array"),
    "three_dimensional": (lambda X: X[:, :, np.newaxis], "dim 3"),
    "strings": (lambda X: np.full(X.shape, "seven"), "string"),
    "complex": (lambda X: X + 1j, "[Cc]omplex"),
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_bad_input_to_a_first_partial_fit_raises(Estimator, make, bad, X_small):
    make_bad, match = BAD_INPUTS[bad]
    est = make()
    with pytest.raises(ValueError, match=match):
        est.partial_fit(make_bad(X_small))
    assert not hasattr(est, "n_iter_")
    assert "_model" not in vars(est)


@pytest.mark.parametrize(
    "method",
    ["transform", "score", "score_samples", "fit", "partial_fit", "fit_transform"],
)
@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_bad_input_leaves_fitted_estimator_untouched(
    Estimator, method, bad, X_small, snapshot, fitted_copy
):
    make_bad, match = BAD_INPUTS[bad]
    est = fitted_copy(Estimator)
    before = snapshot(est, X_small)
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(make_bad(X_small))
    before.assert_unchanged(est)


@pytest.mark.parametrize(
    "method", ["transform", "score", "score_samples", "partial_fit"]
)
@pytest.mark.parametrize("n_features", [1, 63, 65])
def test_wrong_number_of_features(
    Estimator, method, n_features, X_small, snapshot, fitted_copy
):
    est = fitted_copy(Estimator)
    before = snapshot(est, X_small)
    X_bad = np.resize(X_small, (X_small.shape[0], n_features))
    with pytest.raises(ValueError, match=f"{n_features} features"):
        getattr(est, method)(X_bad)
    before.assert_unchanged(est)


def test_warm_start_with_other_width_raises(Estimator, X_small, snapshot, fitted_copy):
    est = fitted_copy(Estimator)
    before = snapshot(est, X_small)
    est.set_params(warm_start=True)
    with pytest.raises(ValueError, match="features"):
        est.fit(X_small[:, :10])
    est.set_params(warm_start=False)
    before.assert_unchanged(est)


def test_refit_without_warm_start_accepts_new_width(Estimator, make, X_small):
    est = make().fit(X_small)
    est.fit(X_small[:, :10])
    assert est.n_features_in_ == 10
    assert est.transform(X_small[:, :10]).shape == (X_small.shape[0], 3)


# name -> (bad codes from good codes, regex)
BAD_CODES = {
    "too_wide": (lambda Z: np.column_stack([Z, Z[:, :1]]), "n_components"),
    "too_narrow": (lambda Z: Z[:, :1], "n_components"),
    "nan": (lambda Z: _with(Z, 0, 0, np.nan), "NaN"),
    "inf": (lambda Z: _with(Z, 2, 1, np.inf), "infinity"),
    "one_dimensional": (lambda Z: Z[0], "Expected 2D array"),
    "three_dimensional": (lambda Z: Z[:, :, np.newaxis], "dim 3"),
    "no_rows": (lambda Z: Z[:0], "0 sample"),
    "strings": (lambda Z: np.full(Z.shape, "seven"), "string"),
    "complex": (lambda Z: Z + 1j, "[Cc]omplex"),
}


@pytest.mark.parametrize("bad", list(BAD_CODES))
def test_bad_codes_to_inverse_transform(Estimator, bad, X_small, snapshot, fitted_copy):
    make_bad, match = BAD_CODES[bad]
    est = fitted_copy(Estimator)
    before = snapshot(est, X_small)
    with pytest.raises(ValueError, match=match):
        est.inverse_transform(make_bad(est.transform(X_small)))
    before.assert_unchanged(est)


@pytest.mark.parametrize("method", ["inverse_transform", "score", "score_samples"])
def test_unfitted_estimator_raises_not_fitted(Estimator, method, X_small):
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(Estimator(), method)(X_small[:, :2])


@pytest.mark.parametrize("method", ["encoder_module", "decoder_module"])
def test_unfitted_modules_raise_not_fitted(Estimator, method):
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(Estimator(), method)()


# ---------------------------------------------------------------- parameters

# Parameters every transformer shares: (parameters, name in the message).
SHARED_INVALID_PARAMS = [
    ({"n_components": 0}, "n_components"),
    ({"n_components": -2}, "n_components"),
    ({"n_components": 1.5}, "n_components"),
    ({"n_components": 1.0}, "n_components"),
    ({"n_components": "all"}, "n_components"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": "big"}, "batch_size"),
    ({"activation": "softmax"}, "activation"),
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": (8, -3)}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": 0}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": (8.5,)}, "hidden_layer_sizes"),
    ({"learning_rate_init": 0.0}, "learning_rate_init"),
    ({"alpha": -1.0}, "alpha"),
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": "forever"}, "max_iter"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"n_iter_no_change": 0}, "n_iter_no_change"),
    ({"device": "gpu"}, "device"),
    ({"device": "cuda:x"}, "device"),
    ({"device": 0}, "device"),
]

# Parameters of one class: (class, parameters, name in the message).
OWN_INVALID_PARAMS = [
    (DenoisingAutoencoderTransformer, {"noise": "uniform"}, "noise"),
    (DenoisingAutoencoderTransformer, {"noise_level": -0.1}, "noise_level"),
    (
        DenoisingAutoencoderTransformer,
        {"noise": "masking", "noise_level": 1.5},
        "noise_level",
    ),
    (
        DenoisingAutoencoderTransformer,
        {"noise": "salt_and_pepper", "noise_level": 2.0},
        "noise_level",
    ),
    (VariationalAutoencoderTransformer, {"beta": -1.0}, "beta"),
    (ConvolutionalAutoencoderTransformer, {"image_shape": (8, 7)}, "image_shape"),
    (ConvolutionalAutoencoderTransformer, {"image_shape": (0, 64)}, "image_shape"),
]


def _param_id(case):
    params = case[-2]
    return "-".join(f"{k}={v!r}" for k, v in params.items())


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("case", SHARED_INVALID_PARAMS, ids=_param_id)
def test_invalid_shared_parameters_raise(Estimator, make, case, method, X_small):
    params, match = case
    est = make(**params)
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(X_small)
    assert "_model" not in vars(est)


def _own_id(case):
    return f"{case[0].__name__}-{_param_id(case)}"


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("case", OWN_INVALID_PARAMS, ids=_own_id)
def test_invalid_own_parameters_raise(case, method, X_small):
    Estimator, params, match = case
    est = Estimator(**fast_params_for(Estimator, **params))
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(X_small)
    assert "_model" not in vars(est)


def _leaves_untouched(est, params, match, method, X, snapshot):
    before = snapshot(est, X)
    good = {key: getattr(est, key) for key in params}
    est.set_params(**params)
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(X)
    est.set_params(**good)
    before.assert_unchanged(est)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    "case",
    [c for c in SHARED_INVALID_PARAMS if "n_components" not in c[0]],
    ids=_param_id,
)
def test_invalid_parameters_leave_fitted_estimator_untouched(
    Estimator, case, method, X_small, snapshot, fitted_copy
):
    # partial_fit on a fitted estimator must check the parameters too: they
    # may have been changed with set_params since the last call.
    params, match = case
    est = fitted_copy(Estimator)
    _leaves_untouched(est, params, match, method, X_small, snapshot)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("case", OWN_INVALID_PARAMS, ids=_own_id)
def test_invalid_own_parameters_leave_fitted_estimator_untouched(
    case, method, X_small, snapshot, fitted_copy
):
    Estimator, params, match = case
    est = fitted_copy(Estimator)
    _leaves_untouched(est, params, match, method, X_small, snapshot)


def test_gaussian_noise_level_may_exceed_one(X_small, fast_params):
    # For Gaussian noise the level is a standard deviation, not a fraction.
    est = DenoisingAutoencoderTransformer(noise="gaussian", noise_level=3.0, **fast_params)
    assert np.all(np.isfinite(est.fit_transform(X_small)))


@pytest.mark.parametrize(
    "device",
    [
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(
                torch.cuda.is_available(), reason="CUDA is available on this machine"
            ),
        ),
        pytest.param(
            "cuda:7",
            marks=pytest.mark.skipif(
                torch.cuda.device_count() > 7, reason="this machine has 8+ GPUs"
            ),
        ),
        pytest.param(
            "mps",
            marks=pytest.mark.skipif(
                torch.backends.mps.is_available(), reason="MPS is available"
            ),
        ),
    ],
)
def test_unavailable_device_raises_clear_error(
    Estimator, make, device, X_small, snapshot, fitted_copy
):
    est = make(device=device)
    with pytest.raises(ValueError, match="not available"):
        est.fit(X_small)
    with pytest.raises(ValueError, match="not available"):
        est.partial_fit(X_small)

    fitted = fitted_copy(Estimator)
    before = snapshot(fitted, X_small)
    fitted.set_params(device=device)
    with pytest.raises(ValueError, match="not available"):
        fitted.fit(X_small)
    with pytest.raises(ValueError, match="not available"):
        fitted.partial_fit(X_small)
    fitted.set_params(device="cpu")
    before.assert_unchanged(fitted)


# ------------------------------------------- architecture changed after fit

ARCHITECTURE_CHANGES = [
    {"n_components": 2},
    {"hidden_layer_sizes": (8,)},
    {"hidden_layer_sizes": (4, 4)},
    {"activation": "tanh"},
]


@pytest.mark.parametrize("change", ARCHITECTURE_CHANGES, ids=str)
@pytest.mark.parametrize("method", ["partial_fit", "warm_start_fit"])
def test_resuming_with_another_architecture_raises_value_error(
    Estimator, change, method, X_small, snapshot, fitted_copy
):
    # Continuing training needs the stored weights to fit the network; when
    # they cannot, the user must get a ValueError naming the parameter, not
    # torch's RuntimeError about state_dict sizes.
    est = fitted_copy(Estimator)
    before = snapshot(est, X_small)
    fitted = est.get_params()
    est.set_params(**change)
    with pytest.raises(ValueError, match=next(iter(change))):
        if method == "partial_fit":
            est.partial_fit(X_small)
        else:
            est.set_params(warm_start=True).fit(X_small)
    est.set_params(**fitted)
    before.assert_unchanged(est)


def test_conv_image_shape_is_part_of_the_architecture(X_small, snapshot, fitted_copy):
    est = fitted_copy(ConvolutionalAutoencoderTransformer, image_shape=(8, 8))
    before = snapshot(est, X_small)
    with pytest.raises(ValueError, match="image_shape"):
        est.set_params(image_shape=(4, 16)).partial_fit(X_small)
    est.set_params(image_shape=(8, 8))
    before.assert_unchanged(est)


@pytest.mark.parametrize("change", ARCHITECTURE_CHANGES, ids=str)
@pytest.mark.parametrize("round_trip", [False, True])
def test_set_params_without_refit_keeps_the_fitted_model(
    Estimator, change, round_trip, X_small, fitted_copy
):
    # As for PCA or MLPRegressor, transform uses what fit learnt; a changed
    # hyper-parameter only matters at the next fit.
    est = fitted_copy(Estimator)
    codes = est.transform(X_small)
    reconstruction = est.inverse_transform(codes)
    est.set_params(**change)
    if round_trip:  # a fresh object has no cached inference network
        est = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.transform(X_small), codes)
    np.testing.assert_array_equal(est.inverse_transform(codes), reconstruction)
    assert est.get_feature_names_out().shape == (3,)


def test_errors_are_never_raw_torch_errors(Estimator, make, X_small, fitted_copy):
    # Every error raised through the public API is a ValueError/TypeError.
    est = fitted_copy(Estimator)
    calls = [
        lambda: est.transform(X_small[:, :3]),
        lambda: est.inverse_transform(np.zeros((2, 5))),
        lambda: est.partial_fit(X_small[:, :3]),
        lambda: make(hidden_layer_sizes=(0,)).fit(X_small),
        lambda: make(device="gpu").fit(X_small),
    ]
    for call in calls:
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        assert not type(info.value).__module__.startswith("torch")
        assert type(info.value) is not RuntimeError


def test_n_components_above_n_features_is_a_clear_error(X_small):
    for Estimator in (
        AutoencoderTransformer,
        VariationalAutoencoderTransformer,
        ConvolutionalAutoencoderTransformer,
    ):
        est = Estimator(**fast_params_for(Estimator, n_components=65))
        with pytest.raises(ValueError, match="n_components=65.*n_features=64"):
            est.fit(X_small)
        assert "_model" not in vars(est)


# --------------------------------------------------------------- divergence


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_divergence_warns_and_never_gives_nan(Estimator, make, method, X_small):
    est = make(learning_rate_init=1e6, max_iter=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(1 if method == "fit" else 3):
            getattr(est, method)(X_small)
    diverged = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    # A network that starts as PCA may keep PCA and never diverge; when it
    # does diverge, the warning says what to change.
    for w in diverged:
        assert "learning_rate_init" in str(w.message)
    codes = est.transform(X_small)
    assert np.all(np.isfinite(codes))
    assert np.all(np.isfinite(est.inverse_transform(codes)))
    assert np.isfinite(est.score(X_small))
