"""Matterport's graph functions (mrcnn/matterport_graph.py: resnet_graph, rpn_graph, the heads, identity_block,
conv_block, refine_detections_graph, ...), utils.batch_slice and visualize.draw_rois, called as Matterport's code
calls them, with hand-computed or seeded values.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import model as modellib
from mrcnn import utils
from tests.test_matterport_api import InferenceConfig


def test_graph_builders_as_a_hand_assembled_network_calls_them():
    """Matterport's functional calls: backbone, RPN on one level, both heads with ROI Align; train_bn=False freezes
    the batch norm layers each call built."""
    config = InferenceConfig()
    image = keras.Input((64, 64, 3))
    c1, c2, c3, c4, c5 = modellib.resnet_graph(image, "tiny", stage5=True, train_bn=False)
    assert c1 is None and [tuple(c.shape[1:3]) for c in (c2, c3, c4, c5)] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert modellib.resnet_graph(keras.Input((64, 64, 3)), "tiny")[4] is None  # stage5=False, Matterport's default
    logits, probs, bbox = modellib.rpn_graph(c2, anchors_per_location=3, anchor_stride=1)
    assert tuple(logits.shape) == (None, 16 * 16 * 3, 2) and tuple(bbox.shape) == (None, 16 * 16 * 3, 4)
    rois = keras.Input((5, 4))
    meta = keras.Input((config.IMAGE_META_SIZE,))
    pyramid = [keras.Input((s, s, 8)) for s in (16, 8, 4, 2)]
    class_logits, class_probs, deltas = modellib.fpn_classifier_graph(rois, pyramid, meta, 7, 4, train_bn=False,
                                                                      fc_layers_size=32)
    masks = modellib.build_fpn_mask_graph(rois, pyramid, meta, 14, 4)
    assert tuple(class_probs.shape) == (None, 5, 4) and tuple(deltas.shape) == (None, 5, 4, 4)
    assert tuple(masks.shape) == (None, 5, 28, 28, 4)
    model = keras.Model([image, rois, meta] + pyramid, [c5, probs, class_probs, masks])
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    frozen = {layer.name for layer in bn if not layer.trainable}
    assert {"mrcnn_class_bn1", "mrcnn_class_bn2"} <= frozen  # train_bn=False
    assert not frozen & {f"mrcnn_mask_bn{i}" for i in range(1, 5)}  # train_bn=True
    assert len(frozen) > 2  # and the backbone's


def test_small_graph_functions_give_hand_computed_values():
    np.testing.assert_allclose(modellib.log2_graph(tf.constant([1.0, 8.0, 0.5])).numpy(), [0.0, 3.0, -1.0])
    x = tf.constant([[1, 2, 3], [4, 5, 6]])
    assert modellib.batch_pack_graph(x, tf.constant([2, 1]), 2).numpy().tolist() == [1, 2, 4]
    config = InferenceConfig()
    gt_boxes = tf.constant([[0.0, 0.0, 0.5, 0.5]])
    proposals = tf.constant([[0.0, 0.0, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]])
    masks = tf.ones(tuple(config.MINI_MASK_SHAPE) + (1,))
    rois, class_ids, deltas, target_masks = modellib.detection_targets_graph(
        proposals, tf.constant([2]), gt_boxes, masks, config)
    t = config.TRAIN_ROIS_PER_IMAGE
    assert rois.shape == (t, 4) and target_masks.shape == (t, 28, 28)
    assert class_ids.numpy().tolist() == [2, 0] + [0] * (t - 2)  # the exact proposal, then the background one
    np.testing.assert_allclose(rois.numpy()[:2], proposals.numpy(), atol=1e-6)
    np.testing.assert_allclose(deltas.numpy()[0], 0.0, atol=1e-6)
    # The positive's mask is the ground truth's (ones); crop_and_resize's last row and column land a rounding error
    # past the mini mask's edge and read 0 (TensorFlow's kernel, the same under Matterport).
    assert target_masks.numpy()[0, :27, :27].min() == 1.0 and target_masks.numpy()[1:].max() == 0.0


def _zero_weights(model):
    """Zero every convolution's kernel and bias: each Matterport branch "2a/2b/2c" then outputs BN(0) = 0."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


