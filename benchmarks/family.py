"""Benchmarks for the autoencoder family: outlier detection, images, sampling, denoising.

``report(quick)`` returns the results as markdown; ``python
benchmarks/family.py [--quick]`` prints them. Only scikit-learn's bundled
datasets are used, and every split and seed is fixed, so the numbers can be
reproduced (up to thread-level floating-point noise). ``quick`` runs one seed
per model instead of five.

Sections:

1. Outlier detection, ROC AUC of "normal" against "abnormal" held-out rows:

   - breast cancer, standardised (scaler fitted on the training rows):
     train on benign tumours, score held-out benign against all malignant;
   - digits: train on classes 0-4, score held-out 0-4 against all of 5-9.

   The normal rows are split once with ``train_test_split(test_size=0.3,
   random_state=0)`` and every method sees the same split. The autoencoders
   are scored by reconstruction error through ``AutoencoderOutlierDetector``;
   PCA is scored the same way, at the same number of components.
2. Held-out reconstruction error of the convolutional autoencoder against
   PCA and the fully connected autoencoder on digits (25% held out).
3. Samples of the variational autoencoder compared with real digits.
4. Denoising: fit on clean digits, reconstruct noisy held-out digits.
"""

import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.preprocessing import StandardScaler

import _common as C
from skae import AutoencoderTransformer, DenoisingAutoencoderTransformer
from skae import ConvolutionalAutoencoderTransformer
from skae import AutoencoderOutlierDetector
from skae import VariationalAutoencoderTransformer

SPLIT_SEED = 0


def _seeds(quick):
    return (0,) if quick else (0, 1, 2, 3, 4)


def _summary(values):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.median(values):.3f} ({values.min():.3f}-{values.max():.3f})"


# --------------------------------------------------------- outlier detection


def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    normal, abnormal = X[y == 1], X[y == 0]  # 1 = benign
    train, held_out = train_test_split(normal, test_size=0.3, random_state=SPLIT_SEED)
    scaler = StandardScaler().fit(train)
    test = scaler.transform(np.vstack([held_out, abnormal]))
    truth = np.r_[np.ones(len(held_out)), np.zeros(len(abnormal))]
    return scaler.transform(train), test, truth


def _digits_novelty():
    X, y = load_digits(return_X_y=True)
    normal, abnormal = X[y < 5], X[y >= 5]
    train, held_out = train_test_split(normal, test_size=0.3, random_state=SPLIT_SEED)
    test = np.vstack([held_out, abnormal])
    truth = np.r_[np.ones(len(held_out)), np.zeros(len(abnormal))]
    return train, test, truth


def _auc(model, train, test, truth):
    return roc_auc_score(truth, model.fit(train).score_samples(test))


def _detection_rows(train, test, truth, k, autoencoders, seeds):
    """Table rows, PCA's AUC and the median AUC of each autoencoder."""
    rows = []
    pca = _auc(AutoencoderOutlierDetector(PCA(n_components=k)), train, test, truth)
    rows.append(("PCA reconstruction error", k, f"{pca:.3f}"))
    forest = [_auc(IsolationForest(random_state=s), train, test, truth) for s in seeds]
    rows.append(("IsolationForest", "-", _summary(forest)))
    lof = LocalOutlierFactor(novelty=True)
    rows.append(
        (
            "LocalOutlierFactor(novelty=True)",
            "-",
            f"{_auc(lof, train, test, truth):.3f}",
        )
    )
    medians = {}
    for name, make in autoencoders:
        aucs = [
            _auc(AutoencoderOutlierDetector(make(s)), train, test, truth) for s in seeds
        ]
        rows.append((name, k, _summary(aucs)))
        medians[name] = float(np.median(aucs))
    return rows, pca, medians


