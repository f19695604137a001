"""Export fitted skae estimators to ONNX, for serving without Python or PyTorch.

Importing this module registers a `skl2onnx <https://onnx.ai/sklearn-onnx/>`_
converter for every skae estimator, so that :func:`skl2onnx.to_onnx`
converts a pipeline holding them into one ONNX graph::

    import skae.onnx  # noqa: F401 - registers the converters
    from skl2onnx import to_onnx

    onx = to_onnx(pipeline, X[:1].astype(np.float32))

What each estimator becomes:

* the autoencoders (:class:`~skae.AutoencoderTransformer`,
  :class:`~skae.DenoisingAutoencoderTransformer`,
  :class:`~skae.ConvolutionalAutoencoderTransformer`,
  :class:`~skae.VariationalAutoencoderTransformer`): their ``transform``
  (for the variational one, the posterior mean);
* :class:`~skae.AutoencoderOutlierDetector`: two outputs named as
  skl2onnx's outlier detectors name theirs, ``label`` (``predict``, int64,
  shape ``(n, 1)``) and ``scores`` (``decision_function``, shape ``(n, 1)``).

float32 and float64 inputs are supported, and the batch dimension is
dynamic. The graphs are written from the fitted weights with standard ONNX
operators (``Gemm``, ``Conv``, ``ConvTranspose``, activations), opset 13 or
later; nothing is traced.

:func:`export_encoder` and :func:`export_decoder` write the two halves of
an autoencoder as standalone ONNX models, e.g. to ship the decoder of a
compression scheme to the receiver.
"""

import math

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "skae.onnx needs the onnx and skl2onnx packages (and onnxruntime to run "
        "the graphs): pip install 'skae[onnx]'."
    ) from exc
from sklearn.utils.validation import check_is_fitted
from torch import nn

from . import _modules
from ._autoencoder import AutoencoderTransformer
from ._base import BaseAutoencoder
from ._convolutional import ConvolutionalAutoencoderTransformer
from ._denoising import DenoisingAutoencoderTransformer
from ._outlier import AutoencoderOutlierDetector
from ._variational import VariationalAutoencoderTransformer

__all__ = ["export_decoder", "export_encoder", "register_converters"]

#: Every operator is emitted in its opset-13 form, which later opsets (up
#: to at least 22) keep unchanged.
OPSET = 13

#: Opset of the standalone models written by :func:`export_encoder`.
STANDALONE_OPSET = 17

