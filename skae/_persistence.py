"""Saving and loading skae estimators as safetensors files, without pickle.

A file written by :func:`save` is a `safetensors <https://huggingface.co/docs/safetensors>`_
file: every array of the estimator (network weights, fitted statistics,
optimizer state) is one named tensor, and the file's metadata holds one JSON
document describing the rest: the class name, the ``get_params`` values, the
fitted scalars and lists, the versions that wrote it and a format version.

Loading never imports or calls anything named in the file. The JSON is
decoded by a strict schema that builds only plain Python values, NumPy
arrays, ``RandomState`` objects and skae estimators whose class is in an
allow-list; the estimator's own parameter validation runs, the network is
rebuilt and its weights loaded strictly. Every problem is reported as a
ValueError before any estimator is returned.
"""

import json
import math
import numbers
import os
import platform

import numpy as np

#: Version of the file layout. Increase it when the layout changes, and add
#: a converter for the old one to ``_UPGRADES`` (or let it be refused).
FORMAT_VERSION = 1

_FORMAT_NAME = "skae"
_METADATA_KEY = "skae"

#: ``{old_format_version: function(document) -> document of the next version}``.
_UPGRADES = {}

# Nesting deeper than this is not something skae writes.
_MAX_DEPTH = 64

_OPTIMIZER_KEYS = {"state", "param_groups"}
_MODEL_KEYS = {
    "architecture", "n_components", "n_features", "feature_names", "stats",
    "weights", "optimizer_state", "n_iter", "public",
}


def _allowed_classes():
    """The only classes a file may name, by name."""
    from ._autoencoder import AutoencoderTransformer
    from ._convolutional import ConvolutionalAutoencoderTransformer
    from ._denoising import DenoisingAutoencoderTransformer
    from ._outlier import AutoencoderOutlierDetector
    from ._variational import VariationalAutoencoderTransformer

    classes = (
        AutoencoderTransformer,
        ConvolutionalAutoencoderTransformer,
        DenoisingAutoencoderTransformer,
        VariationalAutoencoderTransformer,
        AutoencoderOutlierDetector,
    )
    return {cls.__name__: cls for cls in classes}


def _is_autoencoder(est):
    from ._base import BaseAutoencoder

    return isinstance(est, BaseAutoencoder)


# --------------------------------------------------------------------- save


