"""Outlier detection by reconstruction error, calibrated on held-out rows."""

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import gen_batches, get_tags
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _dask
from ._autoencoder import AutoencoderTransformer
from ._utils import check_has_columns, row_chunks, seed_sequence

# The false alarm rate that ``contamination="auto"`` stands for.
AUTO_CONTAMINATION = 0.05

# The wrapped estimator sees each feature clipped to its training median plus
# or minus this many spreads (see _robust_statistics), so that one absurd value
# cannot overflow a float32 network or dominate its training. Errors are
# always measured on the unclipped values.
INPUT_CLIP = 100.0

# Feature spreads are standard deviations of the training values clipped to
# the median plus or minus this many interquartile spreads.
WINSOR = 5.0

_MAX = float(np.finfo(np.float64).max)

# Residuals are rescaled by a power of two in rows where a standardised value
# could exceed 2**_SAFE_EXPONENT, so that their squares cannot overflow.
_SAFE_EXPONENT = 500

# float64 arrays of width n_features alive per row while a chunk is scored
# (input, model input, reconstruction, residual and their temporaries).
_ARRAYS_PER_ROW = 6


class AutoencoderOutlierDetector(OutlierMixin, BaseEstimator):
    """Outlier detection from reconstruction error, with a calibrated threshold.

    An autoencoder fitted to normal data learns to reconstruct what is
    typical of it; rows it reconstructs badly are unlike the training data.
    This meta-estimator standardises each feature with outlier-resistant
    training statistics, fits a clone of ``estimator`` to part of the
    training rows, and scores the rows it held out (the calibration rows). The
    threshold
    ``offset_`` is set on those calibration scores, so that a fraction
    ``contamination`` of new rows drawn like the training data is flagged:
    rows the model was trained on would give an optimistic threshold.

    The API follows :class:`~sklearn.ensemble.IsolationForest`:
    :meth:`score_samples` is higher for more normal rows,
    :meth:`decision_function` is negative for outliers and :meth:`predict`
    returns +1 for inliers and -1 for outliers. :meth:`p_values` turns
    scores into conformal p-values, so the false alarm rate can be changed
    without refitting, and :meth:`reconstruction_errors` breaks each row's
    score down by feature.

    The detector has no training parameters: the number of epochs, the
    learning rate, the code size and so on are parameters of ``estimator``.

    Parameters
    ----------
    estimator : estimator object, default=None
        The model of normal data: a transformer with ``fit``, ``transform``
        and ``inverse_transform``, for instance any skae autoencoder, or
        :class:`~sklearn.decomposition.PCA` as a linear baseline. It is
        cloned in :meth:`fit`. None means ``AutoencoderTransformer()``.

    contamination : "auto" or float, default="auto"
        The fraction of rows drawn like the training data that
        :meth:`predict` should flag, in (0, 0.5]: with clean training data,
        the false alarm rate on new normal rows. A row is flagged when its
        conformal p-value (see :meth:`p_values`) is at most
        ``contamination``. "auto" stands for 0.05. Contrary to
        :class:`~sklearn.ensemble.IsolationForest`, the fraction refers to
        new rows, not to the training rows: those the model was fitted on
        are reconstructed better than new ones, so fewer of them are
        flagged. When ``contamination < 1 / (n_calibration + 1)`` no
        threshold can keep the promise and nothing is flagged (a warning
        says so).

    calibration_fraction : float, default=0.2
        Fraction of the training rows held out from the fit of
        ``estimator`` to set the threshold, in (0, 1). At least one row is
        held out and one is kept for fitting. More calibration rows give a
        threshold closer to its target; fewer leave more rows to fit the
        model.

    standardize : bool, default=False
        Whether errors are measured per feature in units of the feature's
        (outlier-resistant) training standard deviation, ``scale_``. With
        False (the default), errors are in the input's units, as the wrapped
        autoencoder measures them, and features with large units weigh more;
        set True when the features' units are not comparable and no feature
        should dominate. ``benchmarks/outlier.py`` measures both.
        Either way the wrapped estimator is fitted to the data divided by
        ``scale_``, with each feature clipped to its training median plus or
        minus 100 of its spreads (the ``scale_`` it would have with
        ``standardize=True``).

    random_state : int, RandomState instance or None, default=None
        Draws the calibration rows. If not None it also replaces the
        ``random_state`` of the cloned ``estimator`` (when it has one),
        which makes fits repeatable. None draws the calibration rows from
        fresh entropy (the global numpy generator is not used) and keeps
        the estimator's own setting.

    Attributes
    ----------
    estimator_ : estimator object
        The clone of ``estimator`` fitted to the rows not held out for
        calibration, on the input divided by ``scale_``.

    offset_ : float
        The threshold on :meth:`score_samples`: the ``k``-th smallest
        calibration score, with ``k`` the largest integer such that
        ``k / (n_calibration + 1) <= contamination``; the most negative
        float when ``k`` is 0, so that nothing is flagged.
        ``decision_function`` is ``score_samples - offset_``.

    calibration_scores_ : ndarray of shape (n_calibration,)
        :meth:`score_samples` of the held-out calibration rows, in
        increasing order. :meth:`p_values` compares new scores with them.

    location_ : ndarray of shape (``n_features_in_``,)
        Median of each feature over the rows the estimator was fitted on.

    scale_ : ndarray of shape (``n_features_in_``,)
        The unit of each feature's errors when ``standardize=True``, else
        ones: the feature's standard deviation over the rows the estimator
        was fitted on, after clipping them to the median plus or minus 5
        interquartile spreads (the interquartile range divided by 1.349,
        which is the standard deviation of normal data). On well-behaved
        data this is the plain standard deviation, but a few absurd values
        cannot inflate it. No clipping where the interquartile range is 0;
        1 for a constant feature.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
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
    The threshold is that of split conformal prediction: if new normal rows
    and the calibration rows are exchangeable (drawn from the same
    distribution, independently), the probability that a new normal row is
    flagged is at most ``contamination``, and more than
    ``contamination - 1 / (n_calibration + 1)``. The guarantee is on
    average over the draw of the calibration rows; for one fitted
    detector, the rate varies around it by about
    ``sqrt(contamination / n_calibration)``.

    Because the threshold reads new rows, not the training rows, the
    fraction of *training* rows that :meth:`predict` flags is usually
    smaller than ``contamination``. To label the outliers of one data set
    rather than of new data, compare ``score_samples`` across its rows.

    Per-feature errors point at the features that broke the pattern when the
    model reads each feature from the others. A plain autoencoder can
    instead lean on a few features and spread the error of an odd row over
    the rest; a :class:`DenoisingAutoencoderTransformer` is trained not to,
    which makes it a good choice when the errors are to be interpreted.

    Scoring works through the rows in chunks, whose size follows
    :func:`sklearn.set_config`'s ``working_memory`` (and is at most 4,096
    rows); sparse input is densified one chunk at a time.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import DenoisingAutoencoderTransformer
    >>> from skae import AutoencoderOutlierDetector
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(400, 1))
    >>> X = signal + 0.1 * rng.normal(size=(400, 4))  # four sensors, one signal
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
        "contamination": [
            StrOptions({"auto"}),
            Interval(Real, 0, 0.5, closed="right"),
        ],
        "calibration_fraction": [Interval(Real, 0, 1, closed="neither")],
        "standardize": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        contamination="auto",
        calibration_fraction=0.2,
        standardize=False,
        random_state=None,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.calibration_fraction = calibration_fraction
        self.standardize = standardize
        self.random_state = random_state

    # ----------------------------------------------------------- helpers

    def _template(self):
        return AutoencoderTransformer() if self.estimator is None else self.estimator

    def _accept_sparse(self):
        return "csr" if get_tags(self._template()).input_tags.sparse else False

    def _level(self):
        if isinstance(self.contamination, str):
            return AUTO_CONTAMINATION
        return float(self.contamination)

    def _validate(self, target, X, *, reset):
        check_has_columns(X)
        return validate_data(
            target,
            X,
            reset=reset,
            accept_sparse=self._accept_sparse(),
            dtype=[np.float64, np.float32],
        )

    # ------------------------------------------------------------- fitting

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the wrapped estimator and calibrate the threshold.

        A fraction ``calibration_fraction`` of the rows is held out; the
        clone of ``estimator`` is fitted to the others, and ``offset_`` is
        set from the scores of the held-out rows. If anything fails, the
        detector is left as it was.

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
        # validate_data records n_features_in_ and feature_names_in_ on the
        # object it is given: a shallow copy, so that a failure anywhere in
        # fit leaves this detector untouched. Everything else is computed
        # into locals and assigned at the end, in one step.
        checked = copy.copy(self)
        X = self._validate(checked, X, reset=True)
        n_samples = X.shape[0]
        if n_samples < 2:
            raise ValueError(
                f"AutoencoderOutlierDetector needs at least 2 samples, one to fit "
                f"and one to calibrate the threshold; got {n_samples} sample."
            )
        n_calibration = min(
            max(1, math.ceil(self.calibration_fraction * n_samples)), n_samples - 1
        )
        seed = int(seed_sequence(self.random_state, 1).generate_state(1)[0])
        fit_rows, calibration_rows = train_test_split(
            np.arange(n_samples), test_size=n_calibration, random_state=seed
        )
        X_fit, X_cal = X[np.sort(fit_rows)], X[np.sort(calibration_rows)]

        location, spread = _robust_statistics(X_fit)
        scale = spread if self.standardize else np.ones_like(spread)
        low = (location - INPUT_CLIP * spread) / scale
        high = (location + INPUT_CLIP * spread) / scale
        # Zero stays inside the window so that sparse and dense inputs agree.
        bounds = (np.minimum(low, 0.0), np.maximum(high, 0.0))

        estimator = clone(self._template())
        if self.random_state is not None and "random_state" in estimator.get_params():
            # An int is passed on as it is; a RandomState instance is shared.
            estimator.set_params(
                random_state=self.random_state
                if isinstance(self.random_state, Integral)
                else rng
            )
        estimator.fit(_model_input(X_fit, scale, bounds))

        fitted = {
            "estimator_": estimator,
            "location_": location,
            "scale_": scale,
            "_input_bounds": bounds,
        }
        scoring = copy.copy(checked)
        scoring.__dict__.update(fitted)
        calibration_scores = np.sort(scoring._score_rows(X_cal))

        level = self._level()
        k = _rank_of_threshold(level, n_calibration)
        if k == 0:
            asked = (
                f"contamination={self.contamination!r}"
                + (f" ({level})" if isinstance(self.contamination, str) else "")
            )
            warnings.warn(
                f"{asked} is below 1 / (n_calibration + 1) = "
                f"{1 / (n_calibration + 1):.3g}: with {n_calibration} calibration "
                "rows no threshold keeps the false alarm rate that low, and no "
                "row will be flagged. Fit on more rows, or raise "
                "calibration_fraction or contamination.",
                UserWarning,
            )
            offset = -_MAX  # below every finite score: nothing is flagged
        else:
            offset = float(calibration_scores[k - 1])
        fitted["calibration_scores_"] = calibration_scores
        fitted["offset_"] = offset

        state = dict(checked.__dict__)
        state.update(fitted)
        self.__dict__.clear()
        self.__dict__.update(state)
        return self

    # ---------------------------------------------------------- inference

    def _validate_input(self, X):
        check_is_fitted(self)
        return self._validate(self, X, reset=False)

    def _chunks(self, X):
        return row_chunks(X.shape[0], _ARRAYS_PER_ROW * 8 * max(X.shape[1], 1))

    def _residuals(self, block):
        """Standardised residuals of one block of rows, and their row exponents.

        Returns ``(d, k)``: the residual of row ``i`` in units of ``scale_``
        is ``d[i] * 2**k[i]``. ``k`` is 0 except in rows whose standardised
        values exceed about 1e150, where it keeps ``d`` and its squares finite.
        """
        raw = block.toarray() if sp.issparse(block) else block
        raw = np.asarray(raw, dtype=np.float64)
        model_input = _model_input(block, self.scale_, self._input_bounds)
        estimator = self.estimator_
        recon = estimator.inverse_transform(estimator.transform(model_input))
        recon = np.asarray(recon, dtype=np.float64)
        if recon.shape != raw.shape or not np.all(np.isfinite(recon)):
            raise ValueError(
                f"The wrapped {type(estimator).__name__} returned reconstructions "
                f"that are not finite or not of shape {raw.shape}; its fit may "
                "have diverged."
            )
        with np.errstate(over="ignore"):  # rows that overflow are redone below
            d = raw / self.scale_
            d -= recon
            limit = self.scale_ * 2.0**_SAFE_EXPONENT  # inf where it cannot be reached
        k = np.zeros(raw.shape[0], dtype=np.int64)
        risky = np.flatnonzero(np.any(np.abs(raw) > limit, axis=1))
        if risky.size:
            exponents = np.frexp(raw[risky])[1] - np.frexp(self.scale_)[1]
            k[risky] = np.maximum(np.max(exponents, axis=1) - _SAFE_EXPONENT, 0)
            shift = -k[risky, None]
            d[risky] = np.ldexp(raw[risky], shift) / self.scale_ - np.ldexp(
                recon[risky], shift
            )
        return d, k

    def _score_rows(self, X):
        """``score_samples`` of validated X, one chunk at a time."""
        scores = np.empty(X.shape[0], dtype=np.float64)
        for rows in self._chunks(X):
            d, k = self._residuals(X[rows])
            scores[rows] = -np.logaddexp(0.0, _log_mean_square(d, k))
        return scores

    def reconstruction_errors(self, X):
        """Squared standardised reconstruction error of every feature of every row.

        Large entries show which features a row's outlyingness comes from.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        errors : ndarray of shape (n_samples, n_features)
            ``((X - X_hat) / scale_)**2``, where ``X_hat / scale_`` is the
            wrapped estimator's reconstruction of its input (``X / scale_``,
            clipped as described under ``standardize``). An entry beyond
            float64's range (an error above about 1e154 spreads) is ``inf``;
            :meth:`score_samples` stays finite regardless.
        """
        if _dask.is_dask_array(X):
            check_is_fitted(self)
            return _dask.map_blocks(self, "reconstruction_errors", X, self.n_features_in_)
        X = self._validate_input(X)
        out = np.empty(X.shape, dtype=np.float64)
        with np.errstate(over="ignore"):
            for rows in self._chunks(X):
                d, k = self._residuals(X[rows])
                out[rows] = np.ldexp(np.square(d), 2 * k[:, None])
        return out

    def score_samples(self, X):
        """Normality score of each row: minus the log of one plus its error.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-log(1 + mean(reconstruction_errors(X), axis=1))``, computed
            in the log domain so that it is finite for any finite input: 0
            for a perfect reconstruction, close to minus the mean squared
            standardised error when that is small, and lower the more
            abnormal the row.
        """
        if _dask.is_dask_array(X):
            check_is_fitted(self)
            return _dask.map_blocks(self, "score_samples", X, None)
        return self._score_rows(self._validate_input(X))

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
        if _dask.is_dask_array(X):
            check_is_fitted(self)
            return _dask.map_blocks(self, "decision_function", X, None)
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row as an inlier (+1) or an outlier (-1).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, which is where
            ``p_values(X) <= contamination``; else +1.
        """
        if _dask.is_dask_array(X):
            check_is_fitted(self)
            return _dask.map_blocks(self, "predict", X, None)
        return np.where(self.decision_function(X) < 0, -1, 1)

    def p_values(self, X):
        """Conformal p-values: how typical each row's score is of normal rows.

        The p-value of a row is ``(1 + m) / (n_calibration + 1)``, where
        ``m`` counts the calibration rows that score at most as well as it.
        For a new normal row (exchangeable with the calibration rows), the
        probability of a p-value at most ``alpha`` is at most ``alpha``, so
        ``p_values(X) <= alpha`` flags new rows at a false alarm rate of at
        most ``alpha``, for any ``alpha``, without refitting; ``predict``
        does this with ``alpha = contamination``. A p-value is not the
        probability that a row is an inlier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        p_values : ndarray of shape (n_samples,)
            Values in ``[1 / (n_calibration + 1), 1]``; small means unusual.
        """
        if _dask.is_dask_array(X):
            check_is_fitted(self)
            return _dask.map_blocks(self, "p_values", X, None)
        scores = self.score_samples(X)
        calibration = self.calibration_scores_
        at_most = np.searchsorted(calibration, scores, side="right")
        return (1.0 + at_most) / (calibration.shape[0] + 1.0)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self._template()).input_tags.sparse
        return tags


