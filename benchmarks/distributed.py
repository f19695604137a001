"""Data-parallel training: 2 ranks against 1 on Fashion-MNIST.

Usage::

    python benchmarks/distributed.py [--rows 20000] [--epochs 2]
        [--batch-sizes 256 1024] [--repeats 5]

Every fit runs in fresh processes started with ``torch.multiprocessing``,
one torch thread and one BLAS thread per process (after a small warm-up fit
that is not timed), on the Gloo backend over the loopback interface. For
each global batch size, the same fit (the first ``--rows`` training images, 30-d codes, a (256,)
network, a fixed number of epochs and no early stopping, so both do the same
number of optimizer steps) runs

* ``1 rank``: one process, no process group, all the rows;
* ``2 ranks``: two processes, each with every other row, gradients averaged
  by ``DistributedDataParallel`` with its default (overlapping) all-reduce;
* ``2 ranks, timed``: the same with a communication hook that runs each
  gradient all-reduce to completion and times it. It measures the time the
  ranks spend in ``all_reduce``, waiting for each other included, as a share
  of the time spent in the training loop; it does not overlap communication
  with the backward pass, so it is a little slower than ``2 ranks``.

The three are interleaved (1, 2, 2-timed, 1, 2, 2-timed, ...) and
summarised by their medians; the speed-up is the ratio of the medians of
the fit wall time (the slowest rank's). The results go to
``benchmarks/results/distributed.md``.
"""

import argparse
import datetime
import gzip
import os
import platform
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FASHION_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
CONFIG = dict(
    n_components=30, hidden_layer_sizes=(256,), early_stopping=False, random_state=0,
)
TEST_ROWS = 2000


