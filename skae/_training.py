"""The training engine: one function, :func:`train`, with skorch underneath.

The estimators call :func:`train` with a module, the data in network units
and a schedule, and get a :class:`TrainResult` back: plain numpy weights and
curves. Only this module knows skorch: its prefix routing, history rows and
callbacks, and the fused-optimizer rule. The parts where skorch's defaults
do not fit an in-memory autoencoder are here too:

* :class:`RowSource` keeps the data as one tensor, built once, and hands out
  rows by index (sparse input is densified one batch at a time);
* :class:`BatchIterator` slices batches with an explicit generator instead
  of collating rows one at a time;
* :class:`AutoencoderNet` treats X as both input and target, keeps the loss
  on the device until the end of the epoch, and lets ``KeyboardInterrupt``
  through;
* :class:`Monitor` applies MLPRegressor's stopping rules, keeps the best
  weights (the starting point included) and guards against divergence.
"""

import dataclasses
import math

import numpy as np
import scipy.sparse as sp
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, LRScheduler
from skorch.helper import predefined_split

from . import _distributed
from ._utils import numpy_to_tensors, tensors_to_numpy, to_network_units

# Rows converted per block when the training tensor is built.
_CONVERT_ROWS = 4096


class RowSource(torch.utils.data.Dataset):
    """Rows of the training data in network units, selected by ``index``.

    Parameters
    ----------
    data : torch.Tensor or scipy.sparse.csr_matrix
        All rows: a float32 tensor in network units (see :func:`to_tensor`),
        or the raw sparse matrix.
    index : ndarray of int or None
        The rows this source serves; None serves all.
    mean, scale : ndarray and float
        The statistics, used to convert sparse rows batch by batch.
    device : torch.device
    targets : torch.Tensor, default=None
        Training targets in network units, row for row, when they are not the
        rows themselves (a denoiser trained on (noisy, clean) pairs).
    """

    def __init__(self, data, index, mean, scale, device, targets=None):
        self.data = data
        self.index = None if index is None else torch.as_tensor(index, device=device)
        self.mean = mean
        self.scale = scale
        self.device = device
        self.targets = targets

    def __len__(self):
        return self.data.shape[0] if self.index is None else len(self.index)

    def __getitem__(self, positions):
        return self.rows(positions)

    def rows(self, positions, *, targets=False):
        """The rows (or targets) at ``positions`` (a slice or an index tensor)."""
        if self.index is not None:
            positions = self.index[positions]
        if targets:
            if isinstance(positions, torch.Tensor):
                return self.targets.index_select(0, positions.to(self.targets.device))
            return self.targets[positions]
        if isinstance(self.data, torch.Tensor):
            if isinstance(positions, torch.Tensor):
                return self.data.index_select(0, positions.to(self.data.device))
            return self.data[positions]
        if isinstance(positions, torch.Tensor):
            positions = positions.cpu().numpy()
        block = to_network_units(self.data[positions], self.mean, self.scale)
        return torch.from_numpy(block).to(self.device)


def to_tensor(X, mean, scale, device):
    """X in network units, as the data of a :class:`RowSource`.

    Dense input becomes one float32 tensor on ``device``, converted block by
    block; sparse input stays a CSR matrix.
    """
    if sp.issparse(X):
        return X.tocsr()
    out = torch.empty(X.shape, dtype=torch.float32, device=device)
    for start in range(0, X.shape[0], _CONVERT_ROWS):
        block = to_network_units(X[start : start + _CONVERT_ROWS], mean, scale)
        out[start : start + _CONVERT_ROWS] = torch.from_numpy(block)
    return out


