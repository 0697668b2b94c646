"""Export an inference Mask R-CNN for other runtimes (SavedModel, ONNX, LiteRT) and run the exports like `detect`.

    model.export("out/export", "onnx", class_names=names)     # MaskRCNN.export -> formats.export_model
    load_exported("out/export").detect([image])                # runtime.ExportedModel

The modules: serving.py (the exported function: moulding, the Keras model, unmoulding, in TensorFlow),
formats.py (writing each format), runtime.py (running each format), errors.py (what a format cannot express).
"""

from mrcnn.export.formats import FORMATS, export_model
from mrcnn.export.runtime import ExportedModel, load_exported

__all__ = ["FORMATS", "ExportedModel", "export_model", "load_exported"]
