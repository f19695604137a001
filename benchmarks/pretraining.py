"""Few labels: does autoencoder pretraining help a classifier?

For each data set, seed and fraction of labelled training rows, four
classifiers are scored on a held-out test split (25% of the rows,
stratified):

(a) ``AutoencoderClassifier``: an autoencoder pretrained on every training
    row, its encoder then fine-tuned with a linear head on the labelled rows;
(b) the same estimator with ``pretrain=False``: the same encoder
    architecture with random weights, trained on the labelled rows only by
    the same loop;
(c) logistic regression on PCA codes of the same width (PCA fitted on every
    training row);
(d) logistic regression on the codes of (a)'s pretrained autoencoder
    (before fine-tuning);
(e) (a) with ``early_stopping=False``: every labelled row trains, for the
    whole schedule, and the last weights are kept.

Also reported: the epochs (a) needs to reach the best validation accuracy
(b) ever reaches. Both use the same validation rows (the same seed picks
them); "never" means (a) did not reach it. With few labels the validation
split is tiny, so this number is coarse.

Runs with one torch thread. ``--quick`` runs one seed on digits at 10% of
the labels with a 30-epoch autoencoder (under a minute; its table is
printed, not written); the default runs digits with 5 seeds at 1%,
5% and 10% of the labels; ``--fashion`` adds Fashion-MNIST from
``/usr/share/datasets/fashion-mnist/`` (skipped with a message when the
files are missing). The markdown table goes to
``benchmarks/results/pretraining.md``.

Usage::

    PYTHONPATH=. python benchmarks/pretraining.py [--quick] [--fashion] [--seeds N]
"""

import argparse
import gzip
import platform
import struct
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae._supervised import AutoencoderClassifier

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
RESULTS = Path(__file__).parent / "results" / "pretraining.md"

# Per data set: code width, the autoencoder's hidden layers, rows used.
SETTINGS = {
    "digits": dict(n_components=16, hidden_layer_sizes=(128,), rows=None),
    "fashion-mnist": dict(n_components=32, hidden_layer_sizes=(256,), rows=10_000),
}


def load(name):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X.astype(np.float32), y
    images = FASHION_DIR / "train-images-idx3-ubyte.gz"
    labels = FASHION_DIR / "train-labels-idx1-ubyte.gz"
    with gzip.open(images) as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        X = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols)
    with gzip.open(labels) as f:
        f.read(8)
        y = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
    return (X / np.float32(255.0)).astype(np.float32), y


def run_one(X, y, fraction, seed, setting, ae_max_iter="auto"):
    """Test accuracies of (a)-(d) and (a)'s epochs to (b)'s best validation accuracy."""
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=seed
    )
    rng = np.random.default_rng(seed)
    n_labelled = max(int(round(fraction * len(y_train))), 10)
    labelled = rng.choice(len(y_train), n_labelled, replace=False)
    y_few = np.full_like(y_train, -1)
    y_few[labelled] = y_train[labelled]

    def autoencoder():
        return AutoencoderTransformer(
            n_components=setting["n_components"],
            hidden_layer_sizes=setting["hidden_layer_sizes"],
            max_iter=ae_max_iter,
            random_state=seed,
        )

    out = {}
    start = time.perf_counter()
    a = AutoencoderClassifier(autoencoder(), random_state=seed).fit(X_train, y_few)
    out["time_a"] = time.perf_counter() - start
    b = AutoencoderClassifier(autoencoder(), pretrain=False, random_state=seed).fit(
        X_train, y_few
    )
    e = AutoencoderClassifier(autoencoder(), early_stopping=False, random_state=seed).fit(
        X_train, y_few
    )
    out["a"] = a.score(X_test, y_test)
    out["b"] = b.score(X_test, y_test)
    out["e"] = e.score(X_test, y_test)

    pca = PCA(setting["n_components"], random_state=seed).fit(X_train)
    lr = LogisticRegression(max_iter=5000)
    out["c"] = lr.fit(pca.transform(X_train[labelled]), y_train[labelled]).score(
        pca.transform(X_test), y_test
    )
    ae = a.autoencoder_
    out["d"] = lr.fit(ae.transform(X_train[labelled]), y_train[labelled]).score(
        ae.transform(X_test), y_test
    )

    out["n_labelled"] = n_labelled
    out["epochs"] = None
    if a.validation_scores_ is not None and b.validation_scores_ is not None:
        target = max(b.validation_scores_)
        reached = [i + 1 for i, v in enumerate(a.validation_scores_) if v >= target]
        out["epochs"] = reached[0] if reached else "never"
    return out


