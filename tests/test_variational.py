"""Tests for VariationalAutoencoderTransformer and its torch building blocks."""

import copy

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils._param_validation import InvalidParameterError

from skae import VariationalAutoencoderTransformer
from skae._modules import GaussianAutoencoder, build, kl_to_standard_normal

# Short fits at a fixed max_iter are intended.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=(16,), max_iter=15, learning_rate_init=1e-2)


def _low_rank_data(n_samples=200, n_features=6, rank=2, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_samples, rank))
    mixing = rng.normal(size=(rank, n_features))
    return latent @ mixing + 0.05 * rng.normal(size=(n_samples, n_features)) + 3.0


@pytest.fixture(scope="module")
def data():
    return _low_rank_data()


@pytest.fixture(scope="module")
def fitted(data):
    return VariationalAutoencoderTransformer(
        n_components=2, random_state=0, **FAST
    ).fit(data)


def _make_posterior(seed):
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn((5, 3), generator=generator, dtype=torch.float64)
    log_var = torch.randn((5, 3), generator=generator, dtype=torch.float64)
    return mean, log_var


def test_kl_matches_closed_form_of_torch_distributions():
    mean, log_var = _make_posterior(0)
    posterior = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    prior = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(dim=1)
    assert_allclose(kl_to_standard_normal(mean, log_var).numpy(), expected.numpy())


def test_kl_matches_monte_carlo_estimate():
    mean, log_var = _make_posterior(1)
    std = torch.exp(0.5 * log_var)
    generator = torch.Generator().manual_seed(2)
    eps = torch.randn((200_000, *mean.shape), generator=generator, dtype=mean.dtype)
    z = mean + std * eps
    posterior = torch.distributions.Normal(mean, std)
    prior = torch.distributions.Normal(0.0, 1.0)
    log_ratio = (posterior.log_prob(z) - prior.log_prob(z)).sum(dim=-1)
    estimate = log_ratio.mean(dim=0)
    stderr = log_ratio.std(dim=0) / np.sqrt(eps.shape[0])
    exact = kl_to_standard_normal(mean, log_var)
    assert torch.all((estimate - exact).abs() < 5 * stderr + 1e-3)


def test_kl_is_zero_only_at_the_prior():
    zeros = torch.zeros((4, 3))
    assert_array_equal(kl_to_standard_normal(zeros, zeros).numpy(), 0.0)
    assert torch.all(kl_to_standard_normal(zeros + 0.1, zeros) > 0)
    assert torch.all(kl_to_standard_normal(zeros, zeros - 0.1) > 0)


def test_loss_is_mse_plus_scaled_kl():
    mean, log_var = _make_posterior(3)
    generator = torch.Generator().manual_seed(4)
    target = torch.randn((5, 7), generator=generator, dtype=mean.dtype)
    recon = torch.randn((5, 7), generator=generator, dtype=mean.dtype)
    mse = torch.nn.functional.mse_loss(recon, target)
    kl = kl_to_standard_normal(mean, log_var).mean()
    for beta in (0.0, 1.0, 2.5):
        vae = VariationalAutoencoderTransformer(beta=beta)
        loss = vae._loss((recon, mean, log_var), target, target)
        assert_allclose(loss.item(), (mse + beta * kl / 7).item())


def _module(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return build(lambda: GaussianAutoencoder(4, (8,), 2, "relu"), "relu", generator)


def test_module_draws_from_its_generator_in_training_only():
    module = _module()
    x = torch.linspace(-1, 1, 12).reshape(3, 4)
    with torch.no_grad():
        module.eval()
        out_mean, mean, log_var = module(x)
        assert_allclose(out_mean, module.decode(module.encode(x)))
        module.train()
        module.generator = torch.Generator().manual_seed(7)
        out_draw, _, _ = module(x)
        eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(7))
        z = mean + torch.exp(0.5 * log_var) * eps
        assert_allclose(out_draw, module.decode(z), rtol=1e-6)
        assert not torch.allclose(out_draw, out_mean)


