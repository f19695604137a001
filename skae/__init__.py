"""skae: autoencoders as drop-in scikit-learn transformers."""

from ._autoencoder import AutoencoderTransformer
from ._convolutional import ConvolutionalAutoencoderTransformer
from ._denoising import DenoisingAutoencoderTransformer
from ._outlier import AutoencoderOutlierDetector
from ._variational import VariationalAutoencoderTransformer

__version__ = "0.1.0"

__all__ = [
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "ConvolutionalAutoencoderTransformer",
    "DenoisingAutoencoderTransformer",
    "VariationalAutoencoderTransformer",
    "__version__",
]
