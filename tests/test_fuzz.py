"""Property-based fuzzing of every estimator's public methods.

Each example draws an input (0-60 rows, 0-25 columns, every dtype, NaN,
infinities, 1e300, constant columns, Fortran order, negative strides,
read-only arrays, memmaps, DataFrames with nullable, categorical and
pyarrow columns, every scipy sparse format) and parameters at or past their
bounds, then calls every public method on an unfitted and on a fitted
estimator. The properties (see ``tests/_fuzzing.py``):

* a call succeeds, or raises ValueError/TypeError whose message names the
  problem, never a raw torch error or another exception type;
* input with a problem that must be refused (NaN, wrong width...) is refused;
* finite input gives finite output;
* the caller's X is unchanged;
* a failed call leaves the model as it was (an unfitted one unfitted).

The examples are repeatable (a fixed seed per estimator). Run thousands with::

    SKAE_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py

or ``python benchmarks/fuzz.py --examples 2000`` for a table of outcomes.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from _fuzzing import (
    BAD_KINDS,
    ESTIMATORS,
    Input,
    build_input,
    classify_error,
    example_count,
    format_failures,
    run_campaign,
    same_input,
)

# Examples per estimator when SKAE_FUZZ_EXAMPLES is unset: the whole file
# stays within about a minute and a half on two idle cores.
DEFAULT_EXAMPLES = 120


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_fuzz_public_methods(name):
    n_examples, outcomes = run_campaign(name, example_count(DEFAULT_EXAMPLES))
    assert n_examples >= min(example_count(DEFAULT_EXAMPLES), 50)
    # Each example calls every public method at least once.
    calls = {o.call for o in outcomes}
    assert set(ESTIMATORS[name].inference) <= calls
    bad = [o for o in outcomes if o.kind in BAD_KINDS]
    assert not bad, format_failures(bad)


# ------------------------------------------------ the harness itself
# The campaign is only as good as its classification: these check that it
# catches what it should and accepts what it should.


def test_classify_error():
    nan = {r"NaN|missing": "bad"}
    assert classify_error(ValueError("Input X contains NaN."), nan)[0] == "clear"
    assert classify_error(ValueError("something else"), nan)[0] == "unclear"
    assert classify_error(RuntimeError("Input X contains NaN."), nan)[0] == "unclear"
    assert classify_error(IndexError("NaN"), nan)[0] == "unclear"
    raw = ValueError("At least one stride in the given numpy array is negative")
    assert classify_error(raw, {r"stride": "may"})[0] == "unclear"
    assert classify_error(ValueError("at least one array or dtype is required"),
                          {r"0 feature": "bad"})[0] == "unclear"
    # Valid input (no known problem): any error is a failure.
    assert classify_error(ValueError("Input X contains NaN."), {})[0] == "unclear"


def test_build_input_flags_problems():
    base = {"n_rows": 4, "n_cols": 3, "seed": 0, "scale": 1.0, "offset": 0.0,
            "constant_cols": [], "inject": [], "dtype": "float64",
            "layout": "C", "container": "ndarray"}
    clean = build_input(base)
    assert isinstance(clean, Input) and clean.problems == set() and clean.finite
    assert clean.value.shape == (4, 3)
    assert build_input({**base, "inject": [(0, 0, float("nan"))]}).problems == {"nan"}
    assert build_input({**base, "inject": [(1, 1, -np.inf)]}).problems == {"inf"}
    assert build_input({**base, "dtype": "complex128"}).problems == {"complex"}
    assert build_input({**base, "n_rows": 0}).problems == {"no_rows"}
    assert build_input({**base, "container": "3d"}).problems == {"not_2d"}
    empty_list = build_input({**base, "n_rows": 0, "container": "list"})
    assert empty_list.value == [] and "not_2d" in empty_list.problems
    assert build_input({**base, "scale": 1e20}).problems == {"huge"}
    # float16 overflows to infinity: flagged from the converted values.
    assert "inf" in build_input({**base, "dtype": "float16", "scale": 1e5}).problems
    rev = build_input({**base, "layout": "rev_rows"}).value
    assert rev.strides[0] < 0
    assert not build_input({**base, "layout": "readonly"}).value.flags.writeable
    assert isinstance(build_input({**base, "layout": "memmap"}).value, np.memmap)
    assert sp.issparse(build_input({**base, "container": "sparse_dia"}).value)


def test_same_input_detects_changes():
    X = build_input({"n_rows": 5, "n_cols": 2, "seed": 1, "scale": 1.0,
                     "offset": 0.0, "constant_cols": [], "inject": [],
                     "dtype": "float64", "layout": "C",
                     "container": "ndarray"}).value
    copy = X.copy()
    X[0, 0] += 1
    assert not same_input(copy, X)
    S = sp.csr_matrix(copy)
    S_copy = S.copy()
    S.data[0] = 99.0
    assert not same_input(S_copy, S)
