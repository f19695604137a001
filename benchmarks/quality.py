"""Never worse than PCA: held-out reconstruction error of skae's defaults.

Table 1: per data set, scaling and k, the held-out MSE of
``AutoencoderTransformer(n_components=k, random_state=seed)`` (and the same
with ``activation="identity"``) relative to ``PCA(k)``. Table 2: logistic
regression accuracy on the codes of the digits.
"""

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

import _harness as H
from skae import AutoencoderTransformer

args = H.options(__doc__.splitlines()[0])
SEEDS = [0] if args.quick else [0, 1, 2]
KS = {"digits": [2, 5, 10], "breast_cancer": [2, 5], "wine": [2, 5], "diabetes": [2, 5],
      "iris": [2, 3]}
SCALINGS = ["standardised", "raw"]
CODE_KS = [2, 5, 10]
if args.quick:
    KS, SCALINGS, CODE_KS = {"iris": [2], "wine": [2]}, ["standardised"], [2]
MODELS = {
    "skae defaults": {},
    "skae activation='identity'": {"activation": "identity"},
}


def fit(model, X):
    """Fit; return (seconds, ConvergenceWarnings raised)."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X)
    seconds = time.perf_counter() - start
    return seconds, sum(issubclass(w.category, ConvergenceWarning) for w in caught)


def mse(model, X):
    return float(np.mean((model.inverse_transform(model.transform(X)) - X) ** 2))


rows, n_warnings, n_default_fits = [], 0, 0
for data, ks in KS.items():
    X = H.load(data)
    for scaling in SCALINGS:
        for k in ks:
            print(f"quality: {data}, {scaling}, k={k}", flush=True)
            res = {name: [] for name in ["PCA", *MODELS]}  # (mse, seconds, is_pca_)
            for seed in SEEDS:
                Xtr, Xte = train_test_split(X, test_size=0.25, random_state=seed)
                if scaling == "standardised":
                    scaler = StandardScaler().fit(Xtr)
                    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
                pca = PCA(k)
                seconds, _ = fit(pca, Xtr)
                res["PCA"].append((mse(pca, Xte), seconds, None))
                for name, params in MODELS.items():
                    est = AutoencoderTransformer(n_components=k, random_state=seed, **params)
                    seconds, warned = fit(est, Xtr)
                    if not params:
                        n_warnings, n_default_fits = n_warnings + warned, n_default_fits + 1
                    res[name].append((mse(est, Xte), seconds, getattr(est, "is_pca_", None)))
            pca_mse = np.array([r[0] for r in res["PCA"]])
            pca_s = np.median([r[1] for r in res["PCA"]])
            for name in MODELS:
                ratios = np.array([r[0] for r in res[name]]) / pca_mse
                seconds = np.median([r[1] for r in res[name]])
                flags = [r[2] for r in res[name]]
                fallback = "n/a" if None in flags else f"{sum(flags)}/{len(flags)}"
                rows.append([data, scaling, k, np.median(pca_mse), name, np.median(ratios),
                             ratios.max(), seconds, seconds / pca_s, fallback])

quality = H.table(["data", "scaling", "k", "PCA MSE", "model", "x PCA (median)",
                   "x PCA (worst seed)", "fit s", "x PCA fit time", "kept PCA (is_pca_)"], rows)
warned = H.table(["default fits", "ConvergenceWarnings"], [[n_default_fits, n_warnings]])

# Logistic regression on the codes of the digits (raw pixels in, codes standardised).
X, y = load_digits(return_X_y=True)
rows = []
for k in CODE_KS:
    acc = {"PCA": [], "skae defaults": []}
    for seed in SEEDS:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed)
        for name, reducer in [("PCA", PCA(k)),
                              ("skae defaults", AutoencoderTransformer(k, random_state=seed))]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf = make_pipeline(reducer, StandardScaler(), LogisticRegression(max_iter=1000))
                acc[name].append(clf.fit(Xtr, ytr).score(Xte, yte))
    rows += [["digits", k, name, np.median(a), min(a)] for name, a in acc.items()]
codes = H.table(["data", "k", "codes from", "accuracy (median)", "accuracy (worst seed)"], rows)
H.save("quality", args, quality, warned, codes)