# ---------------------------------------------------------------- helpers


def _rank_of_threshold(level, n_calibration):
    """Largest k with ``k / (n_calibration + 1) <= level`` (in float arithmetic)."""
    n = n_calibration + 1.0
    k = min(int(math.floor(level * n)), n_calibration)
    while k < n_calibration and (k + 1) / n <= level:
        k += 1
    while k > 0 and k / n > level:
        k -= 1
    return k


def _log_mean_square(d, k):
    """``log(mean((d * 2**k)**2, axis=1))`` without overflow; -inf for zero rows."""
    peak = np.max(np.abs(d), axis=1)
    safe = np.where(peak > 0, peak, 1.0)
    ratio = np.mean(np.square(d / safe[:, None]), axis=1)
    with np.errstate(divide="ignore"):
        log_peak = np.log(peak) + k * np.log(2.0)
        return 2.0 * log_peak + np.log(np.where(peak > 0, ratio, 1.0))


def _model_input(X, scale, bounds):
    """``X / scale`` clipped to ``bounds``, in X's dtype; sparse stays sparse."""
    low, high = bounds
    if sp.issparse(X):
        out = sp.csr_matrix(X, dtype=X.dtype, copy=True)
        columns = out.indices
        with np.errstate(over="ignore"):
            values = out.data / scale[columns]
        out.data = np.clip(values, low[columns], high[columns]).astype(X.dtype)
        return out
    out = np.empty(X.shape, dtype=X.dtype)
    for rows in gen_batches(X.shape[0], 4096):  # no float64 copy of all of X
        with np.errstate(over="ignore"):
            values = np.asarray(X[rows], dtype=np.float64) / scale
        out[rows] = np.clip(values, low, high, out=values)
    return out


