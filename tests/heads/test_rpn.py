import math

import numpy as np
import keras
import pytest

from mrcnn.heads.rpn import apply_rpn, build_rpn_model


def _identity_rpn(anchors_per_location, depth=2):
    """An RPN whose class logits are feature[y, x, 0] + 1000 * channel, to read the output order."""
    model = build_rpn_model(1, anchors_per_location, depth)
    shared = model.get_layer("rpn_conv_shared")
    kernel = np.zeros(shared.kernel.shape, "float32")
    kernel[1, 1, 0, 0] = 1.0  # centre tap copies input channel 0 to shared channel 0
    shared.set_weights([kernel, np.zeros(shared.bias.shape, "float32")])
    raw = model.get_layer("rpn_class_raw")
    raw_kernel = np.zeros(raw.kernel.shape, "float32")
    raw_kernel[0, 0, 0, :] = 1.0
    raw.set_weights([raw_kernel, 1000.0 * np.arange(2 * anchors_per_location, dtype="float32")])
    return model


def test_rpn_model_names_and_shapes():
    model = build_rpn_model(anchor_stride=1, anchors_per_location=3, depth=8)
    assert model.name == "rpn_model"
    assert model.inputs[0].name == "input_rpn_feature_map"
    assert tuple(model.inputs[0].shape) == (None, None, None, 8)
    names = [layer.name for layer in model.layers]
    for name in ("input_rpn_feature_map", "rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred", "rpn_class_xxx"):
        assert name in names
    shared = model.get_layer("rpn_conv_shared")
    assert shared.kernel.shape == (3, 3, 8, 512) and shared.strides == (1, 1) and shared.padding == "same"
    assert model.get_layer("rpn_class_raw").kernel.shape == (1, 1, 512, 6)
    assert model.get_layer("rpn_bbox_pred").kernel.shape == (1, 1, 512, 12)
    feature = np.random.default_rng(0).normal(size=(2, 4, 5, 8)).astype("float32")
    logits, probs, bbox = model.predict(feature, verbose=0)
    assert logits.shape == (2, 4 * 5 * 3, 2) and probs.shape == (2, 60, 2) and bbox.shape == (2, 60, 4)
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("side", [4, 5])
def test_rpn_stride_2_anchor_count(side):
    model = build_rpn_model(anchor_stride=2, anchors_per_location=3, depth=4)
    feature = np.zeros((1, side, side, 4), "float32")
    logits, _, bbox = model.predict(feature, verbose=0)
    assert logits.shape[1] == bbox.shape[1] == math.ceil(side / 2) ** 2 * 3


def test_rpn_anchor_order_matches_generate_anchors():
    anchors = 3
    h, w = 3, 4
    model = _identity_rpn(anchors)
    feature = np.zeros((1, h, w, 2), "float32")
    feature[0, :, :, 0] = np.arange(h)[:, None] * 10 + np.arange(w)[None, :]
    logits = model.predict(feature, verbose=0)[0][0]
    # Matterport's generate_anchors: meshgrid of shifts, then meshgrid(ratio sizes, shifts) -> [cells, ratios].
    shifts_x, shifts_y = np.meshgrid(np.arange(w), np.arange(h))
    ratio_ix, centers_x = np.meshgrid(np.arange(anchors), shifts_x)
    _, centers_y = np.meshgrid(np.arange(anchors), shifts_y)
    ratio_ix, centers_y, centers_x = ratio_ix.reshape(-1), centers_y.reshape(-1), centers_x.reshape(-1)
    for j in range(2):
        expected = centers_y * 10 + centers_x + 1000.0 * (2 * ratio_ix + j)
        np.testing.assert_allclose(logits[:, j], expected)


def test_apply_rpn_concatenates_levels_in_order():
    rpn = build_rpn_model(anchor_stride=1, anchors_per_location=3, depth=4)
    p2 = keras.Input(shape=(4, 4, 4))
    p3 = keras.Input(shape=(2, 2, 4))
    outputs = apply_rpn(rpn, [p2, p3])
    model = keras.Model([p2, p3], list(outputs))
    for name, cls in (("rpn_class_logits", keras.layers.Concatenate), ("rpn_class", keras.layers.Concatenate),
                      ("rpn_bbox", keras.layers.Concatenate), ("rpn_model", keras.Model)):
        assert isinstance(model.get_layer(name), cls)
    rng = np.random.default_rng(3)
    x2 = rng.normal(size=(2, 4, 4, 4)).astype("float32")
    x3 = rng.normal(size=(2, 2, 2, 4)).astype("float32")
    logits, probs, bbox = model.predict([x2, x3], verbose=0)
    assert logits.shape == (2, 48 + 12, 2) and probs.shape == (2, 60, 2) and bbox.shape == (2, 60, 4)
    level2 = rpn.predict(x2, verbose=0)
    level3 = rpn.predict(x3, verbose=0)
    for got, a, b in zip((logits, probs, bbox), level2, level3):
        np.testing.assert_allclose(got, np.concatenate([a, b], axis=1), rtol=1e-5, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="anchors_per_location"):
        build_rpn_model(1, 0, 8)
    with pytest.raises(ValueError, match="anchor_stride"):
        build_rpn_model(1.5, 3, 8)
    with pytest.raises(ValueError, match="feature_maps"):
        apply_rpn(build_rpn_model(1, 3, 8), [])
