"""Data-parallel training under ``torch.distributed``.

When a process group is initialised (by the caller, or by ``torchrun``'s
environment and ``torch.distributed.init_process_group``), every process
calls ``fit`` on its own shard of the rows and the processes train one model
together. Every helper here is the identity when no group is initialised (or
the group has a single process), so a single-process fit runs exactly the
code it ran before, bit for bit.

What is combined, and how:

* row counts, per-feature sums, sums of squares and the largest magnitude
  behind ``mean_`` and ``scale_`` -- summed (or maxed) over the processes,
  so every process computes the statistics of the union of the shards;
* the second-moment matrices behind the PCA anchor and the validation
  explained variance -- summed, so every process computes the same axes;
* the per-epoch loss sums and row counts (training, validation and the
  starting point's score) -- summed, so every process sees the same score
  and takes the same early-stopping decision at the same epoch;
* the validation block losses of the PCA-or-network test -- gathered, so
  the test runs on every process's blocks at once;
* gradients -- averaged at every step by ``DistributedDataParallel``, which
  also broadcasts rank 0's starting weights, so all processes start, step
  and end with the same weights.

The validation split, the shuffling and the noise are drawn per process,
from seeds derived from ``(random_state, rank)``. The batch size (given or
``"auto"``) is the global batch: each process takes its share, and every
process runs the same number of batches per epoch (a process with fewer rows
revisits some of them), so the collectives stay in step.
"""

import math

import numpy as np
import torch

__all__ = [
    "world",
    "all_reduce_sum",
    "all_reduce_max",
    "all_reduce_min",
    "gather",
    "broadcast_state",
    "wrap_module_ddp",
]


def world():
    """The current process group as ``(rank, size)``, or None.

    Returns
    -------
    world : tuple of (int, int) or None
        None when ``torch.distributed`` is unavailable, no default process
        group is initialised, or it holds a single process: then training is
        the ordinary single-process fit.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return None
    size = dist.get_world_size()
    return None if size < 2 else (dist.get_rank(), size)


def _comm_device():
    """Where collective buffers live: the current GPU under NCCL, else the CPU."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _reduce(values, op):
    array = np.asarray(values, dtype=np.float64)
    if world() is None:
        return array
    buffer = torch.from_numpy(np.ascontiguousarray(array).copy()).to(_comm_device())
    torch.distributed.all_reduce(buffer, op=op)
    return buffer.cpu().numpy().reshape(array.shape)


