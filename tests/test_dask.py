"""Scaling out: dask arrays, memory-mapped input, dask-backed search, streaming.

Covers :mod:`skae._dask` (lazy inference on dask arrays, block by block),
the same through the estimators' public methods, bounded memory on
``np.memmap`` input, ``GridSearchCV`` on a local dask cluster, and the
``partial_fit`` recipe for data read from disk in chunks.
"""

import subprocess
import sys
import tracemalloc
import warnings

import dask
import dask.array as da
import distributed
import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
    _dask,
)

# Short fits at a fixed max_iter are intended.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TRANSFORMERS = [
    AutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
]

# Row chunks that do not divide 240 and a column split that map_blocks
# has to undo.
CHUNKS = (70, 40)


@pytest.fixture
def fitted(fitted_copy, fast_params):
    """``fitted(Estimator)`` -> a model with 2 components fitted on X_small."""
    return lambda Estimator: fitted_copy(Estimator, n_components=2, **fast_params)


@pytest.fixture
def detector(X_small, fast_params):
    return AutoencoderOutlierDetector(
        AutoencoderTransformer(n_components=2, **fast_params), random_state=0
    ).fit(X_small)


class BlockRecorder(TransformerMixin, BaseEstimator):
    """A fitted stand-in that records the shape of every block it is given."""

    def __init__(self, calls=None):
        self.calls = calls

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        self.calls.append(X.shape)
        return np.asarray(X)[:, :2] * 2.0


# ------------------------------------------------------------ is_dask_array


def test_is_dask_array_tells_dask_arrays_apart():
    X = np.zeros((4, 3))
    assert _dask.is_dask_array(da.from_array(X))
    assert not _dask.is_dask_array(X)
    assert not _dask.is_dask_array(np.memmap)
    assert not _dask.is_dask_array([[0.0, 1.0]])
    assert not _dask.is_dask_array(None)


def test_importing_skae_does_not_import_dask():
    code = (
        "import sys, numpy as np, skae\n"
        "from skae import _dask\n"
        "assert not _dask.is_dask_array(np.zeros((2, 2)))\n"
        "assert not [m for m in sys.modules if m == 'dask' or m.startswith('dask.')]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------- map_blocks


@pytest.mark.parametrize("Estimator", TRANSFORMERS)
def test_map_blocks_matches_numpy_methods(Estimator, fitted, X_small):
    est = fitted(Estimator)
    dX = da.from_array(X_small, chunks=CHUNKS)
    codes = est.transform(X_small)

    lazy_codes = _dask.map_blocks(est, "transform", dX, 2)
    assert isinstance(lazy_codes, da.Array)
    assert lazy_codes.shape == (240, 2)
    assert lazy_codes.chunks == ((70, 70, 70, 30), (2,))
    assert_allclose(lazy_codes.compute(), codes, rtol=1e-12, atol=1e-12)

    dZ = da.from_array(codes, chunks=(50, 1))
    lazy_recon = _dask.map_blocks(est, "inverse_transform", dZ, 64)
    assert lazy_recon.chunks == ((50,) * 4 + (40,), (64,))
    assert_allclose(
        lazy_recon.compute(), est.inverse_transform(codes), rtol=1e-12, atol=1e-12
    )

    lazy_scores = _dask.map_blocks(est, "score_samples", dX, None)
    assert lazy_scores.ndim == 1
    assert lazy_scores.chunks == ((70, 70, 70, 30),)
    assert_allclose(
        lazy_scores.compute(), est.score_samples(X_small), rtol=1e-12, atol=1e-12
    )


def test_map_blocks_on_the_outlier_detector(detector, X_small):
    X = X_small.copy()
    X[::7] += 8.0  # some rows far from the training data
    dX = da.from_array(X, chunks=CHUNKS)
    labels = _dask.map_blocks(detector, "predict", dX, None)
    assert labels.dtype == np.int64
    assert_array_equal(labels.compute(), detector.predict(X))
    assert set(np.unique(labels.compute())) == {-1, 1}
    for method in ("score_samples", "decision_function"):
        lazy = _dask.map_blocks(detector, method, dX, None)
        assert lazy.dtype == np.float64
        assert_allclose(lazy.compute(), getattr(detector, method)(X), rtol=1e-12)
    errors = _dask.map_blocks(detector, "reconstruction_errors", dX, 64)
    assert_allclose(errors.compute(), detector.reconstruction_errors(X), rtol=1e-12)


@pytest.mark.parametrize(
    "in_dtype, out_dtype",
    [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)],
)
def test_map_blocks_dtype_follows_the_numpy_method(
    fitted, X_small, in_dtype, out_dtype
):
    est = fitted(AutoencoderTransformer)
    X = X_small.astype(in_dtype)
    lazy = _dask.map_blocks(est, "transform", da.from_array(X, chunks=CHUNKS), 2)
    # The declared dtype is right before anything is computed ...
    assert lazy.dtype == out_dtype
    result = lazy.compute()
    # ... and matches what the NumPy method returns.
    assert result.dtype == out_dtype == est.transform(X).dtype
    assert_allclose(result, est.transform(X))
    scores = _dask.map_blocks(est, "score_samples", da.from_array(X), None)
    assert scores.dtype == scores.compute().dtype == np.float64