def median_epochs(values):
    numbers = [v for v in values if isinstance(v, int)]
    never = sum(v == "never" for v in values)
    text = f"{np.median(numbers):.0f}" if numbers else "-"
    return text + (f" ({never} never)" if never else "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fashion", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the machine is shared
    warnings.simplefilter("ignore", ConvergenceWarning)

    if args.quick:
        plan = [("digits", [0.10], 1)]
    else:
        plan = [("digits", [0.01, 0.05, 0.10], args.seeds)]
        if args.fashion:
            if FASHION_DIR.joinpath("train-images-idx3-ubyte.gz").exists():
                plan.append(("fashion-mnist", [0.01, 0.05, 0.10], args.seeds))
            else:
                print(f"Fashion-MNIST skipped: no idx files in {FASHION_DIR}.")

    lines = [
        "# Pretraining with few labels",
        "",
        f"Command: `{' '.join(['python benchmarks/pretraining.py', *(argv or sys.argv[1:])])}`",
        f"Machine: {platform.machine()}, torch {torch.__version__}, 1 torch thread.",
        "",
        "Test accuracy (held-out 25%, stratified), median over seeds. (a) pretrained "
        "and fine-tuned `AutoencoderClassifier`; (b) the same with `pretrain=False`; "
        "(c) logistic regression on PCA codes; (d) logistic regression on the "
        "pretrained autoencoder's codes; (e) (a) with `early_stopping=False`. "
        "Codes of the same width everywhere. "
        "'epochs' is the median number of fine-tuning epochs (a) needed to reach "
        "the best validation accuracy of (b) on the same validation rows.",
        "",
        "| data | labels | labelled rows | seeds | (a) pretrained + fine-tuned "
        "| (b) from scratch | (c) PCA + logistic | (d) AE codes + logistic "
        "| (e) (a) without early stopping | (a) epochs to (b)'s best | (a) fit seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name, fractions, n_seeds in plan:
        setting = SETTINGS[name]
        X, y = load(name)
        if setting["rows"] is not None and len(X) > setting["rows"]:
            keep, _ = train_test_split(
                np.arange(len(X)), train_size=setting["rows"], stratify=y, random_state=0
            )
            X, y = X[keep], y[keep]
        setting_text = (
            f"n_components={setting['n_components']}, "
            f"hidden_layer_sizes={setting['hidden_layer_sizes']}, {len(X)} rows"
        )
        for fraction in fractions:
            results = []
            for seed in range(n_seeds):
                result = run_one(
                    X, y, fraction, seed, setting, ae_max_iter=30 if args.quick else "auto"
                )
                results.append(result)
                print(name, fraction, seed, {k: v for k, v in result.items()}, flush=True)
            med = {k: float(np.median([r[k] for r in results]))
                   for k in ("a", "b", "c", "d", "e", "time_a")}
            lines.append(
                f"| {name} | {fraction:.0%} | {results[0]['n_labelled']} | {n_seeds} "
                f"| {med['a']:.3f} | {med['b']:.3f} | {med['c']:.3f} | {med['d']:.3f} "
                f"| {med['e']:.3f} "
                f"| {median_epochs([r['epochs'] for r in results])} "
                f"| {med['time_a']:.1f} |"
            )
        notes.append(f"Setting for {name}: {setting_text}; every other parameter "
                     "at its default.")
    lines += ["", *notes]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        print(f"Written to {RESULTS}")


if __name__ == "__main__":
    main()