_TRANSFORMERS = (
    AutoencoderTransformer,
    ConvolutionalAutoencoderTransformer,
    DenoisingAutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

_ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


# ----------------------------------------------------------------- graph


class _Builder:
    """Adds constants and nodes to a graph under unique names.

    ``unique(hint)`` gives a fresh name, ``add_initializer(tensor)`` and
    ``add_node(op_type, inputs, outputs, name, attrs)`` record them: the
    standalone export and the skl2onnx container provide their own.
    """

    def __init__(self, dtype, unique, add_initializer, add_node):
        self.dtype = np.dtype(dtype)
        self.unique = unique
        self._add_initializer = add_initializer
        self._add_node = add_node

    def const(self, hint, value, dtype=None):
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.unique(hint)
        self._add_initializer(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type, inputs, *, output=None, **attrs):
        output = output or self.unique(op_type.lower())
        self._add_node(op_type, list(inputs), [output], self.unique(op_type), attrs)
        return output


def _linear(g, layer, x):
    inputs = [x, g.const("W", layer.weight.detach().numpy())]
    if layer.bias is not None:
        inputs.append(g.const("B", layer.bias.detach().numpy()))
    return g.op("Gemm", inputs, transB=1)


def _conv(g, layer, x, op_type):
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise NotImplementedError(
            f"{type(layer).__name__} with padding={layer.padding!r} and "
            f"padding_mode={layer.padding_mode!r} has no ONNX translation here."
        )
    attrs = {
        "kernel_shape": list(layer.kernel_size),
        "strides": list(layer.stride),
        "pads": list(layer.padding) * 2,
        "dilations": list(layer.dilation),
        "group": layer.groups,
    }
    if op_type == "ConvTranspose":
        attrs["output_padding"] = list(layer.output_padding)
    # onnxruntime has no float64 convolutions: a float64 graph runs them
    # in float32, with the float32 weights they were trained as.
    double = g.dtype == np.float64
    if double:
        x = g.op("Cast", [x], to=TensorProto.FLOAT)
    inputs = [x, g.const("W", layer.weight.detach().numpy(), np.float32)]
    if layer.bias is not None:
        inputs.append(g.const("B", layer.bias.detach().numpy(), np.float32))
    out = g.op(op_type, inputs, **attrs)
    return g.op("Cast", [out], to=TensorProto.DOUBLE) if double else out


def _gelu(g, x):
    # 0.5 * x * (1 + erf(x / sqrt(2))): the exact GELU, as torch's default.
    # onnxruntime has no float64 Erf: a float64 graph takes it in float32.
    scaled = g.op("Div", [x, g.const("sqrt2", math.sqrt(2.0))])
    if g.dtype == np.float64:
        erf = g.op("Cast", [g.op("Erf", [g.op("Cast", [scaled], to=TensorProto.FLOAT)])],
                   to=TensorProto.DOUBLE)
    else:
        erf = g.op("Erf", [scaled])
    one_plus = g.op("Add", [erf, g.const("one", 1.0)])
    return g.op("Mul", [g.op("Mul", [x, g.const("half", 0.5)]), one_plus])


def _emit(g, module, x):
    """Append ``module``'s forward pass on ``x`` to the graph; return its output."""
    if isinstance(module, _modules.LinearPlusBranch):
        out = _emit(g, module.linear, x)
        if module.branch is not None:
            out = g.op("Add", [out, _emit(g, module.branch, x)])
        return out
    if isinstance(module, nn.Sequential):
        for child in module:
            x = _emit(g, child, x)
        return x
    if isinstance(module, nn.Linear):
        return _linear(g, module, x)
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return _conv(g, module, x, "Conv")
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
        return _conv(g, module, x, "ConvTranspose")
    if isinstance(module, nn.Unflatten) and module.dim == 1:
        shape = g.const("shape", [0, *module.unflattened_size], dtype=np.int64)
        return g.op("Reshape", [x, shape])
    if isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
        return g.op("Flatten", [x], axis=1)
    if isinstance(module, nn.Identity):
        return x
    if isinstance(module, nn.ReLU):
        return g.op("Relu", [x])
    if isinstance(module, nn.LeakyReLU):
        if g.dtype == np.float32:
            return g.op("LeakyRelu", [x], alpha=float(module.negative_slope))
        # onnxruntime has no float64 LeakyRelu.
        negative = g.op("Less", [x, g.const("zero", 0.0)])
        sloped = g.op("Mul", [x, g.const("slope", module.negative_slope)])
        return g.op("Where", [negative, sloped, x])
    if isinstance(module, nn.ELU):
        if g.dtype == np.float32:
            return g.op("Elu", [x], alpha=float(module.alpha))
        # onnxruntime has no float64 Elu.
        positive = g.op("Greater", [x, g.const("zero", 0.0)])
        below = g.op("Sub", [g.op("Exp", [x]), g.const("one", 1.0)])
        below = g.op("Mul", [below, g.const("alpha", module.alpha)])
        return g.op("Where", [positive, x, below])
    if isinstance(module, nn.GELU) and module.approximate == "none":
        return _gelu(g, x)
    if isinstance(module, nn.Tanh):
        return g.op("Tanh", [x])
    if isinstance(module, nn.Sigmoid):
        return g.op("Sigmoid", [x])
    raise NotImplementedError(
        f"skae.onnx cannot translate a {type(module).__module__}."
        f"{type(module).__qualname__} layer to ONNX."
    )


def _units(wrapper, est, side):
    """``(input_mean, input_scale, output_mean, output_scale)`` of a half.

    Read from the estimator's float64 fitted attributes where the wrapper's
    float32 buffers hold the same values, so that a float64 graph computes
    with the same constants as ``transform`` does on float64 input.
    """
    def exact(buffer, value):
        buffer = buffer.detach().numpy()
        value = np.asarray(value, dtype=np.float64)
        same = buffer.shape == value.shape and np.array_equal(buffer, value.astype(np.float32))
        return value if same else buffer.astype(np.float64)

    mean, scale = est.mean_, est.scale_
    if side == "encoder":
        code_scale = exact(wrapper.output_scale, scale)
        return exact(wrapper.input_mean, mean), exact(wrapper.input_scale, scale), 0.0, code_scale
    code_scale = exact(wrapper.input_scale, scale)
    return 0.0, code_scale, exact(wrapper.output_mean, mean), exact(wrapper.output_scale, scale)


def _half(g, est, side, x):
    """``est.transform`` (side="encoder") or ``inverse_transform`` (decoder) on ``x``."""
    wrapper = est.encoder_module() if side == "encoder" else est.decoder_module()
    in_mean, in_scale, out_mean, out_scale = _units(wrapper, est, side)
    limit = _modules.NETWORK_UNIT_LIMIT
    h = g.op("Sub", [x, g.const("input_mean", in_mean)])
    h = g.op("Div", [h, g.const("input_scale", in_scale)])
    h = g.op("Clip", [h, g.const("low", -limit), g.const("high", limit)])
    h = _emit(g, wrapper.network, h)
    h = g.op("Mul", [h, g.const("output_scale", out_scale)])
    return g.op("Add", [h, g.const("output_mean", out_mean)])


def _detector(g, detector, x, label, scores):
    """``predict`` into ``label`` and ``decision_function`` into ``scores``.

    Follows :class:`~skae.AutoencoderOutlierDetector`: the wrapped model sees
    ``X / scale_`` clipped to the fitted bounds, the residual is taken in
    units of ``scale_`` in float64, the score is ``-log(1 + mean(d**2))``
    and the decision subtracts ``offset_``. (The detector itself works in
    the log domain so that no finite input overflows; the graph does not,
    so rows beyond about 1e150 standard deviations score ``-inf`` here.)
    """
    inner = detector.estimator_
    if not isinstance(inner, BaseAutoencoder):
        raise NotImplementedError(
            "skae.onnx converts an AutoencoderOutlierDetector only when its "
            f"estimator_ is a skae autoencoder; got {type(inner).__name__}."
        )
    double = TensorProto.DOUBLE
    low, high = detector._input_bounds
    scaled = g.op(
        "Div", [g.op("Cast", [x], to=double), g.const("scale", detector.scale_, np.float64)]
    )
    clipped = g.op(
        "Max", [g.op("Min", [scaled, g.const("high", high, np.float64)]),
                g.const("low", low, np.float64)]
    )
    model_input = g.op("Cast", [clipped], to=_ONNX_TYPES[g.dtype])
    recon = _half(g, inner, "decoder", _half(g, inner, "encoder", model_input))
    diff = g.op("Sub", [scaled, g.op("Cast", [recon], to=double)])
    total = g.op(
        "ReduceSum", [g.op("Mul", [diff, diff]), g.const("axes", [1], dtype=np.int64)],
        keepdims=1,
    )
    error = g.op("Div", [total, g.const("n_features", float(inner.n_features_in_), np.float64)])
    score = g.op("Neg", [g.op("Log", [g.op("Add", [error, g.const("one", 1.0, np.float64)])])])
    decision = g.op("Sub", [score, g.const("offset", float(detector.offset_), np.float64)])
    g.op("Cast", [decision], to=_ONNX_TYPES[g.dtype], output=scores)
    outlier = g.op("Less", [decision, g.const("zero", 0.0, np.float64)])
    g.op(
        "Where",
        [outlier, g.const("minus_one", [-1], np.int64), g.const("plus_one", [1], np.int64)],
        output=label,
    )


# -------------------------------------------------------------- skl2onnx


def _tensor_dtype(variable_type):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    if isinstance(variable_type, DoubleTensorType):
        return np.float64
    if isinstance(variable_type, FloatTensorType):
        return np.float32
    raise TypeError(
        "skae's ONNX converters take float32 or float64 input; got "
        f"{type(variable_type).__name__}. Cast the input first."
    )


def _container_builder(scope, container, dtype):
    if container.target_opset is not None and container.target_opset < OPSET:
        raise RuntimeError(
            f"skae's ONNX converters need target_opset >= {OPSET}; got "
            f"{container.target_opset}."
        )

    def add_node(op_type, inputs, outputs, name, attrs):
        container.add_node(op_type, inputs, outputs, op_version=OPSET, name=name, **attrs)

    def add_initializer(tensor):
        container.add_initializer(tensor.name, tensor.data_type, list(tensor.dims), tensor)

    return _Builder(dtype, scope.get_unique_variable_name, add_initializer, add_node)


def _transformer_shape(operator):
    N = operator.inputs[0].get_first_dimension()
    input_type = operator.inputs[0].type
    _tensor_dtype(input_type)
    operator.outputs[0].type = input_type.__class__([N, operator.raw_operator.n_components_])


def _transformer_converter(scope, operator, container):
    est = operator.raw_operator
    dtype = _tensor_dtype(operator.inputs[0].type)
    g = _container_builder(scope, container, dtype)
    codes = _half(g, est, "encoder", operator.inputs[0].full_name)
    g.op("Identity", [codes], output=operator.outputs[0].full_name)


def _detector_shape(operator):
    from skl2onnx.common.data_types import Int64TensorType

    N = operator.inputs[0].get_first_dimension()
    input_type = operator.inputs[0].type
    _tensor_dtype(input_type)
    operator.outputs[0].type = Int64TensorType([N, 1])
    operator.outputs[1].type = input_type.__class__([N, 1])


def _detector_converter(scope, operator, container):
    dtype = _tensor_dtype(operator.inputs[0].type)
    g = _container_builder(scope, container, dtype)
    _detector(
        g, operator.raw_operator, operator.inputs[0].full_name,
        operator.outputs[0].full_name, operator.outputs[1].full_name,
    )


def register_converters():
    """Register skae's converters with skl2onnx.

    Called when :mod:`skae.onnx` is imported; calling it again is harmless.
    """
    from skl2onnx import update_registered_converter

    for cls in _TRANSFORMERS:
        update_registered_converter(
            cls, f"Skae{cls.__name__}", _transformer_shape, _transformer_converter
        )
    update_registered_converter(
        AutoencoderOutlierDetector, "SkaeAutoencoderOutlierDetector",
        _detector_shape, _detector_converter,
    )


# ------------------------------------------------------------ standalone


def _standalone(est, side, dtype, opset):
    if not isinstance(est, BaseAutoencoder):
        hint = " (export its estimator_)" if isinstance(est, AutoencoderOutlierDetector) else ""
        raise TypeError(f"expected a fitted skae autoencoder{hint}; got {type(est).__name__}.")
    check_is_fitted(est)
    dtype = np.dtype(dtype)
    if dtype not in _ONNX_TYPES:
        raise ValueError(f"dtype must be float32 or float64; got {dtype}.")
    if opset < OPSET:
        raise ValueError(f"opset must be >= {OPSET}; got {opset}.")
    nodes, initializers, counts = [], [], {}

    def unique(hint):
        counts[hint] = counts.get(hint, 0) + 1
        return f"{side}/{hint}_{counts[hint]}"

    def add_node(op_type, inputs, outputs, name, attrs):
        nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))

    g = _Builder(dtype, unique, initializers.append, add_node)
    if side == "encoder":
        names, widths = ("X", "codes"), (est.n_features_in_, est.n_components_)
    else:
        names, widths = ("codes", "reconstruction"), (est.n_components_, est.n_features_in_)
    _half(g, est, side, names[0])
    nodes[-1].output[0] = names[1]
    elem = _ONNX_TYPES[dtype]
    graph = helper.make_graph(
        nodes, f"skae_{type(est).__name__}_{side}",
        [helper.make_tensor_value_info(names[0], elem, ["N", widths[0]])],
        [helper.make_tensor_value_info(names[1], elem, ["N", widths[1]])],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="skae"
    )
    onnx.checker.check_model(model)
    return model


