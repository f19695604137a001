"""The variant shown in docs/developers.rst, run exactly as the page writes it."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator

PAGE = Path(__file__).resolve().parents[1] / "docs" / "developers.rst"


def _page_class():
    text = PAGE.read_text()
    block = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text).group(1)
    code = "\n".join(line[3:] for line in block.splitlines())
    namespace = {"__name__": __name__}
    exec(compile(code, str(PAGE), "exec"), namespace)
    return namespace["SparseAutoencoder"]


# At module level, so that pickle finds the class (check_estimator pickles).
SparseAutoencoder = _page_class()


def test_sparse_variant_passes_check_estimator():
    check_estimator(SparseAutoencoder())


def test_sparsity_enters_the_loss():
    import torch

    est = SparseAutoencoder(4, sparsity=0.5, random_state=0)
    reconstruction = torch.zeros(3, 2)
    code = torch.ones(3, 4)
    target = torch.zeros(3, 2)
    assert est._loss((reconstruction, code), target, target).item() == pytest.approx(0.5)
    est.set_params(sparsity=0.0)
    assert est._loss((reconstruction, code), target, target).item() == 0.0


def test_sparse_variant_warm_starts_after_a_new_sparsity(X_small):
    est = SparseAutoencoder(4, sparsity=0.01, random_state=0).fit(X_small)
    first_epochs = est.n_iter_
    codes = est.transform(X_small)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.set_params(sparsity=1.0, warm_start=True).fit(X_small)
    assert est.n_iter_ > first_epochs  # it continued rather than restarted
    assert est.transform(X_small).shape == codes.shape
    assert np.isfinite(est.transform(X_small)).all()
