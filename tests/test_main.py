"""The command line: ``python -m skae`` and ``skae-demo``."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import skae
from skae import __main__ as cli

ROOT = Path(__file__).resolve().parents[1]


def run(args, code=None):
    """Run the command line in a fresh interpreter, importing this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "skae", *args] if code is None else [
        sys.executable, "-c", code, *args
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


def test_python_m_skae_help_names_itself():
    result = run(["--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m skae ")
    assert "--version" in result.stdout


def test_skae_demo_script_help_names_itself():
    # What the installed console script does: sys.argv[0] is its path.
    code = (
        "import sys; sys.argv[0] = '/some/env/bin/skae-demo'; "
        "from skae.__main__ import main; sys.exit(main())"
    )
    result = run(["--help"], code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: skae-demo ")


@pytest.mark.parametrize(
    "argv0, expected",
    [
        ("/usr/local/bin/skae-demo", "skae-demo"),
        (r"C:\env\Scripts\skae-demo.exe", "skae-demo"),
        ("/src/skae/skae/__main__.py", "python -m skae"),
        ("-c", "python -m skae"),
        ("", "python -m skae"),
    ],
)
def test_program_name(argv0, expected):
    if "\\" in argv0 and os.sep != "\\":
        argv0 = argv0.replace("\\", "/")
    assert cli.program_name(argv0) == expected


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"], prog="skae-demo")
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"skae {skae.__version__}"


def test_bad_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["-k", "two"], prog="skae-demo")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: skae-demo ")
    assert "invalid int value" in err


def _check_table(out, k):
    lines = out.splitlines()
    rows = [line.split() for line in lines if line.strip().startswith(str(k))]
    assert [row[1] for row in rows] == ["PCA", "autoencoder"]
    assert rows[0][3] == "1.00x"  # PCA against itself


def test_small_run_prints_table_and_saves_figure(tmp_path, capsys):
    out_png = tmp_path / "digits.png"
    cli.main(["-k", "2", "--max-iter", "2", "--output", str(out_png)], prog="x")
    out = capsys.readouterr().out
    _check_table(out, 2)
    assert out_png.stat().st_size > 0
    assert f"Saved original vs reconstructed digits to {out_png}" in out


def test_without_matplotlib_says_so(tmp_path, capsys, monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "matplotlib":
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    out_png = tmp_path / "digits.png"
    cli.main(["-k", "2", "--max-iter", "2", "--output", str(out_png)], prog="x")
    out = capsys.readouterr().out
    _check_table(out, 2)
    assert not out_png.exists()
    assert "matplotlib is not installed, so no figure was saved" in out
