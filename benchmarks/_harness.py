"""What the benchmark scripts share: options, timing, tables, data, bare loops.

Every script parses :func:`options`, prints markdown tables and hands them to
:func:`save`. Timings alternate between candidates (A, B, A, B, ...) and are
summarised by medians, so a slow phase of a shared machine hits all alike.
"""

import argparse
import contextlib
import gzip
import math
import os
import platform
import re
import struct
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FASHION_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
CHUNK = 4096  # rows per block of the bare chunked encoder


def options(description):
    """Parse ``--quick`` and ``--out`` (quick runs default to results/quick/)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small smoke-test settings")
    parser.add_argument("--out", type=Path, help="folder for NAME.md (default: results/)")
    args = parser.parse_args()
    if args.out is None:
        args.out = RESULTS / "quick" if args.quick else RESULTS
    return args


def machine():
    """One line naming the machine, the library versions and the load."""
    import sklearn

    import skae

    found = None
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    cpu = found[1].strip() if found else platform.machine()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), scikit-learn {sklearn.__version__}, "
            f"skae {skae.__version__}, python {platform.python_version()}, load {load}")


def fmt(x):
    """A table cell: numbers to three significant digits, thousands separated."""
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{x:,}"
    if isinstance(x, (float, np.floating)):
        return "-" if not math.isfinite(x) else f"{x:,.0f}" if abs(x) >= 1e3 else f"{x:.3g}"
    return "-" if x is None else str(x)


def table(headers, rows):
    """A markdown table of :func:`fmt` cells."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def save(name, args, *tables):
    """Print the tables and write them to ``OUT/name.md``.

    A full run into the default folder also replaces the text between
    ``<!-- name -->`` and ``<!-- /name -->`` in RESULTS.md with the tables.
    """
    command = f"python benchmarks/{name}.py" + (" --quick" if args.quick else "")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = f"_`{command}`, {stamp}; {machine()}._\n\n" + "\n\n".join(tables) + "\n"
    print(body, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.md").write_text(body)
    report = HERE / "RESULTS.md"
    if args.out.resolve() == RESULTS.resolve() and report.is_file():
        pattern = re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.S)
        text = pattern.sub(lambda m: m[1] + body + m[2], report.read_text())
        report.write_text(text)



def interleaved(candidates, repeats, warmup=1):
    """Wall seconds of ``repeats`` rounds of calls, one per zero-argument callable.

    The first candidate of a round rotates; ``warmup`` untimed rounds come first.
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    names, times = list(candidates), {name: [] for name in candidates}
    for i in range(repeats):
        for name in names[i % len(names):] + names[: i % len(names)]:
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return times


def ratio(times, name, reference):
    """Median over rounds of ``times[name][i] / times[reference][i]``."""
    return float(np.median(np.divide(times[name], times[reference])))


@contextlib.contextmanager
def torch_threads(n):
    """Run the block with ``n`` torch threads, then restore the caller's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)



def load(name):
    """A scikit-learn bundled data set's X as float64 (diabetes: X only)."""
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")().data.astype(np.float64)


def fashion_mnist():
    """Fashion-MNIST's ``(X_train, X_test)``, float32 in [0, 1]; None if not installed."""
    arrays = []
    for stem in ("train", "t10k"):
        path = FASHION_DIR / f"{stem}-images-idx3-ubyte.gz"
        if not path.is_file():
            return None
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
        n, rows, cols = struct.unpack(">III", raw[4:16])
        pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)
        arrays.append(pixels.astype(np.float32) / 255.0)
    return tuple(arrays)



class _LinearPlusBranch(nn.Module):
    def __init__(self, linear, branch):
        super().__init__()
        self.linear, self.branch = linear, branch

    def forward(self, x):
        return self.linear(x) + self.branch(x)


def mlp_autoencoder(widths, seed=0):
    """The network skae builds: a linear map plus a ReLU branch, each way.

    ``encoder(x) = W x + b + branch(x)`` with ``branch`` of ``widths``, and
    the decoder mirrored: the same layers as skae's default network, so a
    comparison measures the engine, not the model. Linear layers get
    torch's default initialisation drawn from a private generator (the
    global one is left alone). Returns ``(encoder, decoder)``.
    """
    gen = torch.Generator().manual_seed(seed)

    def stack(sizes):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layer = nn.Linear(a, b, device="meta").to_empty(device="cpu")
            with torch.no_grad():
                for p in (layer.weight, layer.bias):
                    p.uniform_(-a**-0.5, a**-0.5, generator=gen)
            layers += [layer, nn.ReLU()]
        return nn.Sequential(*layers[:-1])

    widths = list(widths)
    return (
        _LinearPlusBranch(stack([widths[0], widths[-1]]), stack(widths)),
        _LinearPlusBranch(stack([widths[-1], widths[0]]), stack(widths[::-1])),
    )


def scaled(X):
    """Centre each feature, divide by the RMS of the feature spreads (as skae does)."""
    X = np.asarray(X, dtype=np.float64)
    return ((X - X.mean(0)) / math.sqrt(X.var(0).mean())).astype(np.float32)


def bare_fit(X, widths, *, epochs, batch_size, fused=False, device="cpu", seed=0):
    """A hand-written training loop: shuffled slices of one tensor, Adam, MSE.

    ``X`` is scaled with :func:`scaled`; every epoch visits each row once in
    ``ceil(n / batch_size)`` steps. Returns the number of steps taken.
    """
    x = torch.from_numpy(scaled(X)).to(device)
    encoder, decoder = (m.to(device) for m in mlp_autoencoder(widths, seed))
    params = [*encoder.parameters(), *decoder.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, fused=fused or None)
    gen, steps = torch.Generator().manual_seed(seed), 0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen).to(device)
        for start in range(0, len(x), batch_size):
            xb = x[order[start : start + batch_size]]
            opt.zero_grad(set_to_none=True)
            nn.functional.mse_loss(decoder(encoder(xb)), xb).backward()
            opt.step()
            steps += 1
    return steps


def encoder_of(est, X, widths, device="cpu"):
    """``est.encoder_module()`` where skae has it, else a same-shape network.

    Either way the callable maps rows in the user's units to codes; the
    stand-in scales like :func:`scaled` (its weights are not skae's, which
    does not change the time it takes).
    """
    if hasattr(est, "encoder_module"):
        return est.encoder_module().to(device).eval()
    net = mlp_autoencoder(widths)[0].to(device).eval()
    mean = torch.as_tensor(np.mean(X, axis=0), dtype=torch.float32, device=device)
    spread = float(np.sqrt(np.var(X, axis=0).mean()))
    return lambda x: net((x - mean) / spread)


def bare_transform(encode, X, n_out, chunk=CHUNK):
    """Apply ``encode`` (tensor -> tensor) to float32 ``X`` block by block."""
    out = np.empty((len(X), n_out), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(X), chunk):
            out[start : start + chunk] = encode(torch.from_numpy(X[start : start + chunk]))
    return out
