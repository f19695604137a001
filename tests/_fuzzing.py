"""Property-based fuzzing of every skae estimator: strategies and checks.

Shared by ``tests/test_fuzz.py`` (a few hundred derandomised examples per
estimator) and ``benchmarks/fuzz.py`` (as many as asked for, summarised in a
table). Nothing here is specific to pytest.

One *example* draws an input ``X`` (shape, dtype, values, memory layout and
container), parameters (some at or past their bounds) and then calls every
public method of one estimator on it, on an unfitted estimator and on a
fitted one. Every call is classified into one :class:`Outcome` kind:

``ok``
    Success, with finite output for finite input.
``clear``
    A ValueError or TypeError whose message names one of the problems the
    input or the parameters are known to have (NaN, a parameter's name...).
``unclear``
    Any other exception: another type (RuntimeError, IndexError, ...), an
    error raised inside torch or skorch, a message in torch's words or one
    that names none of the known problems, or an error on valid input.
``missing_error``
    Success although the input has a problem that must be refused (NaN...).
``nonfinite``
    Success with NaN or infinity in the output of an all-finite input.
``input_changed``
    The caller's ``X`` differs after the call (compared with a copy).
``model_changed``
    An inference call, or a failed training call, changed a fitted model
    (its public fitted attributes or its outputs on a fixed probe), or a
    failed ``fit`` left an unfitted estimator with fitted attributes.

Inputs are described by plain dicts (*specs*) and built by
:func:`build_input`, so any example can be rebuilt from the spec printed in
a failure report: ``build_input({...})``.
"""

import copy
import math
import os
import re
import shutil
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from hypothesis import strategies as st
from sklearn.decomposition import PCA

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

# ---------------------------------------------------------------- problems

#: Problem name -> (regex the error message must match, must the call fail?)
#: A call on input without problems must succeed. A call on input with
#: problems may fail only with a ValueError/TypeError whose message matches
#: one of its problems' regexes; it must fail if one of them is "must".
PROBLEMS = {
    "nan": (r"NaN|missing", True),
    "inf": (r"[Ii]nfinit|too large", True),
    "complex": (r"[Cc]omplex", True),
    "string": (r"string|could not convert|dtype", True),
    "datetime": (r"datetime|timedelta|dtype|time", False),
    "not_2d": (r"2D|dim|reshape", True),
    "no_rows": (r"0 sample|minimum of 1|n_samples", True),
    # One row: enough to fit an autoencoder, too few for a detector that
    # holds rows out to calibrate its threshold; either is fine if clear.
    "one_row": (r"at least 2 samples|1 sample|n_samples", False),
    "no_columns": (r"0 feature|minimum of 1|n_features", True),
    "width": (r"features|n_components|width", True),
    "mixed_names": (r"[Ff]eature names|column name", True),
    # Finite values whose size the float32 network cannot take as they are.
    "huge": (r"scale|large|range|overflow|float32", False),
    # Codes are dense by nature; refusing sparse codes clearly is fine.
    "sparse_codes": (r"[Ss]parse", False),
}

#: Messages in torch's (or numpy's internal) words: never clear to a user.
RAW_MESSAGES = re.compile(
    r"[Tt]ensor|stride|at least one array or dtype is required|mat1|"
    r"scalar type|[Kk]ernel size|padded input|Given groups|size mismatch|"
    r"must match the size|shape '\["
)

#: Source trees whose own raise statements count as raw errors.
_RAW_SOURCES = tuple(
    os.sep + name + os.sep for name in ("torch", "skorch")
)

#: Inputs larger than this (in absolute value) are "huge" for float64 data:
#: their square, or a float32 cast of their spread, overflows.
HUGE = 1e19

#: Above this, a squared error overflows float64, so score-like outputs of
#: such input are exempt from the finiteness check.
SQUARE_OVERFLOW = 1e150


# ------------------------------------------------------------------ inputs

SPECIAL_VALUES = [
    math.nan, math.inf, -math.inf, 1e300, -1e300, 1e-300, 0.0, 1e20, -1e20,
    3e38, 65504.0, 1e5,
]
SCALES = [1.0, 1.0, 1.0, 1e-300, 1e-8, 1e4, 1e19, 1e20, 1e38, 1e300]
OFFSETS = [0.0, 0.0, 0.0, 1e6, -1e20]
DTYPES = [
    "float64", "float64", "float32", "float16", "int8", "int64", "uint8",
    "bool", "object", "object_str", "object_none", "complex128",
    "datetime64[s]", "timedelta64[ms]",
]
LAYOUTS = ["C", "C", "F", "rev_rows", "rev_cols", "strided", "readonly", "memmap"]
CONTAINERS = [
    "ndarray", "ndarray", "ndarray", "list", "dataframe", "dataframe_Float64",
    "dataframe_Int64", "dataframe_arrow", "dataframe_category",
    "dataframe_int_names", "dataframe_mixed_names", "sparse_csr", "sparse_csc",
    "sparse_coo", "sparse_bsr", "sparse_lil", "sparse_dok", "sparse_dia",
    "csr_array", "coo_array", "1d", "3d",
]


