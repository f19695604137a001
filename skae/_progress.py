"""What ``verbose`` prints while a model trains.

Where the output goes decides how it looks:

* a terminal (the stream is a tty): one live tqdm bar over the epochs, with
  the latest training and validation loss beside it;
* anything else (a file, a pipe, ``nohup``, a CI log): plain text, one line
  per epoch (or every n-th epoch) in the style of scikit-learn's MLP estimators, for
  instance ``Iteration 3, loss = 0.0123457, validation loss = 0.0134 (0.05 s)``,
  with no carriage return and no ANSI escape sequence;
* a Jupyter notebook: tqdm's notebook widget when ipywidgets can be
  imported, otherwise the plain text lines (never tqdm's warning that
  IProgress is missing).

tqdm is imported only when a bar is drawn, so ``import skae`` does not pay
for it.

:class:`EpochReporter` is the skorch callback; :class:`ProgressReporter`
does the work and needs no skorch, and :func:`format_epoch` formats one
line.
"""

import math
import os
import sys
import warnings

from skorch.callbacks import Callback

__all__ = ["EpochReporter", "ProgressReporter", "format_epoch", "choose_mode"]

def format_epoch(epoch, train_loss, valid_loss=None, dur=None):
    """Format one epoch as a line of text, without a line break.

    Parameters
    ----------
    epoch : int
        The epoch's number, counted from 1.
    train_loss : float or None
        The mean training loss of the epoch; None leaves it out.
    valid_loss : float or None, default=None
        The validation loss, when the fit holds out validation rows.
    dur : float or None, default=None
        The epoch's duration in seconds.

    Returns
    -------
    line : str
        For instance ``"Iteration 3, loss = 0.0123457, validation loss =
        0.0134 (0.05 s)"``.
    """
    line = f"Iteration {int(epoch)}"
    if train_loss is not None:
        line += f", loss = {_number(train_loss)}"
    if valid_loss is not None:
        line += f", validation loss = {_number(valid_loss)}"
    if dur is not None:
        line += f" ({float(dur):.2f} s)"
    return line


def _number(value):
    return f"{float(value):.6g}"


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        # No isatty, or a closed stream: not a terminal.
        return False


def _zero_width(stream):
    """True for a terminal that reports no columns, where a bar shows nothing.

    That happens in some pseudo-terminals of CI runners and containers.
    """
    try:
        return os.get_terminal_size(stream.fileno()).columns == 0
    except (AttributeError, ValueError, OSError):
        return False