class BatchIterator:
    """Yield ``(network_input, target)`` pairs from a :class:`RowSource`.

    The target is the clean batch itself, or the source's paired targets.

    Parameters
    ----------
    dataset : RowSource
    batch_size : int
    shuffle : bool, default=False
        Draw a new permutation from ``generator`` at every pass.
    generator : torch.Generator, default=None
        CPU generator for the permutation.
    corrupt : callable, default=None
        ``corrupt(batch, generator) -> network_input``; the target stays clean.
    noise_generator : torch.Generator or callable, default=None
        Generator passed to ``corrupt``. A callable is called at the start
        of every pass and returns the generator for that pass, which is how
        validation sees the same corruption at every epoch.
    """

    def __init__(
        self, dataset, batch_size, shuffle=False, generator=None, corrupt=None,
        noise_generator=None,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.corrupt = corrupt
        self.noise_generator = noise_generator

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        n, size, rows = len(self.dataset), self.batch_size, self.dataset.rows
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        noise = self.noise_generator
        if callable(noise):
            noise = noise()
        paired = self.dataset.targets is not None
        for start in range(0, n, size):
            positions = slice(start, start + size) if order is None else order[start : start + size]
            clean = rows(positions)
            target = rows(positions, targets=True) if paired else clean
            noisy = clean if self.corrupt is None else self.corrupt(clean, noise)
            yield noisy, target


class LossHook(torch.nn.Module):
    """skorch's criterion: the estimator's loss, ``loss(output, target, X)``."""

    def __init__(self, loss):
        super().__init__()
        self.loss = loss

    def forward(self, output, target, X):
        return self.loss(output, target, X)


class StopTraining(Exception):
    """Raised at the end of an epoch when a callback asked training to stop."""


class AutoencoderNet(NeuralNet):
    """skorch ``NeuralNet`` whose target is its own input.

    Parameters
    ----------
    module : torch.nn.Module
        An initialised network.
    alpha : float, default=0.0
        L2 penalty on the weights (not the biases), as in MLPRegressor:
        ``0.5 * alpha * ||W||^2 / batch_size`` is added to the training loss.
    **kwargs
        Passed on to :class:`skorch.NeuralNet`.
    """

    def __init__(self, module, *args, alpha=0.0, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.alpha = alpha

    def get_default_callbacks(self):
        return [("epoch_timer", EpochTimer())]

    def initialize(self):
        super().initialize()
        self.stop_requested_ = False
        self.penalised_ = [p for p in self.module_.parameters() if p.dim() > 1]
        self.parallel_forward_ = _distributed.ddp_forward(self.module_, self.device)
        return self

    def infer(self, x, **fit_params):
        if self.parallel_forward_ is not None and self.module_.training:  # data-parallel step
            return self.parallel_forward_(x, **fit_params)
        return super().infer(x, **fit_params)

    def request_stop(self):
        """Stop once every callback has seen the current epoch."""
        self.stop_requested_ = True

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        if method_name == "on_epoch_end" and self.stop_requested_:
            raise StopTraining

    def run(self, train_data, epochs):
        """Train for up to ``epochs`` epochs; unlike ``partial_fit``, let Ctrl-C through."""
        self.notify("on_train_begin", X=train_data, y=None)
        try:
            self.fit_loop(train_data, epochs=epochs)
        except StopTraining:
            pass
        self.notify("on_train_end", X=train_data, y=None)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        # skorch records every batch's loss with .item(), a device sync per
        # step; here the loss stays on the device until the epoch ends.
        if iterator is None:
            return
        losses, rows = [], []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            losses.append(step["loss"].detach())
            rows.append(len(batch[1]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
        total = None
        if losses:
            weights = torch.tensor(rows, dtype=losses[0].dtype, device=losses[0].device)
            total = (torch.stack(losses) * weights).sum()
        total, count = _distributed.reduce_loss(total, sum(rows))
        self.history.record(f"{prefix}_loss", (total / count).item() if count else math.nan)

    def train_step(self, batch, **fit_params):
        # skorch's train_step also wraps the step in a closure and announces
        # every gradient to the callbacks; none of ours listens, and at small
        # batch sizes that bookkeeping costs as much as the step itself.
        self._set_training(True)
        Xi, yi = batch
        self.optimizer_.zero_grad(set_to_none=True)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        self.optimizer_.step()
        return {"loss": loss, "y_pred": y_pred}

    def _set_training(self, training=True):
        # skorch calls this before every batch; walking the module tree each
        # time costs more than a small model's step, so only switch on change.
        if self.module_.training != training:
            super()._set_training(training)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = self.criterion_(y_pred, y_true, X)
        if training and self.alpha > 0:
            penalty = sum(w.square().sum() for w in self.penalised_)
            loss = loss + 0.5 * self.alpha * penalty / len(y_true)
        return loss

    def evaluate(self, dataset):
        """Mean loss over ``dataset`` in eval mode, as validation computes it."""
        self.history.new_epoch()
        self.run_single_epoch(
            self.get_iterator(dataset, training=False), training=False,
            prefix="start", step_fn=self.validation_step,
        )
        loss = self.history[-1, "start_loss"]
        del self.history[-1]
        return loss


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class Monitor(Callback):
    """MLPRegressor's stopping rules, best-weight tracking and a divergence guard.

    The score is the validation loss when there is a validation set, else the
    training loss. Training stops when it has not improved by ``tol`` for
    more than ``patience`` epochs. With ``restore_best`` the best weights are
    restored at the end, the starting point counting as a candidate with
    ``start_loss``. A non-finite loss stops training and restores the
    weights of the last finite epoch.

    Parameters
    ----------
    tol : float
    patience : int or None
        None never stops early (``partial_fit``).
    restore_best : bool
    start_loss : float or None
        The score of the weights training starts from.
    """

    def __init__(self, tol, patience, restore_best, start_loss):
        self.tol = tol
        self.patience = patience
        self.restore_best = restore_best
        self.start_loss = start_loss

    def on_train_begin(self, net, **kwargs):
        self.converged_ = self.diverged_ = False
        self.no_improvement_ = 0
        self.best_epoch_ = 0
        self.best_score_ = math.inf if self.start_loss is None else self.start_loss
        self.last_finite_ = self.start_state_ = _state(net.module_)
        self.best_state_ = self.last_finite_ if self.start_loss is not None else None

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        score = row.get("valid_loss", row["train_loss"])
        if not (math.isfinite(row["train_loss"]) and math.isfinite(score)):
            self.diverged_ = True
            net.module_.load_state_dict(self.last_finite_)
            net.request_stop()
            return
        self.last_finite_ = _state(net.module_)
        improved = score < self.best_score_ - self.tol
        if score < self.best_score_:
            self.best_score_, self.best_state_ = score, self.last_finite_
            self.best_epoch_ = len(net.history)
        self.no_improvement_ = 0 if improved else self.no_improvement_ + 1
        if self.patience is not None and self.no_improvement_ > self.patience:
            self.converged_ = True
            net.request_stop()

    def on_train_end(self, net, **kwargs):
        if self.restore_best and not self.diverged_ and self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        elif not self.restore_best:
            self.best_epoch_ = len(net.history)


class EpochHook(Callback):
    """Call ``hook(module, epoch, history_row)`` after every epoch; True stops."""

    def __init__(self, hook):
        self.hook = hook

    def on_epoch_end(self, net, **kwargs):
        if self.hook(net.module_, len(net.history), dict(net.history[-1])):
            net.request_stop()


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` hands back, as plain data.

    Attributes
    ----------
    weights : dict of str to ndarray
        The final ``state_dict`` (best weights when they were restored).
    optimizer_state : dict or None
        Adam's state, to continue with ``partial_fit``; None after divergence.
    train_losses, valid_losses : list of float
        Per epoch, in network units; ``valid_losses`` is empty without
        validation rows.
    start_loss : float or None
        Loss of the starting weights on the validation rows (training rows
        without them), when it was measured.
    best_epoch : int
        Epoch whose weights were kept; 0 means the starting weights.
    converged, diverged : bool
    """

    weights: dict
    optimizer_state: object
    train_losses: list
    valid_losses: list
    start_loss: object
    best_epoch: int
    converged: bool
    diverged: bool

    @property
    def n_epochs(self):
        return len(self.train_losses)


def train(
    module, train_data, valid_data=None, *, loss, max_epochs, batch_size,
    learning_rate, alpha=0.0, schedule="cosine", tol=0.0, patience=None,
    keep_start=False, corrupt=None, shuffle_generator, noise_generator=None,
    valid_noise_seed=None, device, optimizer_state=None, callbacks=(),
    on_epoch_end=None,
):
    """Train ``module`` with Adam and return the result as plain data.

    Parameters
    ----------
    module : torch.nn.Module
        The network; ``forward(x)`` returns ``(reconstruction, code, *extras)``.
        Trained in place.
    train_data, valid_data : RowSource
        Rows in network units; ``valid_data`` may be None.
    loss : callable
        ``loss(output, target, X) -> scalar tensor``, with ``output`` what
        ``forward`` returned, ``target`` the clean batch and ``X`` the
        network's (possibly corrupted) input.
    max_epochs : int
    batch_size : int
    learning_rate : float
        Initial step size of Adam.
    alpha : float, default=0.0
        L2 penalty (see :class:`AutoencoderNet`).
    schedule : {"cosine", "constant"}, default="cosine"
        "cosine" anneals the step size to zero over ``max_epochs`` epochs,
        stepping once per epoch.
    tol : float, default=0.0
        Improvement of the score that resets the patience counter.
    patience : int or None, default=None
        Epochs without improvement tolerated; None trains all epochs.
    keep_start : bool, default=False
        Measure the starting weights and keep them if no epoch beats them.
        With validation rows the best epoch's weights are kept in any case.
    corrupt : callable, default=None
        ``corrupt(batch, generator) -> network_input`` for training batches;
        validation batches get it too, with a noise seed fixed for the fit.
    shuffle_generator, noise_generator : torch.Generator
    valid_noise_seed : int, default=None
        Seed of the validation corruption.
    device : torch.device
    optimizer_state : dict, default=None
        Adam's state to resume from.
    callbacks : sequence of (str, skorch Callback), default=()
        Extra callbacks, e.g. progress reporting.
    on_epoch_end : callable, default=None
        ``on_epoch_end(module, epoch, row) -> bool``; True stops training.

    Returns
    -------
    result : TrainResult
    """
    module.to(device)
    has_valid = valid_data is not None

    def valid_noise():
        return torch.Generator(device=device).manual_seed(valid_noise_seed)

    monitor = Monitor(tol, patience, restore_best=has_valid or keep_start, start_loss=None)
    extra = [("monitor", monitor), *callbacks]
    if schedule == "cosine":
        extra.append(("schedule", LRScheduler(
            torch.optim.lr_scheduler.CosineAnnealingLR, T_max=max_epochs,
            step_every="epoch", event_name=None,
        )))
    if on_epoch_end is not None:
        extra.append(("hook", EpochHook(on_epoch_end)))
    net = AutoencoderNet(
        module,
        criterion=LossHook,
        criterion__loss=loss,
        optimizer=torch.optim.Adam,
        lr=learning_rate,
        max_epochs=max_epochs,
        batch_size=batch_size,
        iterator_train=_distributed.batch_iterator(BatchIterator),
        iterator_train__shuffle=True,
        iterator_train__generator=shuffle_generator,
        iterator_train__corrupt=corrupt,
        iterator_train__noise_generator=noise_generator,
        iterator_valid=BatchIterator,
        iterator_valid__batch_size=max(batch_size, 4096),
        iterator_valid__corrupt=corrupt,
        iterator_valid__noise_generator=valid_noise,
        train_split=predefined_split(valid_data) if has_valid else None,
        callbacks=extra,
        device=device,
        verbose=0,
        alpha=alpha,
        # Fused Adam: one kernel per step instead of one per tensor.
        **({"optimizer__fused": True} if device.type in ("cpu", "cuda") else {}),
    )
    with torch.enable_grad():  # whatever the caller's grad mode
        return _run(net, monitor, train_data, valid_data, max_epochs, has_valid,
                    keep_start, optimizer_state)


def _run(net, monitor, train_data, valid_data, max_epochs, has_valid, keep_start,
         optimizer_state):
    start_loss = None
    net.initialize()
    if optimizer_state is not None:
        net.optimizer_.load_state_dict(numpy_to_tensors(optimizer_state))
        # The state carries the step size where the last schedule left it
        # (zero, at the end of fit's cosine): continue at the set one.
        for group in net.optimizer_.param_groups:
            group["lr"] = group["initial_lr"] = net.lr
    if keep_start or has_valid:
        start_loss = net.evaluate(valid_data if has_valid else train_data)
        monitor.start_loss = start_loss if keep_start else None
    net.run(train_data, max_epochs)
    if keep_start and has_valid and monitor.best_epoch_ > 0 and not monitor.diverged_:
        if not _clearly_better(net, valid_data, monitor.start_state_):
            net.module_.load_state_dict(monitor.start_state_)
            monitor.best_epoch_ = 0

    history = net.history
    return TrainResult(
        weights=tensors_to_numpy(net.module_.state_dict()),
        optimizer_state=None if monitor.diverged_ else tensors_to_numpy(net.optimizer_.state_dict()),
        train_losses=[row["train_loss"] for row in history],
        valid_losses=[row["valid_loss"] for row in history if "valid_loss" in row],
        start_loss=start_loss,
        best_epoch=monitor.best_epoch_,
        converged=monitor.converged_,
        diverged=monitor.diverged_,
    )


# The trained weights replace the starting point only if they beat it on
# the validation rows by this many standard errors (one-sided, about 95%):
# with a few dozen rows, a network that won by chance is not kept.
SIGNIFICANCE = 1.645


def _block_losses(net, data, n_blocks=50):
    size = max(1, math.ceil(len(data) / n_blocks))
    iterator = net.get_iterator(data, training=False)
    iterator.batch_size = size
    losses = []
    net._set_training(False)
    with torch.no_grad():
        for batch in iterator:
            losses.append(net.validation_step(batch)["loss"].item())
    return np.array(losses)


def _clearly_better(net, valid_data, start_state):
    """Whether the current weights beat ``start_state`` on ``valid_data`` significantly.

    The validation rows are cut into blocks (single rows for small sets) and
    the two models' block losses are compared pairwise.
    """
    trained = _block_losses(net, valid_data)
    current = _state(net.module_)
    net.module_.load_state_dict(start_state)
    start = _block_losses(net, valid_data)
    net.module_.load_state_dict(current)
    gain = _distributed.gather(start - trained)
    if len(gain) < 2:
        return bool(gain.mean() > 0)
    spread = gain.std(ddof=1) / math.sqrt(len(gain))
    return bool(gain.mean() > SIGNIFICANCE * spread)


def network_statistics(X, rows=None):
    """Per-feature mean and single scale of the rows ``rows`` of X (all if None).

    The scale is the root mean square of the features' standard deviations,
    so the network's squared error is proportional to the squared error in
    the input's units. Statistics are computed in float64 from the
    float32-rounded data (so float32 and float64 copies of the same data give
    the same model), with the largest magnitude factored out so that no
    finite input overflows.

    Returns
    -------
    mean : ndarray of shape (n_features,)
    scale : float
    """
    index = np.arange(X.shape[0]) if rows is None else np.asarray(rows)
    n, n_features = len(index), X.shape[1]

    def blocks(shift, divide):
        for start in range(0, n, _CONVERT_ROWS):
            block = X[index[start : start + _CONVERT_ROWS]]
            yield to_network_units(block, shift, divide, np.float64, clip=False)

    peak = max((float(np.abs(b).max(initial=0.0)) for b in blocks(0.0, 1.0)), default=0.0)
    peak, n_all = _distributed.all_reduce_max(peak), _distributed.all_reduce_sum(n)
    peak = peak if peak > 0 else 1.0
    mean = sum(b.sum(axis=0) for b in blocks(0.0, peak))
    mean = _distributed.all_reduce_sum(mean) / max(n_all, 1) * peak
    mean_square = sum(float(np.square(b).sum()) for b in blocks(mean, peak))
    mean_square = _distributed.all_reduce_sum(mean_square)
    scale = peak * math.sqrt(mean_square / max(n_all * n_features, 1))
    if not scale > float(np.finfo(np.float32).tiny):
        scale = 1.0
    return mean, scale


def principal_axes(train, valid):
    """PCA of the network-unit training rows, and how it explains the validation rows.

    Parameters
    ----------
    train, valid : RowSource
        The training and validation rows; ``valid`` may be None.

    Returns
    -------
    components : ndarray of shape (n_features, n_features)
        Principal axes as rows, by decreasing variance, with scikit-learn's
        sign convention (the largest entry of each axis is positive).
    explained : ndarray of shape (n_features,)
        Cumulative fraction of the validation rows' variance (training rows'
        without validation rows) explained by the first k axes.
    """
    train_cov, train_mean = _second_moment(train)
    centred = train_cov - np.outer(train_mean, train_mean)
    values, vectors = np.linalg.eigh(centred)
    order = np.argsort(values)[::-1]
    components = vectors[:, order].T
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    if valid is not None:
        valid_cov, valid_mean = _second_moment(valid)
        # Variance around the training mean, the origin of the projection.
        shifted = (
            valid_cov - np.outer(valid_mean, train_mean) - np.outer(train_mean, valid_mean)
            + np.outer(train_mean, train_mean)
        )
    else:
        shifted = centred
    energy = ((components @ shifted) * components).sum(axis=1)
    total = float(np.trace(shifted))
    explained = np.cumsum(energy) / total if total > 0 else np.ones(len(energy))
    return components, explained


def _second_moment(source):
    n_features = source.data.shape[1]
    moment = np.zeros((n_features, n_features))
    total = np.zeros(n_features)
    n = len(source)
    for start in range(0, n, _CONVERT_ROWS):
        block = source.rows(slice(start, start + _CONVERT_ROWS)).double().cpu().numpy()
        moment += block.T @ block
        total += block.sum(axis=0)
    moment, total, n = map(_distributed.all_reduce_sum, (moment, total, n))
    return moment / max(n, 1), total / max(n, 1)
