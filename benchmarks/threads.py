"""One or two torch threads for training: does skae's heuristic choose well?

``skae._training.training_threads`` trains on one thread when a step does
fewer than ``SINGLE_THREAD_MACS`` multiply-adds (weights x batch size) and
otherwise keeps the caller's setting. This section times one epoch of the
same loop skae runs (batches sliced from a tensor, fused Adam) at 1 and at
the default number of threads, interleaved, for models of three sizes.
"""

import contextlib
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch

import _common as C
from skae import _training


def _models(quick):
    digits = C.digits(standardise=True).astype(np.float32)
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(2048, 30)).astype(np.float32)
    mixing = rng.normal(size=(30, 784)).astype(np.float32) / np.sqrt(30)
    big = np.tanh(latent @ mixing) + 0.1 * rng.normal(size=(2048, 784)).astype(np.float32)
    big = ((big - big.mean(0)) / big.std(0)).astype(np.float32)
    if quick:
        return [
            ("64-128-10 (issue reference)", digits, (128,), 10, (128, 1024)),
            ("64-256-128-2 (skae default on digits)", digits, (256, 128), 2, (200,)),
            ("784-512-256-30 (Fashion-MNIST size)", big, (512, 256), 30, (128,)),
        ]
    return [
        # name, data, hidden, n_components, batch sizes
        ("64-128-10 (issue reference)", digits, (128,), 10, (32, 128, 1024)),
        ("64-256-128-2 (skae default on digits)", digits, (256, 128), 2, (32, 200, 1024)),
        ("784-512-256-30 (Fashion-MNIST size)", big, (512, 256), 30, (32, 128, 1024)),
    ]


def stepper(X, hidden, k, batch_size, steps, threads):
    """A callable running ``steps`` training steps (fused Adam) on ``threads``.

    The module and optimizer persist between calls, so only the steps are
    timed, as inside a long fit.
    """
    x = torch.from_numpy(X)
    module = C.make_reference(X.shape[1], hidden, k)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
    gen = torch.Generator().manual_seed(0)
    loss_fn = torch.nn.MSELoss()

    def run():
        with C.torch_threads(threads):
            for _ in range(steps):
                idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen)
                xb = x[idx]
                opt.zero_grad(set_to_none=True)
                loss_fn(module(xb), xb).backward()
                opt.step()

    return run


def threshold_loss(points, threshold):
    """Mean relative time lost per case by the rule "1 thread below ``threshold``".

    ``points`` holds ``(macs, speedup)`` pairs, speed-up being t(1)/t(many).
    """
    loss = 0.0
    for macs, speedup in points:
        if macs < threshold:  # one thread chosen
            loss += max(0.0, speedup - 1.0)  # t1/tn - 1 lost when many was faster
        else:
            loss += max(0.0, 1.0 / speedup - 1.0)
    return loss / len(points)


def best_threshold(points):
    """The interval of thresholds with the least :func:`threshold_loss`."""
    cuts = sorted({m for m, _ in points})
    candidates = [(0.0, cuts[0])] + list(zip(cuts, cuts[1:])) + [(cuts[-1], math.inf)]
    scored = [(threshold_loss(points, hi if math.isfinite(hi) else lo * 2), (lo, hi))
              for lo, hi in candidates]
    loss, interval = min(scored, key=lambda item: item[0])
    return interval, loss


@contextlib.contextmanager
def busy_neighbour():
    """Run the block while another process keeps one core busy.

    Stands for the common case of a machine doing something else at the same
    time (another fit, a test suite, a browser).
    """
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        yield
    finally:
        proc.kill()
        proc.wait()


