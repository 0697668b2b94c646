"""Errors of an export that cannot be written: which op a format cannot express, and the layer it comes from.

Shape shorthand: none (messages and op names).
"""

import logging
import re

from mrcnn.weights_io import all_layers

# TensorFlow op names as the converters print them, e.g. "CropAndResize", "tf.CombinedNonMaxSuppression",
# "FlexCropAndResize".
_OP_PATTERNS = (
    re.compile(r"\btf\.([A-Z][A-Za-z0-9]+)"),
    re.compile(r"\bFlex([A-Z][A-Za-z0-9]+)"),
    re.compile(r"[Uu]nsupported ops?:?\s*\[?'?\"?([A-Z][A-Za-z0-9]+)"),
    re.compile(r"op(?:eration)? (?:type )?'?\"?([A-Z][A-Za-z0-9]+)'?\"? (?:is )?not supported"),
    re.compile(r"\bTensorflow op \[?'?([A-Z][A-Za-z0-9]+)"),
    re.compile(r"fct=<bound method ([A-Z][A-Za-z0-9]+)\."),  # tf2onnx's handler of the op, named after it
    re.compile(r"\(\"[^\"]*\", ([A-Z][A-Za-z0-9]+), "),  # onnx's checker: ("node name", OpType, ...)
)


class ExportError(ValueError):
    """An export that failed, naming the format, the op and the layer (`op`, `layer` attributes); a ValueError, so
    that a command line reports it in one line (mrcnn/cli.py)."""

    def __init__(self, message, op=None, layer=None):
        super().__init__(message)
        self.op = op
        self.layer = layer


class ConversionLog(logging.Handler):
    """Collects the "Failed to convert node" errors a converter logs instead of raising (tf2onnx), while in use:

        with ConversionLog("tf2onnx") as log:
            convert()
        log.messages  # the failures, first first
    """

    def __init__(self, logger_name):
        super().__init__(level=logging.ERROR)
        self.logger = logging.getLogger(logger_name)
        self.messages = []

    def emit(self, record):
        message = record.getMessage()
        if "Failed to convert node" in message:
            cause = record.exc_info[1] if record.exc_info else None
            self.messages.append(message + (f": {cause}" if cause else ""))

    def __enter__(self):
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        return False


def layer_of(text, keras_model):
    """The name of the Keras layer a TensorFlow node name or message mentions (its name scope), or None."""
    names = sorted({layer.name for layer in all_layers(keras_model)}, key=len, reverse=True)
    for name in names:  # the longest first: "mrcnn_mask_conv1" before "mrcnn_mask"
        # a traced layer's name scope may carry a suffix: "mask_rcnn_1/mrcnn_detection_1/one_hot"
        if re.search(rf"(^|[/\s'\"@(]){re.escape(name)}(_\d+)?(/|[\s'\"):]|$)", text):
            return name
    return None


def unsupported_op(message):
    """The first TensorFlow op name an error message says a converter cannot handle, or None."""
    for pattern in _OP_PATTERNS:
        match = pattern.search(message)
        if match:
            return match.group(1)
    return None


def explain_conversion_error(error, format, keras_model):
    """An ExportError for a converter's exception: the format, the op it could not express and its layer."""
    message = str(error)
    op = unsupported_op(message)
    layer = layer_of(message, keras_model)
    where = f"the op {op}" if op else "an op"
    where += f" of the layer {layer!r}" if layer else " (outside the Keras layers: moulding or unmoulding)"
    first_line = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    return ExportError(f"export format {format!r} cannot express {where}: {first_line}", op=op, layer=layer)


def litert_operators(flatbuffer):
    """[(op name, output tensor names)] of every operator of a LiteRT flatbuffer: a built-in's name (e.g. "CONV_2D")
    or a custom op's code (e.g. "FlexCropAndResize")."""
    from tensorflow.lite.python import schema_py_generated as schema
    builtins = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    found = []
    for subgraph in model.subgraphs or ():
        for operator in subgraph.operators or ():
            code = model.operatorCodes[operator.opcodeIndex]
            name = _name(code.customCode) if code.customCode else builtins.get(
                max(code.builtinCode, code.deprecatedBuiltinCode), "?")
            found.append((name, [_name(subgraph.tensors[i].name) for i in operator.outputs]))
    return found


def select_tf_ops(flatbuffer, keras_model=None):
    """{op: [layers]}: the TensorFlow ops a LiteRT flatbuffer runs through the select-ops delegate ("Flex" custom
    ops) and the Keras layers they come from (from the names of their output tensors; "" outside the layers)."""
    found = {}
    for name, outputs in litert_operators(flatbuffer):
        if name.startswith("Flex"):
            layer = layer_of(" ".join(outputs), keras_model) if keras_model is not None else None
            found.setdefault(name[len("Flex"):], set()).add(layer or "")
    return {op: sorted(layers) for op, layers in sorted(found.items())}


def _name(value):
    return value.decode() if isinstance(value, bytes) else str(value)
