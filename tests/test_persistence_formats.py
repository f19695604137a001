"""skae.save / skae.load (safetensors, no pickle) and skops.io."""

import json
import pickle
import struct
import warnings
import zipfile

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)
from skae import _persistence
from skae._persistence import load, save

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = {"hidden_layer_sizes": (8,), "max_iter": 2, "learning_rate_init": 1e-2, "random_state": 0}


def _make(name):
    if name == "ae":
        return AutoencoderTransformer(3, **TINY)
    if name == "dae":
        return DenoisingAutoencoderTransformer(3, noise="salt_and_pepper", **TINY)
    if name == "vae":
        return VariationalAutoencoderTransformer(3, **TINY)
    if name == "cae":
        return ConvolutionalAutoencoderTransformer(
            3, **{**TINY, "hidden_layer_sizes": (2,)}, image_shape=(8, 8)
        )
    return AutoencoderOutlierDetector(
        DenoisingAutoencoderTransformer(3, **TINY), contamination=0.1, random_state=0
    )


NAMES = ["ae", "dae", "vae", "cae", "detector"]


def _fitted(name, X, how="partial_fit"):
    """A fitted estimator. ``partial_fit`` trains the nonlinear branches and
    leaves an optimizer state to save; ``fit`` sets the validation attributes."""
    est = _make(name)
    if how == "fit" or name == "detector":
        return est.fit(X)
    return est.partial_fit(X).partial_fit(X)


def _outputs(est, X):
    if isinstance(est, AutoencoderOutlierDetector):
        return [
            est.predict(X), est.score_samples(X), est.decision_function(X),
            est.reconstruction_errors(X),
        ]
    codes = est.transform(X)
    return [codes, est.inverse_transform(codes), est.score_samples(X)]


