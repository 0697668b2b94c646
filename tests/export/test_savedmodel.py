"""SavedModel export: tf.saved_model.load's serving signature gives detect's cells; the files beside it; errors."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.export import load_exported
from tests.export.conftest import CLASS_NAMES, assert_same_cells


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("savedmodel"))
    tiny_model.export(path, "savedmodel", class_names=CLASS_NAMES)
    return path


def test_serving_signature_gives_detects_cells(exported, parity_images, expected_cells):
    serve = tf.saved_model.load(exported).signatures["serving_default"]
    got = []
    for image in parity_images:
        out = serve(image=tf.constant(image))
        assert out["boxes"].dtype == tf.int32 and out["masks"].dtype == tf.bool
        got.append({"rois": out["boxes"].numpy(), "class_ids": out["class_ids"].numpy(),
                    "scores": out["scores"].numpy(), "masks": out["masks"].numpy()})
    box_diff, score_diff, worst_iou = assert_same_cells(expected_cells, got)
    # The same boxes and masks. Resizing in float32 (NumPy: float64) truncates a few pixels within float32's rounding
    # of an integer to the next level down or up (tests/export/test_serving.py), which moves a score of the resized
    # images by up to ~5e-4 here; the images at the model's size go in unchanged.
    assert box_diff == 0 and worst_iou >= 0.999 and score_diff <= 1e-3  # a soft mask at 0.5 may flip a pixel


def test_load_exported_and_the_files_beside_it(exported, tiny_model, parity_images, expected_cells):
    model = load_exported(exported)
    assert model.format == "savedmodel" and model.class_names == CLASS_NAMES
    assert model.config.to_dict() == tiny_model.config.to_dict()
    assert_same_cells(expected_cells[:1], model.detect(parity_images[:1]))
    with open(os.path.join(exported, "export.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["model_file"] == "saved_model.pb" and info["input"]["shape"] == ["H", "W", 3]
    with pytest.raises(ValueError, match=r"wrap a single image"):
        model.detect(parity_images[0])


def test_bad_format_and_folder(tiny_model, tmp_path):
    with pytest.raises(ValueError, match=r"'tflite': valid formats are savedmodel, onnx, litert"):
        tiny_model.export(str(tmp_path), "tflite")
    with pytest.raises(ValueError, match=r"class_names has 2 names; Config.NUM_CLASSES = 4"):
        tiny_model.export(str(tmp_path), "savedmodel", class_names=["BG", "a"])
    with pytest.raises(ValueError, match=r"export.json does not exist"):
        load_exported(str(tmp_path))
    assert not os.listdir(tmp_path)  # nothing written before the checks


def test_other_resize_modes_are_refused(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(tiny_model.config, "IMAGE_RESIZE_MODE", "pad64")
    with pytest.raises(ValueError, match=r"IMAGE_RESIZE_MODE = 'pad64': export needs 'square'"):
        tiny_model.export(str(tmp_path), "savedmodel")


def test_no_cells(tiny_model, monkeypatch):
    # A threshold no score reaches: the exported function returns empty arrays of the right shapes, as detect does.
    from mrcnn.export.serving import serving_function
    layer = tiny_model.keras_model.get_layer("mrcnn_detection")
    monkeypatch.setattr(layer, "detection_min_confidence", 1.01)
    image = np.zeros((40, 50, 3), np.uint8)
    out = serving_function(tiny_model.keras_model, tiny_model.config)(tf.constant(image))
    assert out["boxes"].shape == (0, 4) and out["scores"].shape == (0,) and out["masks"].shape == (40, 50, 0)
    (e,) = tiny_model.detect([image])
    assert e["masks"].shape == (40, 50, 0)


def test_a_16_bit_model_is_exported_to_onnx_and_litert_in_float32(tiny_model, tmp_path):
    from mrcnn.export.formats import float32_twin
    from mrcnn.model import MaskRCNN
    from tests.tiny_config import TinyConfig
    assert float32_twin(tiny_model) is tiny_model  # already float32
    config = TinyConfig()
    config.DTYPE_POLICY = "mixed_bfloat16"
    model = MaskRCNN("inference", config, str(tmp_path))
    twin = float32_twin(model)
    assert twin.config.DTYPE_POLICY == "float32" and model.config.DTYPE_POLICY == "mixed_bfloat16"
    assert "bfloat16" in {w.dtype for w in model.keras_model.weights}
    assert {w.dtype for w in twin.keras_model.weights} == {"float32"}
    for old, new in zip(model.keras_model.weights, twin.keras_model.weights):
        np.testing.assert_array_equal(np.asarray(old.value, np.float32), new.numpy())  # 16-bit values widen exactly
