"""The variational autoencoder (Kingma and Welling, 2014)."""

import numbers
from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, validate_params

from . import _docs
from ._base import BaseAutoencoder, _check_hidden_layer_sizes
from ._utils import seed_sequence
from ._modules import GaussianAutoencoder, kl_to_standard_normal


_HIDDEN = """\
hidden_layer_sizes : tuple of int, default=(256, 128)
    Widths of the encoder's hidden layers, from the input inwards; the
    decoder mirrors them. Unlike the deterministic autoencoders, the
    variational one does not start from PCA: its codes are draws from a
    posterior pulled towards N(0, I), which PCA's projection is not."""

_NO_PCA = {
    "pca_validation_error_": """\
pca_validation_error_ : None
    Always None: the variational autoencoder does not start from PCA.""",
    "is_pca_": """\
is_pca_ : bool
    Always False, for the same reason.""",
    "n_components_": """\
n_components_ : int
    Dimension of the latent space, as resolved from ``n_components`` (a
    float or None is resolved with PCA's explained variance).""",
}


@_docs.fill(parameters={"hidden_layer_sizes": _HIDDEN}, attributes=_NO_PCA)
class VariationalAutoencoderTransformer(BaseAutoencoder):
    """Variational autoencoder used as a scikit-learn transformer.

    The encoder maps each sample to a Gaussian distribution over codes, with
    a mean and a diagonal log-variance. During training a code is drawn from
    it with the reparameterisation trick (``z = mean + std * eps``, with
    ``eps`` drawn from a generator seeded by ``random_state``), decoded, and
    the loss adds to the reconstruction error a KL divergence that pulls
    every posterior towards the prior N(0, I). Because the codes of the
    training data fill the prior, decoding draws from the prior gives new
    samples that look like the data: see :meth:`sample`.

    The training loss, per entry of the (internally scaled) input, is::

        mean((x - x_hat)**2) + beta * KL(q(z|x) || N(0, I)) / n_features

    where the KL divergence is summed over the latent dimensions and averaged
    over the rows. Up to a constant factor this is the negative evidence
    lower bound of a decoder with Gaussian noise of variance ``beta / 2``, in
    units where the features' average variance is 1: ``beta=1`` lets the
    model ignore directions whose variance is below half that of an average
    feature, larger values smooth the latent space more, and ``beta=0``
    gives a plain autoencoder with noisy codes. ``loss_curve_`` and
    ``validation_scores_`` include the KL term and, like the reconstruction
    error, are reported in the input's squared units; the validation pass
    decodes the posterior mean instead of a draw.

    ``transform`` returns the posterior mean, never a draw, and ``score``
    and ``score_samples`` measure the reconstruction of that mean, so all
    three are deterministic and comparable with the other autoencoders.

    Parameters
    ----------
    %(parameters)s

    beta : float, default=1.0
        Weight of the KL term (the beta-VAE of Higgins et al., 2017).

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    AutoencoderTransformer : The deterministic autoencoder.
    sklearn.decomposition.FactorAnalysis : A linear Gaussian latent model.
    sklearn.neighbors.KernelDensity : Another estimator with ``sample``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VariationalAutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VariationalAutoencoderTransformer(n_components=4, random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 4)
    >>> new_digits = vae.sample(5, random_state=0)
    >>> new_digits.shape
    (5, 64)
    >>> bool((new_digits == vae.sample(5, random_state=0)).all())
    True
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
    }

    _pca_anchored = False
    _codes_in_input_units = False

    def __init__(
        self,
        n_components=None,
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        alpha=0.0,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter="auto",
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=True,
        validation_fraction=0.1,
        random_state=None,
        verbose=0,
        warm_start=False,
        device="cpu",
        beta=1.0,
    ):
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            device=device,
        )
        self.beta = beta

    def _build_network(self, n_features, n_components):
        sizes = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        return GaussianAutoencoder(n_features, sizes, n_components, self.activation)

    def _loss(self, output, target, X):
        """Mean squared error plus ``beta`` times the KL term per input entry."""
        reconstruction, mean, log_var = output
        mse = torch.nn.functional.mse_loss(reconstruction, target)
        kl = kl_to_standard_normal(mean, log_var).mean() / target.shape[1]
        return mse + self.beta * kl

    @validate_params(
        {
            "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
            "random_state": ["random_state", np.random.Generator],
        },
        prefer_skip_nested_validation=True,
    )
    def sample(self, n_samples=1, random_state=None):
        """Generate new samples by decoding draws from the prior N(0, I).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        random_state : int, RandomState instance, Generator or None, \
default=None
            Source of the latent draws. The same int gives the same samples.
            None draws fresh entropy; the global numpy random state is never
            used.

        Returns
        -------
        X : ndarray of shape (n_samples, `n_features_in_`)
            Generated samples, in the input's units (float64).
        """
        model = self._snapshot()  # the code width the network was fitted with
        rng = (
            random_state if isinstance(random_state, np.random.Generator)
            else np.random.default_rng(seed_sequence(random_state))
        )
        Z = rng.standard_normal((n_samples, model["n_components"]))
        return self.inverse_transform(Z)
