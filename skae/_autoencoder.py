"""The plain autoencoder, a nonlinear drop-in for PCA."""

from . import _docs
from ._base import BaseAutoencoder


@_docs.fill()
class AutoencoderTransformer(BaseAutoencoder):
    """Autoencoder used as a scikit-learn transformer, starting from PCA.

    An encoder compresses each sample into a code of ``n_components_``
    numbers and a decoder reconstructs the sample from it; both are trained
    together by minimising the mean squared reconstruction error with Adam.
    ``transform`` returns the codes, ``inverse_transform`` decodes them, and
    ``score`` is the negative reconstruction error, so the estimator can
    replace :class:`~sklearn.decomposition.PCA` in a pipeline or a grid
    search.

    The network is PCA's linear encoder and decoder plus a nonlinear branch
    on each side whose output starts at zero: before the first step it is
    exactly PCA (the same codes and reconstructions), and training learns
    only what PCA misses. Fit holds out validation rows and keeps PCA's
    solution when the network does not beat it there (``is_pca_``), so on
    data that PCA already explains the result is PCA.

    Training runs on PyTorch through skorch. Inputs are centred per feature
    and divided by one common scale, so the loss stays the squared error in
    the input's units, as PCA's is.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    DenoisingAutoencoderTransformer : Trained to undo corruption of its input.
    sklearn.decomposition.PCA : The linear special case, and the starting point.
    sklearn.neural_network.MLPRegressor : Shares the training parameters' names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=8, random_state=0)
    >>> codes = ae.fit_transform(X)
    >>> codes.shape
    (1797, 8)
    >>> ae.inverse_transform(codes).shape
    (1797, 64)
    >>> bool(ae.validation_error_ < ae.pca_validation_error_)
    True
    """

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
