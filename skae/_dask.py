"""Out-of-core inference on dask arrays.

The estimators' inference methods (``transform``, ``inverse_transform``,
``score_samples``, the detector's ``predict`` ...) accept a
:class:`dask.array.Array` and return a lazy dask array: each row block goes
through the estimator's ordinary NumPy method when it is computed, so memory
is bounded by one block (plus its output), and a block never has to fit the
whole data set.

Nothing here imports dask. :func:`is_dask_array` looks for
``dask.array`` in :data:`sys.modules`: an object can only be a dask array if
its caller has already imported dask, so skae keeps no hard or import-time
dependency on it.
"""

import copy
import sys
import uuid

import numpy as np
from sklearn.utils.validation import check_is_fitted

# Output dtype of the methods whose result does not follow the input's dtype.
# Others (transform, inverse_transform, reconstruction_errors) keep float32
# and float64 input as it is and give float64 for any other input, as
# ``validate_data(..., dtype=[np.float64, np.float32])`` does.
_FIXED_DTYPES = {
    "score_samples": np.dtype(np.float64),
    "decision_function": np.dtype(np.float64),
    "predict": np.dtype(np.int64),
}


def is_dask_array(X):
    """Return True if X is a :class:`dask.array.Array`.

    dask is never imported here: when ``dask.array`` has not been imported
    by anyone, X cannot be one of its arrays.

    Parameters
    ----------
    X : object
        Anything.

    Returns
    -------
    is_dask : bool
        Whether X is a dask array.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._dask import is_dask_array
    >>> is_dask_array(np.zeros((2, 2)))
    False
    """
    dask_array = sys.modules.get("dask.array")
    if dask_array is None:
        return False
    array_type = getattr(dask_array, "Array", None)
    return array_type is not None and isinstance(X, array_type)


def _output_dtype(method_name, dtype):
    fixed = _FIXED_DTYPES.get(method_name)
    if fixed is not None:
        return fixed
    dtype = np.dtype(dtype)
    if dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        return dtype
    return np.dtype(np.float64)


def _expected_width(estimator, method_name):
    """Columns the method expects, when the fitted estimator says; else None."""
    if method_name == "inverse_transform":
        width = getattr(estimator, "n_components_", None)
    else:
        width = getattr(estimator, "n_features_in_", None)
    return None if width is None else int(width)


def _apply_block(block, estimator, method_name, n_out, dtype):
    """Run ``estimator.method_name`` on one NumPy row block and check the result."""
    result = np.asarray(getattr(estimator, method_name)(block))
    expected = (block.shape[0],) if n_out is None else (block.shape[0], n_out)
    if result.shape != expected:
        raise ValueError(
            f"{type(estimator).__name__}.{method_name} returned an array of shape "
            f"{result.shape} for a block of {block.shape[0]} rows; expected "
            f"{expected}."
        )
    return result.astype(dtype, copy=False)


def map_blocks(estimator, method_name, X, n_out, *, dtype=None):
    """Lazily apply a fitted estimator's NumPy method to a dask array, by row blocks.

    X is rechunked to hold all its columns in one chunk (row chunks are kept),
    and ``getattr(estimator, method_name)`` is called on each row block as a
    NumPy array when the result is computed. Peak memory per task is one row
    block of X plus its output.

    The estimator is snapshotted (shallow copy) when this is called, so a
    later refit of ``estimator`` does not change what the returned array
    computes. Checks that need no data (fitted, two dimensions, known row
    chunks, number of columns) run now and raise at once; what depends on
    the values (for instance non-finite entries) raises when the block is
    computed, with the estimator's own message.

    Parameters
    ----------
    estimator : estimator object
        A fitted estimator with a method ``method_name`` that takes a 2-D
        NumPy array of shape (n_rows, n_columns).

    method_name : str
        The method to apply, for instance ``"transform"``.

    X : dask.array.Array of shape (n_samples, n_columns)
        The input. For ``inverse_transform`` its width must be
        ``estimator.n_components_``; for other methods
        ``estimator.n_features_in_`` (when the estimator has them).

    n_out : int or None
        Number of output columns. None means the method returns one value
        per row, and the output is 1-D.

    dtype : dtype, default=None
        Data type of the output. None means float64 for ``score_samples`` and
        ``decision_function``, int64 for ``predict``, and otherwise the
        dtype of X when it is float32 or float64, float64 when it is not
        (the rule skae's inference methods follow).

    Returns
    -------
    result : dask.array.Array of shape (n_samples, n_out) or (n_samples,)
        The lazy result, chunked along the rows like X.

    Raises
    ------
    TypeError
        If X is not a dask array.
    ValueError
        If X is not 2-D, has unknown row chunk sizes, or has the wrong number
        of columns.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    """
    if not is_dask_array(X):
        raise TypeError(f"X must be a dask array; got {type(X).__name__}.")
    import dask
    import dask.array as da

    check_is_fitted(estimator)
    if not callable(getattr(estimator, method_name, None)):
        raise ValueError(
            f"{type(estimator).__name__} has no method {method_name!r}."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D dask array of shape (n_samples, n_columns); got "
            f"{X.ndim} dimension(s), shape {X.shape}."
        )
    if any(np.isnan(size) for sizes in X.chunks for size in sizes):
        raise ValueError(
            "X has unknown chunk sizes (for instance after boolean indexing); "
            "call X.compute_chunk_sizes() first."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"X must hold numbers (bool, integer or real); got dtype {X.dtype}."
        )
    expected = _expected_width(estimator, method_name)
    if expected is not None and X.shape[1] != expected:
        raise ValueError(
            f"X has {X.shape[1]} columns, but {type(estimator).__name__}."
            f"{method_name} expects {expected}."
        )
    if n_out is not None:
        n_out = int(n_out)
        if n_out < 1:
            raise ValueError(f"n_out must be None or a positive integer; got {n_out}.")
    out_dtype = (
        _output_dtype(method_name, X.dtype) if dtype is None else np.dtype(dtype)
    )

    X = X.rechunk({1: -1})
    # One graph node holds the snapshot, so a distributed scheduler ships the
    # model once per worker rather than once per block. pure=False keeps dask
    # from hashing (pickling) the whole model to name it.
    snapshot = dask.delayed(copy.copy(estimator), pure=False, traverse=False)
    name = f"skae-{method_name}-{uuid.uuid4().hex}"
    meta = np.empty((0,) if n_out is None else (0, n_out), dtype=out_dtype)
    if n_out is None:
        return da.map_blocks(
            _apply_block, X, snapshot, method_name, None, out_dtype,
            drop_axis=1, chunks=(X.chunks[0],), dtype=out_dtype, meta=meta,
            name=name,
        )
    return da.map_blocks(
        _apply_block, X, snapshot, method_name, n_out, out_dtype,
        chunks=(X.chunks[0], (n_out,)), dtype=out_dtype, meta=meta, name=name,
    )
