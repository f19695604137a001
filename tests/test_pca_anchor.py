"""The networks start as PCA and keep PCA unless they beat it; n_components as PCA's.

The deterministic autoencoders are PCA's linear encoder and decoder plus a
nonlinear branch whose last layer starts at zero. These tests pin that
down: before training the network *is* PCA (to float32 precision), fit
falls back to PCA when the network cannot beat it on the validation rows,
``n_components`` is resolved as PCA resolves it, and a default fit on each
of scikit-learn's bundled data sets converges without a warning.
"""

import warnings

import numpy as np
import pytest
import torch
from conftest import fast_params_for
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skae import (
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)
from skae._modules import build, conv_autoencoder, mlp_autoencoder


def _assert_float32_close(actual, desired):
    """Equal to float32 precision, relative to the size of the values."""
    desired = np.asarray(desired)
    np.testing.assert_allclose(actual, desired, rtol=0, atol=1e-5 * np.abs(desired).max())


def _pca_outputs(X, k):
    pca = PCA(k).fit(X)
    codes = pca.transform(X)
    return pca, codes, pca.inverse_transform(codes)


# ---------------------------------------------------------- anchor identity

# One step at a negligible step size: the fitted model is the starting point.
_AT_START = {"learning_rate_init": 1e-12, "max_iter": 1, "early_stopping": False}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=1
@pytest.mark.parametrize(
    "Anchored, params",
    [
        (AutoencoderTransformer, {}),
        (AutoencoderTransformer, {"hidden_layer_sizes": (16, 8), "activation": "tanh"}),
        (DenoisingAutoencoderTransformer, {"noise_level": 0.0}),
        (ConvolutionalAutoencoderTransformer, {"image_shape": (8, 8)}),
        (ConvolutionalAutoencoderTransformer, {}),
    ],
    ids=["ae", "ae-tanh", "dae", "conv-2d", "conv-1d"],
)
@pytest.mark.parametrize("k", [1, 5])
def test_untrained_network_is_pca(Anchored, params, k, X_small):
    est = Anchored(k, **_AT_START, **params, random_state=0).fit(X_small)
    _, codes, reconstruction = _pca_outputs(X_small, k)
    _assert_float32_close(est.transform(X_small), codes)
    _assert_float32_close(est.inverse_transform(est.transform(X_small)), reconstruction)
    _assert_float32_close(est.inverse_transform(codes), reconstruction)


@pytest.mark.parametrize(
    "factory",
    [
        lambda n, k: mlp_autoencoder(n, (16,), k, "relu"),
        lambda n, k: mlp_autoencoder(n, (), k, "relu"),
        lambda n, k: conv_autoencoder((1, 8, 8), (4, 8), k, "relu"),
        lambda n, k: conv_autoencoder((1, n), (4,), k, "elu"),
    ],
    ids=["mlp", "linear", "conv-2d", "conv-1d"],
)
def test_anchored_module_is_pca(factory, X_small):
    k = 4
    n_features = X_small.shape[1]
    # Network units: centred and divided by one scale, as the estimators do.
    mean = X_small.mean(axis=0)
    scale = np.sqrt(np.mean(X_small.var(axis=0)))
    units = (X_small - mean) / scale
    pca, codes, reconstruction = _pca_outputs(X_small, k)

    generator = torch.Generator().manual_seed(0)  # a local generator only
    network = build(lambda: factory(n_features, k), "relu", generator)
    x = torch.as_tensor(units, dtype=torch.float32)
    with torch.no_grad():
        before = network.encode(x).numpy()  # random branch: not PCA yet
        network.anchor(torch.as_tensor(PCA(n_features).fit(units).components_))
        code = network.encode(x).numpy()
        reconstructed = network.decode(network.encode(x)).numpy()
    assert not np.allclose(before * scale, codes, atol=1e-2 * np.abs(codes).max())
    # PCA's axes do not change when the data are divided by one scale.
    _assert_float32_close(code * scale, codes)
    _assert_float32_close(reconstructed * scale + mean, reconstruction)


def test_variational_autoencoder_does_not_start_from_pca(X_small):
    est = VariationalAutoencoderTransformer(
        3, **_AT_START, hidden_layer_sizes=(16,), random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1
        est.fit(X_small)
    assert est.is_pca_ is False
    assert est.pca_validation_error_ is None


# ------------------------------------------------------------ PCA fallback


def _low_rank(n_samples=300, n_features=12, rank=3, noise=1e-6, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_samples, rank)) * np.arange(rank, 0, -1)
    mixing = rng.normal(size=(rank, n_features))
    return latent @ mixing + 5.0 + noise * rng.normal(size=(n_samples, n_features))


