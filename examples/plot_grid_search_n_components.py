"""
==========================================
Choosing n_components with a grid search
==========================================

:meth:`~skae.AutoencoderTransformer.score` is the negative reconstruction
error, so higher is better and
:class:`~sklearn.model_selection.GridSearchCV` can tune ``n_components``
with no scorer: each width is scored on the folds it was not fitted on.

Held-out error keeps falling as the code widens, so "the best score" would
pick the widest code in the grid. What we want instead is the knee of the
curve: the smallest width that is nearly as good as the best.
"""

# %%
# Data and candidate widths
# -------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV

from skae import AutoencoderTransformer

X, _ = load_digits(return_X_y=True)
widths = [1, 2, 4, 8, 16, 32]

# %%
# A selection rule for the knee
# -----------------------------
# A callable ``refit`` receives the results of the search and returns the
# index of the candidate to refit on all the data. This one picks the
# smallest width whose mean held-out error exceeds the best one by less than
# 10% of the data's variance (the error of predicting every pixel by its
# mean), a tolerance in the spirit of PCA's explained variance.
total_variance = X.var(axis=0).mean()


def smallest_nearly_best(cv_results, tolerance=0.1):
    errors = -np.asarray(cv_results["mean_test_score"])
    good = np.flatnonzero(errors <= errors.min() + tolerance * total_variance)
    widths = np.asarray(cv_results["param_n_components"], dtype=int)
    return good[np.argmin(widths[good])]


search = GridSearchCV(
    AutoencoderTransformer(
        hidden_layer_sizes=(128,),
        learning_rate_init=1e-2,
        max_iter=60,
        random_state=0,
    ),
    param_grid={"n_components": widths},
    cv=3,
    refit=smallest_nearly_best,
)
search.fit(X)
chosen = search.best_params_["n_components"]
print(f"total variance per pixel: {total_variance:.2f}")
print(f"chosen n_components: {chosen}")

# %%
# PCA for reference
# -----------------
# PCA's own ``score`` is a log-likelihood, not a reconstruction error, so it
# is given an explicit scorer that computes the same quantity as the
# autoencoder's ``score``.
def neg_reconstruction_mse(estimator, X, y=None):
    X_hat = estimator.inverse_transform(estimator.transform(X))
    return -np.mean((X - X_hat) ** 2)


pca_search = GridSearchCV(
    PCA(), {"n_components": widths}, cv=3, scoring=neg_reconstruction_mse
).fit(X)

# %%
# Score against width
# -------------------
fig, ax = plt.subplots(figsize=(6, 4))
for name, result in [("autoencoder", search), ("PCA", pca_search)]:
    mean = -result.cv_results_["mean_test_score"]
    std = result.cv_results_["std_test_score"]
    ax.errorbar(widths, mean, yerr=std, marker="o", capsize=3, label=name)
ax.axvline(chosen, color="gray", linestyle=":", label=f"chosen: {chosen}")
ax.set_xscale("log", base=2)
ax.set_xticks(widths, [str(w) for w in widths])
ax.set_xlabel("n_components")
ax.set_ylabel("held-out MSE (lower is better)")
ax.set_title("3-fold cross-validated reconstruction error")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# At small widths the autoencoder reconstructs clearly better than PCA: a
# curved surface follows the digits more closely than a flat one. As the
# width approaches the 64 pixels there is little left to compress, PCA keeps
# nearly everything, and this deliberately small and briefly trained network
# falls behind. The rule above stops before that, where doubling the width
# no longer buys much; change ``tolerance`` to trade compression against
# fidelity.