def _assert_identical(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            _assert_identical(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_identical(x, y)
    elif hasattr(a, "get_params"):
        assert type(a) is type(b)
        _assert_identical(a.get_params(deep=False), b.get_params(deep=False))
    else:
        assert type(a) is type(b) and (a == b or (a != a and b != b)), (a, b)


def _fitted_attributes(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_round_trip_is_bit_identical(name, how, X_small, tmp_path):
    est = _fitted(name, X_small, how)
    path = tmp_path / "model.safetensors"
    save(est, path)
    loaded = load(path)
    assert type(loaded) is type(est)
    _assert_identical(loaded.get_params(deep=False), est.get_params(deep=False))
    _assert_identical(_fitted_attributes(loaded), _fitted_attributes(est))
    for dtype in (np.float64, np.float32):
        X = X_small.astype(dtype)
        for got, want in zip(_outputs(loaded, X), _outputs(est, X)):
            _assert_identical(got, want)


@pytest.mark.parametrize("name", ["ae", "dae", "vae", "cae"])
def test_partial_fit_continues_identically_after_loading(name, X_small, tmp_path):
    est = _fitted(name, X_small)
    save(est, tmp_path / "model.safetensors")
    loaded = load(tmp_path / "model.safetensors")
    before = est.transform(X_small)
    for model in (est, loaded):
        model.partial_fit(X_small)
    assert not np.array_equal(est.transform(X_small), before)  # it did train
    _assert_identical(loaded.loss_curve_, est.loss_curve_)
    for got, want in zip(_outputs(loaded, X_small), _outputs(est, X_small)):
        _assert_identical(got, want)


def test_the_saved_optimizer_state_matters(X_small, tmp_path):
    # The test above can fail: a model whose Adam state is dropped from the
    # file continues differently.
    est = _fitted("ae", X_small)
    save(est, tmp_path / "model.safetensors")
    restarted = load(tmp_path / "model.safetensors")
    restarted._model["optimizer_state"] = None
    est.partial_fit(X_small)
    restarted.partial_fit(X_small)
    assert not np.array_equal(est.transform(X_small), restarted.transform(X_small))


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_round_trip(name, X_small, tmp_path):
    est = _make(name)
    save(est, tmp_path / "model.safetensors")
    loaded = load(tmp_path / "model.safetensors")
    _assert_identical(loaded.get_params(deep=False), est.get_params(deep=False))
    with pytest.raises(NotFittedError):
        (loaded.predict if name == "detector" else loaded.transform)(X_small)
    # It fits to the same model as the original.
    for got, want in zip(
        _outputs(loaded.fit(X_small), X_small), _outputs(clone(est).fit(X_small), X_small)
    ):
        _assert_identical(got, want)


def test_feature_names_and_numpy_parameters_survive(X_small, tmp_path):
    import pandas as pd
    frame = pd.DataFrame(X_small, columns=[f"pixel{i}" for i in range(64)])
    est = AutoencoderTransformer(
        np.int64(3), **{**TINY, "hidden_layer_sizes": (np.int32(8),)}
    ).fit(frame)
    save(est, tmp_path / "model.safetensors")
    loaded = load(tmp_path / "model.safetensors")
    _assert_identical(loaded.feature_names_in_, est.feature_names_in_)
    assert type(loaded.n_components) is np.int64
    assert type(loaded.hidden_layer_sizes[0]) is np.int32
    _assert_identical(loaded.transform(frame), est.transform(frame))
    with pytest.raises(ValueError, match="feature names"):
        loaded.transform(frame.rename(columns={"pixel0": "other"}))


def test_random_state_instance_is_stored_as_its_state(X_small, tmp_path):
    rng = np.random.RandomState(42)
    rng.randint(10)  # not at its initial state
    est = AutoencoderTransformer(3, **{**TINY, "random_state": rng})
    save(est, tmp_path / "model.safetensors")
    loaded = load(tmp_path / "model.safetensors")
    assert isinstance(loaded.random_state, np.random.RandomState)
    assert loaded.random_state is not rng
    np.testing.assert_array_equal(
        loaded.random_state.randint(1 << 30, size=5), rng.randint(1 << 30, size=5)
    )


def test_unsupported_values_are_refused_when_saving(tmp_path):
    path = tmp_path / "model.safetensors"
    with pytest.raises(TypeError, match="random_state.*Generator"):
        save(AutoencoderTransformer(random_state=np.random.default_rng(0)), path)
    with pytest.raises(TypeError, match="skae's own estimators.*PCA"):
        save(PCA(), path)
    with pytest.raises(TypeError, match=r"params\['estimator'\].*PCA; skae.save stores"):
        save(AutoencoderOutlierDetector(PCA(2)), path)
    with pytest.raises(TypeError, match="Pipeline"):
        save(make_pipeline(AutoencoderTransformer()), path)

    class Custom(AutoencoderTransformer):
        pass

    with pytest.raises(TypeError, match="Custom"):
        save(Custom(), path)
    assert not path.exists()


def test_loading_runs_no_pickle(X_small, tmp_path, monkeypatch):
    est = _fitted("detector", X_small)
    save(est, tmp_path / "model.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    _assert_identical(load(tmp_path / "model.safetensors").predict(X_small), est.predict(X_small))


# ----------------------------------------------------------------- tampering


def _read_raw(path):
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    return header, data[8 + size :]


def _write_raw(path, header, body):
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)


def _edit(path, change):
    """Rewrite the skae document in the file's metadata with ``change(doc)``."""
    header, body = _read_raw(path)
    document = json.loads(header["__metadata__"]["skae"])
    result = change(document)
    header["__metadata__"]["skae"] = (
        result if isinstance(result, str) else json.dumps(document)
    )
    _write_raw(path, header, body)


def _params(document):
    return dict(document["estimator"]["params"]["dict"])


def _set_param(document, name, value):
    items = document["estimator"]["params"]["dict"]
    for item in items:
        if item[0] == name:
            item[1] = value


@pytest.fixture
def saved(X_small, tmp_path):
    path = tmp_path / "model.safetensors"
    save(_fitted("ae", X_small), path)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["estimator"].update({"class": "PCA"}), "'PCA', which is not one of skae"),
        (lambda d: d["estimator"].update({"class": "posix.system"}), "not one of skae"),
        (lambda d: d.update({"format_version": 2}), "newer skae"),
        (lambda d: d.update({"format_version": 0}), "invalid format version"),
        (lambda d: d.update({"format_version": "1"}), "invalid format version"),
        (lambda d: d.update({"format": "other"}), "not written by skae.save"),
        (lambda d: _set_param(d, "activation", "softmax"), "invalid parameters.*activation"),
        (lambda d: _set_param(d, "n_components", -3), "invalid parameters.*n_components"),
        (lambda d: _set_param(d, "hidden_layer_sizes", {"tuple": [9]}), "weight"),
        (lambda d: _set_param(d, "tol", {"pickle": "gASVAAAA"}), "unknown fields"),
        (lambda d: _set_param(d, "tol", {"float": "1e300"}), "invalid float"),
        (lambda d: d["estimator"]["params"]["dict"].pop(), "missing"),
        (lambda d: d["estimator"]["params"]["dict"].append(["evil", 1]), "unknown"),
        (lambda d: d["estimator"]["model"]["dict"].pop(), "fields"),
        (lambda d: d["estimator"].update({"extra": 1}), "unexpected fields"),
        (lambda d: d.update({"extra": 1}), "unexpected fields"),
        (lambda d: "[1, 2", "not valid JSON"),
        (lambda d: json.dumps(d).replace('"tol", 0.0001', '"tol", NaN'), "not valid JSON"),
        (lambda d: "[" * 100000 + "]" * 100000, "not valid JSON|nested"),
    ],
)
def test_tampered_metadata_is_refused(saved, change, message):
    _edit(saved, change)
    with pytest.raises(ValueError, match=message):
        load(saved)


