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
ones raised as a false alarm.
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
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderOutlierDetector, AutoencoderTransformer

X, y = load_breast_cancer(return_X_y=True)  # y == 1: benign, 0: malignant
benign, malignant = X[y == 1], X[y == 0]
X_train, benign_test = train_test_split(benign, test_size=0.3, random_state=0)
X_test = np.vstack([benign_test, malignant])
is_malignant = np.r_[np.zeros(len(benign_test)), np.ones(len(malignant))]
print(f"train: {len(X_train)} benign; test: {len(benign_test)} benign, "
      f"{len(malignant)} malignant")

# %%
# Three detectors
# ---------------
# The measurements have very different ranges, so each detector is preceded
# by a :class:`~sklearn.preprocessing.StandardScaler`: the reconstruction
# error is then not dominated by the features with the largest units. Both
# reconstruction-based detectors use a code of 5 numbers.
n_components = 5
autoencoder = AutoencoderTransformer(
    n_components=n_components,
    hidden_layer_sizes=(32,),
    learning_rate_init=3e-3,
    max_iter=200,
)
detectors = {
    "autoencoder": AutoencoderOutlierDetector(
        autoencoder, contamination=0.05, random_state=0
    ),
    "PCA": AutoencoderOutlierDetector(PCA(n_components), contamination=0.05),
    "IsolationForest": IsolationForest(contamination=0.05, random_state=0),
}
for name, detector in detectors.items():
    detectors[name] = make_pipeline(StandardScaler(), detector).fit(X_train)

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
# ``contamination=0.05`` places the threshold so that 5% of the training
# rows are flagged; ``predict`` returns -1 for the rows below it.
for name, detector in detectors.items():
    flagged = detector.predict(X_test) == -1
    auc = roc_auc_score(is_malignant, -detector.score_samples(X_test))
    print(f"{name:16s} ROC AUC {auc:.3f}   flags "
          f"{flagged[is_malignant == 1].mean():.0%} of malignant, "
          f"{flagged[is_malignant == 0].mean():.0%} of benign")

# %%
# The autoencoder flags more than 5% of the *new* benign tumours: it
# reconstructs the rows it was trained on better than unseen ones, so a
# threshold set on the training rows is optimistic. When the false alarm
# rate matters, choose the threshold on held-out normal rows instead, for
# instance as a quantile of their ``score_samples``.

# %%
# Which measurements look wrong?
# ------------------------------
# ``reconstruction_errors`` splits a row's error by feature. Averaged over
# the malignant test tumours, it shows which measurements the model of
# benign tumours fails to explain.
scaler, detector = detectors["autoencoder"][0], detectors["autoencoder"][-1]
errors = detector.reconstruction_errors(scaler.transform(malignant)).mean(axis=0)
names = load_breast_cancer().feature_names
top = np.argsort(errors)[::-1][:8]

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.barh(names[top][::-1], errors[top][::-1])
ax.set_xlabel("mean squared reconstruction error (standardised units)")
ax.set_title("Features that give malignant tumours away")
fig.tight_layout()
plt.show()
