"""skae: autoencoders as drop-in scikit-learn transformers."""

from ._autoencoder import AutoencoderTransformer
from ._convolutional import ConvolutionalAutoencoderTransformer
from ._denoising import DenoisingAutoencoderTransformer
from ._outlier import AutoencoderOutlierDetector
from ._variational import VariationalAutoencoderTransformer
from ._base import InconsistentVersionWarning, __version__

__all__ = [
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "ConvolutionalAutoencoderTransformer",
    "DenoisingAutoencoderTransformer",
    "InconsistentVersionWarning",
    "VariationalAutoencoderTransformer",
    "__version__",
]
