"""Data-parallel training under torch.distributed (:mod:`skae._distributed`).

Two processes on the Gloo backend, talking over the loopback interface
through a file store, each fit their own shard of the rows. One spawn runs
every scenario (process start-up dominates the cost); the tests then check
what the workers wrote: identical weights on every rank, statistics equal
to those of the union of the shards, a held-out error close to that of a
single-process fit, reproducibility, and a single-process fit that a
process group of one leaves bit for bit unchanged.
"""

import datetime
import os
import time
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

from skae import AutoencoderTransformer, VariationalAutoencoderTransformer, _distributed
from skae._training import RowSource, network_statistics, principal_axes, to_tensor

pytestmark = [
    pytest.mark.skipif(
        not (dist.is_available() and dist.is_gloo_available()),
        reason="torch.distributed with the Gloo backend is not available",
    ),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

SIZE = 2
SPAWN_TIMEOUT = 300  # seconds; a hung collective fails the test instead of CI
PARAMS = dict(n_components=6, hidden_layer_sizes=(16,), max_iter=25)


def _data():
    X = load_digits().data
    return X[:900], X[900:1200]


def _shard(X, rank, size):
    return X[rank::size]


def _init(store, rank, size):
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=size,
        timeout=datetime.timedelta(seconds=120),
    )


def _weights(est):
    return {f"w:{k}": v for k, v in est._model["weights"].items()}


def _fit_record(est, X_test):
    return {
        **_weights(est),
        "mean": est.mean_, "scale": est.scale_,
        "test_error": -est.score(X_test),
        "validation_scores": np.array(est.validation_scores_),
        "n_iter": est.n_iter_, "n_components": est.n_components_,
        "is_pca": est.is_pca_,
    }


