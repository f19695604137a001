"""The README's Python examples run as written, in order, in one namespace.

The blocks run in this process (no subprocess per block) on the first
``N_ROWS`` digits: ``sklearn.datasets.load_digits`` is replaced for the
duration of the test only, so the README's own code is what runs, on less
data. Warnings are errors: an example that warns must say so in its text.
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets

README = Path(__file__).resolve().parents[1] / "README.md"

# Digits the examples see: enough for every example's claim to hold.
N_ROWS = 360


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture
def few_digits(monkeypatch):
    real = sklearn.datasets.load_digits

    def load_digits(*args, **kwargs):
        bunch = real(*args, **kwargs)
        if isinstance(bunch, tuple):
            return tuple(part[:N_ROWS] for part in bunch)
        for key in ("data", "target", "images"):
            bunch[key] = bunch[key][:N_ROWS]
        return bunch

    monkeypatch.setattr(sklearn.datasets, "load_digits", load_digits)


def test_readme_examples_run_in_order(few_digits, capsys):
    blocks = _blocks()
    assert len(blocks) >= 4
    namespace = {"__name__": "readme"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
    # The objects the README talks about exist and behave as it says.
    X, X_noisy, X_clean = namespace["X"], namespace["X_noisy"], namespace["X_clean"]
    assert X.shape == (N_ROWS, 64)
    assert namespace["search"].best_params_["autoencodertransformer__n_components"] in (
        8, 16, 32,
    )
    assert np.mean((X_clean - X) ** 2) < np.mean((X_noisy - X) ** 2)
    assert namespace["new_digits"].shape == (16, X.shape[1])
    assert set(np.unique(namespace["labels"])) <= {-1, 1}
    assert capsys.readouterr().out  # the examples print their results


def test_quick_start_has_exactly_two_commands():
    text = README.read_text()
    section = text[text.index("## Quick start") :]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "python -m skae" in commands[0]
    assert "pytest" in commands[1]
