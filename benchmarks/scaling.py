"""Fit time and peak memory as the number of rows grows.

Synthetic digits-like data (64 float32 features), the issue's reference
architecture (64-128-10-128-64, batch 128) with convergence checks disabled,
so every size trains the same number of epochs it is asked for. Times are
taken in this process; peak memory in a fresh subprocess per size.
"""

import os
import warnings

import _common as C
from skae import AutoencoderTransformer

PARAMS = dict(
    n_components=10,
    hidden_layer_sizes=(128,),
    batch_size=128,
    tol=0.0,
    n_iter_no_change=10**9,
    random_state=0,
)


def _epochs(n):
    """Enough epochs for ~100k row-visits (at least 2), so small sizes are not all overhead."""
    return int(max(2, min(50, 100_000 // n)))


MEMORY_CODE = C.MEMORY_PRELUDE + r'''
import gc, warnings
import _common as C
from skae import AutoencoderTransformer
X = C.digits_like({n})
gc.collect()
before = rss()
reset_peak()
with C.torch_threads({threads}), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    AutoencoderTransformer(max_iter=1, **{params}).fit(X)
print(json.dumps({{"before": before, "peak": peak(), "input": X.nbytes}}))
'''


def report(quick=False):
    sizes = [1_000, 10_000, 100_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    rows = []
    per_row = {}
    fixed = None  # fit's memory overhead at the smallest size, independent of n
    growth = {}
    for n in sizes:
        X = C.digits_like(n, seed=1)
        epochs = _epochs(n)
        reps = 3 if n <= 100_000 else 1
        print(f"scaling: n={n:,}, {epochs} epochs x {reps}", flush=True)

        def fit(X=X, epochs=epochs):
            with C.torch_threads(C.WORK_THREADS), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return AutoencoderTransformer(max_iter=epochs, **PARAMS).fit(X)

        if n <= 10_000:  # warm-up for the short ones
            fit()
        times = [C.timed(fit)[0] for _ in range(reps)]
        t = C.median(times)
        per_row[n] = t / (n * epochs) * 1e6
        print(f"scaling: memory n={n:,}", flush=True)
        mem = C.run_python(
            MEMORY_CODE.format(n=n, threads=C.WORK_THREADS, params=repr(PARAMS))
        )
        extra = (mem["peak"] - mem["before"]) / 2**20
        fixed = extra if fixed is None else fixed
        if mem["input"] >= 20 * 2**20:  # smaller inputs vanish in the fixed cost's noise
            growth[n] = (extra - fixed) / (mem["input"] / 2**20)
        rows.append(
            [
                n,
                epochs,
                t,
                t / epochs,
                per_row[n],
                mem["input"] / 2**20,
                extra,
                growth[n] if n in growth else "-",
                mem["peak"] / 2**20,
            ]
        )
        del X
    out = ["## Scaling with n_samples\n"]
    out.append(
        "64-128-10-128-64 (batch 128, tol=0), digits-like float32 rows, "
        f"torch threads {C.WORK_THREADS}. 'us/row-epoch' should stay flat if fit "
        "time is linear in n_samples. Memory: a fresh interpreter builds the data, "
        "resets its resident high-water mark, fits one epoch; 'fit peak extra' is "
        "peak RSS minus RSS before fit. The first fit in a fresh process has a fixed "
        "cost (library initialisation, thread pools, allocator arenas), taken as "
        "the extra at the smallest size; '(extra - fixed) / input' is what grows "
        "with n (training keeps one float32 copy of the data in network units, so "
        "about 1x a float32 input is expected). "
        f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.\n"
    )
    out.append(
        C.table(
            [
                "n_samples",
                "epochs",
                "fit s",
                "s/epoch",
                "us/row-epoch",
                "input MiB",
                "fit peak extra MiB",
                "(extra - fixed) / input",
                "process peak RSS MiB",
            ],
            rows,
        )
    )
    base = per_row[10_000]
    largest = sizes[-1]
    ratio = per_row[largest] / base
    C.record_target(
        "fit time linear in n_samples (per-row cost at the largest size within 1.5x of 10^4)",
        f"{per_row[largest]:.2f} us/row-epoch at {largest:,} vs {base:.2f} at 10,000 "
        f"({ratio:.2f}x)",
        ratio <= 1.5,
    )
    if growth:
        biggest = max(growth)
        C.record_target(
            "fit memory linear in n_samples (about one float32 copy of the data)",
            f"peak extra beyond the fixed cost = {growth[biggest]:.2f}x the float32 input "
            f"at {biggest:,} rows",
            growth[biggest] <= 1.5,
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    print(report(quick="--quick" in sys.argv))
