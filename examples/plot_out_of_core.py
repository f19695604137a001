"""
=====================================
Training and encoding data from disk
=====================================

When the data set is larger than memory, keep it in a file and let NumPy
map it: ``np.load(path, mmap_mode="r")`` returns an array whose rows are
read from disk only when they are touched.

* **Training**: ``partial_fit`` trains on the rows it is given and keeps the
  network and the optimizer's state, so a loop over chunks of the file
  trains on all of it with memory bounded by one chunk.
* **Encoding**: ``transform`` works through its input in blocks of rows, so
  encoding the memory-mapped file holds only the codes in memory.

The digits stand in for a large file here; the code is the same for one of
many gigabytes. The :ref:`scaling_out` page of the user guide also covers
dask arrays and searches on a cluster.
"""

# %%
# A training file on disk
# -----------------------
# Rows are shuffled before they are written, as they should be: the first
# chunk that ``partial_fit`` sees sets the centring and scaling.
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer

X, _ = load_digits(return_X_y=True)
X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)

workdir = Path(tempfile.mkdtemp())
np.save(workdir / "train.npy", X_train)
X_disk = np.load(workdir / "train.npy", mmap_mode="r")
print(type(X_disk).__name__, X_disk.shape)

# %%
# Streaming training
# ------------------
# Each pass visits the chunks in a new random order. For comparison, a second
# model makes the same number of passes over the training set held in memory.
# Both use the same batch size, and the chunk size is a multiple of it, so
# they take the same number of optimizer steps per pass.


def make_model():
    return AutoencoderTransformer(
        n_components=8,
        hidden_layer_sizes=(32,),
        learning_rate_init=3e-3,
        batch_size=100,
        random_state=0,
    )


chunk_size, n_passes = 400, 15
starts = np.arange(0, X_disk.shape[0], chunk_size)
rng = np.random.default_rng(0)

streamed, in_memory = make_model(), make_model()
streamed_errors, in_memory_errors = [], []
for _ in range(n_passes):
    for start in rng.permutation(starts):
        streamed.partial_fit(np.asarray(X_disk[start : start + chunk_size]))
    in_memory.partial_fit(X_train)
    streamed_errors.append(-streamed.score(X_test))
    in_memory_errors.append(-in_memory.score(X_test))

print(f"held-out MSE after {n_passes} passes")
print(f"  streamed from disk: {streamed_errors[-1]:.2f}")
print(f"  in memory:          {in_memory_errors[-1]:.2f}")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
passes = np.arange(1, n_passes + 1)
ax.plot(passes, in_memory_errors, marker="o", label="in memory")
ax.plot(passes, streamed_errors, marker=".", label=f"chunks of {chunk_size} from disk")
ax.set_xlabel("passes over the training rows")
ax.set_ylabel("held-out MSE (lower is better)")
ax.set_title("Streaming training matches training in memory")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Encoding the file
# -----------------
# ``transform`` reads the memory-mapped rows block by block: only the codes,
# ``n_samples`` by ``n_components``, are held in memory. The same goes for
# ``inverse_transform`` and ``score_samples``.
codes = streamed.transform(X_disk)
print(codes.shape, codes.dtype)

# %%
# The codes can be written to disk as they are produced, for data whose codes
# do not fit in memory either: encode one slice of the file at a time into a
# memory-mapped output.
out = np.lib.format.open_memmap(
    workdir / "codes.npy", mode="w+", dtype=np.float64, shape=codes.shape
)
for start in range(0, X_disk.shape[0], chunk_size):
    out[start : start + chunk_size] = streamed.transform(
        X_disk[start : start + chunk_size]
    )
out.flush()
print(np.allclose(np.load(workdir / "codes.npy"), codes))

# %%
# Remove the temporary files.
del X_disk, out
shutil.rmtree(workdir)
