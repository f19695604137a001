"""CPU speed: skae's fit and transform against bare PyTorch loops; torch threads.

Fit: digits (1,797 x 64 float32), network 64-256-128-10, Adam at lr 1e-3, one
torch thread, interleaved; skae runs the same epochs with ``batch_size=B,
max_iter=E, early_stopping=False, tol=0``. Transform: many digits-like rows.
Threads: the bare fused-Adam loop at 1 and 2 torch threads, three sizes.
"""

import math
import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

import _harness as H
from skae import AutoencoderTransformer

args = H.options(__doc__.splitlines()[0])
REPEATS = 2 if args.quick else 7
HIDDEN, K = (256, 128), 10
X = H.load("digits").astype(np.float32)
WIDTHS = (X.shape[1], *HIDDEN, K)


def skae(batch, epochs, data=X):
    est = AutoencoderTransformer(K, hidden_layer_sizes=HIDDEN, batch_size=batch, max_iter=epochs,
                                 early_stopping=False, tol=0.0, n_iter_no_change=epochs + 1,
                                 random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(data)


# ---- fit time against the bare loop, same steps and rows
rows = []
for batch, epochs in [(32, 1), (128, 2), (1024, 5)] if args.quick else [
        (32, 10), (128, 40), (1024, 100)]:
    print(f"speed: fit, batch {batch}, {epochs} epochs", flush=True)
    steps = epochs * math.ceil(len(X) / batch)
    fitted = skae(batch, epochs)
    same = fitted.n_iter_ == epochs and getattr(fitted, "t_", len(X) * epochs) == len(X) * epochs
    with H.torch_threads(1):
        times = H.interleaved({
            "bare loop, Adam": lambda: H.bare_fit(X, WIDTHS, epochs=epochs, batch_size=batch),
            "bare loop, fused Adam": lambda: H.bare_fit(
                X, WIDTHS, epochs=epochs, batch_size=batch, fused=True),
            "skae fit": lambda: skae(batch, epochs),
        }, REPEATS)
    for name, values in times.items():
        rows.append([batch, epochs, steps, name, np.median(values),
                     np.median(values) / steps * 1e3, H.ratio(times, name, "bare loop, Adam"),
                     same if name == "skae fit" else "-"])
fit_table = H.table(["batch", "epochs", "steps", "candidate", "fit s", "ms/step", "x bare Adam",
                     "skae did the same steps"], rows)

# ---- transform throughput against a bare chunked encoder of the same shape
n_rows = 20_000 if args.quick else 200_000
rng = np.random.default_rng(0)
big = np.clip(X[rng.integers(0, len(X), n_rows)] + rng.normal(0, 1, (n_rows, X.shape[1])), 0, 16)
big = big.astype(np.float32)
est, pca = skae(128, 2), PCA(K).fit(X)
encode = H.encoder_of(est, X, WIDTHS)
print(f"speed: transform, {n_rows:,} rows", flush=True)
bare = "bare chunked encoder (4,096 rows)"
with H.torch_threads(1):
    times = H.interleaved({
        bare: lambda: H.bare_transform(encode, big, K),
        "skae transform": lambda: est.transform(big),
        "PCA transform": lambda: pca.transform(big),
    }, REPEATS)
rows = [[n_rows, name, n_rows / np.median(v) / 1e6, 1 / H.ratio(times, name, bare)]
        for name, v in times.items()]
transform_table = H.table(["rows", "candidate", "M rows/s", "x bare throughput"], rows)

# ---- one or two torch threads, bare fused-Adam loop
rng = np.random.default_rng(0)
wide = np.tanh(rng.normal(size=(8192, 30)) @ rng.normal(size=(30, 784)) / 5).astype(np.float32)
sizes = [("small", X, (64, 128, 10)), ("medium", X, WIDTHS), ("large", wide, (784, 512, 256, 30))]
rows = []
for label, data, widths in sizes[:1] if args.quick else sizes:
    for batch in [128] if args.quick else [128, 1024]:
        epochs = max(1, round((8 if args.quick else 24) / math.ceil(len(data) / batch)))
        steps = epochs * math.ceil(len(data) / batch)
        print(f"speed: threads, {label}, batch {batch}", flush=True)

        def run(threads):
            with H.torch_threads(threads):
                H.bare_fit(data, widths, epochs=epochs, batch_size=batch, fused=True)

        times = H.interleaved({"1": lambda: run(1), "2": lambda: run(2)}, min(REPEATS, 5))
        macs = batch * sum(a * b for a, b in zip(widths[:-1], widths[1:])) * 2
        rows.append(["-".join(map(str, widths)), label, batch, macs / 1e6,
                     np.median(times["1"]) / steps * 1e3, np.median(times["2"]) / steps * 1e3,
                     H.ratio(times, "1", "2")])
threads_table = H.table(["network", "size", "batch", "M multiply-adds/step (forward)",
                         "ms/step, 1 thread", "ms/step, 2 threads", "speed-up of 2 threads"], rows)
H.save("speed", args, fit_table, transform_table, threads_table)