class _Encoder:
    """Turns an estimator into a JSON-able document plus a dict of arrays."""

    def __init__(self):
        self.arrays = {}
        self._ids = {}  # id(array) -> key: an array stored twice is stored once
        self._keep = []  # keeps the arrays alive, so their ids stay unique

    def _array(self, value):
        key = self._ids.get(id(value))
        if key is None:
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value if value.flags.c_contiguous else value.copy(order="C")
            self._ids[id(value)] = key
            self._keep.append(value)
        return key

    def value(self, value, where):
        if isinstance(value, np.generic) and not isinstance(value, np.str_):
            if value.dtype.kind not in "biuf":
                raise TypeError(f"{where}: cannot save a NumPy scalar of dtype {value.dtype}.")
            return {"scalar": value.dtype.str, "value": self.value(value.item(), where)}
        if value is None or isinstance(value, (bool, str)):
            return str(value) if isinstance(value, str) else value
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"tuple": [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            items = []
            for k, v in value.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise TypeError(f"{where}: cannot save a dict key of type {type(k).__name__}.")
                items.append([k, self.value(v, f"{where}[{k!r}]")])
            return {"dict": items}
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf":
                return {"array": self._array(value)}
            if value.dtype.kind in "OU" and value.ndim == 1 and all(
                isinstance(v, str) for v in value
            ):
                return {"strings": [str(v) for v in value], "dtype": value.dtype.kind}
            raise TypeError(f"{where}: cannot save an array of dtype {value.dtype}.")
        if isinstance(value, np.random.RandomState):
            name, keys, pos, has_gauss, cached = value.get_state(legacy=True)
            return {
                "random_state": self._array(np.asarray(keys, dtype=np.uint32)),
                "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached),
            }
        if type(value).__name__ in _allowed_classes() and (
            type(value) is _allowed_classes()[type(value).__name__]
        ):
            return {"estimator": self.estimator(value, where)}
        raise TypeError(
            f"{where}: cannot save an object of type {type(value).__module__}."
            f"{type(value).__qualname__}; skae.save stores skae's own estimators "
            "and plain values only (use skops.io for anything else)."
        )

    def estimator(self, est, where):
        cls = type(est)
        allowed = _allowed_classes()
        if allowed.get(cls.__name__) is not cls:
            raise TypeError(
                f"{where}: skae.save stores skae's own estimators only "
                f"({', '.join(sorted(allowed))}); got {cls.__module__}.{cls.__qualname__}. "
                "Use skops.io for pipelines and other estimators."
            )
        record = {
            "class": cls.__name__,
            "params": self.value(est.get_params(deep=False), f"{where}.params"),
        }
        if _is_autoencoder(est):
            record["model"] = self.value(est.__dict__.get("_model"), f"{where}._model")
        else:
            params = set(est.get_params(deep=False))
            state = {k: v for k, v in vars(est).items() if k not in params}
            record["state"] = self.value(state, f"{where}.state")
        return record


def save(estimator, path):
    """Save a skae estimator to a safetensors file, without pickle.

    The file holds every array of the estimator (network weights, fitted
    statistics and the optimizer's state, so that ``partial_fit`` continues
    where it stopped) as named tensors, and everything else as JSON
    metadata: the class, the parameters, the fitted scalars and lists, the
    versions of skae, PyTorch, scikit-learn and NumPy that wrote it, and a
    format version. Loading it cannot execute code; see :func:`load`.

    Parameters
    ----------
    estimator : estimator object
        A skae estimator, fitted or not: one of the autoencoders or an
        :class:`AutoencoderOutlierDetector` wrapping one. Pipelines and other
        estimators are refused; save them with :mod:`skops.io`.
    path : str or os.PathLike
        Where to write the file (conventionally ending in ``.safetensors``).
        An existing file is replaced.

    Raises
    ------
    TypeError
        If ``estimator`` is not a skae estimator, or holds a value that the
        format cannot store (a parameter set to an arbitrary object).

    See Also
    --------
    load : Read the file back.

    Notes
    -----
    A ``numpy.random.RandomState`` passed as ``random_state`` is stored as
    its state, so the loaded estimator draws the same numbers.
    """
    from safetensors.numpy import save_file

    encoder = _Encoder()
    record = encoder.estimator(estimator, "estimator")
    document = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "estimator": record,
        "versions": _versions(),
    }
    text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    save_file(encoder.arrays, os.fspath(path), metadata={_METADATA_KEY: text})


