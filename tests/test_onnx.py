"""skae.onnx: skl2onnx converters and standalone encoder / decoder export.

Parity with skae's own outputs is checked with onnxruntime. Tolerances are
relative to the largest absolute value of the expected output:

* float32 graphs: 1e-5 (float32 rounding, summed in another order);
* float64 graphs: 1e-12, except where onnxruntime lacks a float64 kernel
  and the graph takes that operator in float32 (convolutions, GELU's erf):
  1e-5.
"""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import onnx  # noqa: E402  (the test extra installs onnx, onnxruntime, skl2onnx)
import onnxruntime as rt  # noqa: E402
import skl2onnx  # noqa: E402

import skae.onnx  # noqa: E402 - registers the converters
from skae import (  # noqa: E402
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = {"hidden_layer_sizes": (8,), "max_iter": 2, "learning_rate_init": 1e-2, "random_state": 0}
F32_TOL = 1e-5
F64_TOL = 1e-12


def _trained(est, X):
    """Train with partial_fit, so that the nonlinear branches are not the
    zero they start from (a PCA-anchored ``fit`` may keep PCA)."""
    for _ in range(3):
        est.partial_fit(X)
    branches = [v for k, v in est._model["weights"].items() if "branch" in k]
    assert all(np.any(v != 0) for v in branches)
    return est


def _session(model):
    return rt.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _assert_close(got, want, tol):
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    scale = max(float(np.max(np.abs(want))), 1e-30)
    error = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    assert error <= tol * scale, f"max error {error:.3g} > {tol:g} * {scale:.3g}"


CASES = {
    "ae": (lambda: AutoencoderTransformer(3, **TINY), 64, False),
    "dae": (lambda: DenoisingAutoencoderTransformer(5, **TINY), 64, False),
    "vae": (lambda: VariationalAutoencoderTransformer(3, **TINY), 64, False),
    "cae_2d": (
        lambda: ConvolutionalAutoencoderTransformer(
            3, **{**TINY, "hidden_layer_sizes": (2, 3)}, image_shape=(5, 7)
        ),
        35,
        True,
    ),
    "cae_1d": (
        lambda: ConvolutionalAutoencoderTransformer(3, **{**TINY, "hidden_layer_sizes": (2,)}),
        21,
        True,
    ),
}


@pytest.fixture(scope="module")
def fitted_models():
    from sklearn.datasets import load_digits

    X = load_digits().data[:240]
    return {
        name: _trained(make(), X[:, :width]) for name, (make, width, _) in CASES.items()
    }, X


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_onnx_matches_transform(name, dtype, fitted_models):
    models, X = fitted_models
    est = models[name]
    X = X[:, : est.n_features_in_].astype(dtype)
    onx = skl2onnx.to_onnx(est, X[:1])
    (codes,) = _session(onx).run(None, {"X": X})
    conv_in_float32 = CASES[name][2] and dtype == np.float64
    tol = F32_TOL if dtype == np.float32 or conv_in_float32 else F64_TOL
    _assert_close(codes, est.transform(X), tol)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standalone_encoder_and_decoder_match(name, dtype, fitted_models, tmp_path):
    models, X = fitted_models
    est = models[name]
    X = X[:, : est.n_features_in_].astype(dtype)
    tol = F32_TOL if dtype == np.float32 or CASES[name][2] else F64_TOL
    encoder = skae.onnx.export_encoder(est, tmp_path / "encoder.onnx", dtype=dtype)
    decoder = skae.onnx.export_decoder(est, tmp_path / "decoder.onnx", dtype=dtype)
    assert [i.name for i in encoder.graph.input] == ["X"]
    assert [o.name for o in decoder.graph.output] == ["reconstruction"]
    # The receiver needs only the decoder file.
    cpu = ["CPUExecutionProvider"]
    receiver = rt.InferenceSession(str(tmp_path / "decoder.onnx"), providers=cpu)
    sender = rt.InferenceSession(str(tmp_path / "encoder.onnx"), providers=cpu)
    codes = est.transform(X)
    _assert_close(sender.run(None, {"X": X})[0], codes, tol)
    (reconstruction,) = receiver.run(None, {"codes": codes})
    _assert_close(reconstruction, est.inverse_transform(codes), tol)


@pytest.mark.parametrize(
    "activation", ["identity", "relu", "leaky_relu", "elu", "gelu", "tanh", "logistic"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_activation(activation, dtype, X_small):
    est = _trained(AutoencoderTransformer(3, **{**TINY, "activation": activation}), X_small)
    X = X_small.astype(dtype)
    (codes,) = _session(skl2onnx.to_onnx(est, X[:1])).run(None, {"X": X})
    # onnxruntime has no float64 erf: GELU takes it in float32.
    tol = F64_TOL if dtype == np.float64 and activation != "gelu" else F32_TOL
    _assert_close(codes, est.transform(X), tol)


def test_batch_dimension_is_dynamic(fitted_models):
    models, X = fitted_models
    est = models["ae"]
    session = _session(skl2onnx.to_onnx(est, X[:1].astype(np.float32)))
    for n in (1, 7, 240):
        rows = X[:n].astype(np.float32)
        (codes,) = session.run(None, {"X": rows})
        _assert_close(codes, est.transform(rows), F32_TOL)


def test_pipeline_converts_to_one_graph(X_small, y_small):
    pipe = make_pipeline(
        StandardScaler(), AutoencoderTransformer(10, **TINY), LogisticRegression(max_iter=200)
    ).fit(X_small, y_small)
    onx = skl2onnx.to_onnx(pipe, X_small[:1].astype(np.float32))
    ops = {node.op_type for node in onx.graph.node}
    assert {"Gemm", "Relu", "Clip"} <= ops  # the autoencoder is inside the graph
    label, probabilities = _session(onx).run(None, {"X": X_small.astype(np.float32)})
    want = pipe.predict_proba(X_small)
    np.testing.assert_array_equal(label, pipe.predict(X_small))
    got = np.array([[row[k] for k in pipe.classes_] for row in probabilities])
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_detector_exports_label_and_scores(dtype, X_small):
    detector = AutoencoderOutlierDetector(
        DenoisingAutoencoderTransformer(3, **TINY), contamination=0.2, random_state=0
    ).fit(X_small)
    X = X_small.astype(dtype)
    session = _session(skl2onnx.to_onnx(detector, X[:1]))
    assert [o.name for o in session.get_outputs()] == ["label", "scores"]
    label, scores = session.run(None, {"X": X})
    assert label.dtype == np.int64 and label.shape == (len(X), 1)
    assert scores.dtype == dtype and scores.shape == (len(X), 1)
    decision = detector.decision_function(X)
    tol = F32_TOL if dtype == np.float32 else 1e-10
    _assert_close(scores.ravel(), decision.astype(dtype), tol)
    clear = np.abs(decision) > 1e-4 * np.max(np.abs(decision))
    assert clear.sum() > 0.9 * len(X)
    np.testing.assert_array_equal(label.ravel()[clear], detector.predict(X)[clear])
    assert set(np.unique(label)) == {-1, 1}


def test_detector_with_a_foreign_model_is_refused(X_small):
    detector = AutoencoderOutlierDetector(PCA(3)).fit(X_small)
    with pytest.raises(NotImplementedError, match="estimator_ is a skae autoencoder"):
        skl2onnx.to_onnx(detector, X_small[:1].astype(np.float32))


def test_errors(fitted_models, X_small):
    models, X = fitted_models
    est = models["ae"]
    with pytest.raises(NotFittedError):
        skae.onnx.export_encoder(AutoencoderTransformer())
    with pytest.raises(TypeError, match="export its estimator_"):
        skae.onnx.export_decoder(AutoencoderOutlierDetector())
    with pytest.raises(ValueError, match="float32 or float64"):
        skae.onnx.export_encoder(est, dtype=np.int64)
    with pytest.raises(ValueError, match="opset must be >= 13"):
        skae.onnx.export_encoder(est, opset=11)
    with pytest.raises(TypeError, match="float32 or float64 input"):
        skl2onnx.to_onnx(est, X[:1].astype(np.int64))
    with pytest.raises(RuntimeError, match="target_opset >= 13"):
        skl2onnx.to_onnx(est, X[:1].astype(np.float32), target_opset=11)


def test_export_does_not_change_the_estimator(fitted_models, snapshot):
    models, X = fitted_models
    est = models["dae"]
    before = snapshot(est, X)
    skae.onnx.export_encoder(est)
    skl2onnx.to_onnx(est, X[:1].astype(np.float64))
    before.assert_unchanged(est)


def test_model_marked_cuda_converts(X_small):
    # What a model fitted on a GPU looks like: the graph is built from CPU
    # copies of the weights, so no GPU is needed to convert or to run it.
    est = _trained(AutoencoderTransformer(3, **TINY), X_small)
    expected = est.transform(X_small.astype(np.float32))
    est.set_params(device="cuda")
    X = X_small.astype(np.float32)
    (codes,) = _session(skl2onnx.to_onnx(est, X[:1])).run(None, {"X": X})
    _assert_close(codes, expected, F32_TOL)
    encoder = skae.onnx.export_encoder(est)
    _assert_close(_session(encoder).run(None, {"X": X})[0], expected, F32_TOL)
