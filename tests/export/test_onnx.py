"""ONNX export (tf2onnx) run by onnxruntime: detect's cells; an op ONNX cannot express is named with its layer.

Skipped, with the reason, where the optional packages are missing (`pip install -e .[export]`).
"""

import logging

import pytest
import tensorflow as tf

pytest.importorskip("tf2onnx", reason="ONNX export needs tf2onnx: pip install -e .[export]")
pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install -e .[export]")
pytest.importorskip("onnxruntime", reason="running an ONNX export needs onnxruntime: pip install -e .[export]")

from mrcnn.export import load_exported  # noqa: E402
from mrcnn.export.errors import ConversionLog, ExportError, explain_conversion_error  # noqa: E402
from mrcnn.export.formats import _write_onnx  # noqa: E402
from tests.export.conftest import CLASS_NAMES, assert_same_cells  # noqa: E402


def test_onnxruntime_gives_detects_cells(tiny_model, parity_images, expected_cells, tmp_path):
    tiny_model.export(str(tmp_path), "onnx", class_names=CLASS_NAMES)
    model = load_exported(str(tmp_path))
    assert model.format == "onnx"
    # onnxruntime's kernels sum in another order than TensorFlow's: a resized pixel within float32's rounding of an
    # integer may truncate to the next level, which moves a score by up to ~5e-4 here; boxes stay the same, and the
    # random model's soft masks, close to 0.5 everywhere, may flip a pixel at the threshold.
    box_diff, score_diff, worst_iou = assert_same_cells(expected_cells, model.detect(parity_images))
    assert box_diff == 0 and worst_iou >= 0.999


def test_object_score_and_suppression_across_classes_in_onnx(object_score_model, parity_images, tmp_path):
    expected = object_score_model.detect(parity_images)
    assert sum(len(r["class_ids"]) for r in expected) > 0
    object_score_model.export(str(tmp_path), "onnx", class_names=CLASS_NAMES)
    box_diff, _, _ = assert_same_cells(expected, load_exported(str(tmp_path)).detect(parity_images))
    assert box_diff == 0


def test_an_op_onnx_cannot_express_is_named_with_its_layer(tiny_model, tmp_path):
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def boolean_one_hot(ids):  # tf2onnx: "onehot op: only rank1 is supported" (DetectionLayer used it)
        with tf.name_scope("mrcnn_detection"):
            return {"hot": tf.one_hot(ids, 4, on_value=True, off_value=False)}

    with pytest.raises(ExportError, match=r"'onnx' cannot express the op OneHot of the layer 'mrcnn_detection'") \
            as info:
        _write_onnx(tiny_model.keras_model, boolean_one_hot, str(tmp_path))
    assert (info.value.op, info.value.layer) == ("OneHot", "mrcnn_detection")


def test_conversion_log_and_messages(tiny_model):
    with ConversionLog("tf2onnx") as log:
        logging.getLogger("tf2onnx").error("Failed to convert node %r (fct=<bound method %s.version_13 of x>)",
                                           "mask_rcnn_1/roi_align_mask_1/CropAndResize", "CropAndResize")
        logging.getLogger("tf2onnx").error("something else")
    assert len(log.messages) == 1
    error = explain_conversion_error(log.messages[0], "onnx", tiny_model.keras_model)
    assert (error.op, error.layer) == ("CropAndResize", "roi_align_mask")
    error = explain_conversion_error(ValueError("no op named here"), "litert", tiny_model.keras_model)
    assert str(error) == ("export format 'litert' cannot express an op (outside the Keras layers: moulding or "
                          "unmoulding): no op named here")
