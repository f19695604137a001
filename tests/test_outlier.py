"""Tests for AutoencoderOutlierDetector."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.decomposition import PCA
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


@pytest.fixture(scope="module")
def X():
    return sensors()


@pytest.fixture(scope="module")
def detector(X):
    return AutoencoderOutlierDetector(small_ae(), contamination=0.1).fit(X)


def test_fit_returns_self_and_fits_a_clone(X):
    template = small_ae()
    detector = AutoencoderOutlierDetector(template)
    assert detector.fit(X) is detector
    assert detector.estimator_ is not template
    assert not hasattr(template, "n_features_in_")
    assert detector.estimator_.n_features_in_ == 4
    assert detector.n_features_in_ == 4


def test_default_estimator_is_an_autoencoder():
    X = sensors(60)
    detector = AutoencoderOutlierDetector(random_state=0).fit(X)
    assert detector.estimator is None
    assert type(detector.estimator_) is AutoencoderTransformer
    assert detector.estimator_.random_state == 0
    assert detector.predict(X).shape == (60,)


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.25, 0.5])
def test_contamination_of_training_rows_is_flagged(X, contamination):
    detector = AutoencoderOutlierDetector(small_ae(), contamination=contamination)
    labels = detector.fit_predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    assert np.sum(labels == -1) == pytest.approx(contamination * len(X), abs=1)


def test_decision_function_and_predict_agree(detector, X):
    scores = detector.score_samples(X)
    decision = detector.decision_function(X)
    assert_allclose(decision, scores - detector.offset_)
    assert_array_equal(detector.predict(X), np.where(decision < 0, -1, 1))
    assert detector.offset_ == pytest.approx(np.percentile(scores, 10))


def test_fit_predict_matches_fit_then_predict(X):
    detector = AutoencoderOutlierDetector(small_ae())
    assert_array_equal(detector.fit_predict(X), clone(detector).fit(X).predict(X))


def test_score_samples_is_the_autoencoders_score(detector, X):
    assert_allclose(
        detector.score_samples(X), detector.estimator_.score_samples(X), rtol=1e-10
    )
    assert np.all(detector.score_samples(X) <= 0)


def test_reconstruction_errors_break_the_score_down_by_feature(detector, X):
    errors = detector.reconstruction_errors(X)
    assert errors.shape == X.shape
    assert errors.dtype == np.float64
    assert np.all(errors >= 0)
    assert_allclose(errors.mean(axis=1), -detector.score_samples(X))
    recon = detector.estimator_.inverse_transform(detector.estimator_.transform(X))
    assert_allclose(errors, (X - recon) ** 2)


def test_reconstruction_errors_point_at_the_faulty_feature(X):
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
    detector = AutoencoderOutlierDetector(dae, contamination=0.05).fit(X)
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
    pca = AutoencoderOutlierDetector(PCA(n_components=1)).fit(X)
    model = pca.estimator_
    expected = -np.mean((X - model.inverse_transform(model.transform(X))) ** 2, axis=1)
    assert_allclose(pca.score_samples(X), expected)
    vae = AutoencoderOutlierDetector(
        VariationalAutoencoderTransformer(1, hidden_layer_sizes=(8,), max_iter=5)
    ).fit(X)
    assert_allclose(vae.score_samples(X), vae.estimator_.score_samples(X), rtol=1e-10)


def test_random_state_overrides_the_wrapped_estimators(X):
    template = small_ae(random_state=None)
    a = AutoencoderOutlierDetector(template, random_state=5).fit(X)
    b = AutoencoderOutlierDetector(template, random_state=5).fit(X)
    assert a.estimator_.random_state == 5
    assert template.random_state is None
    assert_array_equal(a.score_samples(X), b.score_samples(X))
    kept = AutoencoderOutlierDetector(small_ae(random_state=7)).fit(X)
    assert kept.estimator_.random_state == 7


def test_sparse_input_gives_the_dense_result(X):
    X_sparse = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    detector = AutoencoderOutlierDetector(small_ae()).fit(X_sparse)
    dense = AutoencoderOutlierDetector(small_ae()).fit(X_sparse.toarray())
    assert_allclose(
        detector.score_samples(X_sparse), dense.score_samples(X_sparse.toarray())
    )
    assert detector.reconstruction_errors(X_sparse).shape == X.shape


def test_float32_input(X):
    X32 = X.astype(np.float32)
    detector = AutoencoderOutlierDetector(small_ae()).fit(X32)
    assert detector.score_samples(X32).dtype == np.float64
    assert_allclose(
        detector.reconstruction_errors(X32).mean(axis=1),
        -detector.estimator_.score_samples(X32),
        rtol=1e-4,
    )


def test_feature_names_are_checked(X):
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    detector = AutoencoderOutlierDetector(small_ae()).fit(frame)
    assert_array_equal(detector.feature_names_in_, ["a", "b", "c", "d"])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names")
        detector.predict(frame)
    with pytest.raises(ValueError, match="feature names"):
        detector.predict(frame[["a", "b", "d", "c"]])
    with pytest.warns(UserWarning, match="valid feature names"):
        with pytest.raises(ValueError, match="features"):
            detector.predict(X[:, :3])


def test_unfitted_detector_raises(X):
    with pytest.raises(NotFittedError):
        AutoencoderOutlierDetector().predict(X)


@pytest.mark.parametrize("contamination", [0.0, 0.6, "auto", -0.1])
def test_invalid_contamination(contamination, X):
    with pytest.raises(InvalidParameterError):
        AutoencoderOutlierDetector(small_ae(), contamination=contamination).fit(X)


def test_invalid_estimator(X):
    with pytest.raises(InvalidParameterError):
        AutoencoderOutlierDetector(estimator="pca").fit(X)
