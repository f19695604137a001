"""scikit-learn's own estimator checks, run on every skae estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)


@parametrize_with_checks(
    [
        AutoencoderTransformer(),
        DenoisingAutoencoderTransformer(),
        VariationalAutoencoderTransformer(),
        ConvolutionalAutoencoderTransformer(),
        AutoencoderOutlierDetector(),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