def test_map_blocks_is_lazy_and_works_block_by_block():
    calls = []
    est = BlockRecorder(calls).fit(np.zeros((1, 5)))
    X = np.arange(100.0 * 5).reshape(100, 5)
    lazy = _dask.map_blocks(est, "transform", da.from_array(X, chunks=(30, 2)), 2)
    assert calls == []  # nothing runs before compute
    result = lazy.compute(scheduler="synchronous")
    assert_array_equal(result, X[:, :2] * 2.0)
    # One call per row block, each with every column.
    assert sorted(calls) == [(10, 5), (30, 5), (30, 5), (30, 5)]


def test_map_blocks_snapshots_the_fitted_model(fitted, X_small):
    est = fitted(AutoencoderTransformer)
    expected = est.transform(X_small)
    lazy = _dask.map_blocks(est, "transform", da.from_array(X_small, chunks=CHUNKS), 2)
    est.set_params(random_state=1).fit(X_small[::-1] * 2.0)
    assert not np.allclose(est.transform(X_small), expected)
    assert_allclose(lazy.compute(), expected, rtol=1e-12)


def test_map_blocks_checks_what_it_can_before_computing(fitted, X_small):
    est = fitted(AutoencoderTransformer)
    dX = da.from_array(X_small, chunks=CHUNKS)
    with pytest.raises(TypeError, match="dask array"):
        _dask.map_blocks(est, "transform", X_small, 2)
    with pytest.raises(ValueError, match="2-D"):
        _dask.map_blocks(est, "transform", dX[:, 0], 2)
    with pytest.raises(ValueError, match="63 columns.*expects 64"):
        _dask.map_blocks(est, "transform", dX[:, 1:], 2)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        _dask.map_blocks(est, "transform", dX[dX[:, 10] > 3], 2)
    with pytest.raises(ValueError, match="dtype"):
        _dask.map_blocks(est, "transform", dX.astype(complex), 2)
    with pytest.raises(ValueError, match="no method"):
        _dask.map_blocks(est, "predict_proba", dX, None)
    with pytest.raises(NotFittedError):
        _dask.map_blocks(AutoencoderTransformer(), "transform", dX, 2)
    # Boolean indexing works once the chunk sizes are known.
    selected = dX[dX[:, 10] > 3]
    selected.compute_chunk_sizes()
    rows = X_small[X_small[:, 10] > 3]
    assert_allclose(
        _dask.map_blocks(est, "transform", selected, 2).compute(),
        est.transform(rows),
        rtol=1e-12,
    )


def test_map_blocks_raises_the_estimators_error_at_compute_time(fitted, X_small):
    est = fitted(AutoencoderTransformer)
    X = X_small.copy()
    X[100, 3] = np.nan
    lazy = _dask.map_blocks(est, "transform", da.from_array(X, chunks=CHUNKS), 2)
    with pytest.raises(ValueError, match="NaN"):
        lazy.compute()


# ------------------------------------------ the public methods on dask input
# These go through the hooks at the top of each inference method.


