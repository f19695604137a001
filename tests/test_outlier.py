"""Tests for AutoencoderOutlierDetector."""

import math
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.utils._param_validation import InvalidParameterError

from skae import AutoencoderTransformer, DenoisingAutoencoderTransformer
from skae import AutoencoderOutlierDetector
from skae import VariationalAutoencoderTransformer

# Short fits at a fixed max_iter are intended.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def small_ae(**params):
    return AutoencoderTransformer(
        **{
            "n_components": 1,
            "hidden_layer_sizes": (8,),
            "learning_rate_init": 1e-2,
            "max_iter": 30,
            "random_state": 0,
            **params,
        }
    )


def sensors(n_samples=300, seed=0):
    """Four noisy readings of one signal: normal rows lie near a line."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_samples, 1))
    return signal + 0.1 * rng.normal(size=(n_samples, 4))


def low_rank(n_samples, seed, n_features=20, rank=3):
    """Rows near a 3-D subspace of 20-D space; the basis is the same for every seed."""
    basis = np.random.default_rng(12345).normal(size=(rank, n_features))
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_samples, rank)) @ basis + 0.3 * rng.normal(
        size=(n_samples, n_features)
    )


def state(detector):
    """Everything a detector holds, as bytes."""
    return pickle.dumps(detector)


class Recorder(TransformerMixin, BaseEstimator):
    """PCA that records what it is given, to check what the detector passes on."""

    def __init__(self, n_components=2):
        self.n_components = n_components

    def fit(self, X, y=None):
        self.fit_input_type_ = type(X)
        self.pca_ = PCA(self.n_components).fit(X.toarray() if sp.issparse(X) else X)
        self.batch_rows_ = []
        return self

    def transform(self, X):
        self.batch_rows_.append(X.shape[0])
        return self.pca_.transform(X.toarray() if sp.issparse(X) else X)

    def inverse_transform(self, X):
        return self.pca_.inverse_transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class Broken(TransformerMixin, BaseEstimator):
    """A model whose reconstructions are NaN, as after a diverged fit."""

    def fit(self, X, y=None):
        self.n_features_ = X.shape[1]
        return self

    def transform(self, X):
        return np.zeros((X.shape[0], 1))

    def inverse_transform(self, X):
        return np.full((X.shape[0], self.n_features_), np.nan)


@pytest.fixture(scope="module")
def X():
    return sensors()


@pytest.fixture(scope="module")
def detector(X):
    detector = AutoencoderOutlierDetector(small_ae(), contamination=0.1, random_state=0)
    return detector.fit(X)


@pytest.fixture(scope="module")
def pca_detector():
    X = low_rank(400, seed=0)
    detector = AutoencoderOutlierDetector(PCA(3), contamination=0.1, random_state=0)
    return detector.fit(X), X


# ---------------------------------------------------------------- basics


def test_fit_returns_self_and_fits_a_clone_on_the_non_calibration_rows(X):
    template = small_ae()
    detector = AutoencoderOutlierDetector(template, random_state=0)
    assert detector.fit(X) is detector
    assert detector.estimator_ is not template
    assert not hasattr(template, "n_features_in_")
    assert detector.estimator_.n_features_in_ == 4
    assert detector.n_features_in_ == 4
    assert detector.calibration_scores_.shape == (60,)  # 20% of 300 rows
    assert np.all(np.diff(detector.calibration_scores_) >= 0)


def test_calibration_fraction_sets_the_number_of_held_out_rows():
    X = low_rank(101, seed=0)
    detector = AutoencoderOutlierDetector(PCA(3), calibration_fraction=0.3).fit(X)
    assert detector.calibration_scores_.shape == (math.ceil(0.3 * 101),)
    assert detector.estimator_.n_samples_ == 101 - math.ceil(0.3 * 101)


def test_default_estimator_is_an_autoencoder():
    X = sensors(100)
    detector = AutoencoderOutlierDetector(random_state=0).fit(X)
    assert detector.estimator is None
    assert detector.contamination == "auto"
    assert type(detector.estimator_) is AutoencoderTransformer
    assert detector.estimator_.random_state == 0
    assert detector.predict(X).shape == (100,)


def test_decision_function_and_predict_agree(pca_detector):
    detector, X = pca_detector
    scores = detector.score_samples(X)
    decision = detector.decision_function(X)
    assert_allclose(decision, scores - detector.offset_)
    assert_array_equal(detector.predict(X), np.where(decision < 0, -1, 1))


@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.1, 0.29, 0.5, "auto"])
def test_offset_is_the_conformal_rank_of_the_calibration_scores(contamination):
    X = low_rank(500, seed=1)
    detector = AutoencoderOutlierDetector(
        PCA(3), contamination=contamination, random_state=0
    ).fit(X)
    level = 0.05 if contamination == "auto" else contamination
    n = detector.calibration_scores_.shape[0]
    k = max(i for i in range(n + 1) if i / (n + 1) <= level)
    assert detector.offset_ == detector.calibration_scores_[k - 1]


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.3, "auto"])
def test_predict_flags_rows_whose_p_value_is_at_most_contamination(contamination):
    detector = AutoencoderOutlierDetector(
        PCA(3), contamination=contamination, random_state=0
    ).fit(low_rank(300, seed=2))
    level = 0.05 if contamination == "auto" else contamination
    X_new = np.vstack([low_rank(300, seed=3), 3 * low_rank(30, seed=4)])
    p_values = detector.p_values(X_new)
    assert_array_equal(detector.predict(X_new), np.where(p_values <= level, -1, 1))
    assert np.all((p_values > 0) & (p_values <= 1))


def test_p_values_count_the_calibration_scores(pca_detector):
    detector, X = pca_detector
    calibration = detector.calibration_scores_
    scores = detector.score_samples(X[:20])
    expected = [(1 + np.sum(calibration <= s)) / (len(calibration) + 1) for s in scores]
    assert_allclose(detector.p_values(X[:20]), expected)
    # The calibration rows themselves get uniformly spread p-values.
    n = len(calibration)
    own = (1 + np.searchsorted(calibration, calibration, side="right")) / (n + 1)
    assert_allclose(np.sort(own), np.arange(2, n + 2) / (n + 1))


def test_fit_predict_matches_fit_then_predict(X):
    detector = AutoencoderOutlierDetector(small_ae(), random_state=0)
    assert_array_equal(detector.fit_predict(X), clone(detector).fit(X).predict(X))


def test_score_samples_is_log1p_of_the_mean_error(detector, X):
    errors = detector.reconstruction_errors(X)
    expected = -np.log1p(errors.mean(axis=1))
    assert_allclose(detector.score_samples(X), expected, rtol=1e-12)
    assert np.all(detector.score_samples(X) <= 0)


def test_reconstruction_errors_are_in_units_of_the_feature_spread(pca_detector):
    detector, X = pca_detector
    errors = detector.reconstruction_errors(X)
    assert errors.shape == X.shape
    assert errors.dtype == np.float64
    model = detector.estimator_
    recon = model.inverse_transform(model.transform(X / detector.scale_))
    assert_allclose(errors, (X / detector.scale_ - recon) ** 2, rtol=1e-10, atol=1e-12)


def test_scale_is_an_outlier_resistant_std_and_location_the_median():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4001, 3)) * [1.0, 10.0, 1000.0] + [0.0, 5.0, -3.0]
    X[:, 2][:10] = 1e300  # a few absurd values do not inflate the spread
    detector = AutoencoderOutlierDetector(
        PCA(1), calibration_fraction=0.25, standardize=True
    ).fit(X)
    assert_allclose(detector.scale_, [1.0, 10.0, 1000.0], rtol=0.1)
    assert np.all(np.abs(detector.location_[:2] - [0.0, 5.0]) < [0.1, 1.0])
    constant = np.column_stack([X[:, :2], np.full(len(X), 7.0)])
    detector.fit(constant)
    assert detector.scale_[2] == 1.0 and detector.location_[2] == 7.0


def test_standardize_makes_scores_independent_of_the_features_units():
    X, X_new = low_rank(300, seed=0), low_rank(50, seed=1)
    units = np.array([2.0**10] + [1.0] * 19)  # a power of two keeps it exact
    same = AutoencoderOutlierDetector(PCA(3), standardize=True, random_state=0)
    assert_allclose(
        clone(same).fit(X).score_samples(X_new),
        clone(same).fit(X * units).score_samples(X_new * units),
        rtol=1e-9,
    )
    raw = AutoencoderOutlierDetector(PCA(3), standardize=False, random_state=0)
    assert_array_equal(raw.fit(X).scale_, np.ones(20))
    changed = clone(raw).fit(X * units).score_samples(X_new * units)
    assert not np.allclose(raw.score_samples(X_new), changed, rtol=1e-3)


def test_reconstruction_errors_point_at_the_faulty_feature():
    # A denoising autoencoder learns to read the signal from all the sensors
    # together, so one faulty reading shows up in that reading's error.
    dae = DenoisingAutoencoderTransformer(
        1,
        hidden_layer_sizes=(8,),
        noise_level=0.5,
        learning_rate_init=1e-2,
        batch_size=20,
        max_iter=30,
        random_state=0,
    )
    detector = AutoencoderOutlierDetector(dae, contamination=0.05, random_state=0)
    detector.fit(sensors(400))
    rng = np.random.default_rng(1)
    faulty = sensors(40, seed=2)
    columns = rng.integers(0, 4, size=40)
    faulty[np.arange(40), columns] += rng.choice([-3.0, 3.0], size=40)
    assert np.all(detector.predict(faulty) == -1)
    errors = detector.reconstruction_errors(faulty)
    assert np.mean(errors.argmax(axis=1) == columns) > 0.9


def test_separates_outliers_from_normal_rows(detector):
    normal = sensors(100, seed=3)
    outliers = np.random.default_rng(4).normal(size=(100, 4))  # independent readings
    scores = detector.score_samples(np.vstack([normal, outliers]))
    truth = np.r_[np.ones(100), np.zeros(100)]
    assert roc_auc_score(truth, scores) > 0.95


def test_wraps_other_transformers(X):
    vae = AutoencoderOutlierDetector(
        VariationalAutoencoderTransformer(1, hidden_layer_sizes=(8,), max_iter=5),
        random_state=0,
    ).fit(X)
    scores = vae.score_samples(X)
    assert np.all(np.isfinite(scores)) and scores.shape == (300,)


def test_random_state_overrides_the_wrapped_estimators(X):
    template = small_ae(random_state=None)
    a = AutoencoderOutlierDetector(template, random_state=5).fit(X)
    b = AutoencoderOutlierDetector(template, random_state=5).fit(X)
    assert a.estimator_.random_state == 5
    assert template.random_state is None
    assert_array_equal(a.score_samples(X), b.score_samples(X))
    assert_array_equal(a.calibration_scores_, b.calibration_scores_)
    kept = AutoencoderOutlierDetector(small_ae(random_state=7)).fit(X)
    assert kept.estimator_.random_state == 7


def test_random_state_none_leaves_numpys_global_generator_alone():
    X = low_rank(100, seed=0)
    before = np.random.get_state()
    a = AutoencoderOutlierDetector(PCA(2)).fit(X)
    b = AutoencoderOutlierDetector(PCA(2)).fit(X)
    after = np.random.get_state()
    assert before[0] == after[0]
    assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]
    # ... and still draws a fresh split each time.
    assert not np.array_equal(a.calibration_scores_, b.calibration_scores_)


def test_sparse_input_gives_the_dense_result():
    X = sp.random(300, 30, density=0.1, random_state=0, format="csr")
    sparse = AutoencoderOutlierDetector(Recorder(3), random_state=0).fit(X)
    dense = AutoencoderOutlierDetector(Recorder(3), random_state=0).fit(X.toarray())
    assert sparse.estimator_.fit_input_type_ is sp.csr_matrix  # never densified
    assert_allclose(sparse.location_, dense.location_)
    assert_allclose(sparse.scale_, dense.scale_)
    expected = dense.score_samples(X.toarray())
    assert_allclose(sparse.score_samples(X), expected, rtol=1e-10)
    assert sparse.reconstruction_errors(X).shape == X.shape


def test_sparse_statistics_match_numpys_quantiles():
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((101, 6)) < 0.6, 0.0, rng.normal(size=(101, 6)))
    dense[:, 0] = 0.0
    dense[:, 1] = np.where(rng.random(101) < 0.2, 0.0, rng.normal(5, 2, size=101))
    for standardize in (True, False):
        a = AutoencoderOutlierDetector(PCA(1), random_state=0).fit(sp.csr_matrix(dense))
        b = AutoencoderOutlierDetector(PCA(1), random_state=0).fit(dense)
        assert_allclose(a.location_, b.location_, atol=1e-12)
        assert_allclose(a.scale_, b.scale_, rtol=1e-10)


def test_float32_input(X):
    X32 = X.astype(np.float32)
    detector = AutoencoderOutlierDetector(small_ae(), random_state=0).fit(X32)
    scores = detector.score_samples(X32)
    assert scores.dtype == np.float64
    model = detector.estimator_
    model_input = (X32 / detector.scale_).astype(np.float32)  # no value is clipped
    recon = model.inverse_transform(model.transform(model_input)).astype(np.float64)
    errors = (X32.astype(np.float64) / detector.scale_ - recon) ** 2
    assert_allclose(detector.reconstruction_errors(X32), errors, rtol=1e-6, atol=1e-12)
    assert_allclose(scores, -np.log1p(errors.mean(axis=1)), rtol=1e-6)


def test_feature_names_are_checked(X):
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    detector = AutoencoderOutlierDetector(PCA(1)).fit(frame)
    assert_array_equal(detector.feature_names_in_, ["a", "b", "c", "d"])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names")
        detector.predict(frame)
    with pytest.raises(ValueError, match="feature names"):
        detector.predict(frame[["a", "b", "d", "c"]])
    with pytest.warns(UserWarning, match="valid feature names"):
        with pytest.raises(ValueError, match="features"):
            detector.predict(X[:, :3])
    detector.fit(X)  # a refit without names forgets them
    assert not hasattr(detector, "feature_names_in_")


def test_unfitted_detector_raises(X):
    with pytest.raises(NotFittedError):
        AutoencoderOutlierDetector().predict(X)
    with pytest.raises(NotFittedError):
        AutoencoderOutlierDetector().p_values(X)


@pytest.mark.parametrize("contamination", [0.0, 0.6, "automatic", -0.1])
def test_invalid_contamination(contamination, X):
    with pytest.raises(InvalidParameterError):
        AutoencoderOutlierDetector(PCA(1), contamination=contamination).fit(X)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 2])
def test_invalid_calibration_fraction(fraction, X):
    with pytest.raises(InvalidParameterError):
        AutoencoderOutlierDetector(PCA(1), calibration_fraction=fraction).fit(X)


def test_invalid_estimator(X):
    with pytest.raises(InvalidParameterError):
        AutoencoderOutlierDetector(estimator="pca").fit(X)


def test_one_sample_is_refused_clearly():
    with pytest.raises(ValueError, match="at least 2 samples.*got 1 sample"):
        AutoencoderOutlierDetector(PCA(1)).fit([[1.0, 2.0]])


def test_diverged_model_gives_a_clear_error(X):
    with pytest.raises(ValueError, match="Broken returned reconstructions that"):
        AutoencoderOutlierDetector(Broken()).fit(X)


# ------------------------------------------------------------ calibration


def test_new_inliers_are_flagged_at_the_contamination_rate():
    # PCA with 15 components fitted to 400 rows of 20 features overfits: the
    # training rows are reconstructed far better than new rows, so a
    # threshold read off the training scores flags many more new rows than
    # contamination. The calibrated threshold does not.
    contamination, rates = 0.1, []
    for seed in range(10):
        X = low_rank(500, seed=seed)
        detector = AutoencoderOutlierDetector(
            PCA(15), contamination=contamination, random_state=seed
        ).fit(X)
        rates.append(np.mean(detector.predict(low_rank(4000, seed=100 + seed)) == -1))
    # With 100 calibration rows the threshold is the 10th smallest of them:
    # the rate of one fit follows Beta(10, 92), of mean 10/101 and standard
    # deviation 0.029; over 10 fits the mean's deviation is 0.009, and the
    # test rows add a binomial 0.0015. Allow 4 standard deviations.
    assert abs(np.mean(rates) - 10 / 101) < 4 * 0.0095
    assert max(rates) < 0.25


def test_auto_flags_new_inliers_at_five_percent():
    rates = []
    for seed in range(10):
        detector = AutoencoderOutlierDetector(PCA(15), random_state=seed)
        detector.fit(low_rank(500, seed=seed))
        rates.append(np.mean(detector.predict(low_rank(4000, seed=100 + seed)) == -1))
    # 5th smallest of 100 calibration rows: Beta(5, 97), mean 5/101, sd 0.021.
    assert abs(np.mean(rates) - 5 / 101) < 4 * 0.007


def test_too_few_calibration_rows_for_the_rate_warns_and_flags_nothing():
    X = low_rank(40, seed=0)  # 8 calibration rows: the lowest reachable rate is 1/9
    with pytest.warns(UserWarning, match="no row will be flagged"):
        detector = AutoencoderOutlierDetector(PCA(2), contamination=0.1).fit(X)
    assert detector.offset_ == -np.finfo(np.float64).max
    assert np.all(detector.predict(10 * low_rank(20, seed=1)) == 1)
    assert np.all(detector.p_values(10 * low_rank(20, seed=1)) == 1 / 9)


# -------------------------------------------------- robustness to extremes


def test_one_extreme_training_value_does_not_disable_the_detector():
    X = low_rank(300, seed=0)
    X[17, 4] = 1e200
    detector = AutoencoderOutlierDetector(PCA(3), contamination=0.1, random_state=0)
    labels = detector.fit_predict(X)
    scores = detector.score_samples(X)
    assert np.all(np.isfinite(scores)) and np.isfinite(detector.offset_)
    assert labels[17] == -1
    assert scores.argmin() == 17
    new = low_rank(2000, seed=1)
    assert np.mean(detector.predict(new) == -1) < 0.2
    scores = detector.score_samples(np.vstack([new, 4 * low_rank(200, seed=2)]))
    assert roc_auc_score(np.r_[np.ones(2000), np.zeros(200)], scores) > 0.9


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scores_are_finite_and_ordered_for_any_finite_input(pca_detector, dtype):
    detector, X = pca_detector
    big = np.finfo(dtype).max
    magnitudes = np.array([1e3, 1e10, 1e20, 1e30, big], dtype=dtype)
    if dtype == np.float64:
        magnitudes = np.r_[1e3, 1e30, 1e150, 1e155, 1e200, 1e300, big]
    rows = np.repeat(X[:1], len(magnitudes), axis=0).astype(dtype)
    rows[:, 5] = magnitudes
    negative = rows.copy()
    negative[:, 5] = -magnitudes
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for Z in (rows, negative):
            scores = detector.score_samples(Z)
            assert np.all(np.isfinite(scores))
            assert np.all(np.diff(scores) < 0)  # the larger, the more abnormal
            assert np.all(detector.predict(Z) == -1)
            assert np.all(np.isfinite(detector.decision_function(Z)))


def test_errors_of_huge_values_overflow_to_inf_only_in_reconstruction_errors(
    pca_detector,
):
    detector, X = pca_detector
    Z = X[:2].copy()
    Z[0, 0] = 1e300
    errors = detector.reconstruction_errors(Z)
    assert errors[0, 0] == np.inf and np.all(np.isfinite(errors[1]))
    assert np.isfinite(detector.score_samples(Z)).all()


# ------------------------------------------------------- failed calls, inputs


def test_failed_fit_with_a_bad_dataframe_leaves_the_detector_unchanged(pca_detector):
    import pandas as pd

    detector, X = pca_detector
    detector = pickle.loads(pickle.dumps(detector))
    before = state(detector)
    bad = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    bad.iloc[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detector.fit(bad)
    assert not hasattr(detector, "feature_names_in_")
    assert state(detector) == before
    with pytest.raises(ValueError, match="NaN"):
        detector.fit_predict(bad)
    assert state(detector) == before


def test_failed_wrapped_fit_leaves_the_detector_unchanged(pca_detector):
    detector, X = pca_detector
    detector = pickle.loads(pickle.dumps(detector))
    before = state(detector)
    # 3 features, 3 rows: PCA(3) cannot fit the 2 rows left after calibration.
    with pytest.raises(ValueError, match="n_components=3"):
        detector.fit(X[:3, :3])
    assert detector.n_features_in_ == 20
    assert state(detector) == before


def test_failed_predictions_leave_the_detector_and_input_unchanged(pca_detector):
    detector, X = pca_detector
    detector = pickle.loads(pickle.dumps(detector))
    before = state(detector)
    wrong = X[:5, :3].copy()
    for method in ("predict", "decision_function", "score_samples", "p_values",
                   "reconstruction_errors"):
        with pytest.raises(ValueError, match="features"):
            getattr(detector, method)(wrong)
    assert state(detector) == before
    assert_array_equal(wrong, X[:5, :3])


def test_calls_do_not_modify_the_callers_array(pca_detector):
    detector, X = pca_detector
    Z = X[:50].copy()
    Z[0, 0] = 1e250
    kept = Z.copy()
    clone(detector).fit(Z)
    detector.predict(Z)
    detector.reconstruction_errors(Z)
    assert_array_equal(Z, kept)


def test_zero_column_dataframes_are_refused_clearly(pca_detector):
    import pandas as pd

    empty = pd.DataFrame(index=range(5))
    with pytest.raises(ValueError, match="0 feature"):
        AutoencoderOutlierDetector(PCA(1)).fit(empty)
    detector, _ = pca_detector
    with pytest.raises(ValueError, match="0 feature"):
        detector.predict(empty)


def test_negative_strides_and_read_only_memmaps(pca_detector, tmp_path):
    _, X = pca_detector
    template = AutoencoderOutlierDetector(small_ae(n_components=2), random_state=0)
    reference = clone(template).fit(np.ascontiguousarray(X[::-1]))
    expected = reference.score_samples(np.ascontiguousarray(X[::-1]))
    reversed_rows = clone(template).fit(X[::-1])
    assert_allclose(reversed_rows.score_samples(X[::-1]), expected, rtol=1e-12)
    flipped = clone(template).fit(np.flip(X, axis=1))
    assert_allclose(
        flipped.score_samples(np.flip(X, axis=1)),
        clone(template).fit(np.flip(X, axis=1).copy()).score_samples(
            np.flip(X, axis=1).copy()
        ),
        rtol=1e-12,
    )
    path = tmp_path / "X.dat"
    np.ascontiguousarray(X[::-1]).tofile(path)
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    from_map = clone(template).fit(mapped)
    assert_allclose(from_map.score_samples(mapped), expected, rtol=1e-12)
    assert from_map.predict(mapped).shape == (len(X),)


# ------------------------------------------------------------------ memory


def test_scoring_is_chunked_by_working_memory():
    X = low_rank(3000, seed=0)
    detector = AutoencoderOutlierDetector(Recorder(3), random_state=0).fit(X)
    full = detector.score_samples(X)
    detector.estimator_.batch_rows_.clear()
    # 20 features * 8 bytes * 6 arrays = 960 bytes a row: 0.5 MiB is 546 rows.
    with sklearn.config_context(working_memory=0.5):
        chunked = detector.score_samples(X)
    assert max(detector.estimator_.batch_rows_) == 546
    assert sum(detector.estimator_.batch_rows_) == 3000
    assert_allclose(chunked, full, rtol=1e-12)


def _peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_predict_memory_does_not_grow_with_the_number_of_rows():
    detector = AutoencoderOutlierDetector(PCA(4), random_state=0)
    detector.fit(np.random.default_rng(0).normal(size=(500, 64)).astype(np.float32))
    X = np.random.default_rng(1).normal(size=(100_000, 64)).astype(np.float32)
    with sklearn.config_context(working_memory=16):
        peak = _peak_mib(lambda: detector.predict(X))
    # One n x p float64 matrix would be 49 MiB; the outputs are under 3 MiB.
    assert peak < 16


def test_sparse_fit_stays_sparse_until_the_chunk():
    X = sp.random(10_000, 2_000, density=0.001, random_state=0, format="csr")
    model = TruncatedSVD(2, random_state=0)
    detector = AutoencoderOutlierDetector(model, random_state=0)
    with sklearn.config_context(working_memory=16):
        peak = _peak_mib(lambda: detector.fit(X))
    # Dense, X would take 153 MiB; its 20,000 stored values take under 1 MiB.
    assert peak < 32


# ------------------------------------------- scikit-learn's outlier contract


def test_outlier_detector_contract_on_scikit_learns_check_data():
    # scikit-learn's check_outliers_train and check_outliers_fit_predict,
    # except their count of flagged *training* rows: the threshold is set on
    # held-out rows on purpose, so that count is not contamination * n here.
    from sklearn.datasets import make_blobs
    from sklearn.utils import shuffle

    X, _ = make_blobs(n_samples=300, random_state=0)
    X = shuffle(X, random_state=7)
    for contamination in ("auto", 0.1):
        detector = AutoencoderOutlierDetector(
            PCA(1), contamination=contamination, random_state=0
        )
        labels = detector.fit_predict(X)
        assert labels.dtype.kind == "i" and labels.shape == (300,)
        assert_array_equal(np.unique(labels), [-1, 1])
        assert_array_equal(labels, clone(detector).fit(X.tolist()).predict(X))
        decision, scores = detector.decision_function(X), detector.score_samples(X)
        for output in (decision, scores):
            assert output.dtype == np.float64 and output.shape == (300,)
        assert_array_equal(np.where(decision >= 0, 1, -1), labels)
        assert_allclose(decision, scores - detector.offset_)
        for method in ("predict", "decision_function", "score_samples"):
            with pytest.raises(ValueError):
                getattr(detector, method)(X.T)


def test_values_that_overflow_when_standardised_still_score_finitely():
    X = 1e-3 * low_rank(200, seed=0)  # spreads of about 1e-3
    detector = AutoencoderOutlierDetector(PCA(3), random_state=0).fit(X)
    rows = np.repeat(X[:1], 3, axis=0)
    rows[:, 0] = [1e300, 1e306, np.finfo(np.float64).max]  # / 1e-3 overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = detector.score_samples(rows)
    assert np.all(np.isfinite(scores)) and np.all(np.diff(scores) < 0)
