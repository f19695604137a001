"""The README's Python examples run as written."""

import re
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run_in_order():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
    # The objects the README talks about exist and behave as it says.
    assert namespace["search"].best_params_["n_components"] in (2, 8, 32)
    X, X_noisy, X_clean = namespace["X"], namespace["X_noisy"], namespace["X_clean"]
    assert np.mean((X_clean - X) ** 2) < np.mean((X_noisy - X) ** 2)
    assert namespace["new_digits"].shape == (16, X.shape[1])
    assert set(np.unique(namespace["labels"])) <= {-1, 1}


def test_quick_start_has_exactly_two_commands():
    text = README.read_text()
    section = text[text.index("## Quick start") :]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "python -m skae" in commands[0]
    assert "pytest" in commands[1]
