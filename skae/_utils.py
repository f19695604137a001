"""Helpers shared by training and inference: devices, tensors, chunks, seeds.

Nothing here knows about skorch or about the estimators; both
:mod:`skae._training` and the inference code in :mod:`skae._base` import it.
"""

import numbers
import re

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._chunking import get_chunk_n_rows

from ._modules import NETWORK_UNIT_LIMIT

# Inference blocks never exceed this many rows, whatever the working memory:
# beyond it a block only costs memory and cache misses, not time.
MAX_CHUNK_ROWS = 4096


_DEVICE_PATTERN = re.compile(r"^(cpu|mps|auto|cuda(:\d+)?)$")


def resolve_device(device, *, for_training=True):
    """Turn the ``device`` parameter into a ``torch.device``.

    Parameters
    ----------
    device : str
        "cpu", "cuda", "cuda:N", "mps" or "auto" (CUDA, then MPS, when
        available, else the CPU).
    for_training : bool, default=True
        If True, asking for an accelerator that is missing raises ValueError.
        If False (inference on a loaded model), the CPU is used instead, so a
        model fitted on a GPU still transforms on a machine without one.

    Returns
    -------
    device : torch.device
    """
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
        raise ValueError(
            "device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'; "
            f"got {device!r}."
        )
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda":
        available = torch.cuda.is_available() and (
            resolved.index is None or resolved.index < torch.cuda.device_count()
        )
    elif resolved.type == "mps":
        available = torch.backends.mps.is_available()
    else:
        available = True
    if not available:
        if for_training:
            raise ValueError(
                f"device={device!r} was requested but it is not available on this "
                "machine; use device='cpu' or device='auto'."
            )
        return torch.device("cpu")
    return resolved


def tensors_to_numpy(obj):
    """Copy every tensor in a nested dict / list structure to a numpy array."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy().copy()
    if isinstance(obj, dict):
        return {k: tensors_to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(tensors_to_numpy(v) for v in obj)
    return obj


def numpy_to_tensors(obj):
    """Inverse of :func:`tensors_to_numpy` (tensors are created on the CPU)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, dict):
        return {k: numpy_to_tensors(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(numpy_to_tensors(v) for v in obj)
    return obj


def dense_block(block):
    """A block of rows as a C-contiguous ndarray that torch can wrap.

    Sparse blocks are densified; read-only, negatively strided and
    non-contiguous blocks are copied; others are returned as they are.
    """
    if sp.issparse(block):
        return block.toarray()
    block = np.asarray(block)
    if not block.flags.c_contiguous or not block.flags.writeable:
        block = np.ascontiguousarray(block).copy()
    return block


def as_tensor(block, dtype, device):
    """A block of rows (dense or sparse) as a tensor of ``dtype`` on ``device``."""
    return torch.as_tensor(dense_block(block)).to(device=device, dtype=dtype)


def to_network_units(block, mean, scale, dtype=np.float32, *, clip=True):
    """``(block - mean) / scale`` as a dense array of ``dtype``.

    The difference is taken in float64 after rounding the input to float32
    (where it fits), so float32 and float64 copies of the same data give the
    same result, and data far beyond float32's range still converts. With
    ``clip``, the result is clipped to +-:data:`NETWORK_UNIT_LIMIT`.
    """
    block = dense_block(block)
    if block.dtype != np.float32 and _fits_float32(block):
        block = block.astype(np.float32)
    out = (block.astype(np.float64, copy=False) - mean) / scale
    if clip:
        np.clip(out, -NETWORK_UNIT_LIMIT, NETWORK_UNIT_LIMIT, out=out)
    return out.astype(dtype, copy=False)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _fits_float32(block):
    return block.size == 0 or float(np.max(np.abs(block))) < _FLOAT32_MAX


def check_has_columns(X):
    """Raise a clear ValueError for 2-D input without columns.

    scikit-learn's own message for a zero-column DataFrame is about dtypes.
    """
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum "
            "of 1 is required."
        )


def row_chunks(n_rows, row_bytes):
    """Slices of ``range(n_rows)`` sized to scikit-learn's ``working_memory``.

    Parameters
    ----------
    n_rows : int
    row_bytes : int
        Temporary memory one row needs while it is processed.

    Returns
    -------
    chunks : generator of slice
    """
    if n_rows == 0:
        return iter(())
    rows = get_chunk_n_rows(row_bytes, max_n_rows=min(n_rows, MAX_CHUNK_ROWS))
    return gen_batches(n_rows, rows)


def map_chunks(X, fn, *, shape, dtype, row_bytes):
    """Apply ``fn`` to blocks of rows of X and gather the results.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, ...)
    fn : callable
        ``fn(block) -> ndarray`` for a block of rows of X.
    shape : tuple of int
        Shape of the whole output; its first entry is ``n_samples``.
    dtype : numpy dtype
        Dtype of the output.
    row_bytes : int
        Temporary memory one row needs (see :func:`row_chunks`).

    Returns
    -------
    out : ndarray of ``shape`` and ``dtype``
    """
    out = np.empty(shape, dtype=dtype)
    for rows in row_chunks(X.shape[0], row_bytes):
        out[rows] = fn(X[rows])
    return out


def epoch_budget(steps_per_epoch, step_budget, bounds):
    """Epochs for about ``step_budget`` optimizer steps, within ``bounds``.

    Parameters
    ----------
    steps_per_epoch : int
    step_budget : int
    bounds : (int, int)
        The fewest and the most epochs.

    Returns
    -------
    epochs : int
    """
    low, high = bounds
    return min(max(-(-step_budget // max(steps_per_epoch, 1)), low), high)


def seed_sequence(random_state, *key):
    """A ``np.random.SeedSequence`` for ``random_state`` and a sub-stream ``key``.

    The one place where ``random_state`` becomes randomness. An int gives
    the same seeds every time; None draws fresh OS entropy; a
    ``RandomState`` is drawn from once. Global random states are never used.

    Parameters
    ----------
    random_state : int, RandomState instance or None
    *key : int
        Identifies the stream, e.g. the number of epochs already run, so
        that successive ``partial_fit`` calls draw fresh numbers.

    Returns
    -------
    seq : numpy.random.SeedSequence
    """
    if random_state is None:
        base = np.random.SeedSequence().entropy
    elif isinstance(random_state, numbers.Integral):
        base = int(random_state)
    else:
        base = int(check_random_state(random_state).randint(2**31 - 1))
    return np.random.SeedSequence([base, *key])


def torch_generator(seq, device="cpu"):
    """A ``torch.Generator`` on ``device`` seeded from a ``SeedSequence``."""
    seed = int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return torch.Generator(device=device).manual_seed(seed)
