"""Bad input and bad parameters: clear errors, and a fitted model left intact."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError

from skae import AutoencoderTransformer, DenoisingAutoencoderTransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoderTransformer]


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


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "partial_fit", "fit_transform"])
@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_bad_training_input_raises(Estimator, method, bad, X_small, fast_params):
    make_bad, match = BAD_INPUTS[bad]
    est = Estimator(**fast_params)
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(make_bad(X_small))
    assert not hasattr(est, "n_iter_")


# The input checks live in the shared base class: every method is checked on
# the plain autoencoder, the training entry points on the denoising one too.
FITTED_METHODS = [
    (AutoencoderTransformer, "transform"),
    (AutoencoderTransformer, "score"),
    (AutoencoderTransformer, "score_samples"),
    (AutoencoderTransformer, "fit"),
    (AutoencoderTransformer, "partial_fit"),
    (AutoencoderTransformer, "fit_transform"),
    (DenoisingAutoencoderTransformer, "fit"),
    (DenoisingAutoencoderTransformer, "partial_fit"),
]


@pytest.mark.parametrize(
    "Estimator, method",
    FITTED_METHODS,
    ids=[f"{cls.__name__}-{method}" for cls, method in FITTED_METHODS],
)
@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_bad_input_leaves_fitted_estimator_untouched(
    Estimator, method, bad, X_small, fast_params, snapshot, fitted_copy
):
    make_bad, match = BAD_INPUTS[bad]
    est = fitted_copy(Estimator, n_components=3, **fast_params)
    before = snapshot(est, X_small)
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(make_bad(X_small))
    before.assert_unchanged(est)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "method", ["transform", "score", "score_samples", "partial_fit"]
)
@pytest.mark.parametrize("n_features", [1, 63, 65])
def test_wrong_number_of_features(
    Estimator, method, n_features, X_small, fast_params, snapshot, fitted_copy
):
    est = fitted_copy(Estimator, **fast_params)
    before = snapshot(est, X_small)
    X_bad = np.resize(X_small, (X_small.shape[0], n_features))
    with pytest.raises(ValueError, match=f"{n_features} features"):
        getattr(est, method)(X_bad)
    before.assert_unchanged(est)


def test_warm_start_with_other_width_raises(
    X_small, fast_params, snapshot, fitted_copy
):
    est = fitted_copy(AutoencoderTransformer, **fast_params)
    before = snapshot(est, X_small)
    est.set_params(warm_start=True)
    with pytest.raises(ValueError, match="features"):
        est.fit(X_small[:, :10])
    before.assert_unchanged(est)


def test_refit_without_warm_start_accepts_new_width(X_small, fast_params):
    est = AutoencoderTransformer(**fast_params).fit(X_small)
    est.fit(X_small[:, :10])
    assert est.n_features_in_ == 10
    assert est.transform(X_small[:, :10]).shape == (X_small.shape[0], 2)


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


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("bad", list(BAD_CODES))
def test_bad_codes_to_inverse_transform(
    Estimator, bad, X_small, fast_params, snapshot, fitted_copy
):
    make_bad, match = BAD_CODES[bad]
    est = fitted_copy(Estimator, **fast_params)
    before = snapshot(est, X_small)
    with pytest.raises(ValueError, match=match):
        est.inverse_transform(make_bad(est.transform(X_small)))
    before.assert_unchanged(est)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "method", ["transform", "inverse_transform", "score", "score_samples"]
)
def test_unfitted_estimator_raises_not_fitted(Estimator, method, X_small):
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(Estimator(), method)(X_small[:, :2])


# ---------------------------------------------------------------- parameters

INVALID_PARAMS = [
    (AutoencoderTransformer, {"n_components": 0}, "n_components"),
    (AutoencoderTransformer, {"n_components": -2}, "n_components"),
    (AutoencoderTransformer, {"n_components": 1.5}, "n_components"),
    (AutoencoderTransformer, {"batch_size": -1}, "batch_size"),
    (AutoencoderTransformer, {"batch_size": 0}, "batch_size"),
    (AutoencoderTransformer, {"batch_size": "big"}, "batch_size"),
    (AutoencoderTransformer, {"activation": "softmax"}, "activation"),
    (AutoencoderTransformer, {"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
    (AutoencoderTransformer, {"hidden_layer_sizes": (-3,)}, "hidden_layer_sizes"),
    (AutoencoderTransformer, {"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
    (AutoencoderTransformer, {"hidden_layer_sizes": 0}, "hidden_layer_sizes"),
    (AutoencoderTransformer, {"hidden_layer_sizes": (8.5,)}, "hidden_layer_sizes"),
    (AutoencoderTransformer, {"learning_rate_init": 0.0}, "learning_rate_init"),
    (AutoencoderTransformer, {"alpha": -1.0}, "alpha"),
    (AutoencoderTransformer, {"max_iter": 0}, "max_iter"),
    (AutoencoderTransformer, {"validation_fraction": 1.0}, "validation_fraction"),
    (AutoencoderTransformer, {"n_iter_no_change": 0}, "n_iter_no_change"),
    (AutoencoderTransformer, {"device": "gpu"}, "device"),
    (AutoencoderTransformer, {"device": "cuda:x"}, "device"),
    (AutoencoderTransformer, {"device": 0}, "device"),
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
    (
        DenoisingAutoencoderTransformer,
        {"hidden_layer_sizes": (0,)},
        "hidden_layer_sizes",
    ),
]


def _param_id(case):
    Estimator, params, _ = case
    return f"{Estimator.__name__}-" + "-".join(f"{k}={v!r}" for k, v in params.items())


@pytest.mark.parametrize("method", ["fit", "partial_fit", "fit_transform"])
@pytest.mark.parametrize("case", INVALID_PARAMS, ids=_param_id)
def test_invalid_parameters_raise(case, method, X_small, fast_params):
    Estimator, params, match = case
    est = Estimator(**{**fast_params, **params})
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(X_small)
    assert not hasattr(est, "n_iter_")


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("case", INVALID_PARAMS, ids=_param_id)
def test_invalid_parameters_leave_fitted_estimator_untouched(
    case, method, X_small, fast_params, snapshot, fitted_copy
):
    # partial_fit on a fitted estimator must check the parameters too: they
    # may have been changed with set_params since the last call.
    Estimator, params, match = case
    est = fitted_copy(Estimator, **fast_params)
    before = snapshot(est, X_small)
    good = {key: getattr(est, key) for key in params}
    est.set_params(**params)
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(X_small)
    est.set_params(**good)
    before.assert_unchanged(est)


def test_gaussian_noise_level_may_exceed_one(X_small, fast_params):
    # For Gaussian noise the level is a standard deviation, not a fraction.
    est = DenoisingAutoencoderTransformer(
        noise="gaussian", noise_level=3.0, **fast_params
    )
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
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unavailable_device_raises_clear_error(
    Estimator, device, X_small, fast_params, snapshot, fitted_copy
):
    est = Estimator(**{**fast_params, "device": device})
    with pytest.raises(ValueError, match="not available"):
        est.fit(X_small)
    with pytest.raises(ValueError, match="not available"):
        est.partial_fit(X_small)

    fitted = fitted_copy(Estimator, **fast_params)
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
    {"n_components": 3},
    {"hidden_layer_sizes": (8,)},
    {"hidden_layer_sizes": (16, 4)},
]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("change", ARCHITECTURE_CHANGES, ids=str)
@pytest.mark.parametrize("method", ["partial_fit", "warm_start_fit"])
def test_resuming_with_another_architecture_raises_value_error(
    Estimator, change, method, X_small, fast_params, snapshot, fitted_copy
):
    # Continuing training needs the stored weights to fit the network; when
    # they cannot, the user must get a ValueError naming the parameter, not
    # torch's RuntimeError about state_dict sizes.
    est = fitted_copy(Estimator, n_components=2, **fast_params)
    before = snapshot(est, X_small)
    est.set_params(**change)
    with pytest.raises(ValueError, match=next(iter(change))):
        if method == "partial_fit":
            est.partial_fit(X_small)
        else:
            est.set_params(warm_start=True).fit(X_small)
    est.set_params(n_components=2, hidden_layer_sizes=(16,), warm_start=False)
    before.assert_unchanged(est)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "change", [*ARCHITECTURE_CHANGES, {"activation": "tanh"}], ids=str
)
@pytest.mark.parametrize("round_trip", [False, True])
def test_set_params_without_refit_keeps_the_fitted_model(
    Estimator, change, round_trip, X_small, fast_params, fitted_copy
):
    # As for PCA or MLPRegressor, transform uses what fit learnt; a changed
    # hyper-parameter only matters at the next fit.
    est = fitted_copy(Estimator, n_components=2, **fast_params)
    codes = est.transform(X_small)
    reconstruction = est.inverse_transform(codes)
    est.set_params(**change)
    if round_trip:  # a fresh object has no cached inference network
        est = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.transform(X_small), codes)
    np.testing.assert_array_equal(est.inverse_transform(codes), reconstruction)
    assert est.get_feature_names_out().shape == (2,)


def test_errors_are_never_raw_torch_errors(X_small, fast_params, fitted_copy):
    # Every error raised through the public API is a ValueError/TypeError.
    est = fitted_copy(AutoencoderTransformer, **fast_params)
    calls = [
        lambda: est.transform(X_small[:, :3]),
        lambda: est.inverse_transform(np.zeros((2, 5))),
        lambda: est.partial_fit(X_small[:, :3]),
        lambda: AutoencoderTransformer(hidden_layer_sizes=(0,)).fit(X_small),
        lambda: AutoencoderTransformer(device="gpu").fit(X_small),
    ]
    for call in calls:
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        assert not type(info.value).__module__.startswith("torch")
        assert type(info.value) is not RuntimeError


# --------------------------------------------------------------- divergence


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_divergence_warns_or_raises_and_never_gives_nan(Estimator, method, X_small):
    est = Estimator(
        hidden_layer_sizes=(16,), learning_rate_init=1e6, max_iter=10, random_state=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for _ in range(1 if method == "fit" else 3):
                getattr(est, method)(X_small)
        except ValueError as exc:
            assert "diverg" in str(exc).lower() or "learning_rate" in str(exc)
            return
    assert any(issubclass(w.category, RuntimeWarning) for w in caught)
    assert any("learning_rate_init" in str(w.message) for w in caught)
    codes = est.transform(X_small)
    assert np.all(np.isfinite(codes))
    assert np.all(np.isfinite(est.inverse_transform(codes)))
    assert np.isfinite(est.score(X_small))
