"""Anomaly detection: AutoencoderOutlierDetector's defaults against PCA and IsolationForest.

Two tasks built from scikit-learn's bundled data sets:

* breast cancer: normal rows are the benign tumours, outliers the malignant;
* digits: normal rows are the digits 0-4, outliers the digits 5-9.

For each seed, the normal rows are split with
``train_test_split(normal, test_size=0.3, random_state=seed)``; every
detector is fitted to the 70% and scored on the held-out 30% of normal rows
plus all the outliers. Reported per task and detector, as the median over
the seeds (with the range):

* ROC AUC of the anomaly score (``-score_samples``) for "is an outlier";
* false alarm rate: the fraction of held-out *normal* rows that ``predict``
  flags (for the detectors in skae, ``contamination="auto"`` aims at 0.05);
* detection rate: the fraction of outliers that ``predict`` flags;
* fit time, in seconds (indicative: the machine may be shared).

Detectors:

* ``skae default``: ``AutoencoderOutlierDetector(random_state=seed)``, nothing else set;
* ``PCA, same scaling``: ``AutoencoderOutlierDetector(PCA(k), random_state=seed)``, where
  ``k`` is the code size the default detector resolved on the same seed: the
  same scaling, the same calibration rows and the same score,
  so the only difference is the model of normal data;
* ``skae, standardize=True`` and ``PCA, standardize=True``: the same two
  detectors measuring errors per feature in units of the feature's spread
  instead of the input's units (PCA again with the default detector's
  ``k``), to show what the default scaling costs or gains on each task;
* ``PCA, StandardScaler``: the reconstruction error of
  ``make_pipeline(StandardScaler(), PCA(k))`` fitted to all the training rows
  (ROC AUC only: it has no threshold);
* ``IsolationForest``: ``IsolationForest(random_state=seed)`` with its defaults.

A last section measures the detector's peak memory (``tracemalloc``, which
sees numpy's allocations) for ``predict`` on 500,000 x 64 float32 rows and
``fit`` on a 50,000 x 5,000 sparse matrix of density 0.1%, with cheap
wrapped models (PCA, TruncatedSVD) so that the detector's own memory is what
is measured, at scikit-learn's default ``working_memory`` and at 64 MiB.

Only skae's public API is used. Run from the repository root::

    python benchmarks/outlier.py            # 5 seeds
    python benchmarks/outlier.py --quick    # seed 0 only, no memory section

It prints a markdown report and writes it to ``benchmarks/results/outlier.md``
(``--quick`` writes ``outlier_quick.md`` instead, so that a smoke test does
not replace the full results).
"""

import argparse
import datetime
import platform
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
from skae import AutoencoderOutlierDetector

RESULTS = Path(__file__).resolve().parent / "results"


def tasks():
    """(name, normal rows, outlier rows) of each task."""
    X, y = load_breast_cancer(return_X_y=True)  # y == 1: benign
    yield "breast cancer (benign vs malignant)", X[y == 1], X[y == 0]
    X, y = load_digits(return_X_y=True)
    yield "digits (0-4 vs 5-9)", X[y <= 4], X[y >= 5]


def code_size(estimator):
    """The code width a fitted skae estimator (or PCA) uses."""
    resolved = getattr(estimator, "n_components_", None)
    return int(resolved if resolved is not None else estimator.n_components)


def run_seed(normal, outliers, seed):
    """One split: a dict of results per detector."""
    train, normal_test = train_test_split(normal, test_size=0.3, random_state=seed)
    X_test = np.vstack([normal_test, outliers])
    is_outlier = np.r_[np.zeros(len(normal_test)), np.ones(len(outliers))]
    results = {}

    def record(name, model, fit_seconds, anomaly, labels=None):
        entry = {"auc": roc_auc_score(is_outlier, anomaly), "fit_s": fit_seconds}
        if labels is not None:
            flagged = labels == -1
            entry["false_alarm"] = flagged[is_outlier == 0].mean()
            entry["detection"] = flagged[is_outlier == 1].mean()
        results[name] = entry
        return model

    def fitted(make):
        start = time.perf_counter()
        model = make()
        return model, time.perf_counter() - start

    default, seconds = fitted(lambda: AutoencoderOutlierDetector(random_state=seed).fit(train))
    record("skae default", default, seconds, -default.score_samples(X_test), default.predict(X_test))
    k = code_size(default.estimator_)
    results["skae default"]["k"] = k

    pca, seconds = fitted(
        lambda: AutoencoderOutlierDetector(PCA(k), random_state=seed).fit(train)
    )
    record("PCA, same scaling", pca, seconds, -pca.score_samples(X_test), pca.predict(X_test))

    raw, seconds = fitted(
        lambda: AutoencoderOutlierDetector(standardize=True, random_state=seed).fit(train)
    )
    record("skae, standardize=True", raw, seconds, -raw.score_samples(X_test), raw.predict(X_test))
    results["skae, standardize=True"]["k"] = code_size(raw.estimator_)

    raw_pca, seconds = fitted(
        lambda: AutoencoderOutlierDetector(PCA(k), standardize=True, random_state=seed).fit(
            train
        )
    )
    record(
        "PCA, standardize=True",
        raw_pca,
        seconds,
        -raw_pca.score_samples(X_test),
        raw_pca.predict(X_test),
    )

    scaled, seconds = fitted(lambda: make_pipeline(StandardScaler(), PCA(k)).fit(train))
    Z = scaled[0].transform(X_test)
    error = np.mean((Z - scaled[1].inverse_transform(scaled[1].transform(Z))) ** 2, axis=1)
    record("PCA, StandardScaler", scaled, seconds, error)

    forest, seconds = fitted(lambda: IsolationForest(random_state=seed).fit(train))
    record(
        "IsolationForest", forest, seconds, -forest.score_samples(X_test), forest.predict(X_test)
    )
    return results, len(train), len(normal_test), len(outliers)


