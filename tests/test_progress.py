"""The ``verbose`` output of training (skae._progress)."""

import io
import pickle
import re
import sys
import warnings

import numpy as np
import pytest
import torch

from skae._progress import (
    EpochReporter,
    ProgressReporter,
    choose_mode,
    format_epoch,
)

LINE = re.compile(
    r"^Iteration (\d+), loss = [0-9.e+-]+"
    r"(, validation loss = [0-9.e+-]+)?( \([0-9.]+ s\))?$"
)


class TTYStringIO(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self):
        return True


class FakeNet:
    """What the callback reads from a skorch net: a list-like history."""

    def __init__(self):
        self.history = []


def drive(reporter, records):
    """Run a callback through a fit with the given history entries."""
    net = FakeNet()
    reporter.initialize()
    reporter.on_train_begin(net)
    for record in records:
        net.history.append(record)
        reporter.on_epoch_end(net)
    reporter.on_train_end(net)


def records(n, valid=False):
    out = []
    for epoch in range(1, n + 1):
        record = {"epoch": epoch, "train_loss": 1.0 / epoch, "dur": 0.01}
        if valid:
            record["valid_loss"] = 2.0 / epoch
        out.append(record)
    return out


def assert_plain(text):
    assert "\r" not in text
    assert "\x1b" not in text


def test_format_epoch_like_mlp():
    assert format_epoch(3, 0.5) == "Iteration 3, loss = 0.5"
    line = format_epoch(12, 0.0123456789, 0.25, 1.234)
    assert line == "Iteration 12, loss = 0.0123457, validation loss = 0.25 (1.23 s)"


@pytest.mark.parametrize("valid", [False, True])
def test_text_to_a_file_one_line_per_epoch(tmp_path, valid):
    path = tmp_path / "log.txt"
    with path.open("w") as stream:
        drive(EpochReporter(5, 1, stream=stream), records(5, valid=valid))
    text = path.read_text()
    assert_plain(text)
    lines = text.splitlines()
    assert len(lines) == 5
    for number, line in enumerate(lines, start=1):
        match = LINE.match(line)
        assert match, line
        assert int(match.group(1)) == number
        assert (match.group(2) is not None) == valid


def test_verbose_zero_writes_nothing():
    out = io.StringIO()
    drive(EpochReporter(5, 0, stream=out), records(5))
    assert out.getvalue() == ""


def test_every_n_epochs_keeps_the_last():
    out = io.StringIO()
    drive(EpochReporter(7, 1, stream=out, every=3), records(7))
    numbers = [int(LINE.match(line).group(1)) for line in out.getvalue().splitlines()]
    assert numbers == [3, 6, 7]


def test_long_fit_one_line_per_epoch_unless_thinned():
    out1, out2 = io.StringIO(), io.StringIO()
    drive(EpochReporter(1000, 1, stream=out1), records(1000))
    drive(EpochReporter(1000, 1, stream=out2, every=100), records(1000))
    assert len(out1.getvalue().splitlines()) == 1000
    lines = out2.getvalue().splitlines()
    assert [int(LINE.match(line).group(1)) for line in lines] == list(
        range(100, 1001, 100)
    )


def test_early_stop_before_total_still_reports_every_epoch_run():
    out = io.StringIO()
    drive(EpochReporter(200, 1, stream=out), records(4))
    assert len(out.getvalue().splitlines()) == 4


def test_default_stream_is_stdout_when_not_a_terminal(capsys):
    # Under pytest's capture neither standard stream is a terminal.
    drive(EpochReporter(3, 1), records(3))
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3
    assert_plain(captured.out)
    assert captured.err == ""


def test_terminal_gets_a_bar():
    out = TTYStringIO()
    assert choose_mode(out) == "bar"
    drive(EpochReporter(5, 1, stream=out), records(5, valid=True))
    text = out.getvalue()
    assert "\r" in text  # a redrawn bar, not lines
    assert "Iteration" not in text
    assert "5/5" in text
    assert "valid=" in text


def test_bar_closed_at_train_end_and_reopened_per_fit():
    out = TTYStringIO()
    callback = EpochReporter(3, 1, stream=out)
    net = FakeNet()
    callback.initialize()
    for _ in range(2):
        callback.on_train_begin(net)
        assert callback.reporter_.bar_ is not None
        bar = callback.reporter_.bar_
        for record in records(3):
            net.history.append(record)
            callback.on_epoch_end(net)
        callback.on_train_end(net)
        assert bar.disable or bar.n == 3
        assert callback.reporter_ is None
    assert out.getvalue().count("3/3") >= 2


def test_params_and_pickle():
    callback = EpochReporter(10, 2, every=4)
    assert callback.get_params() == {
        "total_epochs": 10,
        "verbose": 2,
        "stream": None,
        "every": 4,
        "loss_scale": 1.0,
    }
    reporter = ProgressReporter(3, 1, stream=TTYStringIO())
    reporter.start()
    assert reporter.bar_ is not None
    clone = pickle.loads(pickle.dumps(reporter))
    assert clone.bar_ is None
    reporter.close()


def test_notebook_without_ipywidgets_falls_back_to_text(monkeypatch, capsys):
    """In a Jupyter kernel with no ipywidgets: text lines, no TqdmWarning."""

    class ZMQInteractiveShell:
        pass

    class FakeIPython:
        @staticmethod
        def get_ipython():
            return ZMQInteractiveShell()

    monkeypatch.setitem(sys.modules, "IPython", FakeIPython)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    assert choose_mode() == "notebook"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drive(EpochReporter(3, 1), records(3))
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 3
    assert_plain(out)


def test_real_skorch_net_to_a_file(tmp_path):
    from skorch import NeuralNetRegressor
    from skorch.dataset import ValidSplit

    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = X[:, :1].copy()
    path = tmp_path / "fit.log"
    with path.open("w") as stream:
        net = NeuralNetRegressor(
            torch.nn.Linear(3, 1),
            max_epochs=4,
            batch_size=20,
            train_split=ValidSplit(4),
            verbose=0,  # no skorch table
            callbacks=[("report", EpochReporter(4, 1, stream=stream))],
        )
        net.fit(X, y)
    text = path.read_text()
    assert_plain(text)
    lines = text.splitlines()
    assert len(lines) == 4
    for number, line in enumerate(lines, start=1):
        match = LINE.match(line)
        assert match, line
        assert int(match.group(1)) == number
        assert match.group(2) is not None  # validation loss shown
        assert match.group(3) is not None  # duration shown


@pytest.mark.parametrize("columns, mode", [(0, "text"), (80, "bar")])
def test_terminal_without_columns_gets_text(monkeypatch, columns, mode):
    """Some CI pseudo-terminals report 0 columns: tqdm would draw nothing."""
    import os

    from skae import _progress

    class FakeTerminal(TTYStringIO):
        def fileno(self):
            return 99

    def get_terminal_size(fd):
        assert fd == 99
        return os.terminal_size((columns, 24))

    monkeypatch.setattr(_progress.os, "get_terminal_size", get_terminal_size)
    out = FakeTerminal()
    assert choose_mode(out) == mode
    drive(EpochReporter(2, 1, stream=out), records(2))
    lines = out.getvalue()
    assert ("Iteration 2," in lines) == (mode == "text")
