"""
==================================================
Autoencoder codes as features for a classifier
==================================================

A transformer can sit in front of a classifier in a
:class:`~sklearn.pipeline.Pipeline`. Here the codes of an
:class:`~skae.AutoencoderTransformer`, learnt without labels, feed a
logistic regression, and we compare them with PCA's codes of the same width
and with the raw pixels.
"""

# %%
# Data and pipelines
# ------------------
# Codes of either model come on arbitrary scales, so they are standardised
# before the logistic regression.
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)


def classifier(reducer):
    return make_pipeline(reducer, StandardScaler(), LogisticRegression(max_iter=2000))


def autoencoder(k):
    return AutoencoderTransformer(
        n_components=k,
        hidden_layer_sizes=(128,),
        learning_rate_init=3e-3,
        max_iter=60,
        random_state=0,
    )


# %%
# Accuracy against code width
# ---------------------------
widths = [2, 4, 8, 16]
accuracy = {"autoencoder": [], "PCA": []}
for k in widths:
    for name, reducer in [("autoencoder", autoencoder(k)), ("PCA", PCA(k))]:
        model = classifier(reducer).fit(X_train, y_train)
        accuracy[name].append(model.score(X_test, y_test))
        print(f"k={k:2d}  {name:11s} test accuracy: {accuracy[name][-1]:.3f}")

raw = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
raw_accuracy = raw.fit(X_train, y_train).score(X_test, y_test)
print(f"raw pixels (64 features) test accuracy: {raw_accuracy:.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for name, values in accuracy.items():
    ax.plot(widths, values, marker="o", label=f"{name} codes")
ax.axhline(raw_accuracy, color="gray", linestyle="--", label="all 64 pixels")
ax.set_xscale("log", base=2)
ax.set_xticks(widths, [str(w) for w in widths])
ax.set_xlabel("code width (n_components)")
ax.set_ylabel("test accuracy")
ax.set_title("Logistic regression on unsupervised codes")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# With few components the nonlinear codes carry much more of the class
# information than PCA's. As the width grows both approach the accuracy of
# the raw pixels. The width, and the autoencoder's own parameters, can be
# tuned for the classifier's accuracy by searching over the whole pipeline,
# e.g. ``GridSearchCV(pipe, {"autoencodertransformer__n_components": ...})``.
