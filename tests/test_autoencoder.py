"""Transformer behaviour on every registered transformer: shapes, scores, dtypes,
the caller's arrays, scikit-learn tools and threads; and the plain
autoencoder against PCA.

What scikit-learn's checks (test_common.py) already cover is not repeated:
``fit`` returning self, ``fit_transform`` agreeing with ``fit().transform``,
dtype preservation of ``transform``, ``set_output`` and feature-name checks.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import make_pipeline

from skae import (
    AutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

# Five-epoch fits on purpose: their ConvergenceWarning is expected.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _held_out_mse(transformer, X_test):
    reconstruction = transformer.inverse_transform(transformer.transform(X_test))
    return float(np.mean((reconstruction - X_test) ** 2))


# ---------------------------------------------------------------- basic API


def test_y_is_ignored(Estimator, make, X_small, y_small):
    without_y = make().fit(X_small).transform(X_small)
    with_y = make().fit(X_small, y_small).transform(X_small)
    np.testing.assert_array_equal(with_y, without_y)


def test_y_of_a_supervised_pipeline_is_not_the_target(X_small, y_small, fast_params):
    pipe = make_pipeline(
        AutoencoderTransformer(**fast_params), LogisticRegression(max_iter=300)
    ).fit(X_small, y_small)
    alone = AutoencoderTransformer(**fast_params).fit(X_small)
    np.testing.assert_array_equal(pipe[0].transform(X_small), alone.transform(X_small))
    assert pipe[0].loss_curve_ == alone.loss_curve_
    assert pipe.predict(X_small).shape == y_small.shape


@pytest.mark.parametrize("n_components", [1, 3])
def test_output_shapes(Estimator, make, n_components, X_small):
    est = make(n_components=n_components).fit(X_small)
    codes = est.transform(X_small[:17])
    assert codes.shape == (17, n_components)
    assert est.inverse_transform(codes).shape == (17, X_small.shape[1])
    assert est.score_samples(X_small[:17]).shape == (17,)
    assert est.n_features_in_ == X_small.shape[1]
    assert est.n_components_ == n_components


# ------------------------------------------------------------------- scores


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_score_is_negative_mse_in_input_units(Estimator, make, dtype, X_small):
    # Shift and stretch the data so that input units and internal units differ.
    X = (3.0 * X_small + 100.0).astype(dtype)
    est = make().fit(X)
    reconstruction = est.inverse_transform(est.transform(X)).astype(np.float64)
    per_row = np.mean((reconstruction - X.astype(np.float64)) ** 2, axis=1)
    rtol = 1e-9 if dtype == np.float64 else 1e-4

    scores = est.score_samples(X)
    assert scores.dtype == np.float64
    np.testing.assert_allclose(scores, -per_row, rtol=rtol)
    assert np.all(scores <= 0)
    assert est.score(X) == pytest.approx(np.mean(scores), rel=1e-12)
    assert est.score(X) == pytest.approx(-np.mean(per_row), rel=rtol)


def test_linear_autoencoder_is_pca(digits):
    X, _ = digits
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    pca_error = _held_out_mse(PCA(n_components=5).fit(X_train), X_test)
    ae = AutoencoderTransformer(
        n_components=5, hidden_layer_sizes=(), max_iter=20, random_state=0
    ).fit(X_train)
    # PCA is the optimal linear reconstruction; the linear autoencoder starts
    # there, and keeps PCA unless it does better on its validation rows.
    assert ae.validation_error_ <= ae.pca_validation_error_
    assert _held_out_mse(ae, X_test) <= 1.02 * pca_error
    assert ae.score(X_test) == pytest.approx(-_held_out_mse(ae, X_test), rel=1e-9)


def test_relu_autoencoder_beats_pca_with_few_components(digits):
    X, _ = digits
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    pca_error = _held_out_mse(PCA(n_components=5).fit(X_train), X_test)
    ae = AutoencoderTransformer(n_components=5, hidden_layer_sizes=(64,), random_state=0)
    ae.fit(X_train)
    assert not ae.is_pca_
    assert ae.validation_error_ < 0.95 * ae.pca_validation_error_
    assert _held_out_mse(ae, X_test) < 0.95 * pca_error


@pytest.mark.parametrize("column", ["tiny_noise", "constant", "huge_constant"])
def test_near_constant_feature_does_not_blow_up(Estimator, make, column, X_small):
    rng = np.random.default_rng(0)
    n = X_small.shape[0]
    extra = {
        "tiny_noise": 3.0 + 1e-12 * rng.standard_normal(n),
        "constant": np.full(n, 7.0),
        "huge_constant": np.full(n, 1e8),
    }[column]
    X_extra = np.column_stack([X_small, extra])
    base = make(max_iter=20).fit(X_small)
    est = make(max_iter=20).fit(X_extra)

    codes = est.transform(X_extra)
    assert np.all(np.isfinite(codes))
    reconstruction = est.inverse_transform(codes)
    assert np.all(np.isfinite(reconstruction))
    error_on_original = np.mean((reconstruction[:, :-1] - X_small) ** 2)
    assert error_on_original <= 1.5 * -base.score(X_small)
    assert est.score(X_extra) >= 1.5 * base.score(X_small)


# ------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize(
    "dtype, expected",
    [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)],
)
def test_output_dtype_follows_input(Estimator, make, fit_dtype, dtype, expected, X_small):
    est = make().fit(X_small.astype(fit_dtype))
    codes = est.transform(X_small.astype(dtype))
    assert codes.dtype == expected
    assert est.inverse_transform(codes).dtype == expected
    assert est.score_samples(X_small.astype(dtype)).dtype == np.float64
    assert isinstance(est.score(X_small.astype(dtype)), float)


def test_float32_and_float64_transforms_agree(Estimator, fitted_copy, X_small):
    est = fitted_copy(Estimator)
    codes = est.transform(X_small)
    np.testing.assert_allclose(
        est.transform(X_small.astype(np.float32)), codes,
        rtol=0, atol=1e-5 * np.abs(codes).max(),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_callers_arrays_are_not_modified(Estimator, make, dtype, X_small):
    X = X_small.astype(dtype)
    X_copy = X.copy()
    est = make().fit(X)
    codes = est.transform(X)
    codes_copy = codes.copy()
    est.inverse_transform(codes)
    est.score(X)
    est.score_samples(X)
    est.partial_fit(X)
    est.fit_transform(X)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(codes, codes_copy)


def test_read_only_input_is_accepted(Estimator, make, X_small):
    # joblib hands read-only memory maps to workers: nothing may write to X.
    X = X_small.copy()
    X.setflags(write=False)
    est = make().fit(X)
    codes = est.transform(X)
    codes.setflags(write=False)
    est.inverse_transform(codes)
    est.score(X)
    est.partial_fit(X)
    est.set_params(warm_start=True).fit(X)


# ------------------------------------------------------ scikit-learn tools


def test_replaces_pca_in_a_classification_pipeline(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    pipe = make_pipeline(
        AutoencoderTransformer(n_components=16, hidden_layer_sizes=(64,), random_state=0),
        LogisticRegression(max_iter=1000),
    ).fit(X_train, y_train)
    # Ten balanced classes: chance is 0.1. The codes must carry the digit.
    assert pipe.score(X_test, y_test) > 0.85


def test_grid_search_without_scorer_uses_score(Estimator, make, X_small):
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    search = GridSearchCV(make(), {"n_components": [1, 8]}, cv=cv).fit(X_small)
    # More components reconstruct better, so the reconstruction score prefers
    # 8 for the networks that start from PCA (five epochs of a variational
    # autoencoder guarantee nothing of the kind).
    if Estimator is not VariationalAutoencoderTransformer:
        assert search.best_params_ == {"n_components": 8}
    train, test = next(cv.split(X_small))
    for i, n_components in enumerate(search.cv_results_["param_n_components"]):
        expected = make(n_components=n_components).fit(X_small[train]).score(X_small[test])
        assert search.cv_results_["split0_test_score"][i] == pytest.approx(expected)
    best = search.best_params_["n_components"]
    assert search.transform(X_small).shape == (X_small.shape[0], best)


def test_grid_search_in_worker_processes(X_small, fast_params):
    X = X_small[:120]
    grid = {"n_components": [2, 4]}
    serial = GridSearchCV(AutoencoderTransformer(**fast_params), grid, cv=2).fit(X)
    parallel = GridSearchCV(AutoencoderTransformer(**fast_params), grid, cv=2, n_jobs=2).fit(X)
    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"],
        serial.cv_results_["mean_test_score"],
        rtol=1e-5,
    )
    assert parallel.best_params_ == serial.best_params_


def test_clone_of_a_pipeline_member_is_independent(Estimator, make, X_small):
    est = make().fit(X_small)
    twin = clone(est).set_params(n_components=5).fit(X_small)
    assert est.transform(X_small).shape[1] == 3
    assert twin.transform(X_small).shape[1] == 5


# ------------------------------------------------------------ thread safety


def test_concurrent_transforms_match_sequential(Estimator, make, X_small):
    est = make().fit(X_small)
    chunks = np.array_split(X_small, 8)
    dtypes = [np.float32, np.float64] * 4
    expected = [est.transform(c.astype(d)) for c, d in zip(chunks, dtypes)]
    fresh = make().fit(X_small)  # empty caches
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda cd: fresh.transform(cd[0].astype(cd[1])), zip(chunks, dtypes))
        )
    for got, want in zip(results, expected):
        # Same values; the last bits may differ, since a worker thread can
        # run torch's kernels with another number of threads than the main.
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5 if got.dtype == np.float32 else 1e-12)


def test_denoising_noise_is_off_at_inference(X_small, fast_params):
    # Inference sees clean input: score_samples is exactly the reconstruction
    # error of inverse_transform(transform(X)), every time.
    dae = DenoisingAutoencoderTransformer(noise_level=2.0, **fast_params).fit(X_small)
    reconstruction = dae.inverse_transform(dae.transform(X_small))
    np.testing.assert_array_equal(dae.score_samples(X_small), dae.score_samples(X_small))
    np.testing.assert_allclose(
        dae.score_samples(X_small), -np.mean((reconstruction - X_small) ** 2, axis=1), rtol=1e-9
    )
