"""Transform throughput: onnxruntime against skae on the same fitted model.

One model, fitted once; then ``skae``'s ``transform`` and an onnxruntime
session of the graph that :mod:`skae.onnx` writes for it are timed side by
side (interleaved, medians), on the same rows, with the same number of
threads for both. Writes ``benchmarks/results/onnx_speed.md``.

Run from the repository root::

    python benchmarks/onnx_speed.py [--repeats 15] [--threads 1]
"""

import argparse
import datetime
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

import _harness as H

ROWS = 10_000
SETTINGS = [
    # (label, estimator parameters)
    ("default MLP (256, 128), k=10", {"n_components": 10}),
    ("small MLP (64,), k=10", {"n_components": 10, "hidden_layer_sizes": (64,)}),
]


# ------------------------------------------------------------- helpers
# (self-contained: this script does not depend on the other sections)


def interleaved(candidates, repeats, warmup=2):
    """Wall-clock seconds of each callable, timed in rotating round-robin order."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times = {name: [] for name in candidates}
    names = list(candidates)
    for i in range(repeats):
        for name in names[i % len(names):] + names[: i % len(names)]:
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return times


def spread(values):
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"{(q3 - q1) / median * 100:.0f}%"


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info():
    import onnxruntime
    import sklearn
    import torch

    import skae

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "logical cores": os.cpu_count(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "scikit-learn": sklearn.__version__,
        "skae": skae.__version__,
    }


def digits():
    from sklearn.datasets import load_digits

    return load_digits().data.astype(np.float64)


# ----------------------------------------------------------- benchmark


def _fitted(params, X):
    from skae import AutoencoderTransformer

    est = AutoencoderTransformer(**params, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # partial_fit trains the nonlinear branch (a fit may keep PCA, whose
        # graph is smaller and would flatter onnxruntime).
        est.partial_fit(X)
    return est


def _session(est, dtype, threads):
    import onnxruntime as rt
    from skl2onnx import to_onnx

    import skae.onnx  # noqa: F401 - registers the converters

    options = rt.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    onx = to_onnx(est, np.zeros((1, est.n_features_in_), dtype=dtype))
    return rt.InferenceSession(
        onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def run(repeats, threads):
    X_digits = digits()
    X = np.tile(X_digits, (ROWS // len(X_digits) + 1, 1))[:ROWS]
    rows = []
    for label, params in SETTINGS:
        est = _fitted(params, X_digits)
        for dtype in (np.float32, np.float64):
            Xd = np.ascontiguousarray(X, dtype=dtype)
            session = _session(est, dtype, threads)
            with H.torch_threads(threads):
                codes = est.transform(Xd)
                (onnx_codes,) = session.run(None, {"X": Xd})
                error = float(np.max(np.abs(onnx_codes - codes)) / np.max(np.abs(codes)))
                times = interleaved(
                    {
                        "skae": lambda: est.transform(Xd),
                        "onnxruntime": lambda: session.run(None, {"X": Xd}),
                    },
                    repeats,
                )
            skae_s, ort_s = np.median(times["skae"]), np.median(times["onnxruntime"])
            ratio = np.median(np.divide(times["skae"], times["onnxruntime"]))
            rows.append([
                label, np.dtype(dtype).name, f"{skae_s * 1e3:.1f}", f"{ort_s * 1e3:.1f}",
                f"{ratio:.2f}x", spread(times["skae"]), spread(times["onnxruntime"]),
                f"{error:.1e}",
            ])
            print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    info = machine_info()
    rows = run(args.repeats, args.threads)
    headers = [
        "model", "dtype", "skae ms", "onnxruntime ms", "skae / onnxruntime",
        "skae spread", "ort spread", "max rel. diff",
    ]
    text = "\n".join([
        "# ONNX Runtime vs skae: transform throughput",
        "",
        "Generated by `python benchmarks/onnx_speed.py "
        f"--repeats {args.repeats} --threads {args.threads}`.",
        "",
        table(["machine", ""], [[k, str(v)] for k, v in info.items()]),
        "",
        f"Each cell: median wall-clock time of one `transform` of {ROWS:,} rows of "
        "the digits data (tiled) with 64 features, by skae and by an onnxruntime "
        "session of the graph `skae.onnx` writes for the same fitted model, "
        f"{args.repeats} interleaved repeats, {args.threads} thread(s) for both "
        "(torch threads and onnxruntime's intra-op threads). The model is an "
        "`AutoencoderTransformer` trained for one `partial_fit` epoch on the "
        "1,797 digits, so its nonlinear branches are active. *skae / "
        "onnxruntime* is the median of the per-repeat ratios: above 1 means "
        "onnxruntime is faster. *spread* is the interquartile range over the "
        "median. *max rel. diff* is the largest absolute difference of the "
        "codes over the largest absolute code.",
        "",
        table(headers, rows),
        "",
    ])
    out = Path(__file__).resolve().parent / "results" / "onnx_speed.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
