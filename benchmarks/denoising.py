"""Denoising digits: reconstructions of noisy images against the clean ones.

scikit-learn's digits-denoising setting, in the pixels' own units (0..16):
1,000 training rows (stratified split), the other 797 for testing, Gaussian
noise of standard deviation 4 added to both; models are fitted on the noisy
training rows. ``n_components=None`` is compared with ``PCA(0.95)``.
"""

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import _harness as H
from skae import AutoencoderTransformer, DenoisingAutoencoderTransformer

args = H.options(__doc__.splitlines()[0])
SEEDS = [0] if args.quick else [0, 1, 2]
KS = [10] if args.quick else [10, None]
SD = 4.0
LEVELS = [4.0] if args.quick else [2.0, 4.0]  # extra noise added while training


def candidates(k, seed):
    yield "PCA", PCA(0.95 if k is None else k)
    yield "skae AutoencoderTransformer", AutoencoderTransformer(k, random_state=seed)
    for level in LEVELS:
        name = f"skae DenoisingAutoencoderTransformer, noise_level={level:g}"
        yield name, DenoisingAutoencoderTransformer(k, noise_level=level, random_state=seed)


def mse(A, B):
    return float(np.mean((A - B) ** 2))


X, y = load_digits(return_X_y=True)
rows = []
for k in KS:
    print(f"denoising: n_components={k}", flush=True)
    errors, widths = {"noisy input": []}, {"noisy input": {64}}
    for seed in SEEDS:
        train, test = train_test_split(X, train_size=1000, stratify=y, random_state=seed)
        rng = np.random.default_rng(seed)
        noisy_train = train + rng.normal(0.0, SD, train.shape)
        noisy_test = test + rng.normal(0.0, SD, test.shape)
        errors["noisy input"].append(mse(noisy_test, test))
        for name, model in candidates(k, seed):
            errors.setdefault(name, [])
            widths.setdefault(name, set())
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(noisy_train)
            except (TypeError, ValueError) as exc:  # n_components=None on older versions
                print(f"  {name}: {exc}", flush=True)
                errors[name].append(float("nan"))
                continue
            codes = model.transform(noisy_test)
            widths[name].add(codes.shape[1])
            errors[name].append(mse(model.inverse_transform(codes), test))
    noisy = np.median(errors["noisy input"])
    for name, values in errors.items():
        width = "/".join(str(w) for w in sorted(widths[name])) or "-"
        label = "None (PCA: 0.95)" if k is None else k
        rows.append([label, name, width, np.median(values), max(values),
                     np.median(values) / noisy])

H.save("denoising", args, H.table(
    ["n_components", "reconstruction of the noisy test rows", "width", "MSE vs clean (median)",
     "MSE (worst seed)", "x noisy input"], rows))
