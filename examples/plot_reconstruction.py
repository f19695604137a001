"""
=====================================================
Reconstructions: PCA against an autoencoder on digits
=====================================================

PCA and :class:`~skae.AutoencoderTransformer` both compress each 8x8 image
of a handwritten digit (64 pixels) into a few numbers and decode those
numbers back into an image. At the same code width, which keeps more of the
digit?

Both models are fitted on three quarters of scikit-learn's digits and shown
digits they have not seen.
"""

# %%
# Data
# ----
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)

# %%
# Two models with the same code width
# -----------------------------------
# Eight numbers per image. The autoencoder is kept small (one hidden layer
# of 128 units, 100 epochs) so that this example runs in seconds.
n_components = 8

pca = PCA(n_components=n_components).fit(X_train)
ae = AutoencoderTransformer(
    n_components=n_components,
    hidden_layer_sizes=(128,),
    learning_rate_init=3e-3,
    max_iter=100,
    random_state=0,
).fit(X_train)

X_pca = pca.inverse_transform(pca.transform(X_test))
X_ae = ae.inverse_transform(ae.transform(X_test))

# %%
# Held-out reconstruction error
# -----------------------------
# ``score`` is the negative mean squared error, in the input's units
# (pixel values from 0 to 16), so it can be compared with PCA's error
# directly.
mse_pca = np.mean((X_test - X_pca) ** 2)
mse_ae = -ae.score(X_test)
print(f"PCA         held-out MSE: {mse_pca:.2f}")
print(f"autoencoder held-out MSE: {mse_ae:.2f} ({mse_ae / mse_pca:.0%} of PCA's)")

# %%
# Side by side
# ------------
# The top row shows test digits, the middle row what PCA makes of them and
# the bottom row the autoencoder's reconstructions. PCA's images are blurred
# combinations of a few global patterns; the autoencoder keeps more of each
# stroke.
n_digits = 10
first_of_each = [np.flatnonzero(y_test == d)[0] for d in range(n_digits)]
rows = {"original": X_test, "PCA": X_pca, "autoencoder": X_ae}

fig, axes = plt.subplots(3, n_digits, figsize=(n_digits, 3.4))
for r, (label, images) in enumerate(rows.items()):
    for c, i in enumerate(first_of_each):
        ax = axes[r, c]
        ax.imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.suptitle(f"{n_components} numbers per image")
fig.tight_layout()
plt.show()

# %%
# Error per digit class
# ---------------------
# The gain is not the same for every digit. ``score_samples`` gives the
# error of each image, which we average per class.
err_pca = ((X_test - X_pca) ** 2).mean(axis=1)
err_ae = -ae.score_samples(X_test)
classes = np.arange(10)
width = 0.4

fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(classes - width / 2, [err_pca[y_test == d].mean() for d in classes],
       width, label="PCA")
ax.bar(classes + width / 2, [err_ae[y_test == d].mean() for d in classes],
       width, label="autoencoder")
ax.set_xticks(classes)
ax.set_xlabel("digit")
ax.set_ylabel("held-out MSE")
ax.legend()
fig.tight_layout()
plt.show()
