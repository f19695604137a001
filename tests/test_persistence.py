"""Pickling, joblib, clone and devices: a saved model is plain numpy data."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skae import AutoencoderTransformer, DenoisingAutoencoderTransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoderTransformer]

requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"
)
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


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("how", ["pickle", "joblib"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_gives_identical_outputs(
    Estimator, how, dtype, X_small, fast_params, tmp_path
):
    est = Estimator(n_components=3, **fast_params).fit(X_small)
    X = X_small.astype(dtype)
    est.transform(X)  # fill any inference cache before saving
    loaded = _round_trip(est, how, tmp_path)
    assert type(loaded) is Estimator
    assert loaded.get_params() == est.get_params()
    _assert_same_outputs(est, loaded, X)
    assert loaded.loss_curve_ == est.loss_curve_
    assert loaded.n_iter_ == est.n_iter_


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "state", ["fit", "partial_fit", "early_stopping", "transformed"]
)
def test_pickle_holds_no_torch_or_skorch_object(Estimator, state, X_small, fast_params):
    if state == "early_stopping":
        est = Estimator(early_stopping=True, **fast_params).fit(X_small)
    elif state == "partial_fit":
        est = Estimator(**fast_params).partial_fit(X_small).partial_fit(X_small)
    else:
        est = Estimator(**fast_params).fit(X_small)
    if state == "transformed":
        est.transform(X_small)
        est.transform(X_small.astype(np.float32))
        est.score(X_small)
        est.module_  # noqa: B018 - building the module copy must not stick
    loaded = _load_without_torch(pickle.dumps(est))
    _assert_same_outputs(est, loaded, X_small)


def test_guard_unpickler_detects_torch_objects():
    # The check above can fail: a tensor in the pickle is refused.
    data = pickle.dumps({"weights": torch.zeros(2)})
    with pytest.raises(pickle.UnpicklingError, match="torch"):
        _load_without_torch(data)


def test_module_copy_is_independent_of_the_estimator(X_small, fast_params):
    est = AutoencoderTransformer(n_components=3, **fast_params).fit(X_small)
    codes = est.transform(X_small)
    module = est.module_
    assert isinstance(module, torch.nn.Module)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    np.testing.assert_array_equal(est.transform(X_small), codes)
    x = torch.as_tensor((X_small - est.mean_) / est.scale_, dtype=torch.float32)
    with torch.no_grad():
        assert est.module_.encode(x).shape == (X_small.shape[0], 3)
        np.testing.assert_allclose(
            est.module_.encode(x).numpy(), codes, rtol=1e-4, atol=1e-4
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_gives_an_unfitted_estimator(Estimator, X_small, fast_params):
    est = Estimator(n_components=3, **fast_params).fit(X_small)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        twin.transform(X_small)
    assert not hasattr(twin, "n_iter_")
    # Fitting the clone gives the same model and does not touch the original.
    codes = est.transform(X_small)
    np.testing.assert_array_equal(twin.fit(X_small).transform(X_small), codes)
    twin.partial_fit(X_small)
    np.testing.assert_array_equal(est.transform(X_small), codes)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_partial_fit_continues_identically_after_round_trip(
    Estimator, how, X_small, fast_params, tmp_path
):
    est = Estimator(n_components=3, **fast_params).fit(X_small)
    loaded = _round_trip(est, how, tmp_path)
    for _ in range(2):
        est.partial_fit(X_small)
        loaded.partial_fit(X_small)
    assert loaded.loss_curve_ == est.loss_curve_
    assert loaded.n_iter_ == est.n_iter_ == fast_params["max_iter"] + 2
    _assert_same_outputs(est, loaded, X_small)


def test_partial_fit_resumes_the_optimizer_state(X_small, fast_params):
    # The round trip test above only means something if the optimizer state
    # matters: a model that restarts Adam from scratch must end elsewhere.
    est = AutoencoderTransformer(n_components=3, **fast_params).fit(X_small)
    restarted = pickle.loads(pickle.dumps(est))
    restarted._optimizer_state = None
    est.partial_fit(X_small)
    restarted.partial_fit(X_small)
    assert not np.array_equal(est.transform(X_small), restarted.transform(X_small))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_continues_identically_after_round_trip(
    Estimator, X_small, fast_params
):
    est = Estimator(n_components=3, warm_start=True, **fast_params).fit(X_small)
    loaded = pickle.loads(pickle.dumps(est))
    est.fit(X_small)
    loaded.fit(X_small)
    assert loaded.loss_curve_ == est.loss_curve_
    _assert_same_outputs(est, loaded, X_small)


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
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "auto"])
@pytest.mark.parametrize("move", [_with_device_set, _with_device_in_pickled_state])
def test_gpu_model_transforms_on_a_machine_without_gpu(
    Estimator, device, move, X_small, fast_params
):
    est = Estimator(n_components=3, **fast_params).fit(X_small)
    expected = _outputs(est, X_small)
    moved = move(pickle.loads(pickle.dumps(est)), device)
    assert moved.device == device
    for got, want in zip(_outputs(moved, X_small), expected):
        np.testing.assert_array_equal(got, want)
    assert isinstance(moved.score(X_small), float)


@requires_cuda
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_on_cuda(Estimator, X_small, fast_params):
    est = Estimator(n_components=3, device="cuda", **fast_params).fit(X_small)
    codes = est.transform(X_small)
    assert isinstance(codes, np.ndarray)
    assert codes.dtype == np.float64
    assert est.transform(X_small.astype(np.float32)).dtype == np.float32
    assert np.all(np.isfinite(codes))
    # The saved model is plain numpy and gives the same codes on the CPU.
    on_cpu = _load_without_torch(pickle.dumps(est)).set_params(device="cpu")
    np.testing.assert_allclose(on_cpu.transform(X_small), codes, rtol=1e-4, atol=1e-5)
    # Training continues on the GPU from the stored optimizer state.
    est.partial_fit(X_small)
    assert est.n_iter_ == fast_params["max_iter"] + 1


@requires_cuda
def test_cuda_fit_is_reproducible(X_small, fast_params):
    first = AutoencoderTransformer(device="cuda", **fast_params).fit(X_small)
    second = AutoencoderTransformer(device="cuda", **fast_params).fit(X_small)
    np.testing.assert_allclose(
        first.transform(X_small), second.transform(X_small), rtol=1e-5, atol=1e-6
    )
