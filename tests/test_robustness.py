"""Regression tests for robustness defects found by fuzzing (tests/test_fuzz.py).

Each test is a minimal reproducer of one behaviour: inputs with negative
strides, data of extreme scale, zero-column DataFrames, unusual torch global
settings, interrupts during training, concurrent refits and versioned
pickles. Only the public API (and ``skae.__version__``) is used.
"""

import copy
import os
import pickle
import signal
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

import skae
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TRANSFORMERS = [
    AutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
]
TINY = {"n_components": 2, "hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0}


def _data(n_samples=40, n_features=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n_samples, n_features))


def _tiny(Estimator, **params):
    params = {**TINY, **params}
    if Estimator is ConvolutionalAutoencoderTransformer:
        params.setdefault("hidden_layer_sizes", (2,))
    return Estimator(**params)


def _public_state(est):
    """Copies of the public fitted attributes (those ending in ``_``)."""
    return {
        key: copy.deepcopy(value)
        for key, value in vars(est).items()
        if key.endswith("_") and not key.startswith("_")
    }


def _assert_same_state(before, after):
    assert before.keys() == after.keys()
    for key in before:
        a, b = before[key], after[key]
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=key)
        else:
            assert a == b or (a != a and b != b), key


# ------------------------------------------------------------ negative strides


def _reversed_copies(X):
    """X reversed along rows and columns: views with negative strides."""
    rows = np.ascontiguousarray(X[::-1])[::-1]
    cols = np.ascontiguousarray(X[:, ::-1])[:, ::-1]
    assert rows.strides[0] < 0 and cols.strides[1] < 0
    return {"rows": rows, "cols": cols}


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
def test_negative_strides_inference(Estimator, method):
    X = _data()
    est = _tiny(Estimator).fit(X)
    expected = getattr(est, method)(X)
    for name, view in _reversed_copies(X).items():
        np.testing.assert_allclose(getattr(est, method)(view), expected, err_msg=name)


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_negative_strides_inverse_transform(Estimator):
    est = _tiny(Estimator).fit(_data())
    Z = est.transform(_data(seed=1))
    expected = est.inverse_transform(Z)
    for name, view in _reversed_copies(Z).items():
        np.testing.assert_allclose(est.inverse_transform(view), expected, err_msg=name)


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_negative_strides_fit_transform(Estimator):
    X = _data()
    expected = _tiny(Estimator).fit_transform(X)
    for name, view in _reversed_copies(X).items():
        np.testing.assert_allclose(
            _tiny(Estimator).fit_transform(view), expected, err_msg=name
        )


@pytest.mark.parametrize(
    "method", ["predict", "decision_function", "score_samples", "reconstruction_errors"]
)
def test_negative_strides_outlier_detector(method):
    X = _data()
    det = AutoencoderOutlierDetector(_tiny(AutoencoderTransformer), random_state=0)
    det.fit(X)
    expected = getattr(det, method)(X)
    for name, view in _reversed_copies(X).items():
        np.testing.assert_allclose(getattr(det, method)(view), expected, err_msg=name)
    refit = AutoencoderOutlierDetector(_tiny(AutoencoderTransformer), random_state=0)
    np.testing.assert_array_equal(
        refit.fit(_reversed_copies(X)["rows"]).offset_, det.offset_
    )


# ------------------------------------------------------------- extreme scales


