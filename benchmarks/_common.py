"""Helpers shared by the benchmark sections.

Timing, machine description, markdown tables, the hand-written PyTorch
reference loop that skae is measured against, data loaders and the list of
targets that ``run.py`` summarises.

Timings on a shared machine are noisy, so every comparison is run
*interleaved* (A, B, C, A, B, C, ...) and summarised by its median; ratios
taken inside one such run are what the report quotes.
"""

import datetime
import gzip
import json
import math
import os
import platform
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

# Thread control for timed blocks: the same context manager skae trains under.
from skae._training import torch_threads  # noqa: F401

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Peak single-precision GEMM throughput of one core of the benchmark machine,
# used for the "fraction of the FLOP bound" columns (issue 3).
PEAK_FLOPS_PER_CORE = 100e9

# Rows per block for chunked inference in the bare reference.
CHUNK = 4096

# Torch threads the caller sets around the fits of the quality, Fashion-MNIST
# and scaling sections (``run.py --threads``). On a machine shared with other
# busy processes, multi-threaded torch runs are erratic (OpenMP threads wait
# for each other at every operation), so one thread keeps these sections'
# timings meaningful; the speed and threads sections measure thread effects.
WORK_THREADS = 1


# ------------------------------------------------------------------ targets

#: Filled by the sections while they run; ``run.py`` turns it into the
#: summary at the top of RESULTS.md. Each entry is a dict with the keys
#: ``target``, ``measured`` and ``verdict`` ("PASS", "FAIL", ...).
TARGETS = []


def record_target(target, measured, verdict):
    """Register the outcome of one target of the issues.

    Parameters
    ----------
    target : str
        What is required, in words (e.g. "fit <= 1.0x bare loop").
    measured : str
        The measured numbers.
    verdict : str or bool
        True/False are written as PASS/FAIL; strings are kept as given.
    """
    if isinstance(verdict, (bool, np.bool_)):
        verdict = "PASS" if verdict else "FAIL"
    TARGETS.append({"target": target, "measured": measured, "verdict": verdict})
    print(f"  [target] {verdict}: {target} -- {measured}", flush=True)


# ------------------------------------------------------------------- timing



def timed(fn):
    """Seconds taken by one call of ``fn()`` (wall clock), and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


class Timings(dict):
    """Wall-clock seconds per candidate (the dict), CPU seconds in ``.cpu``."""

    def __init__(self, names):
        super().__init__({name: [] for name in names})
        self.cpu = {name: [] for name in names}


def interleaved(candidates, repeats, warmup=1):
    """Time several callables side by side, alternating between them.

    Parameters
    ----------
    candidates : dict of str -> callable
        Zero-argument callables. Each is run ``warmup`` times untimed, then
        ``repeats`` times in round-robin order with the others, so slow phases
        of a shared machine hit all of them alike.
    repeats : int
    warmup : int, default=1

    Returns
    -------
    times : Timings
        ``times[name]`` lists the wall-clock seconds of each timed call and
        ``times.cpu[name]`` the process CPU seconds. For a single-threaded
        call the CPU time is close to what the call takes on an idle core,
        even when other processes compete for the machine.
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times = Timings(candidates)
    for i in range(repeats):
        # Rotate the starting point so no candidate always runs first.
        names = list(candidates)
        names = names[i % len(names):] + names[: i % len(names)]
        for name in names:
            cpu0 = time.process_time()
            times[name].append(timed(candidates[name])[0])
            times.cpu[name].append(time.process_time() - cpu0)
    return times


def median(values):
    return float(np.median(values))


def paired_ratio(times, name, reference, cpu=False):
    """Median over repeats of ``times[name][i] / times[reference][i]``.

    Pairing the i-th repeat of each candidate cancels slow phases of the
    machine that hit both runs of the pair. ``cpu=True`` uses the CPU times
    of a :class:`Timings`.
    """
    source = times.cpu if cpu else times
    a, b = np.asarray(source[name]), np.asarray(source[reference])
    return float(np.median(a / b))


def spread(values):
    """Relative interquartile range, as a short string (noise indicator)."""
    q1, q3 = np.percentile(values, [25, 75])
    m = np.median(values)
    return f"{(q3 - q1) / m * 100:.0f}%" if m > 0 else "-"


