"""LiteRT export: LiteRT's built-in ops only (the layers' TensorFlow-only ops traced from mrcnn/ops/portable.py), run
by the ai-edge-litert interpreter: detect's cells.

Skipped, with the reason, where ai-edge-litert is missing (`pip install -e .[export]`).
"""

import json
import os

import pytest

pytest.importorskip("ai_edge_litert.interpreter", reason="running a LiteRT export needs ai-edge-litert: "
                                                         "pip install -e .[export]")

from mrcnn.export import load_exported  # noqa: E402
from tests.export.conftest import CLASS_NAMES, assert_same_cells  # noqa: E402



@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("litert"))
    tiny_model.export(path, "litert", class_names=CLASS_NAMES)
    return path


def test_built_in_ops_only(exported):
    with open(os.path.join(exported, "export.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["model_file"] == "model.tflite" and info["select_tf_ops"] == {}  # no TensorFlow ops left
    from ai_edge_litert.interpreter import Interpreter
    signature = Interpreter(model_path=os.path.join(exported, "model.tflite")).get_signature_list()
    assert signature == {"serving_default": {"inputs": ["image"],
                                             "outputs": ["boxes", "class_ids", "masks", "scores"]}}


def test_litert_gives_detects_cells(exported, parity_images, expected_cells):
    # LiteRT's own kernels: the same boxes and classes, a resized image's scores within ~5e-4 (as ONNX), and a few
    # mask pixels whose soft value is within float rounding of 0.5 on the other side (IoU >= 0.98).
    model = load_exported(exported, xnnpack=False)
    assert model.format == "litert"
    box_diff, score_diff, worst_iou = assert_same_cells(expected_cells, model.detect(parity_images))
    assert box_diff == 0
    # XNNPACK (the default) sums in another order: on these random weights, whose class scores nearly tie, that
    # may move a proposal and change a cell (docs/export.md); it runs and returns as many cells.
    fast = load_exported(exported).detect(parity_images)
    assert [len(r["class_ids"]) for r in fast] == [len(r["class_ids"]) for r in expected_cells]


def test_object_score_and_suppression_across_classes_in_litert(object_score_model, parity_images, tmp_path):
    # The layer's LiteRT path equals its TensorFlow path exactly (tests/ops/test_portable.py). Here the converted
    # model runs: LiteRT's kernels move this random model's proposals and scores by ~2e-4, enough for NMS to keep
    # a neighbouring box of one of its cells on these weights; the cells per image and their classes are the same.
    expected = object_score_model.detect(parity_images)
    assert sum(len(r["class_ids"]) for r in expected) > 0
    object_score_model.export(str(tmp_path), "litert", class_names=CLASS_NAMES)
    got = load_exported(str(tmp_path), xnnpack=False).detect(parity_images)
    assert [sorted(r["class_ids"]) for r in got] == [sorted(r["class_ids"]) for r in expected]


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
