"""The training engine: skorch underneath, with scikit-learn's contract on top.

skorch runs the loop (epochs, batches, callbacks, history, devices). This
module supplies the parts where skorch's defaults do not fit an in-memory
autoencoder:

* :class:`RowSource` keeps the scaled data as one tensor, built once, and
  densifies sparse input one batch at a time;
* :class:`BatchIterator` slices batches out of it with an explicit
  ``torch.Generator`` instead of collating rows one at a time;
* :class:`AutoencoderNet` treats X as both input and target, adds the weight
  penalty, and stops cleanly when a callback asks it to;
* :class:`ConvergenceMonitor` implements MLPRegressor's ``tol`` /
  ``n_iter_no_change`` / ``early_stopping`` rules, keeps the best weights and
  guards against divergence.
"""

import contextlib
import math
import re
import time

import numpy as np
import scipy.sparse as sp
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, PassthroughScoring, PrintLog
from tqdm.auto import tqdm

# Rows per block when data is converted or pushed through a network outside
# training: memory is bounded by the block, not by n_samples.
CHUNK_SIZE = 4096


class StopTraining(Exception):
    """Raised at the end of an epoch when a callback asked training to stop."""


def to_network_units(X, mean, scale, dtype=np.float32, out=None):
    """Return ``(X - mean) / scale`` as a dense array of ``dtype``, block by block.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
    mean : ndarray of shape (n_features,)
    scale : float
    dtype : numpy dtype, default=np.float32
    out : ndarray, default=None
        Preallocated output.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_features)
    """
    if out is None:
        out = np.empty(X.shape, dtype=dtype)
    for start in range(0, X.shape[0], CHUNK_SIZE):
        block = X[start : start + CHUNK_SIZE]
        if sp.issparse(block):
            block = block.toarray()
        np.subtract(block, mean, out=out[start : start + CHUNK_SIZE], casting="unsafe")
    out /= np.asarray(scale, dtype=out.dtype)
    return out


class RowSource(torch.utils.data.Dataset):
    """Training rows in network units, ready to be sliced into batches.

    Dense input is converted once into a float32 tensor on ``device``. Sparse
    input stays sparse and each batch is densified on demand, so memory stays
    bounded by the batch.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
    mean : ndarray of shape (n_features,)
    scale : float
    device : torch.device
    """

    def __init__(self, X, mean, scale, device):
        self.device = torch.device(device)
        self.n_samples = X.shape[0]
        if sp.issparse(X):
            self._sparse = X.tocsr()
            self._mean = mean
            self._scale = scale
            self._dense = None
        else:
            self._sparse = None
            self._dense = torch.from_numpy(to_network_units(X, mean, scale)).to(device)

    def __len__(self):
        return self.n_samples

    def __getitem__(self, index):
        return self.rows(index)

    def rows(self, index):
        """Return the rows at ``index`` (a slice or a 1-D index tensor)."""
        if self._dense is not None:
            if isinstance(index, torch.Tensor):
                return self._dense.index_select(0, index.to(self.device))
            return self._dense[index]
        if isinstance(index, torch.Tensor):
            index = index.numpy()
        block = to_network_units(self._sparse[index], self._mean, self._scale)
        return torch.from_numpy(block).to(self.device)


