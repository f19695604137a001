"""
=======================================
Saving a model and serving it with ONNX
=======================================

A fitted model is saved in one process and used in another. skae supports
four ways to do it, each suited to a different situation (the
:ref:`persistence` page of the user guide compares them):

* **joblib / pickle**: everything, fast, but loading a file runs code named
  in it, so only load files you trust;
* **skops**: whole pipelines, and the file lists the types it would create
  before anything is loaded;
* **skae.save**: one skae estimator in a safetensors file, with no pickle at
  all;
* **ONNX**: a graph of standard operators that onnxruntime (from Python,
  C++, C#, Java, JavaScript...) runs without Python, PyTorch or skae.

Here a pipeline that classifies digits through an autoencoder's codes is
saved in each format, loaded in a fresh Python process, and its outputs are
compared with the original's. Then the encoder is served with onnxruntime
and timed against ``transform``.
"""

# %%
# A model to ship
# ---------------
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as rt
import skops.io as sio
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
import skae.onnx  # registers skae's converters with skl2onnx
from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # short training: a ConvergenceWarning
    pipe = make_pipeline(
        StandardScaler(),
        AutoencoderTransformer(16, hidden_layer_sizes=(64,), max_iter=10, random_state=0),
        LogisticRegression(max_iter=500),
    ).fit(X_train, y_train)
autoencoder = pipe[1]
print(f"test accuracy: {pipe.score(X_test, y_test):.3f}")

# %%
# Saving in each format
# ---------------------
# ``skae.save`` takes a single skae estimator, here the fitted autoencoder;
# the other formats take the whole pipeline. The ONNX graph of the pipeline
# is one graph from pixels to class labels: skae's converter inlines the
# autoencoder between skl2onnx's scaler and classifier.
workdir = Path(tempfile.mkdtemp())
X_test32 = X_test.astype(np.float32)

joblib.dump(pipe, workdir / "pipe.joblib")
sio.dump(pipe, workdir / "pipe.skops")
skae.save(autoencoder, workdir / "autoencoder.safetensors")
onx = to_onnx(pipe, X_test32[:1])
(workdir / "pipe.onnx").write_bytes(onx.SerializeToString())
skae.onnx.export_encoder(autoencoder, workdir / "encoder.onnx")

for file in sorted(workdir.iterdir()):
    print(f"{file.name:26s} {file.stat().st_size / 1024:7.1f} KiB")

# %%
# Loading in a fresh process
# --------------------------
# A new Python process loads every file and writes what it computes. skops
# lists the types a file would create; only skae's and scikit-learn's
# appear, and we pass that list as ``trusted`` after reading it.
np.save(workdir / "X_test.npy", X_test)
receiver = """
import joblib
import numpy as np
import onnxruntime as rt
import skops.io as sio
import skae

X = np.load("X_test.npy")
np.save("joblib.npy", joblib.load("pipe.joblib").predict_proba(X))
untrusted = sio.get_untrusted_types(file="pipe.skops")
print("skops asks to trust:", untrusted)
np.save("skops.npy", sio.load("pipe.skops", trusted=untrusted).predict_proba(X))
np.save("safetensors.npy", skae.load("autoencoder.safetensors").transform(np.load("Z.npy")))
session = rt.InferenceSession("pipe.onnx", providers=["CPUExecutionProvider"])
labels, probabilities = session.run(None, {"X": X.astype(np.float32)})
np.save("onnx.npy", np.array([[row[k] for k in range(10)] for row in probabilities]))
"""
# The autoencoder inside the pipeline sees scaled rows.
Z_test = pipe[0].transform(X_test)
np.save(workdir / "Z.npy", Z_test)
result = subprocess.run(
    [sys.executable, "-c", receiver], cwd=workdir, capture_output=True, text=True
)
print(result.stdout.strip() or result.stderr)

expected = {
    "joblib": pipe.predict_proba(X_test),
    "skops": pipe.predict_proba(X_test),
    "safetensors": autoencoder.transform(Z_test),
    "onnx": pipe.predict_proba(X_test),
}
for name, want in expected.items():
    got = np.load(workdir / f"{name}.npy")
    print(f"{name:12s} largest difference from the original: {np.max(np.abs(got - want)):.1e}")

# %%
# joblib, skops and ``skae.save`` give back the same model: their outputs
# are identical, bit for bit. The ONNX graph computes in float32 with its
# own kernels, so its probabilities differ from scikit-learn's float64 ones
# by float32 rounding only, as printed above.
#
# Serving the encoder with onnxruntime
# ------------------------------------
# ``export_encoder`` wrote the autoencoder's ``transform`` as a standalone
# model, the part a feature service would run. Both are timed on the same
# 10,000 rows, alternating between them; the medians are shown.
rows = np.tile(Z_test, (10_000 // len(Z_test) + 1, 1))[:10_000].astype(np.float32)
session = rt.InferenceSession(str(workdir / "encoder.onnx"), providers=["CPUExecutionProvider"])
codes_onnx = session.run(None, {"X": rows})[0]
codes_skae = autoencoder.transform(rows)
print(f"largest code difference: {np.max(np.abs(codes_onnx - codes_skae)):.1e}")

candidates = {
    "skae transform": lambda: autoencoder.transform(rows),
    "onnxruntime": lambda: session.run(None, {"X": rows}),
}
times = {name: [] for name in candidates}
for _ in range(2):  # warm up
    for run in candidates.values():
        run()
for _ in range(9):
    for name, run in candidates.items():
        start = time.perf_counter()
        run()
        times[name].append(time.perf_counter() - start)
medians = {name: 1e3 * np.median(t) for name, t in times.items()}
for name, ms in medians.items():
    print(f"{name:15s} {ms:6.2f} ms per 10,000 rows")

fig, ax = plt.subplots(figsize=(6, 2.2))
ax.barh(list(medians), list(medians.values()), color=["tab:blue", "tab:orange"])
ax.set_xlabel("milliseconds per 10,000 rows (median, lower is better)")
ax.set_title("Encoding 10,000 rows (float32), this machine")
fig.tight_layout()
plt.show()

# %%
# The two run the same arithmetic on the same weights; which one is faster
# depends on the machine and the batch, so measure on yours. The benchmark
# ``benchmarks/onnx_speed.py`` compares them on larger models.