def _model_item(document, key):
    for item in document["estimator"]["model"]["dict"]:
        if item[0] == key:
            return item


def test_inconsistent_fitted_state_is_refused(saved):
    # n_components_ in the public attributes disagrees with the network.
    def change(document):
        public = _model_item(document, "public")[1]["dict"]
        for item in public:
            if item[0] == "n_components_":
                item[1] = 4

    _edit(saved, change)
    with pytest.raises(ValueError, match="disagree"):
        load(saved)


def test_missing_and_extra_tensors_are_refused(saved):
    header, body = _read_raw(saved)
    original = dict(header)
    # A tensor the metadata does not describe, appended at the end.
    weights = next(k for k in header if k != "__metadata__")
    header["intruder"] = {
        "dtype": "F32", "shape": [1], "data_offsets": [len(body), len(body) + 4]
    }
    _write_raw(saved, header, body + b"\0\0\0\0")
    with pytest.raises(ValueError, match="tensors that the metadata does not describe"):
        load(saved)
    # A tensor the metadata needs is gone: the remaining ones are re-laid out.
    header = {k: v for k, v in original.items() if k != weights}
    start, end = original[weights]["data_offsets"]
    for value in header.values():
        if "data_offsets" in value and value["data_offsets"][0] >= end:
            value["data_offsets"] = [o - (end - start) for o in value["data_offsets"]]
    _write_raw(saved, header, body[:start] + body[end:])
    with pytest.raises(ValueError, match="does not hold"):
        load(saved)


def test_weights_of_the_wrong_dtype_are_refused(X_small, tmp_path):
    est = _fitted("ae", X_small)
    key = next(iter(est._model["weights"]))
    est._model["weights"][key] = est._model["weights"][key].astype(np.float64)
    save(est, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="float32"):
        load(tmp_path / "model.safetensors")


@pytest.mark.parametrize("cut", [4, 20, 300, -1])
def test_truncated_files_are_refused(saved, cut):
    data = saved.read_bytes()
    saved.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="truncated|not a safetensors|damaged"):
        load(saved)


def test_foreign_files_are_refused(tmp_path, X_small):
    from safetensors.numpy import save_file

    path = tmp_path / "model"
    path.write_bytes(pickle.dumps(AutoencoderTransformer()))
    with pytest.raises(ValueError, match="not a safetensors file"):
        load(path)
    save_file({"weight": np.zeros(3, dtype=np.float32)}, str(path))
    with pytest.raises(ValueError, match="not written by skae.save"):
        load(path)
    save_file({}, str(path), metadata={"skae": "{}"})
    with pytest.raises(ValueError, match="not written by skae.save"):
        load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a safetensors file"):
        load(path)
    with pytest.raises(ValueError, match="directory"):
        load(tmp_path)


def test_older_formats_are_upgraded_or_refused(saved, monkeypatch):
    monkeypatch.setattr(_persistence, "FORMAT_VERSION", 2)
    with pytest.raises(ValueError, match="format 1, which this version can no longer read"):
        load(saved)
    seen = []

    def upgrade(document):
        seen.append(document["format_version"])
        return {**document, "format_version": 2}

    monkeypatch.setattr(_persistence, "_UPGRADES", {1: upgrade})
    assert isinstance(load(saved), AutoencoderTransformer)
    assert seen == [1]


