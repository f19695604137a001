"""The plain autoencoder, a nonlinear drop-in for PCA."""

from . import _docs
from ._base import BaseAutoencoder


@_docs.fill
class AutoencoderTransformer(BaseAutoencoder):
    """Autoencoder used as a scikit-learn transformer.

    An encoder compresses each sample into a code of ``n_components``
    numbers and a mirrored decoder reconstructs the sample from it; both are
    trained together by minimising the mean squared reconstruction error
    with Adam. ``transform`` returns the codes, ``inverse_transform`` decodes
    them, and ``score`` is the negative reconstruction error, so the
    estimator can replace :class:`~sklearn.decomposition.PCA` in a pipeline
    or a grid search. With ``activation="identity"`` and
    ``hidden_layer_sizes=()`` it learns the same subspace as PCA; nonlinear
    activations let it go further.

    Training runs on PyTorch through skorch. Inputs are centred per feature
    and divided by one common scale, so the loss stays the squared error in
    the input's units.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    DenoisingAutoencoderTransformer : Trained to undo corruption of its input.
    sklearn.decomposition.PCA : The linear special case.
    sklearn.neural_network.MLPRegressor : Shares the training parameters' names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=8, max_iter=20, random_state=0)
    >>> codes = ae.fit_transform(X)
    >>> codes.shape
    (1797, 8)
    >>> ae.inverse_transform(codes).shape
    (1797, 64)
    >>> ae.score(X) < 0
    True
    """