def measure(configs, repeats, flop_budget, threshold, default):
    """Rows of the table and (macs, speed-up) points for ``configs``."""
    rows, points = [], []
    for name, X, hidden, k, batches in configs:
        probe = C.make_reference(X.shape[1], hidden, k)
        weights = C.n_weights(probe)
        for bs in batches:
            print(f"threads: {name} batch {bs} x {repeats}", flush=True)
            steps = int(min(200, max(3, flop_budget / (6 * C.n_params(probe) * bs))))
            times = C.interleaved(
                {
                    1: stepper(X, hidden, k, bs, steps, 1),
                    default: stepper(X, hidden, k, bs, steps, default),
                },
                repeats,
            )
            t1, tn = C.median(times[1]), C.median(times[default])
            speedup = C.paired_ratio(times, 1, default)  # >1: more threads faster
            macs = weights * bs
            chosen = 1 if macs < threshold else default
            if abs(speedup - 1) < 0.05:
                best, right = "tie", "either"
            else:
                best = default if speedup > 1 else 1
                right = "yes" if chosen == best else "NO"
            points.append((macs, speedup))
            rows.append(
                [
                    name,
                    bs,
                    f"{macs / 1e6:.1f}M",
                    t1 / steps * 1e3,
                    tn / steps * 1e3,
                    speedup,
                    chosen,
                    best,
                    right,
                ]
            )
    return rows, points


def _advice(points, threshold):
    (lo, hi), loss = best_threshold(points)
    current = threshold_loss(points, threshold)
    return (
        f"least time lost with a threshold in ({lo / 1e6:.1f}M, "
        f"{'inf' if math.isinf(hi) else f'{hi / 1e6:.1f}M'}] MACs "
        f"(mean loss per case {loss * 100:.0f}%, against {current * 100:.0f}% for the "
        f"current {threshold / 1e6:g}M)"
    )


def report(quick=False):
    default = torch.get_num_threads()
    out = ["## Torch threads during training\n"]
    if default < 2:
        out.append(f"Only {default} torch thread available: nothing to compare.\n")
        return "\n".join(out)
    repeats = 5 if quick else 9
    threshold = _training.SINGLE_THREAD_MACS
    flop_budget = 1e8 if quick else 3e8  # per timed call, ~0.01-0.05 s on one idle core
    headers = [
        "model",
        "batch",
        "MACs/step",
        "ms/step 1 thr",
        f"ms/step {default} thr",
        "speed-up",
        "skae picks",
        "faster",
        "right?",
    ]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows, points = measure(_models(quick), repeats, flop_budget, threshold, default)
    out.append(
        f"Time per training step (ms; an epoch is n_samples / batch steps) of the loop "
        f"skae runs (batches sliced from a tensor, fused Adam) at 1 and {default} "
        f"threads, {repeats} interleaved repeats of a few steps after a warm-up call; "
        f"'speed-up' = median paired t(1)/t({default}), 'tie' within 5%. skae's rule: "
        f"1 thread when weights x batch < SINGLE_THREAD_MACS = {threshold:,}, else the "
        f"caller's setting. Load average before measuring: {load} on {os.cpu_count()} "
        "cores.\n"
    )
    out.append("### As the machine is\n")
    out.append(C.table(headers, rows))
    wrong = sum(r[-1] == "NO" for r in rows)
    advice = _advice(points, threshold)
    out.append(f"\nRight in {len(rows) - wrong} of {len(rows)} cases; {advice}.\n")

    busy_note = ""
    if not quick:
        with busy_neighbour():
            busy_rows, busy_points = measure(
                _models(True), 5, flop_budget / 3, threshold, default
            )
        busy_wrong = sum(r[-1] == "NO" for r in busy_rows)
        out.append("### With one other process keeping a core busy\n")
        out.append(
            "The same measurement (fewer cases) while a spinning child process "
            "occupies one core. OpenMP threads then wait for a descheduled partner "
            "at every operation.\n"
        )
        out.append(C.table(headers, busy_rows))
        busy_advice = _advice(busy_points, threshold)
        out.append(
            f"\nRight in {len(busy_rows) - busy_wrong} of {len(busy_rows)} cases; "
            f"{busy_advice}.\n"
        )
        busy_note = f"; with a busy neighbour: {len(busy_rows) - busy_wrong}/{len(busy_rows)}"
    C.record_target(
        "thread heuristic picks the faster setting (informative)",
        f"{len(rows) - wrong}/{len(rows)} cases as measured; {advice}{busy_note}",
        "PASS" if wrong == 0 else "INFO",
    )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(report(quick="--quick" in sys.argv))