def _fit_quietly(est, X):
    """Fit, returning the warnings other than ConvergenceWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    return [w for w in caught if not issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("scale", [1e19, 1e20, 1e30, 1e100])
def test_huge_scale_fits_and_gives_finite_codes(Estimator, scale):
    X = _data() * scale
    est = _tiny(Estimator)
    caught = _fit_quietly(est, X)
    codes = est.transform(X)
    assert np.isfinite(codes).all()
    assert np.isfinite(est.inverse_transform(codes)).all()
    assert np.isfinite(est.score_samples(X)).all()
    # A warning, if any, must say what is unusual: the data's scale.
    for w in caught:
        assert "scale" in str(w.message), str(w.message)


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_float32_near_max_gives_finite_codes(Estimator):
    X = _data()
    X = (X / np.abs(X).max() * 1e38).astype(np.float32)
    est = _tiny(Estimator)
    _fit_quietly(est, X)
    codes = est.transform(X)
    assert codes.dtype == np.float32
    assert np.isfinite(codes).all()
    assert np.isfinite(est.score_samples(X)).all()


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_column_mean_beyond_float32_range(Estimator):
    X = _data()
    X[:, 0] += 1e39  # float64 data whose mean does not fit in float32
    est = _tiny(Estimator)
    _fit_quietly(est, X)
    codes = est.transform(X)
    assert np.isfinite(codes).all()
    recon = est.inverse_transform(codes)
    assert np.isfinite(recon).all()
    np.testing.assert_allclose(recon[:, 0], 1e39, rtol=1e-6)


# ---------------------------------------------------------- zero-column input


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_zero_column_dataframe_fit(Estimator):
    empty = pd.DataFrame(index=range(10))
    est = _tiny(Estimator)
    with pytest.raises(ValueError, match="0 feature"):
        est.fit(empty)
    assert not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
def test_zero_column_dataframe_inference(Estimator, method):
    est = _tiny(Estimator).fit(_data())
    with pytest.raises(ValueError, match="0 feature"):
        getattr(est, method)(pd.DataFrame(index=range(10)))


def test_zero_column_dataframe_outlier_detector():
    det = AutoencoderOutlierDetector(_tiny(AutoencoderTransformer))
    with pytest.raises(ValueError, match="0 feature"):
        det.fit(pd.DataFrame(index=range(10)))
    det.fit(_data())
    with pytest.raises(ValueError, match="0 feature"):
        det.predict(pd.DataFrame(index=range(10)))


# --------------------------------------------------------- torch global modes


@pytest.fixture
def default_dtype_float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_fit_under_float64_default_dtype(Estimator, default_dtype_float64):
    X = _data()
    est = _tiny(Estimator).fit(X)
    assert torch.get_default_dtype() == torch.float64
    codes = est.transform(X)
    assert codes.dtype == np.float64 and np.isfinite(codes).all()
    assert est.transform(X.astype(np.float32)).dtype == np.float32
    assert torch.get_default_dtype() == torch.float64


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_fit_inside_inference_mode(Estimator):
    X = _data()
    reference = _tiny(Estimator).fit(X).transform(X)
    with torch.inference_mode():
        est = _tiny(Estimator).fit(X)
        assert torch.is_inference_mode_enabled()
        codes = est.transform(X)
    assert not torch.is_inference_mode_enabled()
    assert torch.is_grad_enabled()
    np.testing.assert_allclose(codes, reference, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_fit_inside_no_grad(Estimator):
    X = _data()
    reference = _tiny(Estimator).fit(X).transform(X)
    with torch.no_grad():
        codes = _tiny(Estimator).fit(X).transform(X)
        assert not torch.is_grad_enabled()
    np.testing.assert_allclose(codes, reference, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- interrupts


class _InterruptOnBackward:
    """Patch ``torch.Tensor.backward`` to interrupt on its ``n``-th call.

    Every training step calls ``backward``, whatever the optimizer, so this
    lands inside the training loop. ``action`` raises KeyboardInterrupt
    directly or raises a real SIGINT.
    """

    def __init__(self, monkeypatch, n=3, real_signal=False):
        self.calls = 0
        self.n = n
        self.real_signal = real_signal
        original = torch.Tensor.backward

        def backward(tensor, *args, **kwargs):
            self.calls += 1
            if self.calls == self.n:
                if self.real_signal:
                    signal.raise_signal(signal.SIGINT)
                else:
                    raise KeyboardInterrupt
            return original(tensor, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, "backward", backward)


@pytest.fixture
def default_sigint():
    """SIGINT raises KeyboardInterrupt in the main thread (Python's default)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _globals():
    return (torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype())


@pytest.mark.parametrize("real_signal", [False, True], ids=["raise", "sigint"])
@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_interrupt_during_fit_propagates_and_leaves_unfitted(
    Estimator, real_signal, monkeypatch, default_sigint
):
    X = _data(200)
    est = _tiny(Estimator, max_iter=50, batch_size=10)
    before = dict(vars(est))
    state = _globals()
    hook = _InterruptOnBackward(monkeypatch, real_signal=real_signal)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X)
    assert hook.calls >= 3
    assert vars(est).keys() == before.keys()
    assert not hasattr(est, "n_features_in_")
    assert _globals() == state


@pytest.mark.parametrize("real_signal", [False, True], ids=["raise", "sigint"])
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_interrupt_while_resuming_leaves_model_unchanged(
    Estimator, how, real_signal, monkeypatch, default_sigint
):
    X = _data(200)
    est = _tiny(Estimator, batch_size=10).fit(X)
    state = _public_state(est)
    codes = est.transform(X)
    globals_before = _globals()
    if how == "warm_start":
        est.set_params(warm_start=True, max_iter=50)
    hook = _InterruptOnBackward(monkeypatch, real_signal=real_signal)
    with pytest.raises(KeyboardInterrupt):
        if how == "partial_fit":
            est.partial_fit(X)
        else:
            est.fit(X)
    assert hook.calls >= 3
    _assert_same_state(state, _public_state(est))
    np.testing.assert_array_equal(est.transform(X), codes)
    assert _globals() == globals_before


