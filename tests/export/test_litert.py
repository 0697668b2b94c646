"""LiteRT export: written with LiteRT's built-in ops where they suffice, the rest (select TensorFlow ops) named with
their layers in export.json; the ai-edge-litert interpreter, which has no Flex delegate, refuses it with that list.

Skipped, with the reason, where ai-edge-litert is missing (`pip install -e .[export]`).
"""

import json
import os

import pytest

pytest.importorskip("ai_edge_litert.interpreter", reason="running a LiteRT export needs ai-edge-litert: "
                                                         "pip install -e .[export]")

from mrcnn.export import load_exported  # noqa: E402
from tests.export.conftest import CLASS_NAMES, assert_same_cells  # noqa: E402

# What Mask R-CNN's layers need beyond LiteRT's built-in ops (TensorFlow 2.21's converter); the moulding and
# unmoulding (mrcnn/export/serving.py) need none.
SELECT_TF_OPS = {"CombinedNonMaxSuppression": ["ROI", "mrcnn_detection"],
                 "CropAndResize": ["roi_align_classifier", "roi_align_mask"],
                 "InvertPermutation": ["roi_align_classifier", "roi_align_mask"]}


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("litert"))
    tiny_model.export(path, "litert", class_names=CLASS_NAMES)
    return path


def test_select_ops_are_named_with_their_layers(exported):
    with open(os.path.join(exported, "export.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["model_file"] == "model.tflite" and info["select_tf_ops"] == SELECT_TF_OPS
    from ai_edge_litert.interpreter import Interpreter
    signature = Interpreter(model_path=os.path.join(exported, "model.tflite")).get_signature_list()
    assert signature == {"serving_default": {"inputs": ["image"],
                                             "outputs": ["boxes", "class_ids", "masks", "scores"]}}


def test_litert_gives_detects_cells_or_says_why_it_cannot(exported, parity_images, expected_cells):
    try:
        model = load_exported(exported)
    except ValueError as e:  # the ai-edge-litert wheel: no Flex delegate
        message = str(e)
        assert "needs TensorFlow's select ops" in message and "CropAndResize (roi_align_classifier, roi_align_mask)" \
            in message and "export as savedmodel or onnx" in message
        pytest.skip("LiteRT parity: this interpreter has no Flex delegate for the select ops " + ", ".join(SELECT_TF_OPS))
    assert_same_cells(expected_cells, model.detect(parity_images))


def test_weights_are_in_the_model_and_batch_norm_folded(exported, tiny_model, parity_images):
    import numpy as np
    import tensorflow as tf

    from mrcnn.export.errors import litert_operators
    from mrcnn.export.formats import frozen_function
    from mrcnn.export.serving import serving_function
    with open(os.path.join(exported, "model.tflite"), "rb") as f:
        names = [name for name, _ in litert_operators(f.read())]
    assert "VAR_HANDLE" not in names and "READ_VARIABLE" not in names  # weights embedded, not left as variables
    assert names.count("CONV_2D") == 39 and names.count("RSQRT") <= 1  # batch norm folded into the convolutions
    # The frozen function the converter reads gives the function's outputs, by name.
    serve = serving_function(tiny_model.keras_model, tiny_model.config)
    image = tf.constant(parity_images[2])
    expected, got = serve(image), frozen_function(serve)(image)
    assert sorted(got) == ["boxes", "class_ids", "masks", "scores"]
    for key in expected:
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy(), err_msg=key)