class BatchIterator:
    """Yield ``(corrupted_batch, clean_batch)`` pairs sliced from a :class:`RowSource`.

    skorch builds one per fit through ``iterator_train`` / ``iterator_valid``.

    Parameters
    ----------
    dataset : RowSource
    batch_size : int
    shuffle : bool, default=False
        Draw a new permutation from ``generator`` at every epoch.
    generator : torch.Generator, default=None
        CPU generator for the permutation. Required when ``shuffle=True``.
    corrupt : callable, default=None
        ``corrupt(batch) -> noisy_batch``, applied to the network's input
        only. The target stays clean.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None, corrupt=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.corrupt = corrupt

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        n, size, rows = len(self.dataset), self.batch_size, self.dataset.rows
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, n, size):
            if order is None:
                clean = rows(slice(start, start + size))
            else:
                clean = rows(order[start : start + size])
            noisy = clean if self.corrupt is None else self.corrupt(clean)
            yield noisy, clean


class ReconstructionCriterion(torch.nn.Module):
    """Loss in the input's units: mean squared error times ``scale**2``.

    The network works on ``(X - mean_) / scale_``; multiplying by
    ``scale_**2`` turns its squared error back into the input's units, so the
    number that training minimises is the number that ``score`` reports.

    Parameters
    ----------
    loss : callable
        ``loss(output, target) -> scalar`` in network units.
    unit : float
        ``scale_**2``.
    """

    def __init__(self, loss, unit):
        super().__init__()
        self.loss = loss
        self.unit = unit

    def forward(self, output, target):
        return self.loss(output, target) * self.unit


class AutoencoderNet(NeuralNet):
    """skorch ``NeuralNet`` whose target is its own input.

    Parameters
    ----------
    module : torch.nn.Module
        An initialised autoencoder.
    alpha : float, default=0.0
        Strength of the L2 penalty on the weights (not the biases), as in
        MLPRegressor: ``0.5 * alpha * ||W||^2 / batch_size`` is added to the
        training loss (in network units).
    **kwargs
        Passed on to :class:`skorch.NeuralNet`.
    """

    def __init__(self, module, *args, alpha=0.0, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.alpha = alpha

    def get_default_callbacks(self):
        # skorch's defaults, with the epoch log written through tqdm so that it
        # coexists with the progress bar, and only when verbose.
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
        ]
        if self.verbose:
            callbacks.append(("print_log", PrintLog(sink=tqdm.write)))
        return callbacks

    def initialize(self):
        super().initialize()
        self._stop_requested = False
        weights = [p for name, p in self.module_.named_parameters() if p.dim() > 1]
        self._penalised = weights
        return self

    def request_stop(self):
        """Ask training to stop once every callback has seen the current epoch."""
        self._stop_requested = True

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        if method_name == "on_epoch_end" and self._stop_requested:
            raise StopTraining

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        self._stop_requested = False
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except StopTraining:
            return self

    def _set_training(self, training=True):
        # skorch calls this before every batch; walking the module tree each
        # time costs more than a small model's forward pass, so only switch
        # when the mode actually changes.
        if self.module_.training != training:
            super()._set_training(training)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = self.criterion_(y_pred, y_true)
        if training and self.alpha > 0:
            penalty = sum(w.square().sum() for w in self._penalised)
            loss = loss + self.criterion_.unit * 0.5 * self.alpha * penalty / len(y_true)
        return loss


def clone_state(module):
    """Detached copy of ``module.state_dict()``."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class ConvergenceMonitor(Callback):
    """MLPRegressor's stopping rules, plus a guard against divergence.

    Without early stopping, training stops when the training loss has not
    improved by ``tol`` for more than ``n_iter_no_change`` epochs. With early
    stopping, the same rule is applied to the validation score and the best
    weights are restored when training ends. A non-finite training loss stops
    training and restores the weights of the last finite epoch.

    Parameters
    ----------
    early_stopping : bool
    tol : float
        In the units of the loss.
    n_iter_no_change : int
    check_convergence : bool
        Whether the stopping rules apply at all (they do not in partial_fit).
    """

    def __init__(self, early_stopping, tol, n_iter_no_change, check_convergence=True):
        self.early_stopping = early_stopping
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.check_convergence = check_convergence

    def on_train_begin(self, net, **kwargs):
        self.converged_ = False
        self.diverged_ = False
        self.best_loss_ = np.inf
        self.best_score_ = -np.inf
        self.best_state_ = None
        self.no_improvement_ = 0
        self.last_finite_state_ = clone_state(net.module_)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        loss = row["train_loss"]
        if not math.isfinite(loss) or (
            self.early_stopping and not math.isfinite(row["valid_loss"])
        ):
            self.diverged_ = True
            net.module_.load_state_dict(self.last_finite_state_)
            net.request_stop()
            return
        self.last_finite_state_ = clone_state(net.module_)
        if self.early_stopping:
            score = -row["valid_loss"]
            improved = score >= self.best_score_ + self.tol
            if score > self.best_score_:
                self.best_score_ = score
                self.best_state_ = self.last_finite_state_
        else:
            improved = loss <= self.best_loss_ - self.tol
        self.best_loss_ = min(self.best_loss_, loss)
        self.no_improvement_ = 0 if improved else self.no_improvement_ + 1
        if self.check_convergence and self.no_improvement_ > self.n_iter_no_change:
            self.converged_ = True
            net.request_stop()

    def on_train_end(self, net, **kwargs):
        if self.early_stopping and self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)