def _like(value, reduced):
    """``reduced`` in the shape and kind of ``value`` (a Python number stays one)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(round(float(reduced)))
    if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
        return float(reduced)
    return reduced


def all_reduce_sum(value):
    """Sum of ``value`` over the processes, in float64.

    Parameters
    ----------
    value : float, int or ndarray
        The same shape on every process.

    Returns
    -------
    total : same kind as ``value``
        ``value`` itself, untouched, when there is no process group; an int
        stays an int.
    """
    if world() is None:
        return value
    return _like(value, _reduce(value, torch.distributed.ReduceOp.SUM))


def all_reduce_max(value):
    """Element-wise maximum of ``value`` over the processes (see :func:`all_reduce_sum`)."""
    if world() is None:
        return value
    return _like(value, _reduce(value, torch.distributed.ReduceOp.MAX))


def all_reduce_min(value):
    """Element-wise minimum of ``value`` over the processes (see :func:`all_reduce_sum`)."""
    if world() is None:
        return value
    return _like(value, _reduce(value, torch.distributed.ReduceOp.MIN))


def gather(values):
    """Concatenate 1-d arrays of any length from every process, in rank order.

    Each process writes its values at its offset in a zero buffer and the
    buffers are summed, which is exact (adding zeros). Every process gets
    the whole array.

    Parameters
    ----------
    values : ndarray of shape (n,)

    Returns
    -------
    gathered : ndarray of shape (sum of n over the processes,)
    """
    current = world()
    if current is None:
        return values
    rank, size = current
    counts = np.zeros(size)
    counts[rank] = len(values)
    counts = _reduce(counts, torch.distributed.ReduceOp.SUM).astype(int)
    buffer = np.zeros(int(counts.sum()))
    start = int(counts[:rank].sum())
    buffer[start : start + len(values)] = values
    return _reduce(buffer, torch.distributed.ReduceOp.SUM)


def broadcast_state(module, src=0):
    """Overwrite ``module``'s parameters and buffers with those of rank ``src``, in place.

    ``DistributedDataParallel`` does this when it wraps a module; this is
    for modules trained without it.

    Parameters
    ----------
    module : torch.nn.Module
    src : int, default=0

    Returns
    -------
    module : torch.nn.Module
    """
    if world() is None:
        return module
    with torch.no_grad():
        for tensor in module.state_dict().values():
            buffer = tensor.detach().to(_comm_device())
            torch.distributed.broadcast(buffer, src=src)
            tensor.copy_(buffer.to(tensor.device))
    return module


def wrap_module_ddp(module, device):
    """``module`` in a ``DistributedDataParallel`` wrapper, or None without a group.

    The wrapper shares ``module``'s parameters, broadcasts rank 0's weights
    and buffers to every process when it is built, and averages the
    gradients over the processes during the backward pass. Use it for the
    training forward pass only, which every process runs the same number of
    times: a module with buffers has them re-broadcast from rank 0 at each
    of its forward passes. Evaluation on per-process rows, whose batch
    counts differ, calls ``module`` directly.

    Parameters
    ----------
    module : torch.nn.Module
        On ``device`` already.
    device : torch.device or str

    Returns
    -------
    ddp : torch.nn.parallel.DistributedDataParallel or None
    """
    if world() is None:
        return None
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        device_ids = [index]
    else:
        device_ids = None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def ddp_forward(module, device):
    """The forward pass of :func:`wrap_module_ddp`'s wrapper, or None without a group.

    A bound method rather than the wrapper itself, so that skorch does not
    register the wrapper as a second module of the net (its parameters
    would then be handed to the optimizer twice). The wrapper is reachable
    as the method's ``__self__``.
    """
    ddp = wrap_module_ddp(module, device)
    return None if ddp is None else ddp.__call__


# ------------------------------------------------- the estimator's fit hooks


def per_rank(*seqs):
    """Each ``numpy.random.SeedSequence`` with the rank appended to its key.

    Returned unchanged without a process group, so a single-process fit
    draws what it always drew.
    """
    current = world()
    if current is None:
        return seqs
    rank = current[0]
    return tuple(
        np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, rank))
        for seq in seqs
    )


def agree_split(train_rows, valid_rows):
    """The split, or "no validation rows" on every process if one process has none.

    A process whose shard is too small to hold out rows would otherwise skip
    the validation pass that the others run collectives in.
    """
    if world() is None:
        return train_rows, valid_rows
    if all_reduce_min(0.0 if valid_rows is None else 1.0) == 0.0:
        return None, None
    return train_rows, valid_rows


def check_features(n_features):
    """Raise ValueError on every process unless all have ``n_features`` columns."""
    if world() is None:
        return
    low, high = all_reduce_min(float(n_features)), all_reduce_max(float(n_features))
    if low != high:
        raise ValueError(
            f"Every process must fit data with the same number of features; got "
            f"between {int(low)} and {int(high)} across the process group "
            f"({n_features} here)."
        )


def local_batch_size(n_train, resolve):
    """This process's batch size, from ``resolve(n_rows) -> batch_size``.

    Without a process group, ``resolve(n_train)``. With one, the batch size
    is resolved for the rows of all processes together (the global batch)
    and each process takes an equal share of it.
    """
    current = world()
    if current is None:
        return resolve(n_train)
    total = all_reduce_sum(int(n_train))
    return max(1, math.ceil(resolve(total) / current[1]))


def batches_per_epoch(n_train, batch_size):
    """Batches per epoch: the most any process needs, so all run the same number."""
    batches = math.ceil(n_train / batch_size)
    if world() is None:
        return batches
    return all_reduce_max(int(batches))


def batch_iterator(base):
    """``base`` (a batch iterator class) or, under a process group, a subclass
    whose every process yields the same number of batches per pass."""
    if world() is None:
        return base

    class EvenBatches(base):
        """Extends a short pass with full batches that wrap around a fresh permutation."""

        def __init__(self, dataset, batch_size, **kwargs):
            super().__init__(dataset, batch_size, **kwargs)
            self.n_batches = batches_per_epoch(len(dataset), batch_size)

        def __len__(self):
            return self.n_batches

        def __iter__(self):
            yield from super().__iter__()
            n, size = len(self.dataset), self.batch_size
            extra = self.n_batches - math.ceil(n / size)
            if extra <= 0:
                return
            if self.shuffle:
                order = torch.randperm(n, generator=self.generator)
            else:
                order = torch.arange(n)
            noise = self.noise_generator
            if callable(noise):
                noise = noise()
            for j in range(extra):
                positions = order[torch.arange(j * size, (j + 1) * size) % n]
                clean = self.dataset.rows(positions)
                noisy = clean if self.corrupt is None else self.corrupt(clean, noise)
                yield noisy, clean

    return EvenBatches


def reduce_loss(total, count):
    """An epoch's loss sum and row count, summed over the processes.

    ``total`` is a tensor (or None for no rows) and stays on its device
    without a process group; with one, the sum comes back as a float64 CPU
    tensor, so ``(total / count).item()`` is the loss over all rows.
    """
    if world() is None:
        return total, count
    local = 0.0 if total is None else float(total)
    summed = _reduce([local, float(count)], torch.distributed.ReduceOp.SUM)
    return torch.tensor(summed[0], dtype=torch.float64), int(round(summed[1]))