def _worker(rank, size, folder):
    """Every scenario, in order; results go to ``folder/<scenario>_<rank>.npz``."""
    torch.set_num_threads(1)  # two ranks share the CI machine's cores
    warnings.simplefilter("ignore")
    X_train, X_test = _data()
    shard = _shard(X_train, rank, size)

    def save(name, **arrays):
        np.savez(os.path.join(folder, f"{name}_{rank}.npz"), **arrays)

    _init(os.path.join(folder, "store"), rank, size)
    assert _distributed.world() == (rank, size)

    # The helpers and the statistics on shards.
    mean, scale = network_statistics(shard)
    source = RowSource(to_tensor(shard, mean, scale, "cpu"), None, mean, scale, "cpu")
    components, explained = principal_axes(source, None)
    save(
        "helpers", mean=mean, scale=scale, components=components, explained=explained,
        summed=_distributed.all_reduce_sum(np.array([rank + 1.0, 2.0])),
        peak=_distributed.all_reduce_max(float(rank)),
        gathered=_distributed.gather(np.full(rank + 1, float(rank))),
    )

    # The main fit, twice with the same seed, and once with fresh entropy.
    est = AutoencoderTransformer(random_state=0, **PARAMS).fit(shard)
    save("fit", **_fit_record(est, X_test))
    again = AutoencoderTransformer(random_state=0, **PARAMS).fit(shard)
    save("again", **_fit_record(again, X_test))
    fresh = AutoencoderTransformer(
        n_components=3, hidden_layer_sizes=(8,), max_iter=3, random_state=None
    ).fit(shard)
    save("fresh", **_weights(fresh))

    # Uneven shards: rank 0 gets three rows in four.
    uneven = X_train[: 600] if rank == 0 else X_train[600:]
    est = AutoencoderTransformer(  # no validation split: the statistics use every row
        n_components=3, hidden_layer_sizes=(8,), max_iter=3, early_stopping=False,
        random_state=0,
    ).fit(uneven)
    save("uneven", **_weights(est), mean=est.mean_, n_iter=est.n_iter_)

    # partial_fit and a variant with sampling in its forward pass.
    est = AutoencoderTransformer(n_components=3, hidden_layer_sizes=(8,), random_state=0)
    est.partial_fit(shard).partial_fit(shard[::-1])
    save("partial", **_weights(est))
    est = VariationalAutoencoderTransformer(
        n_components=3, hidden_layer_sizes=(8,), max_iter=3, random_state=0
    ).fit(shard)
    save("vae", **_weights(est))

    # Shards with different columns: a clear error on every rank.
    try:
        AutoencoderTransformer(n_components=2, max_iter=1).fit(shard[:, : 10 + rank])
        message = ""
    except ValueError as exc:
        message = str(exc)
    save("features", message=np.array(message))
    dist.destroy_process_group()

    # Without a process group (rank 0) and in a group of one (rank 1): the
    # single-process fit on all the training rows.
    if rank == 1:
        _init(os.path.join(folder, "store_single"), 0, 1)
    single = AutoencoderTransformer(random_state=0, **PARAMS).fit(X_train)
    save("single", **_fit_record(single, X_test))
    if rank == 1:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distributed")
    context = mp.start_processes(
        _worker, args=(SIZE, str(folder)), nprocs=SIZE, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + SPAWN_TIMEOUT
    try:
        while not context.join(timeout=5):
            if time.monotonic() > deadline:
                pytest.fail(f"the {SIZE} ranks did not finish in {SPAWN_TIMEOUT} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()

    def load(name):
        return [dict(np.load(folder / f"{name}_{rank}.npz")) for rank in range(SIZE)]

    return load


def _assert_same_weights(records):
    first, *others = records
    keys = [k for k in first if k.startswith("w:")]
    assert keys
    for other in others:
        for key in keys:
            assert_array_equal(first[key], other[key], err_msg=key)


def test_no_group_means_single_process():
    assert _distributed.world() is None
    value = np.array([1.0, 2.0])
    assert _distributed.all_reduce_sum(value) is value
    assert _distributed.gather(value) is value
    assert _distributed.ddp_forward(torch.nn.Linear(2, 2), "cpu") is None
    seqs = (np.random.SeedSequence(3),)
    assert _distributed.per_rank(*seqs) == seqs
    assert _distributed.local_batch_size(100, lambda n: n // 3) == 33
    assert _distributed.batches_per_epoch(10, 4) == 3


def test_helpers_combine_over_ranks(results):
    records = results("helpers")
    for record in records:
        assert_array_equal(record["summed"], [3.0, 4.0])
        assert record["peak"] == 1.0
        assert_array_equal(record["gathered"], [0.0, 1.0, 1.0])


def test_statistics_are_those_of_the_union(results):
    X_train, _ = _data()
    shards = np.concatenate([_shard(X_train, r, SIZE) for r in range(SIZE)])
    mean, scale = network_statistics(shards)
    source = RowSource(to_tensor(shards, mean, scale, "cpu"), None, mean, scale, "cpu")
    components, explained = principal_axes(source, None)
    for record in results("helpers"):
        assert_allclose(record["mean"], mean, rtol=1e-12, atol=1e-12)
        assert_allclose(record["scale"], scale, rtol=1e-12)
        # Axes of a degenerate eigenvalue (digits has constant pixels) are
        # not unique: compare the leading, well-separated ones.
        assert_allclose(np.abs(record["components"][:10]), np.abs(components[:10]), atol=1e-8)
        assert_allclose(record["explained"], explained, rtol=1e-10, atol=1e-12)
    assert_array_equal(results("helpers")[0]["mean"], results("helpers")[1]["mean"])


def test_every_rank_ends_with_the_same_model(results):
    records = results("fit")
    _assert_same_weights(records)
    for key in ("mean", "scale", "validation_scores", "n_iter", "n_components", "is_pca"):
        assert_array_equal(records[0][key], records[1][key], err_msg=key)
    # Each rank scores the same test rows with the same model.
    assert records[0]["test_error"] == records[1]["test_error"]


def test_starting_weights_are_broadcast(results):
    # random_state=None: every rank draws its own seeds, yet one model results.
    _assert_same_weights(results("fresh"))


def test_same_random_state_same_result(results):
    for first, second in zip(results("fit"), results("again")):
        for key, value in first.items():
            assert_array_equal(value, second[key], err_msg=key)


def test_held_out_error_close_to_single_process(results):
    parallel = results("fit")[0]["test_error"]
    single = results("single")[0]["test_error"]
    assert abs(parallel - single) <= 0.05 * single, (parallel, single)
    # And the network was trained, not left at PCA in both cases by accident.
    assert not results("fit")[0]["is_pca"]


def test_group_of_one_is_the_single_process_fit(results):
    alone, group_of_one = results("single")
    for key, value in alone.items():
        assert_array_equal(value, group_of_one[key], err_msg=key)


def test_uneven_shards(results):
    records = results("uneven")
    _assert_same_weights(records)
    X_train, _ = _data()
    assert_allclose(records[0]["mean"], X_train.mean(axis=0), atol=1e-9)
    assert records[0]["n_iter"] == records[1]["n_iter"] == 3


def test_partial_fit_and_sampling_variant(results):
    _assert_same_weights(results("partial"))
    _assert_same_weights(results("vae"))


def test_mismatched_features_raise_on_every_rank(results):
    for record in results("features"):
        message = str(record["message"])
        assert "same number of features" in message
        assert "between 10 and 11" in message


def test_the_documented_example_runs_under_torchrun():
    # docs/user_guide/distributed.rst shows this script's lines.
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = Path(__file__).resolve().parents[1] / "examples" / "train_distributed.py"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--master_addr=127.0.0.1", f"--master_port={port}", str(script)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 process(es)" in done.stdout
    assert "same weights on every process: True" in done.stdout
