"""``python -m skae`` or ``skae-demo``: PCA against an autoencoder on the digits.

For a few code sizes, fit PCA and :class:`~skae.AutoencoderTransformer` on
75% of the digits, then report on the held-out 25%:

* the reconstruction error (mean squared error per pixel, pixels 0..16);
* the accuracy of a logistic regression trained on the codes;
* the fit time.

A PNG of original against reconstructed digits is written to the current
folder when matplotlib is installed (``pip install "skae[plot]"``).
"""

import argparse
import importlib.util
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import AutoencoderTransformer, __version__


def compare(n_components=(2, 5, 10), *, max_iter=None, random_state=0):
    """Fit PCA and an autoencoder per code size and measure them on held-out digits.

    Parameters
    ----------
    n_components : sequence of int, default=(2, 5, 10)
        Code sizes to compare.
    max_iter : int or None, default=None
        ``max_iter`` of the autoencoder; None keeps the estimator's default.
    random_state : int, default=0
        Seed of the split and of the autoencoder.

    Returns
    -------
    rows : list of dict
        One row per (model, code size) with keys "model", "n_components",
        "mse", "accuracy", "fit_seconds" and "reconstructions" (the held-out
        reconstructions).
    X_test : ndarray of shape (n_test, 64)
        The held-out digits.
    """
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state, stratify=y
    )
    rows = []
    for k in n_components:
        budget = {} if max_iter is None else {"max_iter": max_iter}
        models = {
            "PCA": PCA(n_components=k, random_state=random_state),
            "autoencoder": AutoencoderTransformer(
                n_components=k, random_state=random_state, **budget
            ),
        }
        for name, model in models.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                # A capped budget (--max-iter) may stop before convergence.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train)
            seconds = time.perf_counter() - start
            codes_train, codes_test = model.transform(X_train), model.transform(X_test)
            recon = model.inverse_transform(codes_test)
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            accuracy = clf.fit(codes_train, y_train).score(codes_test, y_test)
            rows.append(
                {
                    "model": name,
                    "n_components": k,
                    "mse": float(np.mean((recon - X_test) ** 2)),
                    "accuracy": float(accuracy),
                    "fit_seconds": seconds,
                    "reconstructions": recon,
                }
            )
    return rows, X_test


def format_table(rows):
    """Render the rows of :func:`compare` as a plain-text table."""
    pca_mse = {r["n_components"]: r["mse"] for r in rows if r["model"] == "PCA"}
    header = (
        f"{'k':>3}  {'model':<12} {'held-out MSE':>12} {'vs PCA':>7} "
        f"{'LogReg acc':>10} {'fit s':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        ratio = r["mse"] / pca_mse[r["n_components"]]
        lines.append(
            f"{r['n_components']:>3}  {r['model']:<12} {r['mse']:>12.3f} "
            f"{ratio:>6.2f}x {r['accuracy']:>10.3f} {r['fit_seconds']:>7.2f}"
        )
    return "\n".join(lines)


def save_figure(rows, X_test, path, n_digits=10):
    """Save originals and the reconstructions at the largest code size as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = max(r["n_components"] for r in rows)
    panels = [("original", X_test)] + [
        (f"{r['model']} (k={k})", r["reconstructions"])
        for r in rows
        if r["n_components"] == k
    ]
    fig, axes = plt.subplots(
        len(panels), n_digits, figsize=(n_digits, 1.1 * len(panels) + 0.3)
    )
    for row_axes, (title, images) in zip(axes, panels):
        for i, ax in enumerate(row_axes):
            ax.imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
            ax.set_axis_off()
        row_axes[0].set_title(title, loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def program_name(argv0=None):
    """The name the command was started by, for the usage line.

    Parameters
    ----------
    argv0 : str or None, default=None
        The path the program was started by; None reads ``sys.argv[0]``.

    Returns
    -------
    prog : str
        ``"skae-demo"`` when run through the installed script, ``"python -m
        skae"`` when run as a module (or when the name cannot be told).
    """
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    name = name.removesuffix(".exe").removesuffix("-script.py")
    if not name or name in ("__main__.py", "-c", "-m") or name.startswith("python"):
        return "python -m skae"
    return name


def build_parser(prog=None):
    """The command line's argument parser.

    Parameters
    ----------
    prog : str or None, default=None
        The program name for the usage line; None tells it from
        ``sys.argv[0]`` (see :func:`program_name`).

    Returns
    -------
    parser : argparse.ArgumentParser
        The options of :func:`main`, with ``--help`` and ``--version``.
    """
    parser = argparse.ArgumentParser(
        prog=program_name() if prog is None else prog,
        description=(
            "Compare PCA and skae's AutoencoderTransformer on scikit-learn's "
            "digits: held-out reconstruction error, accuracy of a logistic "
            "regression on the codes, and fit time, for a few code sizes."
        ),
    )
    parser.add_argument("--version", action="version", version=f"skae {__version__}")
    parser.add_argument(
        "-k", "--n-components", type=int, nargs="+", default=[2, 5, 10],
        metavar="K", help="code sizes to compare (default: 2 5 10)",
    )
    parser.add_argument(
        "--max-iter", type=int, default=None,
        help="cap on the autoencoder's training (its max_iter; default: the "
        "estimator's own default)",
    )
    parser.add_argument(
        "--output", default="skae_digits.png",
        help="where to save the reconstruction figure if matplotlib is "
        "installed (default: skae_digits.png)",
    )
    return parser


def main(argv=None, *, prog=None):
    """Command-line entry point of ``python -m skae`` and ``skae-demo``.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments; None reads ``sys.argv[1:]``.
    prog : str or None, default=None
        The program name shown in ``--help``; None tells it from
        ``sys.argv[0]``.
    """
    args = build_parser(prog).parse_args(argv)
    rows, X_test = compare(args.n_components, max_iter=args.max_iter)
    print("Digits, 25% held out: reconstruction error, code quality and fit time")
    print(format_table(rows))
    if importlib.util.find_spec("matplotlib") is None:
        print(
            "matplotlib is not installed, so no figure was saved "
            '(pip install matplotlib, or install "skae[plot]").'
        )
        return
    save_figure(rows, X_test, args.output)
    print(f"Saved original vs reconstructed digits to {args.output}")


if __name__ == "__main__":
    main(prog="python -m skae")