def test_tampered_detector_is_refused(X_small, tmp_path):
    path = tmp_path / "detector.safetensors"
    save(_fitted("detector", X_small), path)

    def change(document):
        state = document["estimator"]["state"]["dict"]
        for item in state:
            if item[0] == "offset_":
                item[1] = "0.5"

    _edit(path, change)
    with pytest.raises(ValueError, match="offset_"):
        load(path)
    # A parameter slipped into the fitted state would bypass its validation.
    save(_fitted("detector", X_small), path)
    _edit(path, lambda d: d["estimator"]["state"]["dict"].append(["contamination", 7.0]))
    with pytest.raises(ValueError, match="fitted state is invalid"):
        load(path)


def test_absurd_sizes_are_refused(saved):
    def change(document):
        _model_item(document, "n_components")[1] = 10**30

    _edit(saved, change)
    with pytest.raises(ValueError):
        load(saved)


# -------------------------------------------------------------------- devices


def _fit_on_cpu_then_mark_cuda(name, X):
    est = _fitted(name, X)
    target = est.estimator_ if name == "detector" else est
    target.set_params(device="cuda")  # what a model fitted on a GPU looks like
    return est


@pytest.mark.parametrize("name", ["ae", "detector"])
def test_model_marked_cuda_loads_and_runs_without_gpu(name, X_small, tmp_path):
    import skops.io as sio

    est = _fit_on_cpu_then_mark_cuda(name, X_small)
    save(est, tmp_path / "model.safetensors")
    sio.dump(est, tmp_path / "model.skops")
    for loaded in (
        load(tmp_path / "model.safetensors"),
        sio.load(tmp_path / "model.skops", trusted=sio.get_untrusted_types(
            file=tmp_path / "model.skops")),
    ):
        inner = loaded.estimator_ if name == "detector" else loaded
        assert inner.device == "cuda"
        for got, want in zip(_outputs(loaded, X_small), _outputs(est, X_small)):
            if torch.cuda.is_available():  # runs on the GPU: close, not identical
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
            else:  # falls back to the CPU
                _assert_identical(got, want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_model_fitted_on_gpu_loads_on_cpu(X_small, tmp_path):
    est = AutoencoderTransformer(3, **{**TINY, "device": "cuda"}).fit(X_small)
    save(est, tmp_path / "model.safetensors")
    loaded = load(tmp_path / "model.safetensors").set_params(device="cpu")
    np.testing.assert_allclose(
        loaded.transform(X_small), est.transform(X_small), rtol=1e-4, atol=1e-5
    )


# ---------------------------------------------------------------------- skops


def _skae_types(types):
    return [t for t in types if t.startswith("skae.")]


@pytest.mark.parametrize("name", NAMES)
def test_skops_flags_only_skae_types(name, X_small, y_small, tmp_path):
    import skops.io as sio

    est = _fitted(name, X_small)
    model = est if name == "detector" else make_pipeline(
        StandardScaler(), est, LogisticRegression(max_iter=50)
    ).fit(X_small, y_small)
    if name != "detector":
        est.transform(X_small)  # fill the inference cache before saving
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted and untrusted == _skae_types(untrusted)
    loaded = sio.load(path, trusted=untrusted)
    if name == "detector":
        for got, want in zip(_outputs(loaded, X_small), _outputs(model, X_small)):
            _assert_identical(got, want)
    else:
        _assert_identical(loaded.predict_proba(X_small), model.predict_proba(X_small))
        for got, want in zip(_outputs(loaded[1], X_small), _outputs(est, X_small)):
            _assert_identical(got, want)
        loaded[1].partial_fit(X_small)
        est.partial_fit(X_small)
        _assert_identical(loaded[1].transform(X_small), est.transform(X_small))


def test_skops_refuses_a_file_naming_another_type(X_small, tmp_path):
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    path = tmp_path / "model.skops"
    sio.dump(_fitted("ae", X_small), path)
    trusted = sio.get_untrusted_types(file=path)
    with zipfile.ZipFile(path) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    schema = json.loads(files["schema.json"])
    assert (schema["__module__"], schema["__class__"]) == (
        "skae._autoencoder", "AutoencoderTransformer"
    )
    schema.update({"__module__": "subprocess", "__class__": "Popen"})
    files["schema.json"] = json.dumps(schema).encode()
    tampered = tmp_path / "tampered.skops"
    with zipfile.ZipFile(tampered, "w") as archive:
        for n, data in files.items():
            archive.writestr(n, data)
    assert "subprocess.Popen" in sio.get_untrusted_types(file=tampered)
    with pytest.raises(UntrustedTypesFoundException, match="subprocess.Popen"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sio.load(tampered, trusted=trusted)