# ---------------------------------------------------------------- machine


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """Dict describing the machine and the library versions."""
    import sklearn
    import skorch

    import skae

    info = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_model(),
        "logical cores": os.cpu_count(),
        "torch threads (default)": torch.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "skae": skae.__version__,
        "BLAS (torch)": "MKL" if torch.backends.mkl.is_available() else "other",
        "SIMD (torch)": torch.backends.cpu.get_cpu_capability(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        info["memory"] = f"{int(mem) / 2**20:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    return info


# ----------------------------------------------------------------- markdown


def fmt(x, digits=3):
    """Compact number formatting for tables."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return f"{x:,}"
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 1e5:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def table(headers, rows):
    """A markdown table; cells are formatted with :func:`fmt`."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------ the reference


class ReferenceAE(nn.Module):
    """Fully connected ReLU autoencoder, as a user would write it by hand."""

    def __init__(self, n_features, hidden, n_components):
        super().__init__()
        widths = [n_features, *hidden, n_components]
        enc, dec = [], []
        for a, b in zip(widths[:-1], widths[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        for a, b in zip(widths[::-1][:-1], widths[::-1][1:]):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc[:-1])
        self.decoder = nn.Sequential(*dec[:-1])

    def forward(self, x):
        return self.decoder(self.encoder(x))


def n_weights(module):
    """Number of weights in matrices (what sets the multiply-adds per row)."""
    return sum(p.numel() for p in module.parameters() if p.dim() > 1)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def make_reference(n_features, hidden, n_components, seed=0):
    """A :class:`ReferenceAE` initialised from its own ``torch.Generator``.

    Weights follow torch's default ``Linear`` initialisation (uniform with
    bound ``1/sqrt(fan_in)``) without touching the global random state.
    """
    with torch.device("meta"):  # no random draws from the global generator
        module = ReferenceAE(n_features, hidden, n_components)
    module = module.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
    return module


def bare_fit(
    X,
    *,
    epochs,
    batch_size=128,
    hidden=(128,),
    n_components=10,
    lr=1e-3,
    fused=False,
    seed=0,
    module=None,
):
    """The hand-written training loop of issue 3.

    Batches are sliced (by a shuffled index) from one float32 tensor built
    once; Adam, MSE, no validation, no bookkeeping beyond the loss.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Already standardised.
    fused : bool, default=False
        Use ``torch.optim.Adam(fused=True)`` (the tuned variant); the plain
        reference uses torch's default Adam.

    Returns
    -------
    module : ReferenceAE
    """
    x = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32)
    if module is None:
        module = make_reference(x.shape[1], hidden, n_components, seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr, **({"fused": True} if fused else {}))
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    loss_fn = nn.MSELoss()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            xb = x[order[start : start + batch_size]]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(module(xb), xb)
            loss.backward()
            opt.step()
    return module


def training_flops(module, n_samples, epochs):
    """6 x parameters x rows x epochs: forward (2) + backward (4) per weight."""
    return 6.0 * n_params(module) * n_samples * epochs


def flop_fraction(flops, seconds, threads):
    """Share of the machine's FP32 GEMM peak for ``threads`` cores."""
    return flops / seconds / (PEAK_FLOPS_PER_CORE * threads)


# -------------------------------------------------------------------- data


def digits(standardise=False):
    """scikit-learn's digits as float64 (1797 x 64)."""
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float64)
    if standardise:
        from sklearn.preprocessing import StandardScaler

        X = StandardScaler().fit_transform(X)
    return X


def digits_like(n_samples, seed=0):
    """Random rows that look like digits: 64 features in 0..16, low-rank plus noise."""
    rng = np.random.default_rng(seed)
    basis = digits()
    idx = rng.integers(0, basis.shape[0], n_samples)
    X = basis[idx] + rng.normal(scale=1.0, size=(n_samples, basis.shape[1]))
    return np.clip(X, 0, 16).astype(np.float32)


FASHION_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def _read_idx(path):
    """Read an IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return array.reshape(shape)


def _find(directory, stem):
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def fashion_mnist(directory=FASHION_DIR):
    """Fashion-MNIST as ``(X_train, y_train, X_test, y_test)``, pixels in [0, 1].

    Images are flattened to 784 float32 columns. Returns None when the
    Debian package ``dataset-fashion-mnist`` (or a copy of its IDX files in
    ``$FASHION_MNIST_DIR``) is not installed, or the files cannot be read.
    """
    directory = Path(directory)
    stems = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    paths = [_find(directory, s) for s in stems]
    if any(p is None for p in paths):
        return None
    try:
        xtr, ytr, xte, yte = (_read_idx(p) for p in paths)
    except (OSError, ValueError, struct.error, EOFError):
        return None
    to_float = lambda a: (a.reshape(a.shape[0], -1).astype(np.float32) / 255.0)
    return to_float(xtr), ytr.astype(np.int64), to_float(xte), yte.astype(np.int64)


# ------------------------------------------------------------ subprocesses


def run_python(code, timeout=600):
    """Run ``code`` in a fresh interpreter; return the JSON it prints last.

    Used for memory measurements, which need a process of their own.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"subprocess failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Code shared by the memory subprocesses: resident-set accounting from /proc.
MEMORY_PRELUDE = r'''
import json, os, resource
def _status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None
def rss():
    return _status("VmRSS")
def reset_peak():
    """Reset the kernel's resident high-water mark (VmHWM) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
def peak():
    hwm = _status("VmHWM")
    if hwm is None:
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return hwm
'''