def _record_detection(data, k, pca, goal_name, goal, medians, default_name):
    best = max(medians, key=medians.get)
    default = medians[default_name]
    C.record_target(
        f"{data}: AutoencoderOutlierDetector() defaults >= PCA's ROC AUC at k={k}",
        f"{default:.3f} vs {pca:.3f} (median over seeds)",
        default >= pca,
    )
    C.record_target(
        f"{data}: best autoencoder ROC AUC >= PCA's at k={k} (required)",
        f"{medians[best]:.3f} ({best}) vs {pca:.3f}",
        medians[best] >= pca,
    )
    C.record_target(
        f"{data}: best autoencoder ROC AUC >= {goal_name}'s {goal:.3f} (goal)",
        f"{medians[best]:.3f} ({best})",
        medians[best] >= goal,
    )


def _outlier_section(quick):
    seeds = _seeds(quick)
    fast = dict(batch_size=32, max_iter=100)
    cancer_models = [
        (
            "AutoencoderOutlierDetector() (all defaults)",
            lambda s: AutoencoderTransformer(5, random_state=s),
        ),
        (
            "AE (64, 32) tanh",
            lambda s: AutoencoderTransformer(
                5,
                hidden_layer_sizes=(64, 32),
                activation="tanh",
                random_state=s,
                **fast,
            ),
        ),
        (
            "DAE (64, 32) tanh, gaussian 1.0",
            lambda s: DenoisingAutoencoderTransformer(
                5,
                hidden_layer_sizes=(64, 32),
                activation="tanh",
                noise_level=1.0,
                random_state=s,
                **fast,
            ),
        ),
        (
            "VAE (64, 32) tanh",
            lambda s: VariationalAutoencoderTransformer(
                5,
                hidden_layer_sizes=(64, 32),
                activation="tanh",
                random_state=s,
                **fast,
            ),
        ),
        (
            "VAE (32,) tanh, alpha=0.1",
            lambda s: VariationalAutoencoderTransformer(
                5,
                hidden_layer_sizes=(32,),
                activation="tanh",
                alpha=0.1,
                random_state=s,
                **fast,
            ),
        ),
    ]
    fast = dict(batch_size=32, max_iter=60)
    digits_models = [
        (
            "AutoencoderOutlierDetector() (all defaults)",
            lambda s: AutoencoderTransformer(10, random_state=s),
        ),
        (
            "AE (128,)",
            lambda s: AutoencoderTransformer(
                10, hidden_layer_sizes=(128,), random_state=s, **fast
            ),
        ),
        (
            "VAE (128,)",
            lambda s: VariationalAutoencoderTransformer(
                10, hidden_layer_sizes=(128,), random_state=s, **fast
            ),
        ),
        (
            "Conv AE (32, 64), image_shape=(8, 8)",
            lambda s: ConvolutionalAutoencoderTransformer(
                10,
                image_shape=(8, 8),
                learning_rate_init=2e-3,
                random_state=s,
                batch_size=32,
                max_iter=30,
            ),
        ),
    ]
    out = [
        "### Outlier detection (ROC AUC, higher is better)",
        "",
        "Normal rows are split once with `train_test_split(test_size=0.3, "
        "random_state=0)`; the same split serves every method. Training uses "
        "normal rows only; the test set is the held-out normal rows plus every "
        "abnormal row. Autoencoders score rows by their negative mean squared "
        "reconstruction error (`AutoencoderOutlierDetector.score_samples`), as "
        "does PCA. "
        + (
            "One seed per model (quick run)."
            if quick
            else f"Median (min-max) over random_state in {list(seeds)}."
        ),
        "",
        "#### Breast cancer, standardised: benign (train) vs malignant",
        "",
        "Required: PCA's 0.908 at k=5. Goal: IsolationForest's 0.970.",
        "",
    ]
    train, test, truth = _cancer()
    rows, pca, medians = _detection_rows(train, test, truth, 5, cancer_models, seeds)
    out.append(C.table(["method", "n_components", "ROC AUC"], rows))
    _record_detection(
        "cancer", 5, pca, "IsolationForest", 0.970, medians, cancer_models[0][0]
    )
    out += [
        "",
        "#### Digits: classes 0-4 (train) vs 5-9",
        "",
        "Required: PCA's 0.944 at k=10. Goal: LocalOutlierFactor's 0.977.",
        "",
    ]
    train, test, truth = _digits_novelty()
    rows, pca, medians = _detection_rows(train, test, truth, 10, digits_models, seeds)
    out.append(C.table(["method", "n_components", "ROC AUC"], rows))
    _record_detection(
        "digits", 10, pca, "LocalOutlierFactor", 0.977, medians, digits_models[0][0]
    )
    return "\n".join(out)