@pytest.mark.parametrize("Anchored", [AutoencoderTransformer, ConvolutionalAutoencoderTransformer])
def test_falls_back_to_pca_on_low_rank_linear_data(Anchored):
    # PCA with k=3 is the exact answer on rank-3 data: no epoch can beat it
    # on the validation rows, so the fitted model is PCA.
    X = _low_rank()
    est = Anchored(3, hidden_layer_sizes=(16,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X)
    assert est.is_pca_ is True
    assert est.validation_error_ == est.pca_validation_error_
    # The training rows are a random 90%; on exactly low-rank data every
    # subset has the same principal subspace, so the reconstruction equals
    # PCA's, and the codes equal PCA's up to a rotation of the code space and
    # a shift (the axes within the subspace and the mean depend on the rows).
    _, codes, reconstruction = _pca_outputs(X, 3)
    _assert_float32_close(est.inverse_transform(est.transform(X)), reconstruction)
    est_codes = est.transform(X)
    with_offset = np.column_stack([codes, np.ones(len(codes))])
    fit, *_ = np.linalg.lstsq(with_offset, est_codes, rcond=None)
    _assert_float32_close(with_offset @ fit, est_codes)
    rotation = fit[:3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-4)


def test_falls_back_to_the_pca_of_the_training_rows():
    # Without validation rows the training rows are all rows, so the fallback
    # is exactly PCA fitted on X: the same codes, not only the same subspace.
    X = _low_rank()
    est = AutoencoderTransformer(3, hidden_layer_sizes=(16,), random_state=0)
    est.set_params(early_stopping=False, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # an int max_iter
        est.fit(X)
    assert est.is_pca_ is True
    _, codes, reconstruction = _pca_outputs(X, 3)
    _assert_float32_close(est.transform(X), codes)
    _assert_float32_close(est.inverse_transform(codes), reconstruction)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # int max_iter
@pytest.mark.parametrize("k", [2, 8])
@pytest.mark.parametrize("learning_rate_init", [1e-3, 1e-1])
def test_kept_model_never_worse_than_pca_on_validation(k, learning_rate_init, X_small):
    # Whatever training does (a step size of 0.1 is far too large), the kept
    # model is at least as good as PCA on the validation rows.
    est = AutoencoderTransformer(
        k, hidden_layer_sizes=(16,), learning_rate_init=learning_rate_init,
        max_iter=10, random_state=0,
    ).fit(X_small)
    assert est.validation_error_ <= est.pca_validation_error_
    assert est.is_pca_ == (est.validation_error_ == est.pca_validation_error_)


# ------------------------------------------------------------- n_components


def test_float_n_components_is_pcas_choice(X_small):
    # Without validation rows, the fraction is that of the training rows'
    # variance: exactly what PCA(n_components=fraction) resolves on them.
    for fraction in (0.5, 0.9, 0.99):
        expected = PCA(fraction).fit(X_small).n_components_
        est = AutoencoderTransformer(
            fraction, **_AT_START, hidden_layer_sizes=(16,), random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1
            est.fit(X_small)
        assert est.n_components_ == expected <= X_small.shape[1]
        assert est.transform(X_small).shape == (X_small.shape[0], expected)
        assert len(est.get_feature_names_out()) == expected


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # int max_iter
def test_float_n_components_on_every_transformer(Estimator, X_small):
    est = Estimator(**fast_params_for(Estimator, n_components=0.9)).fit(X_small)
    assert 1 <= est.n_components_ <= X_small.shape[1]
    assert isinstance(est.n_components_, int)
    assert est.n_components == 0.9  # the parameter itself is left alone
    names = est.get_feature_names_out()
    prefix = Estimator.__name__.lower()
    assert list(names) == [f"{prefix}{i}" for i in range(est.n_components_)]
    assert est.transform(X_small).shape == (X_small.shape[0], est.n_components_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # int max_iter
def test_none_is_the_same_as_095(Estimator, X_small):
    default = Estimator(**fast_params_for(Estimator, n_components=None)).fit(X_small)
    explicit = Estimator(**fast_params_for(Estimator, n_components=0.95)).fit(X_small)
    assert Estimator().n_components is None
    assert default.n_components_ == explicit.n_components_
    np.testing.assert_array_equal(default.transform(X_small), explicit.transform(X_small))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # int max_iter
def test_n_components_rises_with_the_fraction(X_small):
    widths = [
        AutoencoderTransformer(**fast_params_for(AutoencoderTransformer, n_components=f))
        .fit(X_small)
        .n_components_
        for f in (0.3, 0.8, 0.99)
    ]
    assert widths[0] < widths[1] < widths[2]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # int max_iter
def test_denoising_accepts_an_overcomplete_code(X_small):
    params = fast_params_for(DenoisingAutoencoderTransformer, n_components=70)
    est = DenoisingAutoencoderTransformer(**params).fit(X_small)
    assert est.n_components_ == 70
    codes = est.transform(X_small)
    assert codes.shape == (X_small.shape[0], 70)
    assert est.inverse_transform(codes).shape == X_small.shape
    assert len(est.get_feature_names_out()) == 70


# ------------------------------------------------------ float32 == float64


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # int max_iter
def test_float32_and_float64_copies_give_the_same_model(Estimator, X_small):
    params = fast_params_for(Estimator)
    on64 = Estimator(**params).fit(X_small)
    on32 = Estimator(**params).fit(X_small.astype(np.float32))
    assert on32.loss_curve_ == pytest.approx(on64.loss_curve_, rel=1e-6)
    codes = on64.transform(X_small)
    np.testing.assert_allclose(
        on32.transform(X_small), codes, rtol=1e-6, atol=1e-6 * np.abs(codes).max()
    )
    assert on32.transform(X_small.astype(np.float32)).dtype == np.float32


# ---------------------------------------------- defaults on bundled data sets

BUNDLED = [
    (load_digits, 2), (load_digits, 5),
    (load_breast_cancer, 2), (load_breast_cancer, 5),
    (load_wine, 2), (load_wine, 5),
    (load_diabetes, 2), (load_diabetes, 5),
    (load_iris, 2), (load_iris, 3),
]


@pytest.mark.parametrize(
    "load, k", BUNDLED, ids=[f"{load.__name__[5:]}-{k}" for load, k in BUNDLED]
)
def test_defaults_converge_on_bundled_data(load, k):
    X = StandardScaler().fit_transform(load(return_X_y=True)[0])
    est = AutoencoderTransformer(k, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X)
    assert est.n_components_ == k
    assert est.validation_error_ <= est.pca_validation_error_
    assert np.isfinite(est.score(X))
