"""The convolutional autoencoder, for images and signals stored as flat rows."""

import math
import numbers

from . import _docs
from ._base import BaseAutoencoder, _check_hidden_layer_sizes
from ._modules import conv_autoencoder

_CHANNELS = """\
hidden_layer_sizes : tuple of int, default=(32, 64)
    Here, the numbers of channels of the convolutions of the encoder's
    nonlinear branch, from the input inwards. Each convolution has kernel 3,
    stride 2 and padding 1, so it halves every spatial size (rounding up);
    a linear layer then maps the last feature maps to the code. The
    decoder's branch mirrors it with transposed convolutions that restore
    the exact input shape. As in :class:`AutoencoderTransformer`, the
    branches are added to PCA's linear encoder and decoder and start at
    zero. ``()`` leaves the linear autoencoder alone."""


def _resolve_image_shape(image_shape, n_features):
    """``(channels, *spatial)`` for ``image_shape``; raise ValueError if invalid."""
    if image_shape is None:
        return (1, n_features)
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
        for s in shape
    ):
        raise ValueError(
            "image_shape must be None, (height, width) or (channels, height, "
            f"width), with positive integers; got {image_shape!r}."
        )
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={image_shape!r} holds {math.prod(shape)} values but X "
            f"has {n_features} features; their product must equal n_features."
        )
    shape = tuple(int(s) for s in shape)
    return (1, *shape) if len(shape) == 2 else shape


@_docs.fill(parameters={"hidden_layer_sizes": _CHANNELS})
class ConvolutionalAutoencoderTransformer(BaseAutoencoder):
    """Convolutional autoencoder for images (or signals) stored as flat rows.

    Following scikit-learn's convention, each sample is one row of X: an
    image of shape ``image_shape`` flattened in C order, as in
    :func:`~sklearn.datasets.load_digits` (``images.reshape(n, -1)``). The
    encoder is PCA's linear projection plus a branch of strided
    convolutions followed by a linear layer to the code; the decoder mirrors
    it with PCA's linear reconstruction plus a branch of a linear layer and
    transposed convolutions, and returns flat rows again. The branches start
    at zero, so training starts from PCA's solution. Weight
    sharing across positions makes it learn local patterns, such as strokes
    and edges, from fewer examples than a fully connected network.

    Everything else (training, scaling, ``score``, persistence) is shared
    with :class:`AutoencoderTransformer`. Note that the single common scale
    keeps the relative intensities of channels and pixels.

    Parameters
    ----------
    %(parameters)s

    image_shape : tuple of int, default=None
        ``(height, width)`` for one-channel images or ``(channels, height,
        width)``; the product must equal the number of features. None treats
        each row as a one-channel 1-D signal of length ``n_features``, with
        1-D convolutions, which suits series and works for any width.

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    AutoencoderTransformer : The fully connected autoencoder.
    DenoisingAutoencoderTransformer : Trained to undo corruption of its input.
    sklearn.decomposition.PCA : The linear baseline.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import ConvolutionalAutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> cae = ConvolutionalAutoencoderTransformer(
    ...     n_components=10, image_shape=(8, 8), max_iter=5, random_state=0
    ... )
    >>> codes = cae.fit_transform(X)
    >>> codes.shape
    (1797, 10)
    >>> cae.inverse_transform(codes).shape
    (1797, 64)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "image_shape": ["array-like", None],
    }
    _architecture_params = (*BaseAutoencoder._architecture_params, "image_shape")

    def __init__(
        self,
        n_components=None,
        *,
        hidden_layer_sizes=(32, 64),
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
        image_shape=None,
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
        self.image_shape = image_shape

    def _check_params(self, n_features):
        super()._check_params(n_features)
        _resolve_image_shape(self.image_shape, n_features)

    def _build_network(self, n_features, n_components):
        channels = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        shape = _resolve_image_shape(self.image_shape, n_features)
        return conv_autoencoder(shape, channels, n_components, self.activation)
