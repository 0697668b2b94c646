"""Writing an inference Mask R-CNN as a SavedModel, an ONNX model or a LiteRT (TFLite) model, with its config and
class names beside it.

Shape shorthand: H, W: the input image; C: its channels; N: detections (mrcnn/export/serving.py declares the rest).

    export_model(model, "out/export", "savedmodel", class_names=["BG", ...])

An export folder holds:
    saved_model.pb + variables/   format "savedmodel": signature "serving_default", input "image" uint8 [H, W, C]
    model.onnx                    format "onnx"  (tf2onnx; input "image" uint8 [H, W, C], any size)
    model.tflite                  format "litert" (TensorFlow's converter; signature "serving_default"; LiteRT's
                                  built-in ops only: the layers trace mrcnn/ops/portable.py's NMS and ROI align)
    config.json                   the Config (Config.load reads it)
    export.json                   format, model file, class names, input and outputs, the ops that need TensorFlow,
                                  the weights file exported (when given)
Every format takes one RGB uint8 image of any size and returns boxes int32 [N, (y1, x1, y2, x2)] pixels, class_ids
int32 [N], scores float32 [N] and masks bool [H, W, N] full size: `MaskRCNN.detect`'s cells. Batch norm: the
inference model runs it through TensorFlow's fused kernel (mrcnn/layers/batch_norm.py), which TensorFlow's graph
optimizer (grappler) folds into the convolution before it when the SavedModel runs; tf2onnx and the LiteRT converter
fold it into the convolution's weights when they convert.
"""

import importlib
import json
import logging
import os
import shutil

import tensorflow as tf

from mrcnn.export.serving import check_exportable, serving_function

log = logging.getLogger(__name__)

FORMATS = ("savedmodel", "onnx", "litert")
MODEL_FILES = {"savedmodel": "saved_model.pb", "onnx": "model.onnx", "litert": "model.tflite"}
# Python packages a format needs to be written: (import name, pip name).
WRITER_PACKAGES = {"savedmodel": (), "onnx": (("tf2onnx", "tf2onnx"), ("onnx", "onnx")), "litert": ()}
INSTALL_HINT = "pip install -e .[export]"
# Formats whose CPU runtimes have no bfloat16 / float16 convolutions (ONNX Runtime, LiteRT's built-in ops): a model
# of a mixed DTYPE_POLICY is exported in float32 (`float32_twin`).
FLOAT32_FORMATS = ("onnx", "litert")
ONNX_OPSET = 17
EXPORT_INFO = "export.json"
CONFIG_FILE = "config.json"


def check_format(format):
    """The format's name, lower case; ValueError naming the valid ones otherwise."""
    name = str(format).lower()
    if name not in FORMATS:
        raise ValueError(f"export format {format!r}: valid formats are {', '.join(FORMATS)}")
    return name


def require_packages(packages, purpose):
    """Import each (import name, pip name); ImportError naming the missing package and the pip command."""
    modules = []
    for module, pip_name in packages:
        try:
            modules.append(importlib.import_module(module))
        except ImportError as e:
            raise ImportError(f"{purpose} needs the Python package {pip_name!r}, which is not installed ({e}): "
                              f"{INSTALL_HINT} (or pip install {pip_name})") from None
    return modules