def test_module_construction_leaves_torch_rng_alone():
    state = torch.random.get_rng_state().clone()
    _module(1)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_kl_term_is_active_in_training(data):
    # PyOD's VAE reports a KL term that is always 0 with its default capacity;
    # here the KL of the fitted posteriors must be positive, and weighting it
    # more must pull the posteriors closer to the prior.
    def training_kl(beta):
        vae = VariationalAutoencoderTransformer(
            n_components=2, beta=beta, random_state=0, **FAST
        ).fit(data)
        module = vae.module_
        x = torch.as_tensor((data - vae.mean_) / vae.scale_, dtype=torch.float32)
        with torch.no_grad():
            kl = kl_to_standard_normal(*module.posterior(x)).mean().item()
        return vae, kl

    vae_weak, kl_weak = training_kl(0.1)
    vae_strong, kl_strong = training_kl(10.0)
    assert kl_weak > 0.1
    assert kl_strong > 0
    assert kl_strong < kl_weak
    assert not np.allclose(vae_weak.transform(data), vae_strong.transform(data))


@pytest.mark.parametrize("beta", [0.0, 2.0])
def test_estimator_loss_weights_kl_by_beta(beta):
    mean, log_var = _make_posterior(5)
    target = torch.zeros((5, 4), dtype=mean.dtype)
    recon = torch.ones((5, 4), dtype=mean.dtype)
    vae = VariationalAutoencoderTransformer(beta=beta)
    kl = kl_to_standard_normal(mean, log_var).mean().item()
    assert kl > 0
    assert vae._loss((recon, mean, log_var), target, target).item() == pytest.approx(
        1.0 + beta * kl / 4
    )


def test_transform_is_the_posterior_mean(fitted, data):
    codes = fitted.transform(data)
    assert_array_equal(codes, fitted.transform(data))
    module = fitted.module_.double()
    x = torch.as_tensor((data - fitted.mean_) / fitted.scale_)
    with torch.no_grad():
        mean, _ = module.posterior(x)
    assert_allclose(codes, mean.numpy(), rtol=1e-6, atol=1e-8)


def test_score_samples_is_deterministic_reconstruction_error(fitted, data):
    scores = fitted.score_samples(data)
    assert_array_equal(scores, fitted.score_samples(data))
    recon = fitted.inverse_transform(fitted.transform(data))
    assert_allclose(scores, -((recon - data) ** 2).mean(axis=1), rtol=1e-6)
    assert fitted.score(data) == pytest.approx(scores.mean())


def test_sample_is_reproducible_and_shaped(fitted):
    first = fitted.sample(7, random_state=0)
    assert first.shape == (7, fitted.n_features_in_)
    assert first.dtype == np.float64
    assert_array_equal(first, fitted.sample(7, random_state=0))
    assert not np.allclose(first, fitted.sample(7, random_state=1))
    generated = fitted.sample(3, random_state=np.random.default_rng(0))
    assert generated.shape == (3, fitted.n_features_in_)
    assert fitted.sample().shape == (1, fitted.n_features_in_)


def test_sample_decodes_prior_draws(fitted):
    z = np.random.default_rng(5).standard_normal((4, fitted.n_components))
    assert_allclose(fitted.sample(4, random_state=5), fitted.inverse_transform(z))


def test_sample_leaves_global_random_states_alone(fitted):
    numpy_state = np.random.get_state()[1].copy()
    torch_state = torch.random.get_rng_state().clone()
    fitted.sample(5)
    assert_array_equal(np.random.get_state()[1], numpy_state)
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_sample_matches_data_distribution(data):
    vae = VariationalAutoencoderTransformer(
        n_components=2,
        hidden_layer_sizes=(32,),
        learning_rate_init=1e-2,
        batch_size=20,
        max_iter=40,
        random_state=0,
    ).fit(data)
    generated = vae.sample(2000, random_state=0)
    spread = data.std(axis=0)
    # the mean is right to a fraction of each feature's spread, the samples
    # vary on the data's scale (a VAE's decoded means are somewhat less
    # spread than the data, never collapsed), and the features co-vary as in
    # the data
    assert np.all(np.abs(generated.mean(axis=0) - data.mean(axis=0)) < 0.15 * spread)
    ratio = generated.std(axis=0) / spread
    assert np.all((ratio > 0.6) & (ratio < 1.2))
    correlation_gap = np.corrcoef(generated.T) - np.corrcoef(data.T)
    assert np.abs(correlation_gap).max() < 0.15


def test_sample_validates_input(fitted):
    with pytest.raises(InvalidParameterError):
        fitted.sample(0)
    with pytest.raises(InvalidParameterError):
        fitted.sample(2, random_state="seed")


def test_sample_requires_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        VariationalAutoencoderTransformer().sample(2)


def test_sample_uses_the_fitted_code_width(fitted):
    changed = copy.deepcopy(fitted).set_params(n_components=5)
    assert_array_equal(changed.sample(3, random_state=0), fitted.sample(3, random_state=0))
