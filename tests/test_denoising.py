"""DenoisingAutoencoderTransformer: corruption while training, clean inference."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer, DenoisingAutoencoderTransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NOISES = ["gaussian", "masking", "salt_and_pepper"]


def _corrupt(X, noise, level, data_min, data_max, rng):
    """Corrupt X as documented, in the input's units."""
    if noise == "gaussian":
        return X + level * rng.standard_normal(X.shape)
    hit = rng.random(X.shape) < level
    if noise == "masking":
        return np.where(hit, 0.0, X)
    salt = rng.random(X.shape) < 0.5
    extreme = np.where(salt, data_max, data_min)
    return np.where(hit, extreme, X)


@pytest.mark.parametrize(
    "noise, level", [("gaussian", 4.0), ("masking", 0.3), ("salt_and_pepper", 0.2)]
)
def test_reconstruction_removes_noise(noise, level, digits):
    X, _ = digits
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    dae = DenoisingAutoencoderTransformer(
        n_components=16,
        hidden_layer_sizes=(64,),
        noise=noise,
        noise_level=level,
        learning_rate_init=1e-2,
        batch_size=64,
        max_iter=15,
        random_state=0,
    ).fit(X_train)
    rng = np.random.default_rng(1)
    X_noisy = _corrupt(X_test, noise, level, dae.data_min_, dae.data_max_, rng)
    denoised = dae.inverse_transform(dae.transform(X_noisy))
    noisy_error = np.mean((X_noisy - X_test) ** 2)
    denoised_error = np.mean((denoised - X_test) ** 2)
    assert denoised_error < 0.7 * noisy_error


