"""Pickling, joblib, clone, version stamps and devices: a saved model is numpy data.

scikit-learn's checks already compare a pickled estimator's outputs with the
original's. Here, on every registered transformer: the pickle holds no torch
or skorch object, training continues identically after a round trip (the
optimizer state travels too), the saved state carries skae's version, and a
model saved on a GPU machine loads and transforms on a CPU-only one.
"""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from conftest import assert_same, fast_params_for
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import skae

# Five-epoch fits on purpose: their ConvergenceWarning is expected.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
without_cuda = pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the fallback on a machine without CUDA"
)


class _NoTorchUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global from torch or skorch.

    Every class or function a pickle refers to is looked up through
    ``find_class``, so a pickle that loads through this unpickler holds no
    torch or skorch object at all.
    """

    def find_class(self, module, name):
        if module.split(".")[0] in ("torch", "skorch"):
            raise pickle.UnpicklingError(f"pickle refers to {module}.{name}")
        return super().find_class(module, name)


def _load_without_torch(data):
    return _NoTorchUnpickler(io.BytesIO(data)).load()


def _outputs(est, X):
    codes = est.transform(X)
    return codes, est.inverse_transform(codes), est.score_samples(X)


def _assert_same_outputs(est, other, X):
    for got, want in zip(_outputs(other, X), _outputs(est, X)):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype


def _round_trip(est, how, tmp_path):
    if how == "pickle":
        return pickle.loads(pickle.dumps(est))
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    return joblib.load(path)


@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_round_trip_keeps_the_whole_model(Estimator, how, X_small, fitted_copy, tmp_path):
    est = fitted_copy(Estimator)
    est.transform(X_small.astype(np.float32))  # fill the inference cache first
    loaded = _round_trip(est, how, tmp_path)
    assert type(loaded) is Estimator
    assert loaded.get_params() == est.get_params()
    assert_same(loaded._model, est._model, "_model")
    for name in ("loss_curve_", "n_iter_", "validation_scores_", "n_components_"):
        assert getattr(loaded, name) == getattr(est, name)
    _assert_same_outputs(est, loaded, X_small.astype(np.float32))


@pytest.mark.parametrize("state", ["fit", "partial_fit", "transformed"])
def test_pickle_holds_no_torch_or_skorch_object(Estimator, make, state, X_small):
    if state == "partial_fit":
        est = make().partial_fit(X_small).partial_fit(X_small)
    else:
        est = make().fit(X_small)
    if state == "transformed":
        est.transform(X_small)
        est.transform(X_small.astype(np.float32))
        est.score(X_small)
        est.encoder_module()
        est.module_  # noqa: B018 - building the module copy must not stick
    loaded = _load_without_torch(pickle.dumps(est))
    _assert_same_outputs(est, loaded, X_small)


def test_guard_unpickler_detects_torch_objects():
    # The check above can fail: a tensor in the pickle is refused.
    data = pickle.dumps({"weights": torch.zeros(2)})
    with pytest.raises(pickle.UnpicklingError, match="torch"):
        _load_without_torch(data)


@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_every_estimator_round_trips_without_torch(AnyEstimator, how, X_small, tmp_path):
    # The detector too: score_samples is the method every estimator shares.
    est = AnyEstimator(**fast_params_for(AnyEstimator)).fit(X_small)
    scores = est.score_samples(X_small)
    loaded = _load_without_torch(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.score_samples(X_small), scores)
    again = _round_trip(est, how, tmp_path)
    np.testing.assert_array_equal(again.score_samples(X_small), scores)
    if hasattr(est, "predict"):
        np.testing.assert_array_equal(loaded.predict(X_small), est.predict(X_small))


def test_module_copy_is_independent_of_the_estimator(Estimator, X_small, fitted_copy):
    est = fitted_copy(Estimator)
    codes = est.transform(X_small)
    module = est.module_
    assert isinstance(module, torch.nn.Module)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    np.testing.assert_array_equal(est.transform(X_small), codes)
    x = torch.as_tensor((X_small - est.mean_) / est.scale_, dtype=torch.float32)
    with torch.no_grad():
        units = est.module_.encode(x).numpy()
    # The module works in network units; the plain and convolutional codes
    # are rescaled to the input's units, the variational ones are not.
    factor = np.abs(codes).max() / np.abs(units).max()
    assert factor in (pytest.approx(1.0), pytest.approx(est.scale_))
    np.testing.assert_allclose(units * factor, codes, rtol=1e-4, atol=1e-4)


def test_clone_gives_an_unfitted_estimator(Estimator, X_small, fitted_copy):
    est = fitted_copy(Estimator)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        twin.transform(X_small)
    assert not hasattr(twin, "n_iter_")
    assert "_model" not in vars(twin)
    # Fitting the clone gives the same model and does not touch the original.
    codes = est.transform(X_small)
    np.testing.assert_array_equal(twin.fit(X_small).transform(X_small), codes)
    twin.partial_fit(X_small)
    np.testing.assert_array_equal(est.transform(X_small), codes)


@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_partial_fit_continues_identically_after_round_trip(
    Estimator, how, X_small, fitted_copy, tmp_path
):
    est = fitted_copy(Estimator)
    loaded = _round_trip(est, how, tmp_path)
    for _ in range(2):
        est.partial_fit(X_small)
        loaded.partial_fit(X_small)
    assert loaded.loss_curve_ == est.loss_curve_
    assert loaded.n_iter_ == est.n_iter_ == 5 + 2
    assert_same(loaded._model, est._model, "_model")
    _assert_same_outputs(est, loaded, X_small)


def test_partial_fit_resumes_the_optimizer_state(Estimator, X_small, fitted_copy):
    # The round trip test above only means something if the optimizer state
    # matters: a model that restarts Adam from scratch must end elsewhere.
    est = fitted_copy(Estimator)
    est.partial_fit(X_small)
    assert est._model["optimizer_state"]["state"]
    restarted = pickle.loads(pickle.dumps(est))
    restarted._model = {**restarted._model, "optimizer_state": None}
    est.partial_fit(X_small)
    restarted.partial_fit(X_small)
    assert not np.array_equal(est.transform(X_small), restarted.transform(X_small))


def test_warm_start_continues_identically_after_round_trip(Estimator, X_small, fitted_copy):
    est = fitted_copy(Estimator, warm_start=True)
    loaded = pickle.loads(pickle.dumps(est))
    est.fit(X_small)
    loaded.fit(X_small)
    assert loaded.loss_curve_ == est.loss_curve_
    assert est.n_iter_ == 10
    _assert_same_outputs(est, loaded, X_small)


# ----------------------------------------------------------- version stamp


def test_pickle_stores_the_version(Estimator, fitted_copy):
    est = fitted_copy(Estimator)
    state = est.__getstate__()
    assert state["_skae_version"] == skae.__version__
    assert "_skae_version" not in vars(est)
    assert "_cache" not in state


def test_unpickling_another_version_warns(Estimator, X_small, fitted_copy):
    est = fitted_copy(Estimator)
    state = est.__getstate__()
    state["_skae_version"] = "0.0.1"
    loaded = Estimator.__new__(Estimator)
    with pytest.warns(skae.InconsistentVersionWarning, match="0.0.1"):
        loaded.__setstate__(state)
    # Warned, not refused: the state still loads.
    np.testing.assert_array_equal(loaded.transform(X_small), est.transform(X_small))


def test_unpickling_the_same_version_is_silent(Estimator, fitted_copy):
    data = pickle.dumps(fitted_copy(Estimator))
    with warnings.catch_warnings():
        warnings.simplefilter("error", skae.InconsistentVersionWarning)
        pickle.loads(data)


def test_unfitted_estimator_unpickles_silently_whatever_the_version(Estimator):
    state = Estimator().__getstate__()
    state["_skae_version"] = "0.0.1"
    loaded = Estimator.__new__(Estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("error", skae.InconsistentVersionWarning)
        loaded.__setstate__(state)


# ------------------------------------------------------------------- devices


def _with_device_set(est, device):
    est.set_params(device=device)
    return est


def _with_device_in_pickled_state(est, device):
    # What a model saved on a GPU machine looks like when loaded here.
    state = pickle.loads(pickle.dumps(est.__getstate__()))
    state["device"] = device
    loaded = type(est).__new__(type(est))
    loaded.__setstate__(state)
    return loaded


@without_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "auto"])
@pytest.mark.parametrize("move", [_with_device_set, _with_device_in_pickled_state])
def test_gpu_model_transforms_on_a_machine_without_gpu(
    Estimator, device, move, X_small, fitted_copy
):
    est = fitted_copy(Estimator)
    expected = _outputs(est, X_small)
    moved = move(pickle.loads(pickle.dumps(est)), device)
    assert moved.device == device
    for got, want in zip(_outputs(moved, X_small), expected):
        np.testing.assert_array_equal(got, want)
    assert isinstance(moved.score(X_small), float)


@requires_cuda
def test_fit_on_cuda(Estimator, make, X_small):
    est = make(device="cuda").fit(X_small)
    codes = est.transform(X_small)
    assert isinstance(codes, np.ndarray)
    assert codes.dtype == np.float64
    assert est.transform(X_small.astype(np.float32)).dtype == np.float32
    assert np.all(np.isfinite(codes))
    # The saved model is plain numpy and gives the same codes on the CPU.
    on_cpu = _load_without_torch(pickle.dumps(est)).set_params(device="cpu")
    np.testing.assert_allclose(on_cpu.transform(X_small), codes, rtol=1e-4, atol=1e-4)
    # The modules are CPU float32 copies whatever the training device.
    encoder = est.encoder_module()
    assert all(p.device.type == "cpu" for p in encoder.parameters())
    # Training continues on the GPU from the stored optimizer state.
    est.partial_fit(X_small)
    assert est.n_iter_ == 5 + 1


@requires_cuda
def test_cuda_fit_is_reproducible(Estimator, make, X_small):
    first = make(device="cuda").fit(X_small)
    second = make(device="cuda").fit(X_small)
    np.testing.assert_allclose(
        first.transform(X_small), second.transform(X_small), rtol=1e-5, atol=1e-5
    )
