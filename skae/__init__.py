"""skae: autoencoders as drop-in scikit-learn transformers."""

from ._autoencoder import AutoencoderTransformer
from ._convolutional import ConvolutionalAutoencoderTransformer
from ._denoising import DenoisingAutoencoderTransformer
from ._outlier import AutoencoderOutlierDetector
from ._persistence import load, save
from ._selection import one_standard_error_rule
from ._supervised import AutoencoderClassifier, AutoencoderRegressor
from ._variational import VariationalAutoencoderTransformer
from ._base import InconsistentVersionWarning
from ._version import __version__

__all__ = [
    "AutoencoderClassifier",
    "AutoencoderOutlierDetector",
    "AutoencoderRegressor",
    "AutoencoderTransformer",
    "ConvolutionalAutoencoderTransformer",
    "DenoisingAutoencoderTransformer",
    "InconsistentVersionWarning",
    "VariationalAutoencoderTransformer",
    "one_standard_error_rule",
    "__version__",
    "load",
    "save",
]