@st.composite
def input_specs(draw, n_cols=None):
    """A spec (plain dict) for :func:`build_input`.

    ``n_cols`` fixes the number of columns; by default 0 to 25.
    """
    n_rows = draw(
        st.one_of(
            st.sampled_from([0, 1, 2]), st.integers(3, 12), st.integers(13, 60)
        )
    )
    if n_cols is None:
        n_cols = draw(st.one_of(st.sampled_from([0, 1, 2]), st.integers(3, 25)))
    spec = {
        "n_rows": n_rows,
        "n_cols": n_cols,
        "seed": draw(st.integers(0, 2**16)),
        "scale": draw(st.sampled_from(SCALES)),
        "offset": draw(st.sampled_from(OFFSETS)),
        "constant_cols": draw(st.lists(st.integers(0, 24), max_size=3, unique=True)),
        "inject": draw(
            st.lists(
                st.tuples(
                    st.integers(0, 59),
                    st.integers(0, 24),
                    st.sampled_from(SPECIAL_VALUES),
                ),
                max_size=2,
            )
        ),
        "dtype": draw(st.sampled_from(DTYPES)),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "container": draw(st.sampled_from(CONTAINERS)),
    }
    # A quarter of the examples are free for all; the others vary one aspect
    # at a time (values, layout, container) around clean float data, so
    # that the success paths are exercised and a failure shows its cause.
    focus = draw(st.sampled_from(["all", "values", "layout", "container"]))
    if focus != "all":
        clean = {"scale": 1.0, "offset": 0.0, "inject": [], "dtype": "float64",
                 "layout": "C", "container": "ndarray"}
        keep = {"values": ("scale", "offset", "inject", "dtype"),
                "layout": ("layout", "dtype"),
                "container": ("container",)}[focus]
        spec.update({k: v for k, v in clean.items() if k not in keep})
    return spec


_MEMMAP_DIR = None


def _memmap_dir():
    global _MEMMAP_DIR
    if _MEMMAP_DIR is None:
        _MEMMAP_DIR = tempfile.mkdtemp(prefix="skae-fuzz-")
        import atexit

        atexit.register(shutil.rmtree, _MEMMAP_DIR, ignore_errors=True)
    return _MEMMAP_DIR


@dataclass
class Input:
    """A built input: the object passed to the estimator and what it is."""

    value: object
    spec: dict
    problems: set = field(default_factory=set)
    finite: bool = True  # all values finite (after conversion to float)
    max_abs: float = 0.0
    n_rows: int = 0
    n_cols: object = None  # None unless two-dimensional

    def describe(self):
        return f"build_input({self.spec!r})"


def _numeric_values(spec):
    """The float64 values of the spec, before dtype, layout and container."""
    rng = np.random.default_rng(spec["seed"])
    r, c = spec["n_rows"], spec["n_cols"]
    values = rng.normal(size=(r, c)) * spec["scale"] + spec["offset"]
    for j in spec["constant_cols"]:
        if j < c:
            values[:, j] = spec["offset"] + spec["scale"]
    for i, j, v in spec["inject"]:
        if r and c:
            values[i % r, j % c] = v
    return values


