"""scikit-learn's own estimator checks, run on every registered skae estimator.

The estimators come from the registry in ``conftest.py``, at their default
parameters: a new estimator added there is checked here too.
"""

from conftest import DETECTORS, TRANSFORMERS
from sklearn.utils.estimator_checks import parametrize_with_checks


@parametrize_with_checks([Estimator() for Estimator in [*TRANSFORMERS, *DETECTORS]])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
