"""skae: autoencoders as drop-in scikit-learn transformers."""

from ._autoencoder import AutoencoderTransformer
from ._denoising import DenoisingAutoencoderTransformer

__version__ = "0.1.0"

__all__ = [
    "AutoencoderTransformer",
    "DenoisingAutoencoderTransformer",
    "__version__",
]
