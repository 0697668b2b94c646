"""mrcnn/ops/portable.py: the TensorFlow-only ops rewritten with LiteRT's built-in ones give TensorFlow's values."""

import numpy as np
import tensorflow as tf

from mrcnn.layers.detection import DetectionLayer
from mrcnn.layers.proposal import ProposalLayer
from mrcnn.ops import portable


def test_crop_and_resize_is_tensorflows():
    rng = np.random.default_rng(0)
    image = rng.random((2, 9, 13, 3)).astype(np.float32)
    boxes = rng.uniform(-0.2, 1.2, (20, 4)).astype(np.float32)  # partly outside the image: extrapolation 0
    boxes[0] = [0.5, 0.5, 0.5, 0.5]  # a point
    indices = rng.integers(0, 2, 20).astype(np.int32)
    for size in [(7, 7), (1, 1), (14, 5)]:
        expected = tf.image.crop_and_resize(image, boxes, indices, size).numpy()
        np.testing.assert_allclose(portable.crop_and_resize(image, boxes, indices, size).numpy(), expected,
                                   atol=1e-6)


def test_invert_permutation():
    permutation = np.random.default_rng(1).permutation(50).astype(np.int32)
    np.testing.assert_array_equal(portable.invert_permutation(permutation).numpy(),
                                  tf.math.invert_permutation(permutation).numpy())
    assert portable.invert_permutation(np.array([2, 0, 1], np.int32)).numpy().tolist() == [1, 2, 0]


def test_nms_with_boxes_of_zero_area():
    # Box 1 has zero height: it overlaps nothing, not even box 3, its copy; both are kept, as TensorFlow keeps them.
    boxes = np.array([[0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0.9, 1], [0, 0, 0, 1], [0.5, 0.5, 0.6, 0.6]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5], np.float32)
    kept, kept_scores, valid = portable.nms_one_image(boxes, scores, 5, 0.7, -1.0)
    assert int(valid) == 4 and kept.numpy()[:4].tolist() == [0, 1, 3, 4]
    np.testing.assert_allclose(kept_scores.numpy()[:4], [0.9, 0.8, 0.6, 0.5])
    assert portable.keep_rows(tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), 2).numpy().tolist() == \
        [[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]


def test_layers_inside_portable_ops_give_the_same_outputs():
    rng = np.random.default_rng(0)
    anchors_yx = rng.random((1, 300, 2))
    anchors = np.concatenate([anchors_yx, anchors_yx + rng.random((1, 300, 2)) * 0.5], -1).astype(np.float32)
    probs = rng.random((1, 300, 2)).astype(np.float32)
    deltas = rng.normal(0, 3, (1, 300, 4)).astype(np.float32)  # large: many boxes clipped to the image or flat
    proposal = ProposalLayer(proposal_count=32, nms_threshold=0.7, pre_nms_limit=200,
                             rpn_bbox_std_dev=[0.1, 0.1, 0.2, 0.2])
    expected = proposal([probs, deltas, anchors]).numpy()
    with portable.portable_ops():
        assert portable.enabled()
        rois = tf.function(lambda *x: proposal(list(x)))(probs, deltas, anchors).numpy()
    assert not portable.enabled()
    np.testing.assert_allclose(rois, expected, atol=1e-6)

    classes = tf.nn.softmax(rng.normal(0, 1, (1, 32, 4)).astype(np.float32)).numpy()
    class_deltas = rng.normal(0, 1, (1, 32, 4, 4)).astype(np.float32)
    meta = np.zeros((1, 16), np.float32)
    meta[0, 4:11] = [64, 64, 3, 0, 0, 64, 64]  # image_shape, window
    detection = DetectionLayer(detection_max_instances=8, detection_min_confidence=0.0, detection_nms_threshold=0.3,
                               bbox_std_dev=[0.1, 0.1, 0.2, 0.2])
    expected = detection([rois, classes, class_deltas, meta]).numpy()
    with portable.portable_ops():
        got = tf.function(lambda *x: detection(list(x)))(rois, classes, class_deltas, meta).numpy()
    assert (expected[0, :, 4] > 0).sum() == 8  # all 8 slots used
    np.testing.assert_allclose(got, expected, atol=1e-6)

    # the object score and the suppression across classes: the same in both paths
    detection = DetectionLayer(detection_max_instances=32, detection_min_confidence=0.0, detection_nms_threshold=0.3,
                               bbox_std_dev=[0.1, 0.1, 0.2, 0.2], score="object", nms_across_classes=True)
    expected = detection([rois, classes, class_deltas, meta]).numpy()
    with portable.portable_ops():
        got = tf.function(lambda *x: detection(list(x)))(rois, classes, class_deltas, meta).numpy()
    per_class = DetectionLayer(detection_max_instances=32, detection_min_confidence=0.0, detection_nms_threshold=0.3,
                               bbox_std_dev=[0.1, 0.1, 0.2, 0.2], score="object")
    kept = (expected[0, :, 4] > 0).sum()
    assert 0 < kept < (per_class([rois, classes, class_deltas, meta]).numpy()[0, :, 4] > 0).sum()  # some dropped
    np.testing.assert_allclose(got, expected, atol=1e-6)
