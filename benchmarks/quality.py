"""Reconstruction quality of skae's defaults against PCA, KernelPCA and MLPRegressor.

Every dataset is split 75/25 with a fixed random_state; the score is the
mean squared reconstruction error of the held-out rows, in the data's own
units. skae runs with its defaults (only ``n_components`` and
``random_state`` set).
"""

import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, make_s_curve
from sklearn.decomposition import PCA, KernelPCA
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import _common as C
from skae import AutoencoderTransformer
from skae import _training

SEED = 0


def _mse(a, b):
    return float(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2))


def s_curve_20d(n_samples=4000, noise=0.05, seed=SEED):
    """An S-shaped 2-D sheet, embedded in 20 dimensions by a random rotation, plus noise."""
    rng = np.random.default_rng(seed)
    X3, _ = make_s_curve(n_samples, random_state=seed)
    X = np.zeros((n_samples, 20))
    X[:, :3] = X3
    q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    return X @ q + noise * rng.normal(size=X.shape)


def datasets(quick):
    """(name, X_train, X_test, list of n_components, is_target)."""
    out = []
    X = C.digits()
    tr, te = train_test_split(X, test_size=0.25, random_state=SEED)
    out.append(("digits (unscaled 0..16)", tr, te, [10] if quick else [2, 5, 10], True))
    X = s_curve_20d()
    tr, te = train_test_split(X, test_size=0.25, random_state=SEED)
    out.append(("S-curve in 20-D, noise 0.05", tr, te, [2], False))
    X = load_breast_cancer().data
    tr, te = train_test_split(X, test_size=0.25, random_state=SEED)
    scaler = StandardScaler().fit(tr)
    out.append(
        ("breast cancer (standardised)", scaler.transform(tr), scaler.transform(te), [5], False)
    )
    return out


def _gamma_scale(X):
    """The 'scale' heuristic of SVC: 1 / (n_features * var(X))."""
    return 1.0 / (X.shape[1] * X.var())


def methods(k, Xtr, quick):
    """Name -> (fit(X) -> model, reconstruct(model, X) -> X_hat)."""
    m = {
        "PCA": (
            lambda X: PCA(k, random_state=SEED).fit(X),
            lambda e, X: e.inverse_transform(e.transform(X)),
        ),
        "KernelPCA rbf (defaults)": (
            lambda X: KernelPCA(k, kernel="rbf", fit_inverse_transform=True).fit(X),
            lambda e, X: e.inverse_transform(e.transform(X)),
        ),
    }
    if not quick:
        m["KernelPCA rbf, gamma=1/(d var X)"] = (
            lambda X: KernelPCA(
                k, kernel="rbf", gamma=_gamma_scale(Xtr), fit_inverse_transform=True
            ).fit(X),
            lambda e, X: e.inverse_transform(e.transform(X)),
        )
    m["MLPRegressor (128, k, 128), X -> X"] = (
        lambda X: MLPRegressor(hidden_layer_sizes=(128, k, 128), random_state=SEED).fit(X, X),
        lambda e, X: e.predict(X),
    )
    m["skae AutoencoderTransformer (defaults)"] = (
        lambda X: AutoencoderTransformer(n_components=k, random_state=SEED).fit(X),
        lambda e, X: e.inverse_transform(e.transform(X)),
    )
    return m


def report(quick=False):
    out = ["## Reconstruction quality (held-out 25%)\n"]
    out.append(
        "Held-out mean squared reconstruction error in the data's units; 'x PCA' is "
        "the ratio to PCA at the same n_components (lower is better). Fit times are "
        "wall-clock seconds of one fit, CPU seconds in brackets. skae: defaults, only "
        "n_components and random_state=0 set; its epochs and torch threads are shown. "
        f"Threads for every method (torch, and BLAS/OpenMP through threadpoolctl): "
        f"{C.WORK_THREADS}. "
        + ("In --quick mode only k=10 is run on digits." if quick else "")
        + "\n"
    )
    rows = []
    for name, Xtr, Xte, ks, is_target in datasets(quick):
        for k in ks:
            pca_err = None
            for label, (fit, recon) in methods(k, Xtr, quick).items():
                print(f"quality: {name} k={k} {label}", flush=True)
                wall0, cpu0 = time.perf_counter(), time.process_time()
                with C.torch_threads(C.WORK_THREADS), threadpool_limits(
                    C.WORK_THREADS
                ), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = fit(Xtr)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                err = _mse(recon(est, Xte), Xte)
                if label == "PCA":
                    pca_err = err
                extra = ""
                if label.startswith("skae"):
                    threads = _training.training_threads(
                        est.module_, est._resolve_batch_size(Xtr.shape[0])
                    )
                    threads = C.WORK_THREADS if threads is None else threads
                    extra = f"{est.n_iter_} epochs, {threads} thr"
                    if is_target:
                        limit = 0.8 if k == 2 else 0.75
                        ratio = err / pca_err
                        C.record_target(
                            f"digits k={k}: skae defaults <= {limit}x PCA held-out MSE, fit < 60 s",
                            f"{ratio:.3f}x PCA ({err:.3f} vs {pca_err:.3f}), fit {wall:.1f} s",
                            ratio <= limit and wall < 60,
                        )
                elif label.startswith("MLP"):
                    extra = f"{est.n_iter_} epochs"
                rows.append([name, k, label, err, err / pca_err, f"{wall:.2f} ({cpu:.1f})", extra])
    out.append(
        C.table(
            ["data", "k", "method", "held-out MSE", "x PCA", "fit s (cpu s)", "notes"], rows
        )
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out.append(f"\nLoad average after this section: {load}.")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    print(report(quick="--quick" in sys.argv))