def _versions():
    import sklearn
    import torch

    from ._base import __version__

    return {
        "skae": __version__,
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------- load


def _forbid_constant(name):
    raise ValueError(f"the metadata holds the non-standard JSON constant {name}")


class _Decoder:
    """Builds values from the JSON document, checking every node's shape."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.used = set()

    def _array(self, key, where):
        if not isinstance(key, str) or key not in self.arrays:
            raise ValueError(f"{where} refers to a tensor {key!r} that the file does not hold.")
        self.used.add(key)
        return self.arrays[key]

    def value(self, node, where, depth=0):
        if depth > _MAX_DEPTH:
            raise ValueError(f"{where} is nested more deeply than skae writes.")
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            return [self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node)]
        if not isinstance(node, dict) or not node:
            raise ValueError(f"{where} is not a value skae writes.")
        tag = next(iter(node))
        expected = {
            "float": {"float"},
            "scalar": {"scalar", "value"},
            "tuple": {"tuple"},
            "dict": {"dict"},
            "array": {"array"},
            "strings": {"strings", "dtype"},
            "random_state": {"random_state", "pos", "has_gauss", "cached_gaussian"},
            "estimator": {"estimator"},
        }.get(tag)
        if expected is None or set(node) != expected:
            raise ValueError(f"{where} has unknown fields {sorted(node)}.")
        body = node[tag]
        if tag == "float":
            if body not in ("nan", "inf", "-inf"):
                raise ValueError(f"{where} holds an invalid float {body!r}.")
            return float(body)
        if tag == "scalar":
            item = self.value(node["value"], where, depth + 1)
            if body not in _SCALAR_DTYPES or not isinstance(item, (bool, int, float)):
                raise ValueError(f"{where} holds an invalid NumPy scalar.")
            try:
                return np.dtype(body).type(item)
            except (OverflowError, ValueError):
                raise ValueError(f"{where} holds an invalid NumPy scalar.") from None
        if tag == "tuple":
            if not isinstance(body, list):
                raise ValueError(f"{where} holds an invalid tuple.")
            return tuple(self.value(body, where, depth + 1))
        if tag == "dict":
            if not isinstance(body, list):
                raise ValueError(f"{where} holds an invalid dict.")
            out = {}
            for item in body:
                if (
                    not isinstance(item, list) or len(item) != 2
                    or not isinstance(item[0], (str, int)) or isinstance(item[0], bool)
                ):
                    raise ValueError(f"{where} holds an invalid dict entry.")
                out[item[0]] = self.value(item[1], f"{where}[{item[0]!r}]", depth + 1)
            return out
        if tag == "array":
            return self._array(body, where)
        if tag == "strings":
            if not isinstance(body, list) or not all(isinstance(s, str) for s in body) or (
                node["dtype"] not in ("O", "U")
            ):
                raise ValueError(f"{where} holds an invalid array of strings.")
            return np.asarray(body, dtype=object if node["dtype"] == "O" else str)
        if tag == "random_state":
            keys = self._array(body, where)
            if keys.dtype != np.uint32 or keys.shape != (624,):
                raise ValueError(f"{where} holds an invalid RandomState.")
            rng = np.random.RandomState()
            try:
                rng.set_state((
                    "MT19937", keys, int(node["pos"]), int(node["has_gauss"]),
                    float(node["cached_gaussian"]),
                ))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where} holds an invalid RandomState: {exc}") from None
            return rng
        return self.estimator(body, where, depth + 1)

    def estimator(self, record, where, depth=0):
        if not isinstance(record, dict) or "class" not in record:
            raise ValueError(f"{where} is not an estimator record.")
        allowed = _allowed_classes()
        name = record["class"]
        if not isinstance(name, str) or name not in allowed:
            raise ValueError(
                f"{where} names the class {name!r}, which is not one of skae's "
                f"estimators ({', '.join(sorted(allowed))}); the file is refused."
            )
        cls = allowed[name]
        autoencoder = name != "AutoencoderOutlierDetector"
        if set(record) != {"class", "params", "model" if autoencoder else "state"}:
            raise ValueError(f"{where} ({name}) has unexpected fields {sorted(record)}.")
        params = self.value(record["params"], f"{where}.params", depth + 1)
        names = set(cls._get_param_names())
        if not isinstance(params, dict) or set(params) != names:
            got = set(params) if isinstance(params, dict) else set()
            raise ValueError(
                f"{where} ({name}): the parameters do not match this version of skae "
                f"(missing: {sorted(names - got)}, unknown: {sorted(got - names)})."
            )
        est = cls(**params)
        try:
            est._validate_params()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} ({name}) holds invalid parameters: {exc}") from None
        if autoencoder:
            model = self.value(record["model"], f"{where}._model", depth + 1)
            if model is not None:
                _install_model(est, model, f"{where} ({name})")
        else:
            state = self.value(record["state"], f"{where}.state", depth + 1)
            _install_detector_state(est, state, f"{where} ({name})")
        return est


_SCALAR_DTYPES = {
    np.dtype(t).str for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.float16, np.float32, np.float64,
    )
}


def _check(condition, where, message):
    if not condition:
        raise ValueError(f"{where}: {message}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _install_model(est, model, where):
    """Check a decoded ``_model`` against ``est`` and install it."""
    import torch

    _check(isinstance(model, dict) and set(model) == _MODEL_KEYS, where,
           "the fitted model does not have the fields this version of skae expects.")
    n_features, n_components = model["n_features"], model["n_components"]
    _check(_is_int(n_features) and n_features >= 1, where, "n_features is invalid.")
    _check(_is_int(n_components) and n_components >= 1, where, "n_components is invalid.")
    _check(_is_int(model["n_iter"]) and model["n_iter"] >= 0, where, "n_iter is invalid.")
    _check(isinstance(model["architecture"], dict)
           and set(model["architecture"]) == set(est._architecture_params),
           where, "the recorded architecture does not match the class.")
    names = model["feature_names"]
    _check(names is None or (isinstance(names, np.ndarray) and names.shape == (n_features,)),
           where, "feature_names do not match n_features.")

    # Statistics: the fitted centring and scale, plus the class's own ones.
    stats = model["stats"]
    mean = stats.get("mean_") if isinstance(stats, dict) else None
    _check(isinstance(mean, np.ndarray) and mean.shape == (n_features,), where,
           f"mean_ must be an array of shape ({n_features},).")
    expected = {"mean_", "scale_", *est._fit_statistics(np.zeros((1, n_features)), None)}
    _check(isinstance(stats, dict) and set(stats) == expected, where,
           f"the fitted statistics must be {sorted(expected)}.")
    for key, value in stats.items():
        if key == "scale_":
            _check(isinstance(value, float) and math.isfinite(value) and value > 0,
                   where, "scale_ must be a positive finite float.")
        else:
            _check(isinstance(value, np.ndarray) and value.dtype == np.float64
                   and value.shape == (n_features,), where,
                   f"{key} must be a float64 array of shape ({n_features},).")

    # Public attributes: consistent with the model they describe.
    public = model["public"]
    _check(isinstance(public, dict) and all(
        isinstance(k, str) and k.endswith("_") and not k.startswith("_") for k in public
    ), where, "the fitted attributes are invalid.")
    _check(public.get("n_components_") == n_components
           and public.get("n_features_in_") == n_features
           and public.get("n_iter_") == model["n_iter"], where,
           "the fitted attributes disagree with the model.")
    for key, value in stats.items():
        _check(key in public and _same(public[key], value), where,
               f"the fitted attribute {key} disagrees with the model.")
    if names is None:
        _check("feature_names_in_" not in public, where, "feature names disagree.")
    else:
        _check(_same(public.get("feature_names_in_"), names), where, "feature names disagree.")

    # The network: rebuilt from the parameters, the weights loaded strictly.
    weights = model["weights"]
    _check(isinstance(weights, dict) and all(
        isinstance(v, np.ndarray) for v in weights.values()
    ), where, "the weights are invalid.")
    try:
        with torch.device("meta"):
            reference = est._build_network(n_features, n_components).state_dict()
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise ValueError(f"{where}: the network cannot be built: {exc}") from None
    _check(set(weights) == set(reference), where,
           "the weights do not match the network "
           f"(missing: {sorted(set(reference) - set(weights))}, "
           f"unexpected: {sorted(set(weights) - set(reference))}).")
    for key, tensor in reference.items():
        array = weights[key]
        _check(array.dtype == np.float32 and array.shape == tuple(tensor.shape), where,
               f"weight {key} has dtype {array.dtype} and shape {array.shape}; the "
               f"network expects float32 and {tuple(tensor.shape)}.")
    _check_optimizer_state(model["optimizer_state"], reference, where)
    try:
        est._cpu_network(model)  # load_state_dict(strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{where}: the weights do not load into the network: {exc}") from None
    est._assign(model)


def _check_optimizer_state(state, reference, where):
    if state is None:
        return
    _check(isinstance(state, dict) and set(state) == _OPTIMIZER_KEYS, where,
           "the optimizer state is invalid.")
    shapes = [tuple(t.shape) for t in reference.values()]
    groups = state["param_groups"]
    _check(isinstance(groups, list) and all(
        isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups
    ), where, "the optimizer's parameter groups are invalid.")
    indices = [i for g in groups for i in g["params"]]
    _check(sorted(indices) == list(range(len(shapes))), where,
           "the optimizer state does not match the network's parameters.")
    per_param = state["state"]
    _check(isinstance(per_param, dict), where, "the optimizer state is invalid.")
    for index, entry in per_param.items():
        _check(_is_int(index) and 0 <= index < len(shapes) and isinstance(entry, dict),
               where, "the optimizer state does not match the network's parameters.")
        for key, value in entry.items():
            _check(isinstance(value, np.ndarray) and (
                value.ndim == 0 or value.shape == shapes[index]
            ), where, f"optimizer state {key} of parameter {index} has the wrong shape.")


def _install_detector_state(est, state, where):
    """Check a decoded detector state and install it.

    The detector's fitted attributes are stored as they are (every instance
    attribute that is not a parameter); the checks here are the ones that do
    not depend on how it computes its threshold.
    """
    params = set(est.get_params(deep=False))
    _check(isinstance(state, dict) and all(
        isinstance(k, str) and k.isidentifier() and not k.startswith("__") and k not in params
        for k in state
    ), where, "the fitted state is invalid.")
    if not state:
        return
    inner = state.get("estimator_")
    _check(_is_autoencoder(inner) and inner.__dict__.get("_model") is not None, where,
           "estimator_ must be a fitted skae autoencoder.")
    _check("offset_" in state and isinstance(state["offset_"], (float, int))
           and not isinstance(state["offset_"], bool), where, "offset_ must be a number.")
    _check(state.get("n_features_in_") == inner.n_features_in_, where,
           "n_features_in_ disagrees with estimator_.")
    est.__dict__.update(state)


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
            and a.dtype == b.dtype and np.array_equal(a, b)
        )
    return a == b


def _read(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else -1
            header = f.read(size) if 0 < size <= 100_000_000 else b""
    except IsADirectoryError:
        raise ValueError(f"{path!r} is a directory, not a skae file.") from None
    if len(header) != size:
        raise ValueError(
            f"{path!r} is not a safetensors file written by skae.save "
            "(its header is missing or truncated)."
        )
    try:
        metadata = json.loads(header.decode("utf-8")).get("__metadata__") or {}
    except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        raise ValueError(
            f"{path!r} is not a safetensors file written by skae.save "
            "(its header is not valid JSON)."
        ) from None
    text = metadata.get(_METADATA_KEY) if isinstance(metadata, dict) else None
    if not isinstance(text, str):
        raise ValueError(
            f"{path!r} is a safetensors file but was not written by skae.save "
            "(it has no skae metadata)."
        )
    try:
        arrays = load_file(path)
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ValueError(
            f"{path!r} is damaged or truncated: its tensors cannot be read ({exc})."
        ) from None
    try:
        document = json.loads(text, parse_constant=_forbid_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path!r}: the skae metadata is not valid JSON ({exc}).") from None
    return document, arrays


def load(path):
    """Load an estimator saved by :func:`save`.

    Only skae's own estimator classes can come out of a file, built from
    plain values: nothing named in the file is imported or called, so a
    file from an untrusted source cannot run code. The parameters go
    through the estimator's own validation, the network is rebuilt from
    them and the weights are loaded strictly (every tensor present, with
    the right shape and dtype). A model fitted on a GPU loads on a machine
    without one: inference then runs on the CPU.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    estimator : estimator object
        The estimator, identical to the one saved: the same parameters, the
        same fitted attributes and bit-identical outputs. Fitted estimators
        continue training with ``partial_fit`` from the saved optimizer state.

    Raises
    ------
    ValueError
        If the file is not a skae file, is truncated or damaged, was written
        by a newer format version, names a class that is not a skae
        estimator, or holds parameters or arrays that do not fit together.
        No estimator is returned in that case.

    See Also
    --------
    save : Write the file.
    """
    document, arrays = _read(path)
    if not isinstance(document, dict) or document.get("format") != _FORMAT_NAME:
        raise ValueError(f"{os.fspath(path)!r} was not written by skae.save.")
    version = document.get("format_version")
    if not _is_int(version) or version < 1:
        raise ValueError(f"{os.fspath(path)!r} has an invalid format version {version!r}.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} was written in skae file format {version}, by a newer "
            f"skae (version {_written_by(document)}); this version reads formats up to "
            f"{FORMAT_VERSION}. Upgrade skae to load it."
        )
    while version < FORMAT_VERSION:
        upgrade = _UPGRADES.get(version)
        if upgrade is None:
            raise ValueError(
                f"{os.fspath(path)!r} uses skae file format {version}, which this "
                "version can no longer read; load it with the skae version that "
                f"wrote it ({_written_by(document)}) and refit or save it again."
            )
        document, version = upgrade(document), version + 1
    if set(document) != {"format", "format_version", "estimator", "versions"}:
        raise ValueError(f"{os.fspath(path)!r}: the skae metadata has unexpected fields.")
    decoder = _Decoder(arrays)
    estimator = decoder.estimator(document["estimator"], "estimator")
    unused = set(arrays) - decoder.used
    if unused:
        raise ValueError(
            f"{os.fspath(path)!r} holds tensors that the metadata does not describe "
            f"({sorted(unused)[:5]}); the file has been altered."
        )
    return estimator


def _written_by(document):
    versions = document.get("versions")
    skae = versions.get("skae") if isinstance(versions, dict) else None
    return skae if isinstance(skae, str) else "unknown"