def test_sigint_from_timer_thread_during_long_fit(default_sigint):
    """A real Ctrl-C (SIGINT sent to the process) stops a long fit."""
    X = _data(500)
    # A first short fit does torch's lazy imports, so that the signal lands
    # in the training loop rather than in an import.
    _tiny(AutoencoderTransformer, max_iter=1).fit(X[:20])
    est = _tiny(AutoencoderTransformer, max_iter=100_000, tol=0.0, batch_size=1)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            est.fit(X)  # would run for many minutes
    finally:
        timer.cancel()
        timer.join()
    assert not hasattr(est, "n_features_in_")


# --------------------------------------------------------- concurrent refits


def test_transform_while_refitting_in_another_thread():
    X = _data(60)
    params = {**TINY, "max_iter": 2}
    expected = {
        k: AutoencoderTransformer(**{**params, "n_components": k}).fit(X).transform(X)
        for k in (2, 3)
    }
    est = AutoencoderTransformer(**params).fit(X)
    stop = threading.Event()
    results, errors = [], []

    def refit():
        k = 3
        while not stop.is_set():
            est.set_params(n_components=k).fit(X)
            k = 5 - k

    def transform():
        for _ in range(10):
            try:
                results.append(est.transform(X))
            except Exception as exc:  # noqa: BLE001 - recorded and asserted on
                errors.append(exc)

    refitter = threading.Thread(target=refit)
    readers = [threading.Thread(target=transform) for _ in range(32)]
    refitter.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    refitter.join()
    assert not errors, [f"{type(e).__name__}: {e}" for e in errors[:3]]
    assert len(results) == 320
    for codes in results:
        k = codes.shape[1]
        assert k in expected, codes.shape
        np.testing.assert_allclose(codes, expected[k], rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------- pickles


def test_pickle_carries_the_skae_version():
    est = _tiny(AutoencoderTransformer).fit(_data())
    data = pickle.dumps(est)
    assert skae.__version__.encode() in data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pickle.loads(data)  # same version: no warning
    np.testing.assert_array_equal(again.transform(_data()), est.transform(_data()))


def _other_version(version):
    """A version string of the same length that differs from ``version``."""
    last = version[-1]
    return version[:-1] + ("1" if last != "1" else "2")


def test_unpickling_another_version_warns():
    est = _tiny(AutoencoderTransformer).fit(_data())
    data = pickle.dumps(est)
    current = skae.__version__
    other = _other_version(current)
    assert data.count(current.encode()) >= 1, "the pickle does not carry skae's version"
    stamped = data.replace(current.encode(), other.encode())
    with pytest.warns(UserWarning) as record:
        loaded = pickle.loads(stamped)
    messages = [str(w.message) for w in record]
    assert any(other in m and current in m for m in messages), messages
    # Still usable, as with scikit-learn's InconsistentVersionWarning.
    np.testing.assert_array_equal(loaded.transform(_data()), est.transform(_data()))


# ----------------------------------------------- failed fits of the detector


def _nan_frame(n_features=3):
    X = pd.DataFrame(_data(20, n_features), columns=[f"f{j}" for j in range(n_features)])
    X.iloc[0, 0] = np.nan
    return X


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda: (AutoencoderTransformer(0), _data()),
        lambda: (_tiny(AutoencoderTransformer), _nan_frame()),
    ],
    ids=["bad-estimator", "nan-dataframe"],
)
def test_failed_fit_leaves_detector_unfitted(make_bad):
    estimator, X = make_bad()
    det = AutoencoderOutlierDetector(estimator)
    before = dict(vars(det))
    with pytest.raises(ValueError):
        det.fit(X)
    assert vars(det).keys() == before.keys()


def test_failed_refit_leaves_detector_unchanged():
    X = _data()
    det = AutoencoderOutlierDetector(_tiny(AutoencoderTransformer), random_state=0).fit(X)
    state = _public_state(det)
    state.pop("estimator_")
    scores = det.score_samples(X)
    with pytest.raises(ValueError, match="NaN"):
        det.fit(_nan_frame(5))
    after = _public_state(det)
    after.pop("estimator_")
    _assert_same_state(state, after)
    np.testing.assert_array_equal(det.score_samples(X), scores)


# ------------------------------------------------------ found by the fuzzing


@pytest.mark.parametrize("Estimator", TRANSFORMERS, ids=lambda c: c.__name__)
def test_boolean_n_components_is_refused_by_name(Estimator):
    # bool is an Integral, but True is not a code width; torch's own error
    # ("empty(): argument 'size' ... bool") must not reach the user.
    with pytest.raises((ValueError, TypeError), match="n_components"):
        _tiny(Estimator, n_components=True).fit(_data())


def test_outlier_detector_on_huge_scale_data():
    # Finite data must not be reported as containing NaN.
    X = _data(20, 3) * 1e19
    det = AutoencoderOutlierDetector(
        _tiny(AutoencoderTransformer, n_components=1), random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the scale tests check the warnings
        det.fit(X)
    assert np.isfinite(det.offset_)
    assert np.isfinite(det.decision_function(X)).all()
