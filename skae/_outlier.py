"""Outlier detection by reconstruction error."""

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ._autoencoder import AutoencoderTransformer
CHUNK_SIZE = 4096  # replaced by the calibrated detector


class AutoencoderOutlierDetector(OutlierMixin, BaseEstimator):
    """Unsupervised outlier detection from an autoencoder's reconstruction error.

    An autoencoder fitted to (mostly) normal data learns to reconstruct what
    is typical of it; rows it reconstructs badly are unlike the training
    data. This meta-estimator fits a clone of ``estimator``, scores each row
    by its negative mean squared reconstruction error, and sets a threshold
    so that a fraction ``contamination`` of the training rows falls below
    it, in the manner of :class:`~sklearn.ensemble.IsolationForest`.
    :meth:`reconstruction_errors` breaks each row's score down by feature,
    to show which features make a row an outlier.

    Any transformer with ``inverse_transform`` can be wrapped, for instance
    any skae autoencoder, or :class:`~sklearn.decomposition.PCA` as a linear
    baseline.

    Parameters
    ----------
    estimator : estimator object, default=None
        The model of normal data: a transformer with ``fit``, ``transform``
        and ``inverse_transform``. It is cloned in :meth:`fit`. None means
        ``AutoencoderTransformer()``.

    contamination : float, default=0.1
        Expected proportion of outliers in the training data, in (0, 0.5].
        It sets ``offset_``, the threshold of :meth:`predict`. There is no
        "auto" option: reconstruction errors have no scale-free natural
        threshold, unlike the path lengths of an isolation forest.

    random_state : int, RandomState instance or None, default=None
        If not None, it replaces the ``random_state`` of the cloned
        ``estimator`` (when it has one), which makes fits repeatable. None
        keeps the estimator's own setting.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``.

    offset_ : float
        The threshold on :meth:`score_samples`: the ``contamination``
        quantile of the training scores. ``decision_function`` is
        ``score_samples - offset_``.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when X has feature
        names that are all strings.

    See Also
    --------
    AutoencoderTransformer : The default model of normal data.
    DenoisingAutoencoderTransformer : A model whose errors localise well.
    sklearn.ensemble.IsolationForest : Outlier detection with random trees.
    sklearn.neighbors.LocalOutlierFactor : Outlier detection by local density.

    Notes
    -----
    Per-feature errors point at the features that broke the pattern when the
    model reads each feature from the others. A plain autoencoder can
    instead lean on a few features and spread the error of an odd row over
    the rest; a :class:`DenoisingAutoencoderTransformer` is trained not to,
    which makes it a good choice when the errors are to be interpreted.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import DenoisingAutoencoderTransformer
    >>> from skae import AutoencoderOutlierDetector
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(300, 1))
    >>> X = signal + 0.1 * rng.normal(size=(300, 4))  # four sensors, one signal
    >>> model = DenoisingAutoencoderTransformer(
    ...     1, hidden_layer_sizes=(8,), noise_level=0.5, learning_rate_init=1e-2,
    ...     batch_size=20, max_iter=30,
    ... )
    >>> detector = AutoencoderOutlierDetector(
    ...     model, contamination=0.05, random_state=0
    ... ).fit(X)
    >>> detector.predict([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, -1.0]])
    array([ 1, -1])
    >>> errors = detector.reconstruction_errors([[1.0, 1.0, 1.0, -1.0]])
    >>> int(errors.argmax())  # the sensor that disagrees with the others
    3
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "transform", "inverse_transform"]), None],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, contamination=0.1, random_state=None):
        self.estimator = estimator
        self.contamination = contamination
        self.random_state = random_state

    def _template(self):
        return AutoencoderTransformer() if self.estimator is None else self.estimator

    def _accept_sparse(self):
        return "csr" if get_tags(self._template()).input_tags.sparse else False

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the wrapped estimator and set the threshold.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, mostly normal rows.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted detector.
        """
        X = validate_data(
            self, X, accept_sparse=self._accept_sparse(), dtype=[np.float64, np.float32]
        )
        estimator = clone(self._template())
        if self.random_state is not None and "random_state" in estimator.get_params():
            estimator.set_params(random_state=self.random_state)
        estimator.fit(X)
        self.estimator_ = estimator
        scores = -self._errors(X).mean(axis=1)
        self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))
        return self

    def _errors(self, X):
        out = np.empty(X.shape, dtype=np.float64)
        for start in range(0, X.shape[0], CHUNK_SIZE):
            block = X[start : start + CHUNK_SIZE]
            recon = self.estimator_.inverse_transform(self.estimator_.transform(block))
            if sp.issparse(block):
                block = block.toarray()
            np.subtract(
                np.asarray(recon, dtype=np.float64),
                block.astype(np.float64, copy=False),
                out=out[start : start + CHUNK_SIZE],
            )
        return np.square(out, out=out)

    def _validate_input(self, X):
        check_is_fitted(self)
        return validate_data(
            self,
            X,
            reset=False,
            accept_sparse=self._accept_sparse(),
            dtype=[np.float64, np.float32],
        )

    def reconstruction_errors(self, X):
        """Squared reconstruction error of every feature of every sample.

        Large entries show which features a row's outlyingness comes from.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        errors : ndarray of shape (n_samples, n_features)
            ``(X - X_hat)**2`` in the input's units, where ``X_hat`` is
            ``estimator_.inverse_transform(estimator_.transform(X))``. Their
            mean over the features is ``-score_samples(X)``.
        """
        return self._errors(self._validate_input(X))

    def score_samples(self, X):
        """Negative mean squared reconstruction error of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-reconstruction_errors(X).mean(axis=1)``: the lower, the more
            abnormal. For a skae autoencoder this equals its own
            ``score_samples``.
        """
        return -self.reconstruction_errors(X).mean(axis=1)

    def decision_function(self, X):
        """Shifted scores: negative for outliers, non-negative for inliers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each sample as an inlier (+1) or an outlier (-1).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, else +1.
        """
        decision = self.decision_function(X)
        return np.where(decision < 0, -1, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self._template()).input_tags.sparse
        return tags
