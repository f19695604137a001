"""Fuzzing campaign over every skae estimator; writes benchmarks/results/fuzz.md.

Usage::

    python benchmarks/fuzz.py                      # 1000 examples per estimator
    python benchmarks/fuzz.py --examples 200       # quicker
    python benchmarks/fuzz.py --only AutoencoderTransformer

The examples are those of ``tests/test_fuzz.py`` (same strategies, same
seeds, imported from ``tests/_fuzzing.py``): random inputs of every shape,
dtype, layout and container, and parameters at and past their bounds, fed to
every public method. Each call is classified (see ``tests/_fuzzing.py``);
the table counts, per estimator:

* examples, and calls made;
* ok: successes (with finite output for finite input);
* clear errors: ValueError/TypeError naming the problem;
* unclear errors: any other exception, a raw torch error, a message naming
  none of the input's problems, or an error on valid input;
* missing errors: input that must be refused (NaN, wrong width...) accepted;
* non-finite outputs: NaN or infinity out of all-finite input;
* inputs changed: the caller's X modified;
* models changed: a fitted model changed by an inference call or a failed
  training call, or an unfitted one left with fitted attributes.

The target for the last five columns is zero. Below the table, each distinct
failure is listed once with its count and a reproducer.
"""

import argparse
import collections
import datetime
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (str(HERE.parent), str(HERE.parent / "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

import _fuzzing as F  # noqa: E402

import skae  # noqa: E402

RESULTS = HERE / "results" / "fuzz.md"
COLUMNS = [
    ("ok", "ok"),
    ("clear", "clear errors"),
    ("unclear", "unclear errors"),
    ("missing_error", "missing errors"),
    ("nonfinite", "non-finite outputs"),
    ("input_changed", "inputs changed"),
    ("model_changed", "models changed"),
]


def campaign(names, n_examples, log=print):
    """Run the campaign; return ``(rows, all_outcomes)``."""
    rows, everything = [], []
    for name in names:
        start = time.perf_counter()
        n, outcomes = F.run_campaign(name, n_examples)
        seconds = time.perf_counter() - start
        counts = collections.Counter(o.kind for o in outcomes)
        calls = sum(1 for o in outcomes if o.kind in ("ok", "clear", "unclear",
                                                      "missing_error", "nonfinite"))
        row = {"estimator": name, "examples": n, "calls": calls, "seconds": seconds}
        row.update({kind: counts.get(kind, 0) for kind, _ in COLUMNS})
        rows.append(row)
        everything += outcomes
        log(f"{name}: {n} examples, {calls} calls, {seconds:.0f} s, "
            + ", ".join(f"{label} {row[kind]}" for kind, label in COLUMNS))
    return rows, everything


def markdown(rows, outcomes, n_examples):
    headers = ["estimator", "examples", "calls"] + [label for _, label in COLUMNS] + ["seconds"]
    lines = [
        "# Fuzzing campaign",
        "",
        f"Run on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"skae {skae.__version__}, Python {platform.python_version()}, "
        f"`python benchmarks/fuzz.py --examples {n_examples}` "
        "(examples per estimator; tiny networks, `hidden_layer_sizes=(4,)`, "
        "`max_iter=2`). Seconds are wall time on a shared machine, for "
        "orientation only.",
        "",
        "Target: zero in the columns unclear errors, missing errors, "
        "non-finite outputs, inputs changed and models changed.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    total = collections.Counter()
    for row in rows:
        cells = [row["estimator"], row["examples"], row["calls"]]
        cells += [row[kind] for kind, _ in COLUMNS] + [f"{row['seconds']:.0f}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        total.update({k: v for k, v in row.items() if k not in ("estimator",)})
    cells = ["**total**", total["examples"], total["calls"]]
    cells += [total[kind] for kind, _ in COLUMNS] + [f"{total['seconds']:.0f}"]
    lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    groups = F.distinct_failures(outcomes)
    lines += ["", f"## Distinct failures ({len(groups)})", ""]
    if not groups:
        lines.append("None.")
    for (est, method, kind, detail), (count, repro) in sorted(
        groups.items(), key=lambda item: (item[0][2], -item[1][0])
    ):
        lines += [
            f"- **{kind}** `{est}.{method}` (x{count}): {detail}",
            f"  - reproducer: `{repro}`",
        ]
    lines += [
        "",
        "Reproducers: `build_input` is in `tests/_fuzzing.py`; estimators use "
        "`hidden_layer_sizes=(4,)`, `max_iter=2`, `random_state=0`, "
        "`n_components=1` (`hidden_layer_sizes=(2,)` for the convolutional "
        "one) unless the listed params override them; \"fitted on p "
        "features\" means fitted on 30 rows of standard normal data.",
        "",
    ]
    return "\n".join(lines)


def report(quick):
    """Markdown section for ``benchmarks/run.py``."""
    n = 100 if quick else 1000
    rows, outcomes = campaign(list(F.ESTIMATORS), n, log=lambda *_: None)
    return markdown(rows, outcomes, n)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000,
                        help="examples per estimator (default 1000)")
    parser.add_argument("--only", nargs="+", choices=list(F.ESTIMATORS),
                        help="estimators to fuzz (default all)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = args.only or list(F.ESTIMATORS)
    rows, outcomes = campaign(names, args.examples)
    text = markdown(rows, outcomes, args.examples)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    bad = sum(row[kind] for row in rows
              for kind in ("unclear", "missing_error", "nonfinite",
                           "input_changed", "model_changed"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