def _write(model, path):
    if path is not None:
        onnx.save_model(model, path)
    return model


def export_encoder(estimator, path=None, *, dtype=np.float32, opset=STANDALONE_OPSET):
    """The fitted encoder (``transform``) as a standalone ONNX model.

    Parameters
    ----------
    estimator : estimator object
        A fitted skae autoencoder.
    path : str or os.PathLike, default=None
        If given, the model is also written there.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Type of the input and of the output.
    opset : int, default=17
        ONNX opset of the model, at least 13.

    Returns
    -------
    model : onnx.ModelProto
        One input ``"X"`` of shape ``(N, n_features_in_)`` and one output
        ``"codes"`` of shape ``(N, n_components_)``; ``N`` is dynamic.

    See Also
    --------
    export_decoder : The other half.
    """
    return _write(_standalone(estimator, "encoder", dtype, opset), path)


def export_decoder(estimator, path=None, *, dtype=np.float32, opset=STANDALONE_OPSET):
    """The fitted decoder (``inverse_transform``) as a standalone ONNX model.

    With :func:`export_encoder`, this splits a compression scheme in two:
    the sender encodes rows into ``n_components_`` numbers and the receiver
    decodes them with this model alone.

    Parameters
    ----------
    estimator : estimator object
        A fitted skae autoencoder.
    path : str or os.PathLike, default=None
        If given, the model is also written there.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Type of the input and of the output.
    opset : int, default=17
        ONNX opset of the model, at least 13.

    Returns
    -------
    model : onnx.ModelProto
        One input ``"codes"`` of shape ``(N, n_components_)`` and one output
        ``"reconstruction"`` of shape ``(N, n_features_in_)``.

    See Also
    --------
    export_encoder : The other half.
    """
    return _write(_standalone(estimator, "decoder", dtype, opset), path)


register_converters()