def read_idx(path):
    """An IDX file (optionally gzipped) as a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        zero, dtype_code, ndim = struct.unpack(">HBB", handle.read(4))
        if zero != 0 or dtype_code != 0x08:
            raise ValueError(f"{path} is not an unsigned-byte IDX file")
        shape = struct.unpack(">" + "I" * ndim, handle.read(4 * ndim))
        return np.frombuffer(handle.read(), dtype=np.uint8).reshape(shape)


def load(rows):
    """The first ``rows`` training images and TEST_ROWS test images, in [0, 1]."""
    def images(stem):
        candidates = [FASHION_DIR / f"{stem}.gz", FASHION_DIR / stem]
        path = next(p for p in candidates if p.exists())
        data = read_idx(path)
        return data.reshape(len(data), -1).astype(np.float32) / 255.0

    return images("train-images-idx3-ubyte")[:rows], images("t10k-images-idx3-ubyte")[:TEST_ROWS]


def _timing_hook(times):
    """A DDP communication hook: blocking all-reduce of each bucket, timed."""
    import torch
    import torch.distributed as dist

    def hook(state, bucket):
        buffer = bucket.buffer()
        start = time.perf_counter()
        dist.all_reduce(buffer)
        times.append(time.perf_counter() - start)
        buffer.div_(dist.get_world_size())
        future = torch.futures.Future()
        future.set_result(buffer)
        return future

    return hook


def worker(rank, size, mode, rows, epochs, batch_size, store, out):
    import torch
    import torch.distributed as dist

    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)  # NumPy's BLAS too (statistics and PCA)
    import skae._distributed as D
    import skae._training as T
    from skae import AutoencoderTransformer

    X, X_test = load(rows)
    # Warm-up, before the process group exists: the first fit in a process
    # imports lazily loaded modules, which is not what is measured.
    AutoencoderTransformer(max_iter=1, batch_size=64, **CONFIG).fit(X[:300])
    if size > 1:
        os.environ["GLOO_SOCKET_IFNAME"] = "lo"
        dist.init_process_group(
            "gloo", init_method=f"file://{store}", rank=rank, world_size=size,
            timeout=datetime.timedelta(seconds=600),
        )
        X = X[rank::size]

    comm, train = [], []
    if mode == "timed":
        wrap = D.wrap_module_ddp

        def timed_wrap(module, device):
            ddp = wrap(module, device)
            ddp.register_comm_hook(None, _timing_hook(comm))
            return ddp

        D.wrap_module_ddp = timed_wrap
    fit_loop = T.AutoencoderNet.fit_loop

    def timed_fit_loop(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fit_loop(self, *args, **kwargs)
        finally:
            train.append(time.perf_counter() - start)

    T.AutoencoderNet.fit_loop = timed_fit_loop

    if size > 1:
        dist.barrier()
    start = time.perf_counter()
    est = AutoencoderTransformer(max_iter=epochs, batch_size=batch_size, **CONFIG).fit(X)
    seconds = time.perf_counter() - start
    np.savez(
        os.path.join(out, f"{mode}_{rank}.npz"),
        seconds=seconds, train=sum(train), comm=sum(comm), n_comm=len(comm),
        test_error=-est.score(X_test) * X.shape[1], n_iter=est.n_iter_,
        checksum=sum(float(np.abs(w).sum()) for w in est._model["weights"].values()),
    )
    if size > 1:
        dist.destroy_process_group()


def run(mode, rows, epochs, batch_size):
    import torch.multiprocessing as mp

    size = 1 if mode == "single" else 2
    with tempfile.TemporaryDirectory() as folder:
        mp.start_processes(
            worker,
            args=(size, mode, rows, epochs, batch_size, os.path.join(folder, "store"), folder),
            nprocs=size, start_method="spawn",
        )
        records = [dict(np.load(os.path.join(folder, f"{mode}_{r}.npz"))) for r in range(size)]
    if size > 1:
        assert records[0]["checksum"] == records[1]["checksum"], "ranks disagree"
    return {
        "seconds": max(float(r["seconds"]) for r in records),
        "train": max(float(r["train"]) for r in records),
        "comm": float(np.mean([r["comm"] for r in records])),
        "n_comm": int(records[0]["n_comm"]),
        "test_error": float(records[0]["test_error"]),
        "n_iter": int(records[0]["n_iter"]),
    }


def section(results, rows, epochs, batch_size, repeats):
    """The markdown table and summary of one batch size."""
    modes = ("single", "ddp", "timed")

    def median(mode, key):
        return float(np.median([r[key] for r in results[mode]]))

    single, ddp, timed = (median(m, "seconds") for m in modes)
    steps = epochs * -(-rows // batch_size)
    share = [r["comm"] / r["train"] for r in results["timed"]]
    n_comm = results["timed"][0]["n_comm"]
    lines = [
        f"## Global batch of {batch_size} rows",
        "",
        f"`AutoencoderTransformer(n_components=30, hidden_layer_sizes=(256,), "
        f"batch_size={batch_size}, max_iter={epochs}, early_stopping=False, "
        f"random_state=0)` on the first {rows} training images: {steps} optimizer "
        f"steps of {batch_size} rows ({-(-batch_size // 2)} per rank with 2 ranks).",
        "",
        "| setting | fit wall time (s), median | min - max | training loop (s), median "
        "| test error |",
        "|---|---|---|---|---|",
    ]
    names = {"single": "1 rank", "ddp": "2 ranks", "timed": "2 ranks, timed all-reduce"}
    for mode in modes:
        values = [r["seconds"] for r in results[mode]]
        lines.append(
            f"| {names[mode]} | {median(mode, 'seconds'):.2f} | "
            f"{min(values):.2f} - {max(values):.2f} | {median(mode, 'train'):.2f} | "
            f"{median(mode, 'test_error'):.2f} |"
        )
    lines += [
        "",
        f"* Speed-up of 2 ranks over 1 (ratio of the medians of the fit wall time): "
        f"**{single / ddp:.2f}x**; of the training loop alone: "
        f"{median('single', 'train') / median('ddp', 'train'):.2f}x.",
        f"* Communication share (2 ranks, timed hook): a median "
        f"**{100 * np.median(share):.0f}%** of the training loop is spent in gradient "
        f"all-reduces ({n_comm} calls per rank per fit, "
        f"{1e3 * median('timed', 'comm') / max(n_comm, 1):.2f} ms each on average, "
        "waiting for the other rank included).",
        "",
    ]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(HERE / "results" / "distributed.md"))
    args = parser.parse_args()

    modes = ("single", "ddp", "timed")
    results = {b: {mode: [] for mode in modes} for b in args.batch_sizes}
    load_before = os.getloadavg()
    for repeat in range(args.repeats):
        for batch_size in args.batch_sizes:
            for mode in modes:
                record = run(mode, args.rows, args.epochs, batch_size)
                results[batch_size][mode].append(record)
                print(repeat, batch_size, mode, record, flush=True)
    load_after = os.getloadavg()

    lines = [
        "# Data-parallel training: 2 ranks against 1",
        "",
        f"Produced by `python benchmarks/distributed.py --rows {args.rows} "
        f"--epochs {args.epochs} --batch-sizes "
        f"{' '.join(map(str, args.batch_sizes))} --repeats {args.repeats}` on "
        f"{datetime.date.today().isoformat()}.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared with other "
        f"busy processes (load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after), so every number is noisy: all settings were "
        f"interleaved and each figure is the median of {args.repeats} runs. "
        f"Python {platform.python_version()}, torch {__import__('torch').__version__}, "
        "Gloo over the loopback interface, one torch thread and one BLAS thread per "
        "process; each process runs a small warm-up fit first, so that lazy imports "
        "are not timed.",
        "",
        f"Data: the first {args.rows} Fashion-MNIST training images"
        f"{' (a subset, as the machine is loaded)' if args.rows < 60000 else ''}, "
        "pixels in [0, 1]. Test error: squared error summed over "
        f"the 784 pixels, averaged over the first {TEST_ROWS} test images. The fit wall "
        "time is the slowest rank's and includes the statistics and PCA, which every "
        "rank computes in full; the training loop is the epochs alone.",
        "",
    ]
    for batch_size in args.batch_sizes:
        lines += section(results[batch_size], args.rows, args.epochs, batch_size, args.repeats)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
