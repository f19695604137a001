"""GPU speed: skae's training step and transform against bare CUDA loops.

60,000 x 784 float32 rows (Fashion-MNIST's training images if installed,
else random low-rank rows), network 784-512-256-30. Time per training step
of skae's fit, of an eager bare loop (fused Adam) and of a bare step
captured in a CUDA graph, at batch 128, 512 and 2048; each fit's fixed cost;
transform throughput against a bare chunked loop through pinned memory.
"""

import math
import sys
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

import _harness as H
from skae import AutoencoderTransformer

args = H.options(__doc__.splitlines()[0])
if not torch.cuda.is_available():
    print("CUDA not available: skipped", flush=True)
    sys.exit(0)
DEV, HIDDEN, K, GPU_CHUNK = "cuda", (512, 256), 30, 16384
WIDTHS = (784, *HIDDEN, K)
REPEATS = 3 if args.quick else 5
data = H.fashion_mnist()
if data is None:
    rng = np.random.default_rng(0)
    X = 1 / (1 + np.exp(-rng.normal(size=(60_000, 30)) @ rng.normal(size=(30, 784)) / 3))
    X = X.astype(np.float32)
else:
    X = data[0]
X = X[:10_000] if args.quick else X


def synced(fn, *args, **kwargs):
    """A callable that runs ``fn(*args, **kwargs)`` and waits for the GPU."""
    return lambda: (fn(*args, **kwargs), torch.cuda.synchronize())


def skae(batch, epochs):
    est = AutoencoderTransformer(K, hidden_layer_sizes=HIDDEN, batch_size=batch, max_iter=epochs,
                                 early_stopping=False, tol=0.0, n_iter_no_change=epochs + 1,
                                 random_state=0, device=DEV)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


def graph_loop(x, batch):
    """A bare training step captured once in a CUDA graph; returns run(steps)."""
    encoder, decoder = (m.to(DEV) for m in H.mlp_autoencoder(WIDTHS))
    params = [*encoder.parameters(), *decoder.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, capturable=True)
    static = x[:batch].clone()

    def step():
        torch.nn.functional.mse_loss(decoder(encoder(static)), static).backward()
        opt.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm up off the default stream before capturing
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        step()
    per_epoch, gen = len(x) // batch, torch.Generator(device=DEV).manual_seed(0)

    def run(steps):
        for i in range(steps):
            if i % per_epoch == 0:
                order = torch.randperm(len(x), device=DEV, generator=gen)
            start = (i % per_epoch) * batch
            static.copy_(x[order[start : start + batch]])
            graph.replay()
    return run


x_dev = torch.from_numpy(H.scaled(X)).to(DEV)
rows = []
for batch in [512] if args.quick else [128, 512, 2048]:
    per_epoch = math.ceil(len(X) / batch)
    e2 = 1 + max(1, math.ceil(400 / per_epoch))  # the second fit runs >= 400 more steps
    print(f"gpu: fit, batch {batch}, 1 and {e2} epochs", flush=True)
    replay = graph_loop(x_dev, batch)
    steps, bare = per_epoch * (e2 - 1), dict(batch_size=batch, fused=True, device=DEV)
    times = H.interleaved({
        "skae 1": synced(skae, batch, 1), "skae 2": synced(skae, batch, e2),
        "bare 1": synced(H.bare_fit, X, WIDTHS, epochs=1, **bare),
        "bare 2": synced(H.bare_fit, X, WIDTHS, epochs=e2, **bare),
        "graph": synced(replay, steps),
    }, REPEATS)
    step = {name: (np.array(times[f"{name} 2"]) - times[f"{name} 1"]) / steps
            for name in ("skae", "bare")}
    step["graph"] = np.array(times["graph"]) / steps
    fixed = {name: np.median(np.array(times[f"{name} 1"]) - step[name] * per_epoch)
             for name in ("skae", "bare")}
    for name, label in [("bare", "bare eager loop, fused Adam"), ("graph", "bare CUDA graph step"),
                        ("skae", "skae fit")]:
        rows.append([batch, label, np.median(step[name]) * 1e3,
                     np.median(step[name] / step["bare"]), fixed.get(name, "-")])
fit_table = H.table(["batch", "candidate", "ms/step", "x bare eager", "fixed s per fit"], rows)

est = skae(512, 1)
encode = H.encoder_of(est, X, WIDTHS, DEV)
pinned, source = torch.empty((GPU_CHUNK, 784), pin_memory=True), torch.from_numpy(X)


def bare_transform():
    out = np.empty((len(X), K), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(X), GPU_CHUNK):
            block = pinned[: min(GPU_CHUNK, len(X) - start)]
            block.copy_(source[start : start + len(block)])
            out[start : start + len(block)] = encode(block.to(DEV, non_blocking=True)).cpu()
    return out


print("gpu: transform", flush=True)
bare = f"bare chunked loop, pinned, {GPU_CHUNK:,} rows"
times = H.interleaved({bare: bare_transform, "skae transform": lambda: est.transform(X)}, REPEATS)
rows = [[len(X), name, len(X) / np.median(v) / 1e6, 1 / H.ratio(times, name, bare)]
        for name, v in times.items()]
transform_table = H.table(["rows", "candidate", "M rows/s", "x bare throughput"], rows)
H.save("gpu", args, fit_table, transform_table)