def export_model(model, path, format="savedmodel", class_names=None, weights=None):
    """Write the inference MaskRCNN `model` with its moulding and unmoulding to the folder `path` (module notes).

    format: "savedmodel", "onnx" or "litert". class_names: names by class id (BG first), stored in export.json.
    weights: the weights file the model was loaded from, stored in export.json (the web page's model card finds the
    evaluation of those weights by it).
    An existing folder's model files are replaced. Returns the path of the model file written.
    """
    format = check_format(format)
    if getattr(model, "mode", "inference") != "inference":
        raise ValueError(f"export needs a model built with mode='inference', got mode={model.mode!r}")
    config = model.config
    check_exportable(config)
    if class_names is not None and len(class_names) != config.NUM_CLASSES:
        raise ValueError(f"class_names has {len(class_names)} names; Config.NUM_CLASSES = {config.NUM_CLASSES} "
                         "(the background first)")
    require_packages(WRITER_PACKAGES[format], f"export format {format!r}")
    if format in FLOAT32_FORMATS:
        model = float32_twin(model)
        config = model.config
    os.makedirs(path, exist_ok=True)
    serve = serving_function(model.keras_model, config)
    writer = {"savedmodel": _write_savedmodel, "onnx": _write_onnx, "litert": _write_litert}[format]
    model_file, extra = writer(model.keras_model, serve, path, config)
    with open(os.path.join(path, CONFIG_FILE), "w", encoding="utf-8") as f:
        f.write(config.to_json() + "\n")
    info = {"format": format, "model_file": os.path.basename(model_file), "class_names": class_names,
            "input": {"name": "image", "dtype": "uint8", "shape": ["H", "W", int(config.IMAGE_CHANNEL_COUNT)]},
            "outputs": {"boxes": "int32 [N, (y1, x1, y2, x2)] pixels", "class_ids": "int32 [N]",
                        "scores": "float32 [N]", "masks": "bool [H, W, N]"},
            "molded_side": int(config.IMAGE_MAX_DIM)}
    if weights is not None:
        info["weights"] = str(weights)
    info.update(extra)
    with open(os.path.join(path, EXPORT_INFO), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    log.info("exported the %s model to %s", format, model_file)
    return model_file


def float32_twin(model):
    """`model` itself when it computes in float32, else the same inference model built under DTYPE_POLICY
    "float32" with its weights (16-bit values widen exactly): the cells then differ from `model.detect`'s by the
    16-bit rounding only (docs/export.md)."""
    import copy

    from mrcnn.precision import resolve_policy
    if resolve_policy(model.config.DTYPE_POLICY) == "float32":
        return model
    config = copy.deepcopy(model.config)
    config.DTYPE_POLICY = "float32"
    twin = type(model)("inference", config, model.model_dir)  # MaskRCNN (not imported: mrcnn.model imports this)
    source, target = model.keras_model.weights, twin.keras_model.weights
    if [(w.path, tuple(w.shape)) for w in source] != [(w.path, tuple(w.shape)) for w in target]:
        raise ValueError("the float32 twin of the model has other weights than the model; export it under "
                         "DTYPE_POLICY 'float32' instead")
    for old, new in zip(source, target):
        new.assign(tf.cast(old.value, new.dtype))
    log.info("exporting in float32 (the model computes in %s): ONNX Runtime's and LiteRT's CPU kernels have no "
             "16-bit convolutions", resolve_policy(model.config.DTYPE_POLICY))
    return twin


def _write_savedmodel(keras_model, serve, path, config=None):
    for name in ("saved_model.pb", "variables", "assets", "fingerprint.pb"):  # a previous export's files
        target = os.path.join(path, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.remove(target)
    module = tf.Module()
    module.keras_model = keras_model  # its variables
    module.serve = serve
    tf.saved_model.save(module, path, signatures={"serving_default": serve.get_concrete_function()})
    return os.path.join(path, MODEL_FILES["savedmodel"]), {}


def _write_onnx(keras_model, serve, path, config=None):
    from mrcnn.export.errors import ConversionLog, explain_conversion_error
    tf2onnx, onnx = require_packages(WRITER_PACKAGES["onnx"], "export format 'onnx'")
    target = os.path.join(path, MODEL_FILES["onnx"])
    # tf2onnx logs a node it cannot convert and goes on, writing a model no runtime loads: its log is read instead.
    with ConversionLog("tf2onnx") as failures:
        try:
            proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=ONNX_OPSET)
        except Exception as e:  # the converter raises many types; the op and its layer are named
            raise explain_conversion_error(e, "onnx", keras_model) from e
    if failures.messages:
        raise explain_conversion_error(failures.messages[0], "onnx", keras_model)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise explain_conversion_error(e, "onnx", keras_model) from e
    onnx.save(proto, target)
    return target, {"onnx_opset": ONNX_OPSET}


def frozen_function(serve):
    """`serve` with every weight a constant of the graph (TensorFlow's convert_variables_to_constants_v2, what the
    converters use inside), the same input signature and named outputs. LiteRT's converter, given the SavedModel of
    the Keras model's variables, kept them as resource variables without their values (VAR_HANDLE ops: a model with
    no weights) and batch norm unfolded; given this, it embeds the weights and folds batch norm."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    concrete = serve.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)

    @tf.function(input_signature=serve.input_signature)
    def frozen_serve(image):
        return tf.nest.pack_sequence_as(concrete.structured_outputs, tf.nest.flatten(frozen(image)))
    return frozen_serve


def _write_litert(keras_model, serve, path, config):
    import tempfile

    from mrcnn.export.errors import explain_conversion_error, select_tf_ops
    from mrcnn.ops.portable import portable_ops
    # The layers traced without TensorFlow-only ops (CombinedNonMaxSuppression, CropAndResize, InvertPermutation):
    # LiteRT's built-in ops then suffice (mrcnn/ops/portable.py).
    with portable_ops():
        serve = serving_function(keras_model, config)
        serve.get_concrete_function()
    frozen = frozen_function(serve)
    module = tf.Module()
    module.serve = frozen
    # Through a SavedModel, the converter's documented way in, which keeps the signature and the outputs' names.
    with tempfile.TemporaryDirectory(prefix="mrcnn_litert_") as saved:
        tf.saved_model.save(module, saved, signatures={"serving_default": frozen.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["serving_default"])
        # LiteRT's built-in ops; anything they cannot express (a custom backbone's op, say) would run through
        # TensorFlow's select ops ("Flex"), listed with their layers in export.json (docs/export.md#litert).
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        try:
            flatbuffer = converter.convert()
        except Exception as e:  # ConverterError and others; the op and its layer are named
            raise explain_conversion_error(e, "litert", keras_model) from e
    target = os.path.join(path, MODEL_FILES["litert"])
    with open(target, "wb") as f:
        f.write(flatbuffer)
    select = select_tf_ops(flatbuffer, keras_model)
    if select:
        log.warning("the LiteRT model needs TensorFlow's select ops, which ai-edge-litert's Python interpreter does "
                    "not have: %s", "; ".join(f"{op} ({', '.join(layers)})" for op, layers in select.items()))
    return target, {"select_tf_ops": select}