# ----------------------------------------------------- convolutional vs PCA


def _reconstruction_mse(model, X):
    return float(np.mean((model.inverse_transform(model.transform(X)) - X) ** 2))


def _conv_section(quick):
    X, _ = load_digits(return_X_y=True)
    train, test = train_test_split(X, test_size=0.25, random_state=SPLIT_SEED)
    seeds = _seeds(quick)
    pca = PCA(n_components=10).fit(train)
    pca_mse = _reconstruction_mse(pca, test)
    rows = [("PCA", f"{pca_mse:.3f}")]
    models = [
        (
            "AE (256, 128), batch_size=32, max_iter=60",
            lambda s: AutoencoderTransformer(
                10, batch_size=32, max_iter=60, random_state=s
            ),
        ),
        (
            "Conv AE (32, 64), image_shape=(8, 8), batch_size=32, "
            "learning_rate_init=2e-3, max_iter=60",
            lambda s: ConvolutionalAutoencoderTransformer(
                10,
                image_shape=(8, 8),
                batch_size=32,
                learning_rate_init=2e-3,
                max_iter=60,
                random_state=s,
            ),
        ),
    ]
    results = {}
    for name, make in models:
        results[name] = [_reconstruction_mse(make(s).fit(train), test) for s in seeds]
        rows.append((name, _summary(results[name])))
    conv = results[models[1][0]]
    C.record_target(
        "digits (8, 8), k=10: conv AE held-out MSE < PCA's",
        f"{max(conv):.3f} (worst seed) vs {pca_mse:.3f}",
        max(conv) < pca_mse,
    )
    default = ConvolutionalAutoencoderTransformer(
        10, image_shape=(8, 8), random_state=0
    )
    rows.append(
        (
            "Conv AE, defaults but image_shape=(8, 8) (seed 0 only)",
            f"{_reconstruction_mse(default.fit(train), test):.3f} "
            f"({default.n_iter_} epochs)",
        )
    )
    return "\n".join(
        [
            "### Convolutional autoencoder vs PCA on digits (n_components=10)",
            "",
            "Mean squared error per pixel (pixels range 0-16) on 25% held-out "
            "digits (`train_test_split(test_size=0.25, random_state=0)`), lower "
            "is better.",
            "",
            C.table(["model", "held-out MSE"], rows),
        ]
    )


# ---------------------------------------------------------------- sampling


def _sampling_section(quick):
    X, y = load_digits(return_X_y=True)
    train, test, y_train, _ = train_test_split(
        X, y, test_size=0.25, random_state=SPLIT_SEED
    )
    classifier = LogisticRegression(max_iter=2000).fit(train, y_train)
    neighbours = NearestNeighbors(n_neighbors=1).fit(train)
    spread = train.std(axis=0).sum()

    def describe(name, S):
        shares = np.bincount(classifier.predict(S), minlength=10) / len(S)
        return (
            name,
            f"{np.abs(S.mean(axis=0) - train.mean(axis=0)).mean():.2f}",
            f"{S.std(axis=0).sum() / spread:.2f}",
            f"{neighbours.kneighbors(S)[0].mean():.1f}",
            f"{shares.min():.3f}",
        )

    vae = VariationalAutoencoderTransformer(
        10, batch_size=32, max_iter=60, random_state=0
    ).fit(train)
    samples = vae.sample(1000, random_state=0)
    same = np.array_equal(samples, vae.sample(1000, random_state=0))
    gaussian = np.random.default_rng(0).multivariate_normal(
        train.mean(axis=0), np.cov(train.T), size=1000
    )
    rows = [
        describe("real held-out digits", test),
        describe("VAE samples (k=10, (256, 128), max_iter=60)", samples),
        describe("Gaussian fitted to the training digits", gaussian),
    ]
    return "\n".join(
        [
            "### VariationalAutoencoderTransformer.sample on digits",
            "",
            "1000 rows from `sample(1000, random_state=0)` after fitting on 75% "
            "of the digits. Columns: mean absolute gap between per-pixel means "
            "of the rows and of the training digits; summed per-pixel standard "
            "deviation relative to the training digits; mean Euclidean distance "
            "to the nearest training digit; smallest share of any class among "
            "the rows, as labelled by a logistic regression trained on the "
            "training digits (0.1 = perfectly balanced). "
            f"Same random_state gives the same rows: {same}.",
            "",
            C.table(
                [
                    "rows",
                    "mean gap",
                    "std ratio",
                    "nearest-training distance",
                    "smallest class share",
                ],
                rows,
            ),
        ]
    )


