"""
=========================================
Denoising digits, before and after
=========================================

:class:`~skae.DenoisingAutoencoderTransformer` is trained to reconstruct
clean images from corrupted copies. Once fitted, encoding and decoding a
noisy image removes much of the noise. We compare it with PCA, the classic
linear way to denoise: project on the leading components and back.
"""

# %%
# Clean training images, noisy test images
# ----------------------------------------
# The models are fitted on clean digits. The test digits get Gaussian noise
# with a standard deviation of 4, on pixel values that run from 0 to 16.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import DenoisingAutoencoderTransformer

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)
rng = np.random.default_rng(0)
X_noisy = X_test + rng.normal(scale=4.0, size=X_test.shape)

# %%
# Fit the denoising autoencoder and PCA
# -------------------------------------
# The autoencoder sees its training images with the same kind and strength
# of noise that we want to remove. Noise is drawn afresh for every batch,
# from ``random_state``.
n_components = 16
dae = DenoisingAutoencoderTransformer(
    n_components=n_components,
    hidden_layer_sizes=(128,),
    noise="gaussian",
    noise_level=4.0,
    learning_rate_init=3e-3,
    max_iter=100,
    random_state=0,
).fit(X_train)
pca = PCA(n_components=n_components).fit(X_train)

X_dae = dae.inverse_transform(dae.transform(X_noisy))
X_pca = pca.inverse_transform(pca.transform(X_noisy))

# %%
# Error against the clean images
# ------------------------------
def mse(images):
    return np.mean((images - X_test) ** 2)


print(f"noisy input        MSE: {mse(X_noisy):5.2f}")
print(f"PCA projection     MSE: {mse(X_pca):5.2f}")
print(f"denoising AE       MSE: {mse(X_dae):5.2f}")

# %%
# Before and after
# ----------------
fig, axes = plt.subplots(4, 10, figsize=(10, 4.4))
rows = {"clean": X_test, "noisy": X_noisy, "PCA": X_pca, "denoising AE": X_dae}
for r, (label, images) in enumerate(rows.items()):
    for c in range(10):
        ax = axes[r, c]
        ax.imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.tight_layout()
plt.show()

# %%
# PCA removes the noise that falls outside its 16 directions, but keeps the
# part inside them, and blurs the strokes. The denoising autoencoder has
# learnt what digits look like and pulls each noisy image towards one.