def _robust_statistics(X):
    """Per-feature median and spread of X (dense or sparse), overflow-free.

    The spread is the standard deviation of the feature after clipping it to
    its median plus or minus ``WINSOR`` interquartile spreads (the
    interquartile range divided by 1.349); no clipping where the
    interquartile range is 0; 1 for a constant feature. On well-behaved data
    it is the standard deviation, but a few absurd values cannot inflate it.
    Each column is divided by its largest absolute value first, so that no
    intermediate overflows.
    """
    n_features = X.shape[1]
    location = np.empty(n_features)
    spread = np.empty(n_features)
    if sp.issparse(X):
        X = sp.csc_matrix(X)
        width = 256
    else:  # about four float64 copies of a block of columns are alive at once
        column_bytes = 4 * 8 * max(X.shape[0], 1)
        width = min(256, max(1, get_chunk_n_rows(column_bytes)))
    for start in range(0, n_features, width):
        stop = min(start + width, n_features)
        if sp.issparse(X):
            block = X[:, start:stop]
            columns = [
                _column_summary_sparse(block.data[a:b], X.shape[0])
                for a, b in zip(block.indptr[:-1], block.indptr[1:])
            ]
            location[start:stop], spread[start:stop] = np.array(columns).T
        else:
            location[start:stop], spread[start:stop] = _block_summary_dense(
                np.asarray(X[:, start:stop], dtype=np.float64)
            )
    return location, spread


