"""Errors of an export that cannot be written: which op a format cannot express, and the layer it comes from.

Shape shorthand: none (messages and op names).
"""

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
)


class ExportError(ValueError):
    """An export that failed, naming the format, the op and the layer (`op`, `layer` attributes); a ValueError, so
    that a command line reports it in one line (mrcnn/cli.py)."""

    def __init__(self, message, op=None, layer=None):
        super().__init__(message)
        self.op = op
        self.layer = layer


def layer_of(text, keras_model):
    """The name of the Keras layer a TensorFlow node name or message mentions (its name scope), or None."""
    names = sorted({layer.name for layer in all_layers(keras_model)}, key=len, reverse=True)
    for name in names:  # the longest first: "mrcnn_mask_conv1" before "mrcnn_mask"
        if re.search(rf"(^|[/\s'\"@(]){re.escape(name)}(/|[\s'\"):]|$)", text):
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


def select_tf_ops(flatbuffer):
    """The TensorFlow ops a LiteRT flatbuffer runs through the select-ops delegate ("Flex" custom ops), sorted."""
    from tensorflow.lite.python import schema_py_generated as schema
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    names = set()
    for code in model.operatorCodes or ():
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        if custom and custom.startswith("Flex"):
            names.add(custom[len("Flex"):])
    return sorted(names)
