"""The variant shown in docs/developers.rst, run exactly as the page writes it."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator

from skae import AutoencoderTransformer

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


def _params(**overrides):
    return {"n_components": 8, "hidden_layer_sizes": (16,), "max_iter": 5,
            "random_state": 0, **overrides}


@pytest.fixture(autouse=True)
def _short_fits_warn():
    # Five epochs keep these tests quick and end in a ConvergenceWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def test_sparse_variant_passes_check_estimator():
    check_estimator(SparseAutoencoder())


def test_sparsity_changes_what_is_learnt(X_small):
    plain = SparseAutoencoder(**_params(sparsity=0.0)).fit(X_small)
    sparse = SparseAutoencoder(**_params(sparsity=1.0)).fit(X_small)
    assert sparse.get_params()["sparsity"] == 1.0
    assert np.abs(sparse.transform(X_small)).mean() < np.abs(plain.transform(X_small)).mean()
    # With sparsity=0 it is the plain autoencoder.
    reference = AutoencoderTransformer(**_params()).fit(X_small)
    np.testing.assert_array_equal(plain.transform(X_small), reference.transform(X_small))


def test_bad_sparsity_is_refused(X_small):
    with pytest.raises(ValueError, match="sparsity"):
        SparseAutoencoder(**_params(sparsity=-1.0)).fit(X_small)


def test_warm_start_after_a_new_sparsity_continues(X_small):
    est = SparseAutoencoder(**_params(warm_start=True)).fit(X_small)
    weights = {k: v.copy() for k, v in est._model["weights"].items()}
    curve = list(est.loss_curve_)
    est.set_params(sparsity=0.5).fit(X_small)  # not an architecture parameter
    assert est.n_iter_ == 10
    assert est.loss_curve_[:5] == curve
    assert any(not np.array_equal(weights[k], v) for k, v in est._model["weights"].items())


def test_signature_lists_inherited_parameters():
    names = set(SparseAutoencoder().get_params())
    assert {"sparsity", "n_components", "hidden_layer_sizes", "warm_start"} <= names
    with pytest.raises(TypeError, match="unexpected keyword"):
        SparseAutoencoder(sparsty=0.1)