# --------------------------------------------------------------- denoising


def _denoising_section(quick):
    X, _ = load_digits(return_X_y=True)
    train, test = train_test_split(X, test_size=0.25, random_state=SPLIT_SEED)
    rng = np.random.default_rng(0)
    corruptions = {
        "gaussian, sd 4": ("gaussian", 4.0, test + rng.normal(0.0, 4.0, test.shape)),
        "masking, 30% set to 0": (
            "masking",
            0.3,
            np.where(rng.random(test.shape) < 0.3, 0.0, test),
        ),
    }
    k = 16
    common = dict(batch_size=32, max_iter=60, random_state=0)
    pca = PCA(n_components=k).fit(train)
    plain = AutoencoderTransformer(k, **common).fit(train)

    def rebuild(model, Z):
        return model.inverse_transform(model.transform(Z))

    rows = []
    for name, (noise, level, noisy) in corruptions.items():
        dae = DenoisingAutoencoderTransformer(
            k, noise=noise, noise_level=level, **common
        ).fit(train)
        errors = [
            noisy,
            rebuild(pca, noisy),
            rebuild(plain, noisy),
            rebuild(dae, noisy),
            rebuild(dae, test),
        ]
        errors = [float(np.mean((Z - test) ** 2)) for Z in errors]
        rows.append((name, *(f"{e:.2f}" for e in errors)))
        C.record_target(
            f"denoising digits ({name}): DAE MSE below the noisy input's and PCA's",
            f"{errors[3]:.2f} vs noisy {errors[0]:.2f}, PCA {errors[1]:.2f}",
            errors[3] < min(errors[0], errors[1]),
        )
    return "\n".join(
        [
            "### Denoising digits",
            "",
            "Models are fitted on clean training digits (75%); the held-out "
            "digits are corrupted once (numpy seed 0) and reconstructed. Numbers "
            "are mean squared errors per pixel against the clean held-out "
            f"digits. All models use n_components={k}; the autoencoders use "
            "(256, 128), batch_size=32, max_iter=60, random_state=0, and the "
            "denoising autoencoder is trained with the same kind and level of "
            "noise as the test corruption.",
            "",
            C.table(
                [
                    "corruption",
                    "noisy input",
                    "PCA",
                    "AE",
                    "DAE",
                    "DAE on clean input",
                ],
                rows,
            ),
        ]
    )


def report(quick: bool) -> str:
    """Run every benchmark of this file and return the results as markdown.

    Parameters
    ----------
    quick : bool
        One seed per model instead of five.

    Returns
    -------
    markdown : str
    """
    start = time.perf_counter()
    with C.torch_threads(C.WORK_THREADS), warnings.catch_warnings():
        # Short fits at fixed max_iter are intended here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        sections = [
            _outlier_section(quick),
            _conv_section(quick),
            _sampling_section(quick),
            _denoising_section(quick),
        ]
    elapsed = time.perf_counter() - start
    return (
        "## The autoencoder family\n\n"
        + "\n\n".join(sections)
        + f"\n\n_{'Quick' if quick else 'Full'} run; torch threads: "
        f"{C.WORK_THREADS}; {elapsed:.0f} s wall-clock on a shared machine._\n"
    )


if __name__ == "__main__":
    print(report(quick="--quick" in sys.argv[1:]))