def peak_mib(call):
    """Peak memory traced while ``call()`` runs, in MiB."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def memory_section():
    rng = np.random.default_rng(0)
    dense = AutoencoderOutlierDetector(PCA(4), random_state=0)
    dense.fit(rng.standard_normal((2000, 64), dtype=np.float32))
    X = np.empty((500_000, 64), dtype=np.float32)
    for start in range(0, len(X), 50_000):
        X[start : start + 50_000] = rng.standard_normal((50_000, 64), dtype=np.float32)
    X_sparse = sp.random(50_000, 5_000, density=0.001, random_state=0, format="csr")
    sparse = AutoencoderOutlierDetector(TruncatedSVD(5, random_state=0), random_state=0)
    default_wm = sklearn.get_config()["working_memory"]
    lines = [
        "## Memory",
        "",
        "Peak memory traced by `tracemalloc` during one call (numpy's allocations, "
        "the call's outputs included), next to the size one dense n x p float64 "
        "matrix would have.",
        "",
        "| call | input | one dense n x p float64 matrix | working_memory | peak |",
        "|---|---|---|---|---|",
    ]
    for working_memory in (default_wm, 64):
        with sklearn.config_context(working_memory=working_memory):
            peak = peak_mib(lambda: dense.predict(X))
            lines.append(
                f"| `predict`, PCA(4) | 500,000 x 64 float32 ({X.nbytes / 2**20:.0f} MiB) | "
                f"{X.size * 8 / 2**20:.0f} MiB | {working_memory} MiB | {peak:.0f} MiB |"
            )
            peak = peak_mib(lambda: sparse.fit(X_sparse))
            lines.append(
                f"| `fit`, TruncatedSVD(5) | 50,000 x 5,000 CSR, density 0.1% | "
                f"{50_000 * 5_000 * 8 / 2**20:.0f} MiB | {working_memory} MiB | {peak:.0f} MiB |"
            )
    lines.append("")
    return lines


def summary(values, digits=3):
    values = np.asarray(values, dtype=float)
    med = np.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({values.min():.{digits}f}-{values.max():.{digits}f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="seed 0 only and no memory section"
    )
    args = parser.parse_args(argv)
    seeds = [0] if args.quick else [0, 1, 2, 3, 4]
    started = time.perf_counter()

    lines = [
        "# Anomaly detection: AutoencoderOutlierDetector defaults vs PCA and IsolationForest",
        "",
        f"Generated by `python benchmarks/outlier.py{' --quick' if args.quick else ''}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(skae {skae.__version__}, scikit-learn {sklearn.__version__}, torch {torch.__version__}, "
        f"python {platform.python_version()}).",
        "",
        f"Seeds {seeds}; each cell is the median over the seeds, with the range in brackets. "
        "Normal rows are split 70/30 with `train_test_split(normal, test_size=0.3, "
        "random_state=seed)`; detectors are fitted to the 70% and tested on the held-out "
        "normal rows plus all outliers. False alarms: fraction of held-out normal rows "
        "flagged by `predict` (skae's `contamination=\"auto\"` aims at 0.05). Detection: "
        "fraction of outliers flagged. `k`: the code size the default detector resolved, "
        "given to both PCA baselines. See the module docstring for the exact settings.",
        "",
    ]
    verdicts = []
    for name, normal, outliers in tasks():
        per_seed = []
        for seed in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=sklearn.exceptions.ConvergenceWarning)
                results, n_train, n_normal_test, n_outliers = run_seed(normal, outliers, seed)
            per_seed.append(results)
            print(f"{name}, seed {seed}: " + ", ".join(
                f"{method} AUC {r['auc']:.3f}" for method, r in results.items()
            ), flush=True)
        ks = sorted({r["skae default"]["k"] for r in per_seed})
        lines += [
            f"## {name}",
            "",
            f"{n_train} training rows ({normal.shape[1]} features), test: {n_normal_test} "
            f"normal + {n_outliers} outliers; k = {', '.join(map(str, ks))}.",
            "",
            "| detector | ROC AUC | false alarms | detection | fit (s) |",
            "|---|---|---|---|---|",
        ]
        for method in per_seed[0]:
            column = [r[method] for r in per_seed]
            cells = [summary([c["auc"] for c in column])]
            for key in ("false_alarm", "detection"):
                cells.append(summary([c[key] for c in column], 2) if key in column[0] else "-")
            cells.append(summary([c["fit_s"] for c in column], 2))
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        default_auc = np.median([r["skae default"]["auc"] for r in per_seed])
        pca_auc = np.median([r["PCA, same scaling"]["auc"] for r in per_seed])
        verdicts.append(
            f"| {name} | {default_auc:.3f} | {pca_auc:.3f} | "
            f"{'yes' if default_auc > pca_auc else 'no'} |"
        )
        lines.append("")
    if not args.quick:
        lines += memory_section()
    lines += [
        "## Does the default beat PCA at the same scaling and code size?",
        "",
        "| task | skae default AUC | PCA AUC | beats PCA |",
        "|---|---|---|---|",
        *verdicts,
        "",
        f"Total run time {time.perf_counter() - started:.0f} s.",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / ("outlier_quick.md" if args.quick else "outlier.md")
    target.write_text(report)
    print(f"written to {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
