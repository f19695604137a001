"""Tests for ConvolutionalAutoencoderTransformer and its torch module."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import ConvolutionalAutoencoderTransformer
from skae._modules import build, conv_autoencoder


def ConvolutionalAutoencoder(shape, channels, n_components, activation):
    """The network, initialised from a local generator (not torch's global one)."""
    generator = torch.Generator().manual_seed(0)
    return build(
        lambda: conv_autoencoder(shape, channels, n_components, activation), activation, generator
    )

# Short fits at a fixed max_iter are intended.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=(4, 8), max_iter=5, learning_rate_init=1e-2)


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 2), (1, 7), (1, 8, 8), (3, 5, 9), (2, 1, 1), (1, 28, 28)]
)
@pytest.mark.parametrize("channels", [(), (4,), (4, 8, 16)])
def test_module_restores_any_shape(shape, channels):
    module = ConvolutionalAutoencoder(shape, channels, 3, "relu")
    x = torch.ones((5, math.prod(shape)))
    code = module.encode(x)
    assert code.shape == (5, 3)
    assert module.decode(code).shape == x.shape


def test_module_uses_2d_convolutions_for_images_and_1d_for_signals():
    image = ConvolutionalAutoencoder((1, 8, 8), (4,), 2, "relu")
    signal = ConvolutionalAutoencoder((1, 64), (4,), 2, "relu")
    assert any(isinstance(m, torch.nn.Conv2d) for m in image.encoder.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in image.decoder.modules())
    assert any(isinstance(m, torch.nn.Conv1d) for m in signal.encoder.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose1d) for m in signal.decoder.modules())


def test_convolutions_are_local():
    # A change in one corner pixel only reaches the first layer's feature
    # maps near that corner: kernel 3, stride 2.
    module = ConvolutionalAutoencoder((1, 8, 8), (4,), 2, "relu")
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(0.1)
        x = torch.zeros((1, 1, 8, 8))
        y = x.clone()
        y[0, 0, 0, 0] = 1.0
        first = module.encoder.branch[1]
        assert isinstance(first, torch.nn.Conv2d)
        diff = (first(y) - first(x)).abs()[0, 0]
    assert diff[0, 0] > 0
    assert diff[1:, :].sum() == 0 and diff[:, 1:].sum() == 0


def test_beats_pca_on_held_out_digits():
    X, _ = load_digits(return_X_y=True)
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    pca = PCA(n_components=10).fit(X_train)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)
    cae = ConvolutionalAutoencoderTransformer(
        n_components=10, image_shape=(8, 8), random_state=0
    ).fit(X_train)
    assert not cae.is_pca_
    assert -cae.score(X_test) < 0.95 * pca_mse


@pytest.mark.parametrize("image_shape", [(8, 8), (1, 8, 8), (2, 4, 8), (4, 16)])
def test_image_shapes_that_match(image_shape):
    X = np.random.default_rng(0).normal(size=(30, 64))
    cae = ConvolutionalAutoencoderTransformer(
        3, image_shape=image_shape, random_state=0, **FAST
    ).fit(X)
    assert cae.transform(X).shape == (30, 3)
    assert cae.inverse_transform(cae.transform(X)).shape == (30, 64)


@pytest.mark.parametrize(
    "image_shape, match",
    [
        ((8, 7), "product must equal"),
        ((2, 2, 2, 8), "image_shape must be"),
        ((64,), "image_shape must be"),
        ((0, 8), "image_shape must be"),
        ((8.0, 8.0), "image_shape must be"),
    ],
)
def test_image_shape_mismatch_raises(image_shape, match):
    X = np.zeros((10, 64))
    with pytest.raises(ValueError, match=match):
        ConvolutionalAutoencoderTransformer(image_shape=image_shape, **FAST).fit(X)


@pytest.mark.parametrize("n_features", [1, 2, 3, 10])
def test_default_treats_rows_as_signals_of_any_width(n_features):
    X = np.random.default_rng(0).normal(size=(12, n_features))
    cae = ConvolutionalAutoencoderTransformer(1, random_state=0, **FAST).fit(X)
    assert cae.transform(X).shape == (12, 1)
    assert cae.inverse_transform(cae.transform(X)).shape == X.shape
    assert isinstance(cae.module_.encoder.branch[1], torch.nn.Conv1d)
    assert np.isfinite(cae.score(X))


def test_no_hidden_layers_gives_an_affine_decoder():
    X = np.random.default_rng(0).normal(size=(40, 12))
    cae = ConvolutionalAutoencoderTransformer(
        2, hidden_layer_sizes=(), image_shape=(3, 4), max_iter=3, random_state=0
    ).fit(X)
    z1, z2 = np.array([[1.0, -2.0]]), np.array([[0.5, 3.0]])
    mid = cae.inverse_transform(0.5 * (z1 + z2))
    ends = 0.5 * (cae.inverse_transform(z1) + cae.inverse_transform(z2))
    assert_allclose(mid, ends, rtol=1e-10, atol=1e-10)


def test_docstring_documents_channels():
    doc = ConvolutionalAutoencoderTransformer.__doc__
    assert "default=(32, 64)" in doc
    assert "numbers of channels" in doc
    assert "default=(256, 128)" not in doc
