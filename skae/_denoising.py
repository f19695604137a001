"""The denoising autoencoder (Vincent et al., 2008)."""

from numbers import Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array

from . import _distributed, _docs
from ._base import BaseAutoencoder, _shape
from ._noise import NOISES, NoiseReference


_N_COMPONENTS = """\
n_components : int, float or None, default=None
    Width of the code, as PCA's ``n_components``, except that an int may
    exceed ``n_features``: a denoising autoencoder learns something useful
    from an overcomplete code, since the corruption stops it from copying
    its input. A float in (0, 1) asks for the smallest code with which PCA
    explains at least that fraction of the validation rows' variance; None
    is the same as 0.95. The resolved width is ``n_components_``."""


@_docs.fill(parameters={"n_components": _N_COMPONENTS})
class DenoisingAutoencoderTransformer(BaseAutoencoder):
    """Autoencoder trained to reconstruct clean input from corrupted input.

    During training every batch is corrupted afresh before it enters the
    encoder, while the loss compares the reconstruction with the clean
    batch. This forces the code to capture structure rather than copy the
    input, and gives a model that removes noise of the same kind.
    ``transform``, ``inverse_transform`` and ``score`` see clean input and are
    deterministic.

    When real (noisy, clean) pairs are at hand, as MLPRegressor users have
    them, pass both: ``fit(X_noisy, X_clean)`` trains the network to map
    each noisy row to its clean one. The synthetic corruption is then added
    on top of ``X_noisy``; set ``noise_level=0`` to train on the pairs alone.
    The statistics and PCA's starting point come from ``X_noisy``, the input
    that ``transform`` will see.

    Parameters
    ----------
    %(parameters)s

    noise : {"gaussian", "masking", "salt_and_pepper"}, default="gaussian"
        Kind of corruption, in the input's own units:

        - "gaussian": add N(0, noise_level**2) to every entry;
        - "masking": set a fraction ``noise_level`` of the entries to 0;
        - "salt_and_pepper": set a fraction ``noise_level`` of the entries to
          their feature's training minimum or maximum, with even odds.

    noise_level : float, default=0.1
        Standard deviation of the Gaussian noise, or the fraction of entries
        corrupted (between 0 and 1) for "masking" and "salt_and_pepper".

    Attributes
    ----------
    %(attributes)s

    data_min_ : ndarray of shape (`n_features_in_`,)
        Per-feature minimum of the training data (used by "salt_and_pepper").

    data_max_ : ndarray of shape (`n_features_in_`,)
        Per-feature maximum of the training data.

    See Also
    --------
    AutoencoderTransformer : The same network trained on clean input.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import DenoisingAutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> dae = DenoisingAutoencoderTransformer(
    ...     n_components=16, noise="masking", noise_level=0.3, random_state=0
    ... ).fit(X)
    >>> rng = np.random.default_rng(0)
    >>> X_noisy = np.where(rng.random(X.shape) < 0.3, 0.0, X)
    >>> X_denoised = dae.inverse_transform(dae.transform(X_noisy))
    >>> bool(((X_denoised - X) ** 2).mean() < ((X_noisy - X) ** 2).mean())
    True
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "noise": [StrOptions(set(NOISES))],
        "noise_level": [Interval(Real, 0, None, closed="left")],
    }

    _overcomplete = True

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
        noise="gaussian",
        noise_level=0.1,
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
        self.noise = noise
        self.noise_level = noise_level

    def _check_params(self, n_features):
        super()._check_params(n_features)
        if self.noise != "gaussian" and self.noise_level > 1:
            raise ValueError(
                f"noise_level is the fraction of entries corrupted by "
                f"noise={self.noise!r} and must lie in [0, 1]; got "
                f"{self.noise_level}."
            )

    def _targets(self, X, y):
        """The clean rows of (noisy, clean) pairs: a ``y`` shaped like X.

        Any other ``y`` (labels passed along by a supervised pipeline) is
        ignored, as by the other autoencoders.
        """
        if _shape(y) != X.shape:
            return None
        return check_array(
            y, accept_sparse="csr", dtype=[np.float64, np.float32], input_name="y"
        )

    def _fit_statistics(self, X, rows):
        if rows is not None:
            X = X[rows]
        low, high = X.min(axis=0), X.max(axis=0)
        if sp.issparse(X):
            low, high = low.toarray().ravel(), high.toarray().ravel()
        return {  # over every process's rows under torch.distributed
            "data_min_": _distributed.all_reduce_min(np.asarray(low, dtype=np.float64)),
            "data_max_": _distributed.all_reduce_max(np.asarray(high, dtype=np.float64)),
        }

    def _corruption(self, stats):
        mean, scale = stats["mean_"], stats["scale_"]
        corrupt, level = NOISES[self.noise], self.noise_level
        references = {}

        def units(values, device):
            return torch.as_tensor((values - mean) / scale, dtype=torch.float32, device=device)

        def corrupt_batch(batch, generator):
            reference = references.get(batch.device)
            if reference is None:
                reference = references[batch.device] = NoiseReference(
                    scale=1.0 / scale,
                    zero=units(np.zeros_like(mean), batch.device),
                    low=units(stats["data_min_"], batch.device),
                    high=units(stats["data_max_"], batch.device),
                )
            return corrupt(batch, level, generator, reference)

        return corrupt_batch
