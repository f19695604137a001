"""Fashion-MNIST with 30-dimensional codes: squared error per test image.

60,000 training and 10,000 test images, pixels scaled to [0, 1]; the error
of an image is summed over its 784 pixels and averaged over the test set.
Target for skae's defaults: at most 6.5 within 180 s of fitting.
"""

import sys
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

import _harness as H
from skae import AutoencoderTransformer

args = H.options(__doc__.splitlines()[0])
K, TARGET, BUDGET_S = 30, 6.5, 180.0
data = H.fashion_mnist()
if data is None:
    print(f"Fashion-MNIST not found in {H.FASHION_DIR}: skipped", flush=True)
    sys.exit(0)
Xtr, Xte = data
skae_params = {"n_components": K, "random_state": 0}
if args.quick:  # smoke test only: a subset and a capped budget
    Xtr, Xte, skae_params["max_iter"] = Xtr[:5000], Xte[:2000], 2

rows = []
for name, model in [("PCA", PCA(K, random_state=0)),
                    ("skae AutoencoderTransformer", AutoencoderTransformer(**skae_params))]:
    print(f"fashion: {name}", flush=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xtr)
    seconds = time.perf_counter() - start
    recon = model.inverse_transform(model.transform(Xte)).astype(np.float64)
    error = float(np.mean(np.sum((recon - Xte) ** 2, axis=1)))
    if name == "PCA":
        pca_error, pca_seconds, target = error, seconds, "-"
    else:
        target = error <= TARGET and seconds <= BUDGET_S
    params = ", ".join(f"{k}={v}" for k, v in skae_params.items()) if name != "PCA" else K
    rows.append([f"{name}({params})", len(Xtr), error, error / pca_error, seconds,
                 seconds / pca_seconds, getattr(model, "n_iter_", "-"),
                 str(getattr(model, "is_pca_", "-")), target])

H.save("fashion", args, H.table(
    ["model", "training rows", "error per image", "x PCA", "fit s (wall)", "x PCA fit time",
     "n_iter_", "is_pca_", f"<= {TARGET} within {BUDGET_S:.0f} s"], rows))
