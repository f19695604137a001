"""
====================================================
New digits drawn from a variational autoencoder
====================================================

A :class:`~skae.VariationalAutoencoderTransformer` learns, for every image,
a distribution over codes, and is trained so that the codes of the whole
data set fill a standard normal distribution. Decoding draws from that
normal distribution then gives new images that look like the training data:
:meth:`~skae.VariationalAutoencoderTransformer.sample` does exactly this.
"""

# %%
# Fit on the digits
# -----------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skae import VariationalAutoencoderTransformer

X, y = load_digits(return_X_y=True)
vae = VariationalAutoencoderTransformer(
    n_components=8,
    hidden_layer_sizes=(128,),
    learning_rate_init=3e-3,
    max_iter=100,
    random_state=0,
).fit(X)

# %%
# Sampling
# --------
# ``sample`` draws codes from N(0, I) and decodes them. The draws come from
# its own ``random_state``: the same value gives the same images.
samples = vae.sample(40, random_state=0)
assert np.array_equal(samples, vae.sample(40, random_state=0))

fig, axes = plt.subplots(4, 10, figsize=(10, 4.2))
for image, ax in zip(samples, axes.ravel()):
    ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("40 new digits, decoded from random codes")
fig.tight_layout()
plt.show()

# %%
# Walking between two digits
# --------------------------
# ``transform`` returns the mean of each image's code distribution, which is
# deterministic. Decoding points on the straight line between the codes of a
# 0 and a 6 morphs one into the other; the filled code space of a VAE keeps
# the images in between plausible.
start, end = vae.transform(X[[np.flatnonzero(y == 0)[0], np.flatnonzero(y == 6)[0]]])
steps = np.linspace(0, 1, 10)[:, None]
path = vae.inverse_transform((1 - steps) * start + steps * end)

fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for image, ax in zip(path, axes):
    ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %%
# Reconstruction against generation
# ---------------------------------
# The KL term that makes sampling work also blurs reconstructions compared
# with a plain autoencoder of the same width; ``beta`` sets the balance.
# ``score`` is the negative reconstruction error of the code means, as for
# the other estimators.
for beta in [0.5, 1.0, 2.0]:
    model = VariationalAutoencoderTransformer(
        n_components=8, hidden_layer_sizes=(128,), learning_rate_init=3e-3,
        max_iter=100, beta=beta, random_state=0,
    ).fit(X)
    print(f"beta={beta}: training reconstruction MSE {-model.score(X):.2f}")