@pytest.mark.parametrize("Estimator", TRANSFORMERS)
def test_public_methods_return_lazy_dask_arrays(Estimator, fitted, X_small):
    est = fitted(Estimator)
    dX = da.from_array(X_small, chunks=CHUNKS)

    codes = est.transform(dX)
    assert isinstance(codes, da.Array)
    assert codes.chunks == ((70, 70, 70, 30), (2,))
    assert_allclose(codes.compute(), est.transform(X_small), rtol=1e-12, atol=1e-12)

    recon = est.inverse_transform(codes)
    assert isinstance(recon, da.Array)
    assert recon.shape == (240, 64)
    assert_allclose(
        recon.compute(),
        est.inverse_transform(est.transform(X_small)),
        rtol=1e-12,
        atol=1e-12,
    )

    scores = est.score_samples(dX)
    assert isinstance(scores, da.Array)
    assert scores.shape == (240,)
    assert_allclose(scores.compute(), est.score_samples(X_small), rtol=1e-12)

    assert est.score(dX) == pytest.approx(est.score(X_small), rel=1e-12)


def test_public_methods_of_the_detector_return_lazy_dask_arrays(detector, X_small):
    dX = da.from_array(X_small, chunks=CHUNKS)
    for method in ("predict", "score_samples", "decision_function"):
        lazy = getattr(detector, method)(dX)
        assert isinstance(lazy, da.Array), method
        assert lazy.shape == (240,)
        assert_allclose(lazy.compute(), getattr(detector, method)(X_small))


def test_public_methods_reject_bad_dask_input_clearly(fitted, X_small, detector):
    est = fitted(AutoencoderTransformer)
    dX = da.from_array(X_small, chunks=CHUNKS)
    with pytest.raises(NotFittedError):
        AutoencoderTransformer().transform(dX)
    with pytest.raises(NotFittedError):
        AutoencoderOutlierDetector().predict(dX)
    with pytest.raises(NotFittedError):
        AutoencoderOutlierDetector().reconstruction_errors(dX)
    # The width is known without computing anything.
    with pytest.raises(ValueError, match="63 columns"):
        est.transform(dX[:, 1:])
    with pytest.raises(ValueError, match="63 columns"):
        detector.predict(dX[:, 1:])
    # Code width: raised at once once the fitted width is an attribute, or
    # by inverse_transform's own check when the block is computed.
    with pytest.raises(ValueError, match="n_components|expects 2"):
        est.inverse_transform(da.zeros((10, 3), chunks=5)).compute()


def test_public_transform_on_dask_input_keeps_dtype(fitted, X_small):
    est = fitted(AutoencoderTransformer)
    codes = est.transform(da.from_array(X_small.astype(np.float32), chunks=CHUNKS))
    assert isinstance(codes, da.Array)
    assert codes.dtype == np.float32
    assert codes.compute().dtype == np.float32


# ------------------------------------------------------------ memory bounds