def test_identity_block_has_matterport_names_and_adds_its_input():
    x = keras.Input((8, 8, 16))
    y = modellib.identity_block(x, 3, [4, 4, 16], stage=2, block="b")
    model = keras.Model(x, y)
    assert tuple(y.shape) == (None, 8, 8, 16)
    names = {layer.name for layer in model.layers}
    assert {f"{kind}2b_branch2{b}" for kind in ("res", "bn") for b in "abc"} | {"res2b_out"} <= names
    assert not any("branch1" in name for name in names)  # identity shortcut
    assert model.get_layer("res2b_branch2b").kernel.shape == (3, 3, 4, 4)
    assert model.get_layer("res2b_branch2a").use_bias  # Matterport's use_bias=True
    _zero_weights(model)
    image = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype("float32")
    # Zero branches: relu(input + 0), in inference (the moving statistics are mean 0, variance 1).
    np.testing.assert_allclose(model(image, training=False).numpy(), np.maximum(image, 0.0), atol=1e-6)


def test_conv_block_strides_its_first_convolution_and_projection_shortcut():
    x = keras.Input((8, 8, 8))
    y = modellib.conv_block(x, 3, [4, 4, 8], stage=3, block="a", use_bias=False, train_bn=False)
    assert tuple(y.shape) == (None, 4, 4, 8)
    assert tuple(modellib.conv_block(keras.Input((8, 8, 8)), 3, [4, 4, 8], stage=2, block="a",
                                     strides=(1, 1)).shape) == (None, 8, 8, 8)
    model = keras.Model(x, y)
    assert {"res3a_branch1", "bn3a_branch1", "res3a_branch2c", "bn3a_branch2c", "res3a_out"} <= {
        layer.name for layer in model.layers}
    assert not model.get_layer("res3a_branch1").use_bias
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bn) == 4 and not any(layer.trainable for layer in bn)  # train_bn=False freezes them
    _zero_weights(model)
    shortcut = model.get_layer("res3a_branch1")
    shortcut.set_weights([np.eye(8, dtype="float32").reshape(1, 1, 8, 8)])
    image = np.random.default_rng(1).normal(size=(1, 8, 8, 8)).astype("float32")
    # Output = relu(BN(1x1 identity, stride 2)); frozen, BN is x / sqrt(1 + 0.001) even with training=True.
    expected = np.maximum(image[:, ::2, ::2], 0.0) / np.sqrt(1.001)
    np.testing.assert_allclose(model(image, training=True).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.all(bn[0].moving_mean.numpy() == 0.0)


def test_refine_detections_graph_is_the_batched_layer_on_one_image_zero_padded():
    config = InferenceConfig()  # 4 classes, DETECTION_MAX_INSTANCES 8, DETECTION_MIN_CONFIDENCE 0
    rng = np.random.default_rng(3)
    corners = rng.uniform(0.0, 0.6, size=(6, 2))
    rois = np.concatenate([corners, corners + rng.uniform(0.1, 0.4, size=(6, 2))], axis=1).astype("float32")
    probs = rng.dirichlet(np.ones(4), size=6).astype("float32")
    probs[0] = [0.05, 0.9, 0.03, 0.02]  # ROI 0: class 1, score 0.9
    probs[5] = [0.7, 0.1, 0.1, 0.1]  # ROI 5: background, dropped
    deltas = rng.normal(0.0, 1.0, size=(6, 4, 4)).astype("float32")
    deltas[0] = 0.0
    window_px = np.array([8, 0, 56, 64])
    window = np.array([8 / 63, 0.0, 55 / 63, 1.0], "float32")  # norm_boxes of window_px on a 64 x 64 image
    detections = modellib.refine_detections_graph(tf.constant(rois), tf.constant(probs), tf.constant(deltas),
                                                  tf.constant(window), config).numpy()
    meta = modellib.compose_image_meta(0, (64, 64, 3), (64, 64, 3), window_px, 1.0, np.ones(4))[np.newaxis]
    layer = modellib.DetectionLayer(config.DETECTION_MAX_INSTANCES, config.DETECTION_MIN_CONFIDENCE,
                                    config.DETECTION_NMS_THRESHOLD, config.BBOX_STD_DEV)
    batched = layer([rois[np.newaxis], probs[np.newaxis], deltas[np.newaxis], meta]).numpy()[0]
    assert detections.shape == (config.DETECTION_MAX_INSTANCES, 6)
    np.testing.assert_allclose(detections, batched, atol=1e-6)
    kept = int(np.count_nonzero(detections[:, 4]))
    assert 1 <= kept <= 5 and not detections[kept:].any()  # background ROI 5 dropped; zero rows after
    first = detections[0]
    assert first[4] == 1 and first[5] == pytest.approx(0.9)  # the best score, its own box clipped to the window
    np.testing.assert_allclose(first[:4], np.clip(rois[0], window[[0, 1, 0, 1]], window[[2, 3, 2, 3]]), atol=1e-6)


def test_batch_slice_applies_the_function_per_item_and_stacks():
    x = tf.constant(np.arange(12.0, dtype="float32").reshape(3, 4))
    y = tf.constant([[1.0], [2.0], [3.0]])
    doubled = utils.batch_slice(x, lambda a: a * 2.0, 3)
    assert isinstance(doubled, tf.Tensor) and doubled.numpy().tolist() == (np.arange(12.0).reshape(3, 4) * 2).tolist()
    total, first = utils.batch_slice([x, y], lambda a, b: (tf.reduce_sum(a) * b, a[:1]), 3, names=["t", "f"])
    assert total.numpy().ravel().tolist() == [6.0 * 1, 22.0 * 2, 38.0 * 3]
    assert first.numpy().ravel().tolist() == [0.0, 4.0, 8.0]
    # Matterport's per-image pattern: the refinement above, sliced over a batch of 2.
    config = InferenceConfig()
    rois = tf.constant([[[0.1, 0.1, 0.3, 0.3]], [[0.5, 0.5, 0.9, 0.9]]])
    probs = tf.constant([[[0.1, 0.0, 0.9, 0.0]], [[0.0, 0.8, 0.1, 0.1]]])
    deltas = tf.zeros((2, 1, 4, 4))
    window = tf.constant([[0.0, 0.0, 1.0, 1.0]] * 2)
    detections = utils.batch_slice([rois, probs, deltas, window],
                                   lambda r, p, d, w: modellib.refine_detections_graph(r, p, d, w, config), 2)
    assert detections.shape == (2, config.DETECTION_MAX_INSTANCES, 6)
    np.testing.assert_allclose(detections.numpy()[:, 0], [[0.1, 0.1, 0.3, 0.3, 2, 0.9], [0.5, 0.5, 0.9, 0.9, 1, 0.8]],
                               atol=1e-6)


def test_draw_rois_as_inspect_data_calls_it(capsys):
    """inspect_data's call: a random pick of `limit` ROIs, positives with refinement, class name and 28 x 28 mask
    pasted into the ROI, the counts printed; drawn on pyplot's current figure (plt.savefig saves it)."""
    import matplotlib.pyplot as plt

    from mrcnn import visualize

    plt.close("all")
    image = np.full((64, 64, 3), 80, np.uint8)
    rois = np.array([[4, 4, 20, 20], [30, 30, 60, 60], [10, 40, 30, 60], [40, 2, 60, 20]] * 3)
    class_ids = np.array([1, 0, 2, 0] * 3)
    masks = np.ones((12, 28, 28))
    np.random.seed(4)
    fig = visualize.draw_rois(image, rois, rois + 2, masks, class_ids, ["BG", "a", "b"], limit=5)
    assert plt.gcf() is fig and fig.axes[0].get_title() == "Showing 5 random ROIs out of 12"
    assert capsys.readouterr().out.splitlines() == ["Positive ROIs:  6", "Negative ROIs:  6", "Positive Ratio: 0.50"]
    np.random.seed(4)
    picked = class_ids[np.random.choice(np.arange(12), 5, replace=False)]
    rectangles = [p for p in fig.axes[0].patches if type(p).__name__ == "Rectangle"]
    assert len(rectangles) == 5 + np.count_nonzero(picked)  # each ROI, and the refinement of each positive
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(["BG", "a", "b"][c] for c in picked if c)
    plt.close("all")


def test_train_bn_none_is_matterports_normal_mode_not_frozen():
    image = keras.Input((64, 64, 3))
    features = modellib.resnet_graph(image, "tiny", stage5=True, train_bn=None)
    model = keras.Model(image, features[1:])
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bn and all(layer.trainable for layer in bn)