def _peak(values, axis=None):
    peak = np.max(np.abs(values), axis=axis, initial=0.0)
    return np.where(peak > 0, peak, 1.0)


def _tiny(median):
    """Spreads at or below this (in unit-peak units) count as zero."""
    return 10 * np.finfo(np.float64).eps * np.maximum(np.abs(median), 1e-300)


def _clip_window(q1, median, q3):
    iqr_spread = (q3 - q1) / 1.349
    clipped = iqr_spread > _tiny(median)
    low = np.where(clipped, median - WINSOR * iqr_spread, -np.inf)
    high = np.where(clipped, median + WINSOR * iqr_spread, np.inf)
    return low, high


def _block_summary_dense(block):
    peak = _peak(block, axis=0)
    unit = block / peak
    q1, median, q3 = np.percentile(unit, [25, 50, 75], axis=0)
    low, high = _clip_window(q1, median, q3)
    clipped = np.clip(unit, low, high)
    # Rescaled again, so that the squares of small values cannot underflow.
    inner = _peak(clipped, axis=0)
    std = (clipped / inner).std(axis=0) * inner
    return median * peak, np.where(std > _tiny(median), std * peak, 1.0)


def _column_summary_sparse(values, n_rows):
    """Median and spread of one sparse column, from its stored values."""
    peak = float(_peak(values))
    values = np.sort(values / peak)
    negative = np.searchsorted(values, 0.0, side="left")
    n_zeros = n_rows - values.shape[0]

    def order_statistic(i):
        if i < negative:
            return values[i]
        if i < negative + n_zeros:
            return 0.0
        return values[i - n_zeros]

    def quantile(q):  # numpy's default ("linear") interpolation
        position = q * (n_rows - 1)
        lower = int(math.floor(position))
        upper = min(lower + 1, n_rows - 1)
        weight = position - lower
        return (1 - weight) * order_statistic(lower) + weight * order_statistic(upper)

    q1, median, q3 = quantile(0.25), quantile(0.5), quantile(0.75)
    low, high = _clip_window(q1, median, q3)
    clipped = np.clip(values, low, high)
    zero = float(np.clip(0.0, low, high))
    # Rescaled again, so that the squares of small values cannot underflow.
    inner = float(_peak(np.r_[clipped, zero if n_zeros else 0.0]))
    clipped, zero = clipped / inner, zero / inner
    mean = (clipped.sum() + n_zeros * zero) / n_rows
    variance = (np.square(clipped - mean).sum() + n_zeros * (zero - mean) ** 2) / n_rows
    std = math.sqrt(variance) * inner
    return median * peak, (std * peak if std > _tiny(median) else 1.0)