@pytest.fixture(scope="module")
def big_memmap(tmp_path_factory):
    """A 40 MiB read-only float64 memmap, (81920, 64), and a model fitted in memory."""
    path = tmp_path_factory.mktemp("memmap") / "X.npy"
    n_rows, n_features = 81920, 64
    out = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float64, shape=(n_rows, n_features)
    )
    rng = np.random.default_rng(0)
    for start in range(0, n_rows, 16384):
        out[start : start + 16384] = rng.normal(size=(16384, n_features))
    out.flush()
    del out
    X = np.load(path, mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = AutoencoderTransformer(
            2, hidden_layer_sizes=(16,), max_iter=2, random_state=0
        ).fit(np.asarray(X[:500]))
    return X, est


def _peak_python_memory(fn):
    """Run fn() and return (result, peak bytes allocated through Python/NumPy)."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_memmap_transform_streams_in_chunks(big_memmap):
    X, est = big_memmap
    assert isinstance(X, np.memmap)
    codes, peak = _peak_python_memory(lambda: est.transform(X))
    assert codes.shape == (X.shape[0], 2)
    # A copy of X would be 40 MiB; the output is 1.25 MiB. What remains is
    # a few row chunks at a time.
    assert peak < codes.nbytes + 0.2 * X.nbytes
    assert_allclose(codes[-100:], est.transform(np.asarray(X[-100:])), rtol=1e-12)


def test_dask_array_over_a_memmap_is_computed_block_by_block(big_memmap):
    X, est = big_memmap
    dX = da.from_array(X, chunks=(8192, -1))
    lazy = _dask.map_blocks(est, "score_samples", dX, None)
    scores, peak = _peak_python_memory(lambda: lazy.compute(scheduler="synchronous"))
    assert scores.shape == (X.shape[0],)
    # One 4 MiB block at a time (and its copy), never the 40 MiB array.
    assert peak < scores.nbytes + 0.35 * X.nbytes
    assert_allclose(scores[:100], est.score_samples(np.asarray(X[:100])), rtol=1e-12)


# ---------------------------------------------------------- search on dask


def _torch_threads():
    import torch

    return torch.get_num_threads()


def test_grid_search_on_a_local_dask_cluster_matches_a_sequential_run():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(240, 3))
    X = latent @ rng.normal(size=(3, 10)) + 0.1 * rng.normal(size=(240, 10))
    est = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(8,),
        learning_rate_init=1e-2,
        batch_size=40,
        max_iter=30,
        random_state=0,
    )
    grid = {"n_components": [1, 2, 3]}
    sequential = GridSearchCV(est, grid, cv=3).fit(X)

    with distributed.LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:
        # One torch thread per worker process: two workers on two cores do
        # not oversubscribe them.
        assert set(client.run(_torch_threads).values()) == {1}
        assert client.submit(_torch_threads, pure=False).result() == 1
        with joblib.parallel_backend("dask"):
            search = GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(X)
        # Lazy inference computed by the worker processes, which receive the
        # model by pickling.
        best = search.best_estimator_
        codes = _dask.map_blocks(
            best, "transform", da.from_array(X, chunks=(50, 5)), best.n_components
        )
        codes = client.compute(codes).result()
    assert_allclose(codes, best.transform(X), rtol=1e-6, atol=1e-6)

    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        assert_allclose(
            search.cv_results_[key], sequential.cv_results_[key], rtol=1e-6
        )
    assert_array_equal(
        search.cv_results_["rank_test_score"], sequential.cv_results_["rank_test_score"]
    )
    assert search.best_params_ == sequential.best_params_
    # The scores are real: more components reconstruct better.
    assert np.all(np.diff(search.cv_results_["mean_test_score"]) > 0)


# --------------------------------------------------------------- streaming


def stream_partial_fit(est, X, *, chunk_size, n_passes, seed=0):
    """The recipe of the user guide: partial_fit over row chunks, several passes.

    Chunks are visited in a new random order on every pass.
    """
    starts = np.arange(0, X.shape[0], chunk_size)
    rng = np.random.default_rng(seed)
    for _ in range(n_passes):
        for start in rng.permutation(starts):
            est.partial_fit(np.asarray(X[start : start + chunk_size]))
    return est


@pytest.fixture
def digits_on_disk(digits, tmp_path):
    X, _ = digits
    X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
    path = tmp_path / "train.npy"
    np.save(path, X_train)
    return np.load(path, mmap_mode="r"), X_train, X_test


def _streaming_model():
    return AutoencoderTransformer(
        n_components=8,
        hidden_layer_sizes=(32,),
        learning_rate_init=3e-3,
        batch_size=100,
        random_state=0,
    )


def test_streaming_partial_fit_from_a_memmap_matches_in_memory_training(digits_on_disk):
    X_disk, X_train, X_test = digits_on_disk
    n_passes = 10
    streamed = stream_partial_fit(
        _streaming_model(), X_disk, chunk_size=400, n_passes=n_passes
    )
    in_memory = _streaming_model()
    for _ in range(n_passes):
        in_memory.partial_fit(X_train)

    streamed_error = -streamed.score(X_test)
    in_memory_error = -in_memory.score(X_test)
    untrained_error = np.mean((X_test - X_train.mean(axis=0)) ** 2)
    assert in_memory_error < 0.7 * untrained_error  # it did learn
    assert streamed_error <= 1.05 * in_memory_error


def test_streaming_partial_fit_over_dask_blocks(digits_on_disk):
    X_disk, X_train, X_test = digits_on_disk
    dX = da.from_array(X_disk, chunks=(400, -1))
    streamed = _streaming_model()
    order = np.random.default_rng(0)
    blocks = list(dX.to_delayed().ravel())
    for _ in range(10):
        for i in order.permutation(len(blocks)):
            streamed.partial_fit(dask.compute(blocks[i])[0])
    from_memmap = stream_partial_fit(
        _streaming_model(), X_disk, chunk_size=400, n_passes=10
    )
    # The same chunks in the same order: the same model.
    assert_allclose(streamed.score(X_test), from_memmap.score(X_test), rtol=1e-6)