def build_input(spec):
    """Build the :class:`Input` described by ``spec`` (see :func:`input_specs`)."""
    r, c = spec["n_rows"], spec["n_cols"]
    values = _numeric_values(spec)
    dtype, layout, container = spec["dtype"], spec["layout"], spec["container"]
    problems = set()
    # Containers that choose their own dtype.
    if container.startswith("dataframe_") and container not in (
        "dataframe_int_names",
        "dataframe_mixed_names",
    ):
        dtype = "float64"
    if container.startswith(("sparse", "csr_", "coo_")) and dtype not in (
        "float64", "float32", "int8", "int64", "uint8", "bool", "complex128",
    ):
        dtype = "float64"

    # ---- dtype
    numeric = values
    if dtype in ("int8", "int64", "uint8"):
        info = np.iinfo(dtype)
        numeric = np.clip(np.rint(np.nan_to_num(values, posinf=info.max, neginf=info.min)),
                          info.min, info.max)
        with np.errstate(invalid="ignore"):
            arr = numeric.astype(dtype)
        numeric = arr.astype(np.float64)
    elif dtype == "bool":
        arr = np.nan_to_num(values) > 0
        numeric = arr.astype(np.float64)
    elif dtype in ("float16", "float32", "float64"):
        with np.errstate(over="ignore"):
            arr = values.astype(dtype)
        numeric = arr.astype(np.float64)
    elif dtype == "complex128":
        arr = values + 1j
        problems.add("complex")
    elif dtype.startswith(("datetime64", "timedelta64")):
        ints = np.clip(np.rint(np.nan_to_num(values)), -1e9, 1e9).astype(np.int64)
        arr = ints.astype(dtype)
        numeric = ints.astype(np.float64)
        problems.add("datetime")
    else:  # object variants
        arr = values.astype(object)
        if r and c and dtype == "object_str":
            arr[0, 0] = "seven"
            problems.add("string")
        if r and c and dtype == "object_none":
            arr[r - 1, c - 1] = None
            numeric = values.copy()
            numeric[r - 1, c - 1] = np.nan

    finite = bool(np.isfinite(numeric).all())
    if np.isnan(numeric).any():
        problems.add("nan")
    if np.isinf(numeric).any():
        problems.add("inf")
    finite_values = numeric[np.isfinite(numeric)]
    max_abs = float(np.abs(finite_values).max()) if finite_values.size else 0.0
    if max_abs >= HUGE:
        problems.add("huge")

    # ---- layout (dense arrays only; containers copy anyway)
    if isinstance(arr, np.ndarray):
        if layout == "F":
            arr = np.asfortranarray(arr)
        elif layout == "rev_rows":
            arr = np.ascontiguousarray(arr[::-1])[::-1]
        elif layout == "rev_cols":
            arr = np.ascontiguousarray(arr[:, ::-1])[:, ::-1]
        elif layout == "strided":
            wide = np.repeat(arr, 2, axis=1) if c else np.empty((r, 0), arr.dtype)
            arr = wide[:, ::2]
        elif layout == "readonly":
            arr = arr.copy()
            arr.setflags(write=False)
        elif layout == "memmap" and arr.dtype != object and arr.size:
            path = os.path.join(_memmap_dir(), f"x{len(os.listdir(_memmap_dir()))}.dat")
            mm = np.memmap(path, dtype=arr.dtype, mode="w+", shape=arr.shape)
            mm[...] = arr
            mm.flush()
            del mm
            arr = np.memmap(path, dtype=arr.dtype, mode="r", shape=arr.shape)

    # ---- container
    n_cols = c
    if container == "list":
        value = arr.tolist()
        if r == 0:  # [] is a one-dimensional list
            problems.add("not_2d")
            n_cols = None
    elif container == "1d":
        value = np.ravel(arr)
        problems.add("not_2d")
        n_cols = None
    elif container == "3d":
        value = arr[:, :, np.newaxis]
        problems.add("not_2d")
        n_cols = None
    elif container.startswith("dataframe"):
        names = [f"f{j}" for j in range(c)]
        if container == "dataframe_int_names":
            names = list(range(c))
        elif container == "dataframe_mixed_names" and c >= 2:
            names = [0] + names[1:]
            problems.add("mixed_names")
        frame = pd.DataFrame(np.asarray(arr), columns=names)
        if container == "dataframe_Float64":
            frame = frame.astype("Float64")
            if r and c:
                frame.iloc[r - 1, 0] = pd.NA
                problems.add("nan")
        elif container == "dataframe_Int64":
            frame = pd.DataFrame(
                np.clip(np.rint(np.nan_to_num(numeric)), -1e6, 1e6).astype(np.int64),
                columns=names,
            ).astype("Int64")
            problems.discard("nan"), problems.discard("inf"), problems.discard("huge")
            finite = True
            if r and c and spec["seed"] % 2:
                frame.iloc[0, c - 1] = pd.NA
                problems.add("nan")
                finite = False
        elif container == "dataframe_arrow":
            frame = frame.astype("float64[pyarrow]")
        elif container == "dataframe_category" and c:
            frame[names[0]] = pd.Categorical(
                np.where(np.asarray(numeric[:, 0]) > 0, "up", "down")
            )
            if r:
                problems.add("string")
        value = frame
    elif container.startswith(("sparse", "csr_", "coo_")):
        fmt = container.split("_")[1]
        if container.endswith("_array"):
            maker = {"csr": sp.csr_array, "coo": sp.coo_array}[container.split("_")[0]]
        else:
            maker = {
                "csr": sp.csr_matrix, "csc": sp.csc_matrix, "coo": sp.coo_matrix,
                "bsr": sp.bsr_matrix, "lil": sp.lil_matrix, "dok": sp.dok_matrix,
                "dia": sp.dia_matrix,
            }[fmt]
        value = maker(np.asarray(arr))
    else:
        value = arr

    if r == 0:
        problems.add("no_rows")
    if r == 1:
        problems.add("one_row")
    if c == 0 and n_cols is not None:
        problems.add("no_columns")
    return Input(
        value=value, spec=dict(spec), problems=problems, finite=finite,
        max_abs=max_abs, n_rows=r, n_cols=n_cols,
    )


