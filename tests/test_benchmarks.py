"""The benchmark scripts run end to end in their ``--quick`` form.

Each script runs in a subprocess, as a user would start it, against this
checkout's skae, and must exit 0 and write its markdown table(s).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"


def run_script(name, out, **env):
    environ = dict(os.environ, **env)
    environ["PYTHONPATH"] = os.pathsep.join([str(REPO), environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=environ, cwd=REPO,
    )


def assert_tables(path, n_tables):
    """``path`` holds ``n_tables`` markdown tables, each with at least one row."""
    text = path.read_text()
    tables = [block for block in text.split("\n\n") if "|---|" in block]
    assert len(tables) == n_tables, text
    for block in tables:
        lines = block.strip().splitlines()
        assert len(lines) >= 3 and all(line.startswith("|") for line in lines), block
    return text


@pytest.mark.parametrize("name, n_tables", [("quality", 3), ("denoising", 1), ("speed", 3)])
def test_quick_run_writes_tables(tmp_path, name, n_tables):
    proc = run_script(name, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = assert_tables(tmp_path / f"{name}.md", n_tables)
    assert text.strip() in proc.stdout


def test_fashion_skips_cleanly_without_the_data(tmp_path):
    proc = run_script("fashion", tmp_path / "out", FASHION_MNIST_DIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Fashion-MNIST not found" in proc.stdout
    assert not (tmp_path / "out").exists()


def test_gpu_measures_or_skips_cleanly(tmp_path):
    proc = run_script("gpu", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if torch.cuda.is_available():
        assert_tables(tmp_path / "gpu.md", 2)
    else:
        assert proc.stdout.strip() == "CUDA not available: skipped"
        assert not (tmp_path / "gpu.md").exists()