class EpochProgressBar(Callback):
    """A tqdm bar over epochs, opened only when the fit promises to be long.

    After each epoch the remaining time is extrapolated from the time so far;
    the bar appears once the whole fit is expected to take more than
    ``min_seconds``, so short fits print nothing but their epoch lines.

    Parameters
    ----------
    total : int
        Number of epochs planned.
    min_seconds : float, default=5.0
        Expected fit time above which the bar is shown.
    """

    def __init__(self, total, min_seconds=5.0):
        self.total = total
        self.min_seconds = min_seconds

    def on_train_begin(self, net, **kwargs):
        self.bar_ = None
        self.start_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        if self.bar_ is not None:
            self.bar_.update(1)
            return
        done = len(net.history)
        expected = (time.perf_counter() - self.start_) / done * self.total
        if done < self.total and expected > self.min_seconds:
            self.bar_ = tqdm(total=self.total, initial=done, unit="epoch", leave=False)

    def on_train_end(self, net, **kwargs):
        if self.bar_ is not None:
            self.bar_.close()


class SklearnCallbackBridge(Callback):
    """Report every epoch to scikit-learn's callbacks as a fit task.

    Parameters
    ----------
    context : sklearn.callback.CallbackContext
        The estimator's root fit context.
    estimator : estimator instance
        The estimator being fitted.
    X : array-like
        The training data, passed on to the hooks.
    attributes : callable
        ``attributes(net) -> dict`` of fitted attributes describing the
        current state, from which scikit-learn builds a ``fitted_estimator``
        for the hooks that ask for one.
    """

    def __init__(self, context, estimator, X, attributes):
        self.context = context
        self.estimator = estimator
        self.X = X
        self.attributes = attributes

    def on_epoch_begin(self, net, **kwargs):
        self.task_ = self.context.subcontext(task_name="epoch")
        self.task_.call_on_fit_task_begin(estimator=self.estimator, X=self.X)

    def on_epoch_end(self, net, **kwargs):
        stop = self.task_.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            reconstruction_attributes=lambda: self.attributes(net),
        )
        if stop:
            net.request_stop()


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with ``n_threads`` intra-op threads, then restore the setting.

    Parameters
    ----------
    n_threads : int or None
        None leaves the setting alone.
    """
    previous = torch.get_num_threads()
    if n_threads is None or n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# Below this many multiply-adds per training step, synchronising a second
# thread costs more than it saves. benchmarks/threads.py measured one thread
# faster for every model up to 784-512-256-30 at batch 1024 (1.1 GMAC/step)
# on the 2-core machines this project runs on, by 3x to 90x when the other
# core was busy: on a shared machine a second OpenMP thread waits on the
# slower core at every step.
SINGLE_THREAD_MACS = 2_000_000_000


def training_threads(module, batch_size):
    """Thread count for training ``module`` on batches of ``batch_size`` rows.

    Small models are fastest on one thread: each step is too short for the
    work to be worth splitting. Larger ones keep the caller's setting.
    """
    n_weights = sum(p.numel() for p in module.parameters() if p.dim() > 1)
    if n_weights * batch_size < SINGLE_THREAD_MACS:
        return 1
    return None


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
