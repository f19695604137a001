"""``python -m skae``: PCA against an autoencoder on scikit-learn's digits.

For a few code sizes, fit PCA and :class:`~skae.AutoencoderTransformer` on
75% of the digits, then report on the held-out 25%:

* the reconstruction error (mean squared error per pixel, pixels 0..16);
* the accuracy of a logistic regression trained on the codes;
* the fit time.

A PNG of original against reconstructed digits is written to the current
folder.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import AutoencoderTransformer


def compare(n_components=(2, 5, 10), *, max_iter=200, random_state=0):
    """Fit PCA and an autoencoder per code size and measure them on held-out digits.

    Parameters
    ----------
    n_components : sequence of int, default=(2, 5, 10)
        Code sizes to compare.
    max_iter : int, default=200
        Epochs for the autoencoder.
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
        models = {
            "PCA": PCA(n_components=k, random_state=random_state),
            "autoencoder": AutoencoderTransformer(
                n_components=k, max_iter=max_iter, random_state=random_state
            ),
        }
        for name, model in models.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                # A fixed epoch budget is the point of the comparison.
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


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m skae",
        description="Compare PCA and an autoencoder on scikit-learn's digits.",
    )
    parser.add_argument(
        "-k", "--n-components", type=int, nargs="+", default=[2, 5, 10],
        help="code sizes to compare (default: 2 5 10)",
    )
    parser.add_argument(
        "--max-iter", type=int, default=200, help="autoencoder epochs (default: 200)"
    )
    parser.add_argument(
        "--output", default="skae_digits.png",
        help="where to save the reconstruction figure (default: skae_digits.png)",
    )
    args = parser.parse_args(argv)
    rows, X_test = compare(args.n_components, max_iter=args.max_iter)
    print("Digits, 25% held out: reconstruction error, code quality and fit time")
    print(format_table(rows))
    try:
        save_figure(rows, X_test, args.output)
    except ImportError:
        print("matplotlib is not installed: no figure saved (pip install matplotlib).")
    else:
        print(f"Saved original vs reconstructed digits to {args.output}")


if __name__ == "__main__":
    main()
