"""The fitted networks as PyTorch modules, and extending skae with a new loss.

``encoder_module()`` / ``decoder_module()`` hand out fresh float32 CPU
copies that take and give the user's units, so they equal ``transform`` /
``inverse_transform`` and can be fine-tuned in a supervised network. A
subclass defined here, outside the package, adds an L1 sparsity penalty on
the codes through the documented ``_loss`` hook and must remain a complete
scikit-learn estimator.
"""

from numbers import Real

import numpy as np
import pytest
import torch
from conftest import fast_params_for
from sklearn.utils._param_validation import Interval
from sklearn.utils.estimator_checks import check_estimator
from skorch import NeuralNetClassifier

from skae import AutoencoderTransformer

# Five-epoch fits on purpose: their ConvergenceWarning is expected.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _float32_close(actual, desired):
    desired = np.asarray(desired, dtype=np.float64)
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64), desired, rtol=0,
        atol=1e-5 * max(np.abs(desired).max(), 1.0),
    )


# ------------------------------------------------- encoder and decoder modules


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_modules_equal_transform_and_inverse_transform(Estimator, dtype, X_small, fitted_copy):
    est = fitted_copy(Estimator)
    X = (3.0 * X_small + 20.0).astype(dtype)  # units differ from the network's
    encoder, decoder = est.encoder_module(), est.decoder_module()
    with torch.no_grad():
        codes = encoder(torch.as_tensor(X, dtype=torch.float32))
        reconstruction = decoder(codes)
    assert codes.dtype == torch.float32
    assert codes.shape == (X.shape[0], est.n_components_)
    _float32_close(codes.numpy(), est.transform(X))
    _float32_close(reconstruction.numpy(), est.inverse_transform(est.transform(X)))


def test_modules_are_float32_cpu_and_trainable(Estimator, fitted_copy):
    est = fitted_copy(Estimator)
    for module in (est.encoder_module(), est.decoder_module()):
        assert isinstance(module, torch.nn.Module)
        parameters = list(module.parameters())
        assert parameters
        assert all(p.requires_grad for p in parameters)
        assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in parameters)


def test_modules_are_copies(Estimator, X_small, fitted_copy, snapshot):
    est = fitted_copy(Estimator)
    before = snapshot(est, X_small)
    encoder, decoder = est.encoder_module(), est.decoder_module()
    assert est.encoder_module() is not encoder
    # A few gradient steps on the modules, as fine-tuning would take.
    optimizer = torch.optim.SGD([*encoder.parameters(), *decoder.parameters()], lr=1e-3)
    x = torch.as_tensor(X_small, dtype=torch.float32)
    start = [p.detach().clone() for p in encoder.parameters()]
    for _ in range(3):
        optimizer.zero_grad()
        loss = (decoder(encoder(x)) - x).square().mean()
        loss.backward()
        optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(start, encoder.parameters()))
    before.assert_unchanged(est)
    # A new copy still starts from the fitted weights.
    with torch.no_grad():
        _float32_close(est.encoder_module()(x).numpy(), est.transform(X_small))


def test_encoder_inside_a_skorch_classifier(digits):
    X, y = digits
    X = X[:600].astype(np.float32)
    y = y[:600].astype(np.int64)
    ae = AutoencoderTransformer(**fast_params_for(AutoencoderTransformer, n_components=16))
    ae.fit(X)
    head = torch.nn.Linear(16, 10)
    net = NeuralNetClassifier(
        torch.nn.Sequential(ae.encoder_module(), head),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=4,
        batch_size=64,
        train_split=None,
        iterator_train__shuffle=False,
        verbose=0,
    ).fit(X, y)
    losses = net.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    predicted = net.predict(X)
    assert predicted.shape == y.shape
    assert set(np.unique(predicted)) <= set(range(10))
    assert np.mean(predicted == y) > 0.3  # ten classes: chance is 0.1


# ------------------------------------------------- a subclass outside skae


class SparseAutoencoder(AutoencoderTransformer):
    """Autoencoder with an L1 penalty on the codes (a test-only example)."""

    _parameter_constraints = {
        **AutoencoderTransformer._parameter_constraints,
        "sparsity": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self, n_components=None, *, sparsity=1e-3, hidden_layer_sizes=(256, 128),
        activation="relu", alpha=0.0, batch_size="auto", learning_rate_init=1e-3,
        max_iter="auto", tol=1e-4, n_iter_no_change=10, early_stopping=True,
        validation_fraction=0.1, random_state=None, verbose=0, warm_start=False,
        device="cpu",
    ):
        super().__init__(
            n_components, hidden_layer_sizes=hidden_layer_sizes,
            activation=activation, alpha=alpha, batch_size=batch_size,
            learning_rate_init=learning_rate_init, max_iter=max_iter, tol=tol,
            n_iter_no_change=n_iter_no_change, early_stopping=early_stopping,
            validation_fraction=validation_fraction, random_state=random_state,
            verbose=verbose, warm_start=warm_start, device=device,
        )
        self.sparsity = sparsity

    def _loss(self, output, target, X):
        return super()._loss(output, target, X) + self.sparsity * output[1].abs().mean()


def _sparse_params(**overrides):
    return {"n_components": 8, "hidden_layer_sizes": (16,), "max_iter": 5,
            "random_state": 0, **overrides}


def test_subclass_with_its_own_loss_fits(X_small):
    plain = SparseAutoencoder(**_sparse_params(sparsity=0.0)).fit(X_small)
    sparse = SparseAutoencoder(**_sparse_params(sparsity=1.0)).fit(X_small)
    assert sparse.n_components_ == 8
    assert sparse.get_params()["sparsity"] == 1.0
    # The penalty changes what is learnt: smaller codes on average.
    assert np.abs(sparse.transform(X_small)).mean() < np.abs(plain.transform(X_small)).mean()
    # With sparsity=0 it is the plain autoencoder.
    reference = AutoencoderTransformer(**_sparse_params()).fit(X_small)
    np.testing.assert_array_equal(plain.transform(X_small), reference.transform(X_small))


def test_subclass_rejects_a_bad_sparsity(X_small):
    with pytest.raises(ValueError, match="sparsity"):
        SparseAutoencoder(**_sparse_params(sparsity=-1.0)).fit(X_small)


def test_subclass_warm_starts_after_changing_sparsity(X_small):
    est = SparseAutoencoder(**_sparse_params(warm_start=True)).fit(X_small)
    weights = {k: v.copy() for k, v in est._model["weights"].items()}
    curve = list(est.loss_curve_)
    est.set_params(sparsity=0.5).fit(X_small)  # not an architecture parameter
    assert est.n_iter_ == 10
    assert est.loss_curve_[:5] == curve
    assert any(not np.array_equal(weights[k], v) for k, v in est._model["weights"].items())
    est.partial_fit(X_small)
    assert est.n_iter_ == 11


def test_subclass_passes_check_estimator():
    # A tiny network and five epochs keep the checks quick; the module-level
    # filter covers the ConvergenceWarning that five epochs give.
    check_estimator(SparseAutoencoder(hidden_layer_sizes=(8,), max_iter=5))
