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