@pytest.mark.parametrize("noise", NOISES)
def test_inference_is_deterministic_and_clean(noise, X_small, fast_params):
    dae = DenoisingAutoencoderTransformer(
        n_components=3, noise=noise, noise_level=0.5, **fast_params
    ).fit(X_small)
    codes = dae.transform(X_small)
    np.testing.assert_array_equal(dae.transform(X_small), codes)
    np.testing.assert_array_equal(
        dae.score_samples(X_small), dae.score_samples(X_small)
    )
    assert dae.score(X_small) == dae.score(X_small)
    # Scoring sees the clean input: it is exactly the reconstruction error of
    # inverse_transform(transform(X)), as for the plain autoencoder.
    reconstruction = dae.inverse_transform(codes)
    np.testing.assert_allclose(
        dae.score_samples(X_small),
        -np.mean((reconstruction - X_small) ** 2, axis=1),
        rtol=1e-9,
    )
    # Row results do not depend on which other rows are in the batch (up to
    # the rounding of differently sized matrix products).
    np.testing.assert_allclose(
        dae.transform(X_small[7:9]), codes[7:9], rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("noise", NOISES)
def test_zero_noise_is_the_plain_autoencoder(noise, X_small, fast_params):
    params = {**fast_params, "n_components": 3}
    dae = DenoisingAutoencoderTransformer(noise=noise, noise_level=0.0, **params)
    ae = AutoencoderTransformer(**params)
    dae.fit(X_small)
    ae.fit(X_small)
    assert dae.loss_curve_ == ae.loss_curve_
    np.testing.assert_array_equal(dae.transform(X_small), ae.transform(X_small))
    np.testing.assert_array_equal(dae.score_samples(X_small), ae.score_samples(X_small))


@pytest.mark.parametrize("noise", NOISES)
def test_noise_changes_training(noise, X_small, fast_params):
    # The other side of the test above: with noise the model differs.
    params = {**fast_params, "n_components": 3}
    dae = DenoisingAutoencoderTransformer(noise=noise, noise_level=0.3, **params)
    ae = AutoencoderTransformer(**params)
    assert not np.allclose(dae.fit_transform(X_small), ae.fit_transform(X_small))


@pytest.mark.parametrize("noise", NOISES)
def test_noise_is_seeded(noise, X_small, fast_params):
    params = {**fast_params, "noise": noise, "noise_level": 0.3}
    first = DenoisingAutoencoderTransformer(**params).fit(X_small)
    second = DenoisingAutoencoderTransformer(**params).fit(X_small)
    np.testing.assert_array_equal(first.transform(X_small), second.transform(X_small))


@pytest.mark.parametrize("noise", NOISES)
def test_noise_level_is_in_input_units(noise, X_small, fast_params):
    # Scaling the data (and a Gaussian noise level) by 10 is the same problem
    # in other units: losses scale by 100, codes (in input units, as PCA's)
    # by 10.
    level = 0.3 if noise != "gaussian" else 2.0
    scaled_level = level if noise != "gaussian" else 10 * level
    params = {**fast_params, "noise": noise, "n_components": 3}
    base = DenoisingAutoencoderTransformer(noise_level=level, **params).fit(X_small)
    scaled = DenoisingAutoencoderTransformer(noise_level=scaled_level, **params)
    scaled.fit(10 * X_small)
    np.testing.assert_allclose(
        scaled.loss_curve_, 100 * np.asarray(base.loss_curve_), rtol=1e-3
    )
    codes = base.transform(X_small)
    np.testing.assert_allclose(
        scaled.transform(10 * X_small), 10 * codes, rtol=0, atol=1e-2 * np.abs(codes).max()
    )


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_data_range_attributes(sparse, early_stopping, X_small, fast_params):
    X = X_small - 3.0  # negative values, so the minima are not all zero
    X_in = sp.csr_matrix(X) if sparse else X
    dae = DenoisingAutoencoderTransformer(
        noise="salt_and_pepper", early_stopping=early_stopping, **fast_params
    ).fit(X_in)
    assert dae.data_min_.shape == dae.data_max_.shape == (X.shape[1],)
    if early_stopping:
        # The range of the training rows, the validation rows held out.
        assert np.all(dae.data_min_ >= X.min(axis=0))
        assert np.all(dae.data_max_ <= X.max(axis=0))
    else:
        np.testing.assert_array_equal(dae.data_min_, X.min(axis=0))
        np.testing.assert_array_equal(dae.data_max_, X.max(axis=0))


def test_sparse_training_matches_dense(X_small, fast_params):
    params = {**fast_params, "noise": "salt_and_pepper", "noise_level": 0.2}
    dense = DenoisingAutoencoderTransformer(**params).fit(X_small)
    sparse = DenoisingAutoencoderTransformer(**params).fit(sp.csr_matrix(X_small))
    np.testing.assert_allclose(
        sparse.transform(X_small), dense.transform(X_small), rtol=1e-4, atol=1e-5
    )


def test_full_masking_is_allowed(X_small, fast_params):
    # noise_level=1 masks everything: the network learns the mean image.
    dae = DenoisingAutoencoderTransformer(
        noise="masking", noise_level=1.0, **{**fast_params, "max_iter": 30}
    ).fit(X_small)
    codes = dae.transform(X_small)
    assert np.all(np.isfinite(codes))
    assert np.isfinite(dae.score(X_small))


def test_corruption_does_not_touch_training_data(X_small, fast_params):
    X = X_small.copy()
    DenoisingAutoencoderTransformer(
        noise="masking", noise_level=0.5, **fast_params
    ).fit(X)
    np.testing.assert_array_equal(X, X_small)


def test_warm_start_and_partial_fit_keep_first_fit_statistics(X_small, fast_params):
    dae = DenoisingAutoencoderTransformer(noise="salt_and_pepper", **fast_params).fit(
        X_small
    )
    low, high = dae.data_min_.copy(), dae.data_max_.copy()
    dae.partial_fit(X_small[:20] + 100)
    dae.set_params(warm_start=True).fit(X_small[:20] - 100)
    np.testing.assert_array_equal(dae.data_min_, low)
    np.testing.assert_array_equal(dae.data_max_, high)