def _in_notebook():
    """True inside a Jupyter kernel; never imports IPython itself."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"


def choose_mode(stream=None):
    """How to report progress on a stream: ``"notebook"``, ``"bar"`` or ``"text"``.

    Parameters
    ----------
    stream : file-like or None, default=None
        Where the output goes. None means the standard streams: the bar is
        drawn on ``sys.stderr`` and text written to ``sys.stdout``, as tqdm
        and scikit-learn do, so a bar needs ``sys.stderr`` to be a terminal.

    Returns
    -------
    mode : str
        ``"notebook"`` in a Jupyter kernel writing to the standard streams
        (whether the widget can be drawn is only known when it is made, and
        plain text is used if it cannot), ``"bar"`` on a terminal (unless it
        reports a width of zero columns) and ``"text"`` otherwise.
    """
    if stream is None and _in_notebook():
        return "notebook"
    target = sys.stderr if stream is None else stream
    return "bar" if _isatty(target) and not _zero_width(target) else "text"


class ProgressReporter:
    """Report training progress epoch by epoch, with no dependence on skorch.

    Parameters
    ----------
    total_epochs : int or None
        The most epochs the fit will run (the bar's length); None when not
        known in advance.
    verbose : int
        0 reports nothing; any other value reports every epoch (or every
        ``every``-th one in text mode).
    stream : file-like or None, default=None
        Where to write. None means the standard streams (see
        :func:`choose_mode`); the stream is looked up when training starts.
    every : int or None, default=None
        Report only every ``every``-th epoch in text mode, to keep long logs
        short; the last epoch is always reported. None reports every epoch.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> reporter = ProgressReporter(2, verbose=1, stream=out)
    >>> reporter.start()
    >>> reporter.update({"epoch": 1, "train_loss": 0.5, "dur": 0.01})
    >>> reporter.update({"epoch": 2, "train_loss": 0.25, "valid_loss": 0.3})
    >>> reporter.close()
    >>> print(out.getvalue(), end="")
    Iteration 1, loss = 0.5 (0.01 s)
    Iteration 2, loss = 0.25, validation loss = 0.3
    """

    def __init__(self, total_epochs, verbose, *, stream=None, every=None):
        self.total_epochs = total_epochs
        self.verbose = verbose
        self.stream = stream
        self.every = every
        self.mode_ = None
        self.bar_ = None
        self.pending_ = None

    def _every(self):
        return 1 if self.every is None else max(1, int(self.every))

    def _text_stream(self):
        return sys.stdout if self.stream is None else self.stream

    def start(self):
        """Begin a fit: choose the mode and open the bar if there is one."""
        self.close()
        self.pending_ = None
        if not self.verbose:
            self.mode_ = None
            return
        self.mode_ = choose_mode(self.stream)
        if self.mode_ == "text":
            return
        kwargs = dict(
            total=self.total_epochs, unit="epoch", desc="Training", leave=True
        )
        if self.stream is not None:
            kwargs["file"] = self.stream
        try:
            if self.mode_ == "notebook":
                self.bar_ = _notebook_bar(**kwargs)
            else:
                from tqdm import tqdm

                self.bar_ = tqdm(dynamic_ncols=True, **kwargs)
        except ImportError:
            self.bar_ = None
        if self.bar_ is None:
            self.mode_ = "text"

    def update(self, record):
        """Report one finished epoch.

        Parameters
        ----------
        record : mapping
            The epoch's entry of the training history, with keys ``epoch``
            and ``train_loss`` and, when present, ``valid_loss`` and ``dur``.
        """
        if self.mode_ is None:
            return
        epoch = record["epoch"]
        train_loss = record.get("train_loss")
        valid_loss = record.get("valid_loss")
        dur = record.get("dur")
        if self.bar_ is not None:
            postfix = {}
            if train_loss is not None:
                postfix["loss"] = _number(train_loss)
            if valid_loss is not None:
                postfix["valid"] = _number(valid_loss)
            self.bar_.set_postfix(postfix, refresh=False)
            self.bar_.update(1)
            return
        line = format_epoch(epoch, train_loss, valid_loss, dur)
        if epoch % self._every() == 0:
            self._write(line)
            self.pending_ = None
        else:
            self.pending_ = line

    def _write(self, line):
        stream = self._text_stream()
        stream.write(line + "\n")
        flush = getattr(stream, "flush", None)
        if flush is not None:
            flush()

    def close(self):
        """End the fit: close the bar, or write the last epoch if skipped."""
        if self.pending_ is not None:
            self._write(self.pending_)
            self.pending_ = None
        bar, self.bar_ = self.bar_, None
        if bar is not None:
            bar.close()

    def __getstate__(self):
        # A live bar holds a stream and a lock: never pickle it.
        state = self.__dict__.copy()
        state["bar_"] = None
        return state


def _notebook_bar(**kwargs):
    """tqdm's notebook widget, or None when ipywidgets cannot draw one."""
    from tqdm import TqdmWarning

    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return None
    with warnings.catch_warnings():
        # tqdm warns (and falls back to text) when the widget is missing.
        warnings.simplefilter("error", TqdmWarning)
        try:
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm(**kwargs)
        except (ImportError, TqdmWarning):
            return None


class EpochReporter(Callback):
    """A skorch callback that reports training progress when ``verbose`` is set.

    It reads the last entry of ``net.history`` at the end of every epoch
    (keys ``epoch``, ``train_loss`` and, when present, ``valid_loss`` and
    ``dur``) and reports it as :class:`ProgressReporter` does: a live bar on
    a terminal, plain text lines elsewhere. Use it in place of skorch's
    ``PrintLog``.

    Parameters
    ----------
    total_epochs : int or None
        The most epochs this fit will run; None when not known.
    verbose : int
        0 reports nothing, 1 or more as described in
        :class:`ProgressReporter`.
    stream : file-like or None, default=None
        Where to write; None means the standard streams.
    every : int or None, default=None
        Report only every ``every``-th epoch in text mode (and the last);
        None reports every epoch.
    loss_scale : float, default=1.0
        Factor from the losses in the history to the reported ones (skae's
        networks work in scaled units and report in the input's).
    """

    def __init__(self, total_epochs, verbose, *, stream=None, every=None, loss_scale=1.0):
        self.total_epochs = total_epochs
        self.verbose = verbose
        self.stream = stream
        self.every = every
        self.loss_scale = loss_scale

    def initialize(self):
        self.reporter_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        reporter = getattr(self, "reporter_", None)
        if reporter is not None:
            reporter.close()
        self.reporter_ = ProgressReporter(
            self.total_epochs, self.verbose, stream=self.stream, every=self.every
        )
        self.reporter_.start()

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        reporter = getattr(self, "reporter_", None)
        if reporter is not None and len(net.history):
            row = dict(net.history[-1])
            for key in ("train_loss", "valid_loss"):
                if row.get(key) is not None:
                    row[key] = float(min(row[key] * self.loss_scale, math.inf))
            reporter.update(row)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        reporter = getattr(self, "reporter_", None)
        if reporter is not None:
            reporter.close()
        self.reporter_ = None