# --------------------------------------------------- copies and comparisons


def copy_of(value):
    """A deep copy of a caller's input, for :func:`same_input`."""
    if isinstance(value, np.memmap):
        return np.array(value)
    return copy.deepcopy(value)


def same_input(before, after):
    """Whether the caller's object ``after`` still equals its copy ``before``."""
    if isinstance(after, pd.DataFrame):
        return (
            list(before.columns) == list(after.columns)
            and list(before.dtypes) == list(after.dtypes)
            and before.equals(after)
        )
    if sp.issparse(after):
        if type(before) is not type(after) or before.shape != after.shape:
            return False
        if after.format in ("csr", "csc", "bsr"):
            parts = ("data", "indices", "indptr")
        elif after.format == "coo":
            parts = ("data", "row", "col")
        elif after.format == "dia":
            parts = ("data", "offsets")
        else:
            return before.nnz == after.nnz and _equal(before.toarray(), after.toarray())
        return all(_equal(getattr(before, p), getattr(after, p)) for p in parts)
    if isinstance(after, np.ndarray):
        return (
            before.dtype == after.dtype
            and before.shape == after.shape
            and _equal(before, after)
        )
    return repr(before) == repr(after)


def _equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    if a.dtype == object:  # NaN != NaN: compare the reprs
        return [repr(v) for v in a.ravel()] == [repr(v) for v in b.ravel()]
    return bool(np.array_equal(a, b))


def fitted_state(est):
    """Public fitted attributes of ``est`` (recursing into fitted estimators)."""
    state = {}
    for key, value in vars(est).items():
        if key.startswith("_") or not key.endswith("_"):
            continue
        if hasattr(value, "get_params"):
            state[key] = fitted_state(value)
        else:
            state[key] = copy.deepcopy(value)
    return state


