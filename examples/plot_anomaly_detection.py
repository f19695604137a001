"""
======================================================
Anomaly detection with a ROC curve
======================================================

:class:`~skae.AutoencoderOutlierDetector` fits an autoencoder to normal
data and flags the rows it reconstructs badly. Here it learns what benign
tumours look like in scikit-learn's breast cancer data (30 measurements per
tumour) and is asked to recognise malignant ones, which it never saw.

We compare it with the same detector built on PCA, the linear baseline, and
with :class:`~sklearn.ensemble.IsolationForest`, using ROC curves: how many
malignant tumours are caught (true positive rate) for each share of benign
ones raised as a false alarm. Then we check that the detector's threshold
keeps the false alarm rate it promises on benign tumours it has not seen.
"""

# %%
# Normal data for training, both kinds for testing
# ------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import RocCurveDisplay, roc_auc_score
from sklearn.model_selection import train_test_split

from skae import AutoencoderOutlierDetector

data = load_breast_cancer()
X, y = data.data, data.target  # y == 1: benign, 0: malignant
benign, malignant = X[y == 1], X[y == 0]
X_train, benign_test = train_test_split(benign, test_size=0.3, random_state=0)
X_test = np.vstack([benign_test, malignant])
is_malignant = np.r_[np.zeros(len(benign_test)), np.ones(len(malignant))]
print(f"train: {len(X_train)} benign; test: {len(benign_test)} benign, "
      f"{len(malignant)} malignant")

# %%
# Three detectors
# ---------------
# The detector with its defaults: it standardises each measurement itself
# (their ranges differ by orders of magnitude), holds out a fifth of the
# training rows to set its threshold, and fits an
# :class:`~skae.AutoencoderTransformer` to the rest. Wrapping PCA with the
# same code size gives a linear baseline with the same scaling, calibration
# and score, so the comparison isolates the model of normal data.
autoencoder = AutoencoderOutlierDetector(random_state=0).fit(X_train)
fitted_ae = autoencoder.estimator_
code_size = int(getattr(fitted_ae, "n_components_", fitted_ae.n_components))
detectors = {
    "autoencoder": autoencoder,
    "PCA": AutoencoderOutlierDetector(PCA(code_size), random_state=0).fit(X_train),
    "IsolationForest": IsolationForest(random_state=0).fit(X_train),
}
print(f"code size: {code_size}")

# %%
# ROC curves
# ----------
# ``score_samples`` is higher for more normal rows, so its negative is an
# anomaly score for malignancy.
fig, ax = plt.subplots(figsize=(5.5, 5))
for name, detector in detectors.items():
    anomaly = -detector.score_samples(X_test)
    RocCurveDisplay.from_predictions(is_malignant, anomaly, name=name, ax=ax)
ax.plot([0, 1], [0, 1], color="gray", linestyle=":")
ax.set_title("Malignant tumours as anomalies")
fig.tight_layout()
plt.show()

# %%
# Thresholded predictions
# -----------------------
# ``contamination="auto"`` asks the skae detectors to flag 5% of new benign
# tumours: the threshold ``offset_`` is read off the scores of the
# calibration rows, which the model did not train on. The benign test
# tumours were never seen either, so about 5% of them should be flagged
# (with 50 calibration rows, the rate of one fit varies by a few points
# around that). IsolationForest's "auto" threshold makes no such promise.
for name, detector in detectors.items():
    flagged = detector.predict(X_test) == -1
    auc = roc_auc_score(is_malignant, -detector.score_samples(X_test))
    print(f"{name:16s} ROC AUC {auc:.3f}   flags "
          f"{flagged[is_malignant == 1].mean():.0%} of malignant, "
          f"{flagged[is_malignant == 0].mean():.0%} of benign")

# %%
# A different false alarm rate, without refitting
# -----------------------------------------------
# ``p_values`` compares each row's score with the calibration scores. For a
# benign tumour the chance of a p-value at most ``alpha`` is at most
# ``alpha``, so thresholding the p-values sets any false alarm rate.
p_values = autoencoder.p_values(X_test)
for alpha in (0.02, 0.05, 0.1, 0.2):
    flagged = p_values <= alpha
    print(f"alpha {alpha:.2f}: flags {flagged[is_malignant == 1].mean():.0%} of "
          f"malignant, {flagged[is_malignant == 0].mean():.0%} of benign")

# %%
# Which measurements look wrong?
# ------------------------------
# ``reconstruction_errors`` splits a row's error by feature, in units of each
# feature's spread over the benign training tumours. Averaged over the
# malignant tumours, it shows which measurements the model of benign tumours
# fails to explain.
errors = autoencoder.reconstruction_errors(malignant).mean(axis=0)
top = np.argsort(errors)[::-1][:8]

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.barh(data.feature_names[top][::-1], errors[top][::-1])
ax.set_xlabel("mean squared reconstruction error (standardised units)")
ax.set_title("Features that give malignant tumours away")
fig.tight_layout()
plt.show()
