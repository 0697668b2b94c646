"""Running an exported Mask R-CNN (mrcnn/export/formats.py) as `detect` runs the Keras model.

Shape shorthand: H, W: an image; C: its channels; N: its detections.

    model = load_exported("out/export")           # any format; its config.json and export.json beside it
    r = model.detect([image])[0]                  # {"rois", "class_ids", "scores", "masks"}: MaskRCNN.detect's dict

`ExportedModel` has the `config` and `detect(images)` that mrcnn.detector.ScaledDetector, mrcnn.tiling and
mrcnn.streaming.detect_files ask of a model, so `pbc.py detect --model DIR` writes the same results.json, counts.csv
and overlays as with the Keras model. The runtimes:
    savedmodel  tf.saved_model.load(DIR).signatures["serving_default"](image=...)
    onnx        onnxruntime.InferenceSession(DIR/model.onnx) on the CPU
    litert      ai_edge_litert.interpreter.Interpreter(DIR/model.tflite), signature "serving_default" (an
                export has LiteRT's built-in ops only); a LiteRT model with TensorFlow's select ops (export.json
                "select_tf_ops") needs an interpreter linked with the Flex delegate, which the ai-edge-litert wheel
                is not: loading it then raises a ValueError naming the ops and their layers
"""

import json
import os

import numpy as np

from mrcnn.config import Config
from mrcnn.export.formats import CONFIG_FILE, EXPORT_INFO, FORMATS, INSTALL_HINT, require_packages

OUTPUTS = ("boxes", "class_ids", "scores", "masks")
RUNTIME_PACKAGES = {"savedmodel": (), "onnx": (("onnxruntime", "onnxruntime"),),
                    "litert": (("ai_edge_litert.interpreter", "ai-edge-litert"),)}


def read_export_info(path):
    """(export.json as a dict, the Config) of an export folder; ValueError naming the file that is missing or bad."""
    info_path, config_path = os.path.join(path, EXPORT_INFO), os.path.join(path, CONFIG_FILE)
    for file in (info_path, config_path):
        if not os.path.isfile(file):
            raise ValueError(f"{file} does not exist: {path} is not a folder written by MaskRCNN.export / pbc.py "
                             "export")
    try:
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
        with open(config_path, encoding="utf-8") as f:
            values = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: export.json or config.json is not valid JSON ({e})") from None
    if info.get("format") not in FORMATS:
        raise ValueError(f"{info_path}: format {info.get('format')!r}; valid formats are {', '.join(FORMATS)}")
    known = set(Config.field_names())
    config = Config.from_dict({k: v for k, v in values.items() if k in known})
    for name, value in values.items():  # a subclass's own fields (e.g. a sample's), kept as plain values
        if name not in known and name not in ("BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE"):
            setattr(config, name, value)
    return info, config


class ExportedModel:
    """An exported model of any format with Matterport's `detect`; see the module notes.

    Attributes: config (the exported Config), class_names (export.json's, or None), format, path, weights (the
    weights file exported, from export.json, or None).
    xnnpack: LiteRT only: run with its default XNNPACK delegate (faster) or, False, LiteRT's own kernels.
    """

    def __init__(self, path, xnnpack=True):
        self.path = path
        self.xnnpack = bool(xnnpack)
        info, self.config = read_export_info(path)
        self.format = info["format"]
        self.class_names = info.get("class_names")
        self.weights = info.get("weights")
        self.select_tf_ops = info.get("select_tf_ops") or {}
        model_file = os.path.join(path, info.get("model_file", ""))
        if not os.path.isfile(model_file):
            raise ValueError(f"{model_file} does not exist ({os.path.join(path, EXPORT_INFO)} names it)")
        self._run = getattr(self, f"_load_{self.format}")(model_file)

    def detect(self, images, verbose=0):
        """One dict per image: {"rois": int32 [N, 4], "class_ids": int32 [N], "scores": float32 [N],
        "masks": bool [H, W, N]}, as MaskRCNN.detect returns."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise ValueError("detect() takes a list of images; wrap a single image as [image]")
        results = []
        for index, image in enumerate(images):
            image = np.asarray(image)
            channels = self.config.IMAGE_CHANNEL_COUNT
            if image.ndim != 3 or image.shape[-1] != channels:
                raise ValueError(f"images[{index}] has shape {image.shape}; expected [height, width, {channels}]")
            out = self._run(np.ascontiguousarray(image, dtype=np.uint8))
            results.append({"rois": np.asarray(out["boxes"], np.int32).reshape(-1, 4),
                            "class_ids": np.asarray(out["class_ids"], np.int32).reshape(-1),
                            "scores": np.asarray(out["scores"], np.float32).reshape(-1),
                            "masks": np.asarray(out["masks"]).astype(bool).reshape(image.shape[:2] + (-1,))})
        return results

    # ---- runtimes, one per format: model file -> f(uint8 image [H, W, C]) -> dict of NumPy outputs --------------

    def _load_savedmodel(self, model_file):
        import tensorflow as tf
        serve = tf.saved_model.load(os.path.dirname(model_file)).signatures["serving_default"]
        return lambda image: {k: v.numpy() for k, v in serve(image=tf.constant(image)).items()}

    def _load_onnx(self, model_file):
        (onnxruntime,) = require_packages(RUNTIME_PACKAGES["onnx"], "running an ONNX export")
        session = onnxruntime.InferenceSession(model_file, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        names = [output.name for output in session.get_outputs()]

        def run(image):
            values = session.run(names, {input_name: image})
            return {_output_key(name): value for name, value in zip(names, values)}
        return run

    def _load_litert(self, model_file):
        (litert,) = require_packages(RUNTIME_PACKAGES["litert"], "running a LiteRT export")
        # XNNPACK, LiteRT's default CPU delegate, is faster and sums in another order than TensorFlow;
        # xnnpack=False runs LiteRT's own kernels, which give TensorFlow's numbers (tests/export/test_litert.py).
        resolver = (litert.OpResolverType.AUTO if self.xnnpack
                    else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter = litert.Interpreter(model_path=model_file, experimental_op_resolver_type=resolver)
        runner = interpreter.get_signature_runner("serving_default")
        run = lambda image: runner(image=image)  # noqa: E731
        if self.select_tf_ops:  # fails now, with what to do, rather than at the first image
            try:
                run(np.zeros((8, 8, self.config.IMAGE_CHANNEL_COUNT), np.uint8))
            except RuntimeError as e:
                if "Select TensorFlow op" not in str(e):
                    raise
                ops = "; ".join(f"{op} ({', '.join(layers)})" for op, layers in self.select_tf_ops.items())
                raise ValueError(
                    f"{model_file} needs TensorFlow's select ops, which this LiteRT interpreter does not link (the "
                    f"Flex delegate): {ops}. Run it with a LiteRT build that has them (docs/export.md#litert), or "
                    "export as savedmodel or onnx") from None
        return run

def _output_key(name):
    """The output's key ("boxes", ...) from a converter's output name (tf2onnx keeps the signature's names, maybe
    with a suffix such as ":0")."""
    for key in OUTPUTS:
        if name == key or name.startswith(key + ":"):
            return key
    return name


def load_exported(path, xnnpack=True):
    """An ExportedModel for the export folder `path`; ImportError naming the package and pip command when the
    format's runtime is missing (`""" + INSTALL_HINT + """`). xnnpack: see ExportedModel."""
    return ExportedModel(path, xnnpack=xnnpack)