def same_state(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            same_state(a[k], b[k]) for k in a
        )
    if isinstance(a, (list, tuple)):
        return (
            type(a) is type(b) and len(a) == len(b)
            and all(same_state(x, y) for x, y in zip(a, b))
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return _equal(a, b)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


class ModelSnapshot:
    """A fitted model's public state and its outputs on a fixed probe."""

    def __init__(self, est, n_features):
        # float32: the cheaper inference path (float64 convolutions are slow).
        rng = np.random.default_rng(12345)
        self.probe = rng.normal(size=(5, n_features)).astype(np.float32)
        self.state = fitted_state(est)
        self.outputs = self._outputs(est)

    def _outputs(self, est):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if hasattr(est, "inverse_transform"):
                    codes = est.transform(self.probe)
                    return codes, est.inverse_transform(codes)
                return (est.score_samples(self.probe),)
            except Exception as exc:  # noqa: BLE001 - compared as text
                return (np.array([f"{type(exc).__name__}: {exc}"], dtype=object),)

    def unchanged(self, est, outputs=True):
        """None if ``est`` is as it was, else what changed.

        ``outputs=False`` compares the fitted attributes only (cheaper).
        """
        if not same_state(self.state, fitted_state(est)):
            return "fitted attributes changed"
        if not outputs:
            return None
        outputs = self._outputs(est)
        if len(outputs) != len(self.outputs) or not all(
            _equal(a, b) for a, b in zip(self.outputs, outputs)
        ):
            return "outputs on a probe changed"
        return None


# ------------------------------------------------------------ estimators

TINY = {"hidden_layer_sizes": (4,), "max_iter": 2, "random_state": 0}
BAD, MAY = "bad", "may"


def _common_params(n_rows, n_cols, plain):
    p = n_cols or 1
    wide = BAD if plain else MAY
    return {
        "n_components": [
            (1, None), (2, None if p >= 2 else wide), (p, None), (p + 1, wide),
            (0, BAD), (-1, BAD), (0.5, None), (0.99, None), (1.0, MAY), (1.5, BAD),
            (None, None), (True, MAY), ("2", BAD), (np.int64(1), None),
        ],
        "hidden_layer_sizes": [
            ((4,), None), ((), None), (3, None), ((2, 3), None), ([4], None),
            ((0,), BAD), ((-2,), BAD), ((2.5,), BAD), ("4", BAD),
        ],
        "activation": [
            ("relu", None), ("tanh", None), ("identity", None), ("logistic", None),
            ("elu", None), ("bogus", BAD), (None, BAD),
        ],
        "alpha": [(0.0, None), (1e-3, None), (1e3, None), (-1.0, BAD),
                  (math.nan, BAD), (math.inf, MAY)],
        "batch_size": [("auto", None), (1, None), (5, None), (10_000, None),
                       (0, BAD), (-3, BAD), (2.5, BAD), ("big", BAD)],
        "learning_rate_init": [(1e-3, None), (0.1, None), (100.0, None),
                               (1e-300, None), (0.0, BAD), (-1.0, BAD),
                               (math.nan, BAD), (math.inf, MAY)],
        "max_iter": [(1, None), (3, None), (0, BAD), (-1, BAD), (1.5, BAD)],
        "tol": [(0.0, None), (1e-4, None), (1e10, None), (-1.0, BAD),
                (math.nan, BAD), (math.inf, MAY)],
        "n_iter_no_change": [(1, None), (5, None), (0, BAD)],
        "early_stopping": [(False, None), (True, None), ("yes", BAD)],
        "validation_fraction": [(0.1, None), (0.5, None), (1e-9, None),
                                (0.0, BAD), (1.0, BAD), (-0.1, BAD), (math.nan, BAD)],
        "random_state": [(0, None), (None, None), (2**32 - 1, None),
                         (np.random.RandomState(1), None), (-1, BAD),
                         ("seed", BAD), (2**32, BAD)],
        "warm_start": [(False, None), (True, None)],
        "device": [("cpu", None), ("bogus", BAD), ("cuda", MAY)],
    }


# Regex a parameter's error must match, when it is not the parameter's name.
_PARAM_REGEX = {
    "early_stopping": r"early_stopping|validation_fraction|samples",
    "device": r"device|cuda|CUDA|GPU",
    "noise_level": r"noise_level|noise",
}


@dataclass
class EstimatorSpec:
    """How to fuzz one estimator."""

    name: str
    make: object  # params -> estimator
    params: object  # (n_rows, n_cols) -> {name: [(value, status)]}
    training: tuple
    inference: tuple
    codes: bool  # has inverse_transform


def _ae_params(n_rows, n_cols):
    return _common_params(n_rows, n_cols, plain=True)


def _dae_params(n_rows, n_cols):
    table = _common_params(n_rows, n_cols, plain=False)
    table["noise"] = [("gaussian", None), ("masking", None),
                      ("salt_and_pepper", None), ("bogus", BAD)]
    table["noise_level"] = [(0.0, None), (0.3, None), (1.0, None), (2.0, None),
                            (-0.1, BAD), (math.nan, BAD)]
    return table


def _vae_params(n_rows, n_cols):
    table = _common_params(n_rows, n_cols, plain=False)
    table["beta"] = [(0.0, None), (1.0, None), (1e3, None), (-1.0, BAD),
                     (math.nan, BAD), (math.inf, MAY)]
    return table


def _cae_params(n_rows, n_cols):
    table = _common_params(n_rows, n_cols, plain=False)
    p = n_cols or 1
    table["hidden_layer_sizes"] = [
        ((2,), None), ((), None), ((2, 3), None), ((0,), BAD), ((-1,), BAD)
    ]
    table["image_shape"] = [
        (None, None), ((1, p), None), ((p, 1), None), ((1, 1, p), None),
        ((2, p), BAD), ((p,), BAD), ((0, p), BAD), (("a", p), BAD),
    ]
    return table


def _detector_params(n_rows, n_cols):
    p = n_cols or 1
    return {
        "contamination": [(0.1, None), (0.5, None), (1e-6, None), (0.0, BAD),
                          (0.51, BAD), (-1.0, BAD), (math.nan, BAD)],
        "random_state": [(0, None), (None, None), (-1, BAD), ("seed", BAD)],
        "estimator": [
            (AutoencoderTransformer(1, **TINY), None),
            (AutoencoderTransformer(p + 1, **TINY), "n_components:" + BAD),
            # PCA has its own limits (e.g. 1 feature of sparse input).
            (PCA(1), "n_components:" + MAY),
            ("not an estimator", BAD),
        ],
    }


def _transformer(cls, **fixed):
    def make(params):
        return cls(**{"n_components": 1, **TINY, **fixed, **params})

    return make


TRANSFORMER_TRAINING = ("fit", "fit_transform", "partial_fit")
TRANSFORMER_INFERENCE = ("transform", "score_samples", "score")

ESTIMATORS = {
    "AutoencoderTransformer": EstimatorSpec(
        "AutoencoderTransformer", _transformer(AutoencoderTransformer),
        _ae_params, TRANSFORMER_TRAINING, TRANSFORMER_INFERENCE, True,
    ),
    "DenoisingAutoencoderTransformer": EstimatorSpec(
        "DenoisingAutoencoderTransformer",
        _transformer(DenoisingAutoencoderTransformer),
        _dae_params, TRANSFORMER_TRAINING, TRANSFORMER_INFERENCE, True,
    ),
    "VariationalAutoencoderTransformer": EstimatorSpec(
        "VariationalAutoencoderTransformer",
        _transformer(VariationalAutoencoderTransformer),
        _vae_params, TRANSFORMER_TRAINING, TRANSFORMER_INFERENCE, True,
    ),
    "ConvolutionalAutoencoderTransformer": EstimatorSpec(
        "ConvolutionalAutoencoderTransformer",
        _transformer(ConvolutionalAutoencoderTransformer, hidden_layer_sizes=(2,)),
        _cae_params, TRANSFORMER_TRAINING, TRANSFORMER_INFERENCE, True,
    ),
    "AutoencoderOutlierDetector": EstimatorSpec(
        "AutoencoderOutlierDetector",
        lambda params: AutoencoderOutlierDetector(
            **{"estimator": AutoencoderTransformer(1, **TINY), "random_state": 0,
               **params}
        ),
        _detector_params,
        ("fit", "fit_predict"),
        ("predict", "decision_function", "score_samples", "reconstruction_errors"),
        False,
    ),
}


@st.composite
def param_choices(draw, spec, n_rows, n_cols):
    """``(params, problems)``: 0 to 2 parameters drawn from their value table.

    ``problems`` maps a regex the error must match to "bad" (the call must
    fail) or "may" (it may fail).
    """
    table = spec.params(n_rows, n_cols)
    names = draw(st.one_of(
        st.just([]),
        st.lists(st.sampled_from(sorted(table)), max_size=2, unique=True),
    ))
    params, problems = {}, {}
    for name in names:
        value, status = draw(st.sampled_from(table[name]))
        params[name] = value
        if status is not None:
            if ":" in status:  # a nested parameter's problem
                nested, status = status.split(":")
                problems[nested] = status
            else:
                problems[_PARAM_REGEX.get(name, re.escape(name))] = status
    # Rules that involve two parameters or the data.
    if spec.name == "DenoisingAutoencoderTransformer":
        level = params.get("noise_level", 0.1)
        if params.get("noise", "gaussian") in ("masking", "salt_and_pepper") and (
            isinstance(level, float) and level > 1
        ):
            problems[_PARAM_REGEX["noise_level"]] = BAD
    if params.get("early_stopping") is True:
        fraction = params.get("validation_fraction", 0.1)
        if isinstance(fraction, float) and 0 < fraction < 1:
            n_valid = math.ceil(fraction * n_rows)
            if n_rows - n_valid < 1:
                problems.setdefault(_PARAM_REGEX["early_stopping"], BAD)
            elif n_rows < 10:
                problems.setdefault(_PARAM_REGEX["early_stopping"], MAY)
    return params, problems


# ----------------------------------------------------------------- calls

KINDS = (
    "ok", "clear", "unclear", "missing_error", "nonfinite", "input_changed",
    "model_changed",
)


@dataclass
class Outcome:
    """What one call did."""

    estimator: str
    call: str
    kind: str
    detail: str = ""
    reproducer: str = ""


def _raised_in_library(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and any(s in frames[-1].filename for s in _RAW_SOURCES)


def classify_error(exc, problems):
    """``(kind, detail)`` of an exception, given the regexes of known problems.

    ``problems`` maps regexes to "bad"/"may"; an empty mapping means the
    call should have succeeded.
    """
    message = str(exc)
    detail = f"{type(exc).__name__}: {message.splitlines()[0] if message else ''}"[:300]
    if not isinstance(exc, (ValueError, TypeError)):
        return "unclear", detail
    if RAW_MESSAGES.search(message) or _raised_in_library(exc):
        return "unclear", "raw library error: " + detail
    if not problems:
        return "unclear", "valid input refused: " + detail
    if any(re.search(regex, message) for regex in problems):
        return "clear", detail
    return "unclear", "message names none of " + "/".join(sorted(problems)) + ": " + detail


def _finite(result):
    if isinstance(result, (float, int, np.floating, np.integer)):
        return bool(np.isfinite(result))
    if isinstance(result, np.ndarray) and result.dtype.kind in "fc":
        return bool(np.isfinite(result).all())
    return True


def call(spec, est, method, X, problems, *, finite_input, score_exempt,
         reproducer, snapshot=None, unfitted=False, restore=None):
    """Call ``est.<method>(X.value)`` and classify what happened.

    ``problems`` maps regexes to "bad"/"may". ``snapshot`` is a
    :class:`ModelSnapshot` of ``est`` when it is fitted; ``restore`` the
    parameters to set back before comparing with it (the caller's own
    ``set_params`` is not the call's doing). Returns a list of
    :class:`Outcome` (one per violated property, or one "ok"/"clear").
    """
    outcomes = []

    def record(kind, detail=""):
        outcomes.append(Outcome(spec.name, method, kind, detail, reproducer))

    before_keys = set(vars(est))
    original = copy_of(X)
    failed = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = getattr(est, method)(X)
        except Exception as exc:  # noqa: BLE001 - classifying is the point
            failed = True
            kind, detail = classify_error(exc, problems)
            record(kind, detail)
    if not failed:
        must = [regex for regex, status in problems.items() if status == BAD]
        if must:
            record("missing_error", "succeeded despite " + "/".join(must))
        elif (
            finite_input
            and not (score_exempt and method in SCORE_METHODS)
            and not _finite(result)
        ):
            record("nonfinite", f"{method} returned NaN or infinity")
        else:
            record("ok")
    if not same_input(original, X):
        record("input_changed", f"{method} modified the caller's X")
    if snapshot is not None and (failed or method not in TRAINING_METHODS):
        if restore is not None:
            est.set_params(**restore)
        # The outputs are compared after failed training calls; after
        # inference calls the attributes are, and run_example compares the
        # outputs once after all of them.
        change = snapshot.unchanged(est, outputs=failed or method in TRAINING_METHODS)
        if change:
            record("model_changed", f"{method} ({'failed' if failed else 'ok'}): {change}")
    if unfitted and failed:
        new = {k for k in set(vars(est)) - before_keys if k.endswith("_")}
        if new:
            record("model_changed", f"failed {method} left attributes {sorted(new)}")
    return outcomes


TRAINING_METHODS = ("fit", "fit_transform", "partial_fit", "fit_predict")
SCORE_METHODS = ("score", "score_samples", "decision_function",
                 "reconstruction_errors", "predict")

_REFERENCE_CACHE = {}


def reference_model(spec, n_features):
    """A copy of a model of ``spec`` fitted on clean data with ``n_features``."""
    key = (spec.name, n_features)
    if key not in _REFERENCE_CACHE:
        X = np.random.default_rng(n_features).normal(size=(30, n_features))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _REFERENCE_CACHE[key] = spec.make({}).fit(X)
    return copy.deepcopy(_REFERENCE_CACHE[key])


def _input_problems(inp):
    return {PROBLEMS[name][0]: ("bad" if PROBLEMS[name][1] else "may")
            for name in inp.problems}


def run_example(spec, data):
    """One fuzzing example of ``spec`` drawing from hypothesis ``data``.

    Returns the list of :class:`Outcome` of all its calls.
    """
    outcomes = []
    X = build_input(data.draw(input_specs(), label="X"))
    params, param_problems = data.draw(
        param_choices(spec, X.n_rows, X.n_cols or 0), label="params"
    )
    x_problems = _input_problems(X)
    score_exempt = X.max_abs > SQUARE_OVERFLOW
    repro = f"{spec.name}: params={params!r}, X={X.describe()}"

    # 1. Training an unfitted estimator.
    method = data.draw(st.sampled_from(spec.training), label="training method")
    try:
        est = spec.make(params)
    except Exception as exc:  # noqa: BLE001 - __init__ must only store
        outcomes.append(Outcome(spec.name, "__init__", "unclear", repr(exc), repro))
        return outcomes
    problems = {**x_problems, **param_problems}
    first = call(spec, est, method, X.value, problems, finite_input=X.finite,
                 score_exempt=score_exempt, reproducer=f"{repro}, unfitted",
                 unfitted=True)
    outcomes += first
    if method in ("fit", "partial_fit") and [o.kind for o in first] == ["ok"]:
        # The model fitted with the drawn parameters must work on its data.
        after = spec.inference[0]
        outcomes += call(spec, est, after, X.value, x_problems,
                         finite_input=X.finite, score_exempt=score_exempt,
                         reproducer=f"{repro}, after {method}",
                         snapshot=ModelSnapshot(est, X.n_cols))

    # 2. Inference and training on a fitted model of matching width.
    if X.n_cols:
        width = X.n_cols
        if data.draw(st.integers(0, 9), label="width mismatch") == 0:
            width = X.n_cols + 1
    else:
        width = 3
    ref = reference_model(spec, width)
    snap = ModelSnapshot(ref, width)
    inference_problems = dict(x_problems)
    if X.n_cols and width != X.n_cols:
        inference_problems[PROBLEMS["width"][0]] = "bad"
    repro_fitted = f"{spec.name} fitted on {width} features: X={X.describe()}"
    for method in spec.inference:
        outcomes += call(spec, ref, method, X.value, inference_problems,
                         finite_input=X.finite, score_exempt=score_exempt,
                         reproducer=repro_fitted, snapshot=snap)
    if spec.codes:
        k = ref.n_components_ if hasattr(ref, "n_components_") else ref.n_components
        n_code_cols = data.draw(
            st.one_of(st.just(k), st.just(k), st.integers(0, 3)), label="code width"
        )
        Z = build_input(data.draw(input_specs(n_cols=n_code_cols), label="codes"))
        z_problems = _input_problems(Z)
        if sp.issparse(Z.value):
            z_problems[PROBLEMS["sparse_codes"][0]] = MAY
        if Z.n_cols and Z.n_cols != k:
            z_problems[PROBLEMS["width"][0]] = "bad"
        # Decoding huge codes may give values beyond the dtype's range.
        outcomes += call(spec, ref, "inverse_transform", Z.value, z_problems,
                         finite_input=Z.finite and "huge" not in Z.problems,
                         score_exempt=False,
                         reproducer=f"{spec.name} fitted with n_components={k}: "
                                    f"codes={Z.describe()}",
                         snapshot=snap)

    change = snap.unchanged(ref)
    if change:
        outcomes.append(Outcome(spec.name, "inference calls", "model_changed",
                                change, repro_fitted))

    # Training a fitted model again (new parameters, warm start or
    # partial_fit): if it fails, the fitted model must be as it was.
    method = data.draw(st.sampled_from(spec.training), label="refit method")
    train_problems = dict(x_problems)
    if spec.name != "AutoencoderOutlierDetector" and (
        method == "partial_fit" or params.get("warm_start") is True
    ):
        if X.n_cols and width != X.n_cols:
            train_problems[PROBLEMS["width"][0]] = "bad"
        # Continuing needs the same network: changed architecture parameters
        # must be refused naming them.
        changed = [n for n in params if n not in _RESUMABLE and not _same(
            params[n], ref.get_params()[n])]
        for name in changed:
            train_problems.setdefault(re.escape(name) + "|Cannot continue", BAD)
    original_params = {name: ref.get_params()[name] for name in params}
    try:
        ref.set_params(**params)
    except Exception as exc:  # noqa: BLE001
        outcomes.append(Outcome(spec.name, "set_params", "unclear", repr(exc), repro))
        return outcomes
    outcomes += call(spec, ref, method, X.value, {**train_problems, **param_problems},
                     finite_input=X.finite, score_exempt=score_exempt,
                     reproducer=f"{repro_fitted}, then set_params(**{params!r})",
                     snapshot=snap, restore=original_params)
    return outcomes


_RESUMABLE = {
    "alpha", "batch_size", "learning_rate_init", "max_iter", "tol",
    "n_iter_no_change", "early_stopping", "validation_fraction", "random_state",
    "verbose", "warm_start", "device", "noise", "noise_level", "beta",
}


def _same(a, b):
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return a is b


def example_count(default):
    """``default`` scaled by the SKAE_FUZZ_EXAMPLES environment variable.

    SKAE_FUZZ_EXAMPLES is a number of examples per estimator and test; when
    it is unset, ``default`` is used.
    """
    value = os.environ.get("SKAE_FUZZ_EXAMPLES")
    return int(value) if value else default


BAD_KINDS = ("unclear", "missing_error", "nonfinite", "input_changed", "model_changed")


def run_campaign(name, max_examples):
    """Run ``max_examples`` derandomised examples of estimator ``name``.

    Returns ``(n_examples, outcomes)``. Failures do not stop the campaign,
    so one run lists every distinct problem.
    """
    import zlib

    from hypothesis import HealthCheck, Phase, given, seed, settings

    spec = ESTIMATORS[name]
    outcomes = []
    examples = [0]

    # A fixed seed per estimator (rather than derandomize=True, which would
    # give every estimator the same draws) keeps runs repeatable.
    @seed(zlib.crc32(name.encode()))
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
    )
    @given(data=st.data())
    def campaign(data):
        examples[0] += 1
        outcomes.extend(run_example(spec, data))

    campaign()
    return examples[0], outcomes


def distinct_failures(outcomes):
    """``{(estimator, call, kind, detail): (count, first reproducer)}`` of failures.

    Details are normalised (numbers replaced by ``#``) so that one cause
    counts once.
    """
    groups = {}
    for o in outcomes:
        if o.kind not in BAD_KINDS:
            continue
        detail = re.sub(r"^(valid input refused|message names none of [^:]*): ", "", o.detail)
        detail = re.sub(r"-?\d[\d.e+-]*", "#", detail)
        key = (o.estimator, o.call, o.kind, detail)
        count, repro = groups.get(key, (0, o.reproducer))
        groups[key] = (count + 1, repro)
    return groups


def format_failures(outcomes, limit=40):
    groups = distinct_failures(outcomes)
    lines = [f"{len(groups)} distinct failures:"]
    for (est, method, kind, detail), (count, repro) in sorted(
        groups.items(), key=lambda item: -item[1][0]
    )[:limit]:
        lines.append(f"- [{kind}] {est}.{method} x{count}: {detail}\n    {repro}")
    return "\n".join(lines)
