"""
=================================================
A 2-D map of the digits: autoencoder against PCA
=================================================

With ``n_components=2`` the codes can be drawn as points in a plane. Here
both PCA and :class:`~skae.AutoencoderTransformer` map the 64-pixel digit
images to two numbers, without ever seeing the labels; the points are then
coloured by digit to see how well each map keeps the classes apart.
"""

# %%
# Fit both maps on the training images
# ------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)

pca = PCA(n_components=2).fit(X_train)
ae = AutoencoderTransformer(
    n_components=2,
    hidden_layer_sizes=(128, 64),
    learning_rate_init=3e-3,
    max_iter=100,
    random_state=0,
).fit(X_train)

maps = {"PCA": pca, "autoencoder": ae}

# %%
# Scatter the held-out images
# ---------------------------
# Each point is a test image, placed by its code and coloured by its
# (unused) label; each digit's label is written at the median of its points.
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for ax, (name, model) in zip(axes, maps.items()):
    codes = model.transform(X_test)
    points = ax.scatter(codes[:, 0], codes[:, 1], c=y_test, cmap="tab10",
                        s=12, alpha=0.8)
    for digit in range(10):
        cx, cy = np.median(codes[y_test == digit], axis=0)
        ax.text(cx, cy, str(digit), fontsize=14, weight="bold",
                ha="center", va="center",
                bbox=dict(boxstyle="circle", fc="white", alpha=0.7, lw=0))
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
plt.show()

# %%
# How separable are the classes?
# ------------------------------
# A 5-nearest-neighbour classifier trained on the 2-D codes of the training
# images and tested on those of the test images puts a number on the
# picture: the better the map keeps the classes apart, the higher the
# accuracy. Both maps were learnt without labels.
for name, model in maps.items():
    knn = KNeighborsClassifier(n_neighbors=5)
    knn.fit(model.transform(X_train), y_train)
    accuracy = knn.score(model.transform(X_test), y_test)
    print(f"{name:12s} 5-NN accuracy on 2-D codes: {accuracy:.2f}")

# %%
# PCA's plane is the flat projection that keeps the most variance, and most
# digits overlap in it. The autoencoder's plane is a curved surface through
# the data, unfolded: several classes get their own region. The axes of the
# autoencoder's map carry no particular meaning, and another
# ``random_state`` gives a rotated or reflected map of similar quality.
