import numpy as np
import pytest
import tensorflow as tf

from mrcnn import utils
from mrcnn.ops.boxes import (apply_box_deltas_graph, box_refinement_graph, clip_boxes_graph, denorm_boxes_graph,
                             norm_boxes_graph, overlaps_graph, trim_zeros_graph)


def random_boxes(rng, n, low=0.0, high=1.0, min_size=0.01):
    """[n, (y1, x1, y2, x2)] with y2 > y1, x2 > x1."""
    corner = rng.uniform(low, high, size=(n, 2))
    size = rng.uniform(min_size, (high - low) / 2, size=(n, 2))
    return np.concatenate([corner, corner + size], axis=1).astype(np.float32)


def test_apply_box_deltas_matches_numpy_and_accepts_leading_dims():
    rng = np.random.default_rng(0)
    boxes = random_boxes(rng, 24)
    deltas = rng.normal(0, 0.5, size=(24, 4)).astype(np.float32)
    expected = utils.apply_box_deltas(boxes, deltas)
    np.testing.assert_allclose(apply_box_deltas_graph(boxes, deltas).numpy(), expected, atol=1e-5)
    batched = apply_box_deltas_graph(boxes.reshape(2, 3, 4, 4), deltas.reshape(2, 3, 4, 4)).numpy()
    np.testing.assert_allclose(batched.reshape(24, 4), expected, atol=1e-5)


def test_apply_box_deltas_hand_values():
    # Box 10x20 centred at (15, 20): move down by half its height, double the width.
    out = apply_box_deltas_graph([[10.0, 10.0, 20.0, 30.0]], [[0.5, 0.0, 0.0, np.log(2.0)]]).numpy()
    np.testing.assert_allclose(out, [[15.0, 0.0, 25.0, 40.0]], atol=1e-5)


def test_box_refinement_matches_numpy():
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 30)
    gt = random_boxes(rng, 30)
    out = box_refinement_graph(boxes, gt)
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), utils.box_refinement(boxes, gt), atol=1e-5)


def test_encode_decode_round_trip():
    rng = np.random.default_rng(2)
    boxes = random_boxes(rng, 50).reshape(5, 10, 4)
    gt = random_boxes(rng, 50).reshape(5, 10, 4)
    decoded = apply_box_deltas_graph(boxes, box_refinement_graph(boxes, gt)).numpy()
    np.testing.assert_allclose(decoded, gt, atol=1e-5)


def test_overlaps_match_numpy():
    rng = np.random.default_rng(3)
    b1 = random_boxes(rng, 17, min_size=0.1)
    b2 = random_boxes(rng, 9, min_size=0.1)
    out = overlaps_graph(b1, b2).numpy()
    assert out.shape == (17, 9)
    np.testing.assert_allclose(out, utils.compute_overlaps(b1, b2), atol=1e-5)
    assert out.max() > 0.1  # the draw has real overlaps, not only zeros


def test_overlaps_hand_values_zero_area_and_empty():
    b1 = np.array([[0, 0, 2, 2], [0, 0, 0, 0], [1, 1, 1, 1]], np.float32)
    b2 = np.array([[1, 1, 3, 3], [0, 0, 0, 0], [5, 5, 6, 6]], np.float32)
    out = overlaps_graph(b1, b2).numpy()
    expected = np.array([[1 / 7, 0, 0], [0, 0, 0], [0, 0, 0]], np.float32)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.all(np.isfinite(out))
    assert overlaps_graph(b1, np.zeros((0, 4), np.float32)).shape == (3, 0)
    assert overlaps_graph(np.zeros((0, 4), np.float32), b2).shape == (0, 3)


def test_clip_boxes_window_and_broadcast():
    boxes = np.array([[[-0.2, 0.1, 0.5, 1.3], [0.3, 0.3, 0.4, 0.4]],
                      [[0.0, 0.0, 1.0, 1.0], [0.9, -1.0, 2.0, 0.5]]], np.float32)
    out = clip_boxes_graph(boxes, [0.0, 0.0, 1.0, 1.0]).numpy()
    np.testing.assert_allclose(out, np.clip(boxes, 0, 1))
    windows = np.array([[[0.1, 0.2, 0.8, 0.9]], [[0.25, 0.0, 0.75, 1.0]]], np.float32)  # [B, 1, 4]
    out = clip_boxes_graph(boxes, windows).numpy()
    np.testing.assert_allclose(out[0, 0], [0.1, 0.2, 0.5, 0.9])
    np.testing.assert_allclose(out[0, 1], [0.3, 0.3, 0.4, 0.4])
    np.testing.assert_allclose(out[1, 0], [0.25, 0.0, 0.75, 1.0])
    np.testing.assert_allclose(out[1, 1], [0.75, 0.0, 0.75, 0.5])


@pytest.mark.parametrize("shape", [(128, 256), (600, 800)])
def test_norm_denorm_match_numpy(shape):
    rng = np.random.default_rng(4)
    pixels = np.round(random_boxes(rng, 20, 0, min(shape) - 1, min_size=2)).astype(np.int32)
    normed = norm_boxes_graph(pixels, shape).numpy()
    np.testing.assert_allclose(normed, utils.norm_boxes(pixels, shape), atol=1e-6)
    back = denorm_boxes_graph(normed, shape).numpy()
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, utils.denorm_boxes(normed, shape))
    np.testing.assert_array_equal(back, pixels)


def test_norm_boxes_hand_values_and_per_image_shapes():
    # Matterport: the whole image (0, 0, h, w) in pixels is (0, 0, 1, 1).
    np.testing.assert_allclose(norm_boxes_graph([[0, 0, 101, 51]], [101, 51]).numpy(), [[0, 0, 1, 1]])
    boxes = np.array([[0, 0, 11, 21], [0, 0, 41, 41]], np.float32)  # one box per image
    shapes = np.array([[11, 21], [41, 81]], np.float32)  # [B, (h, w)]
    out = norm_boxes_graph(boxes, shapes).numpy()
    np.testing.assert_allclose(out, [[0, 0, 1, 1], [0, 0, 1, 0.5]])
    np.testing.assert_array_equal(denorm_boxes_graph(out, shapes).numpy(), boxes)


def test_trim_zeros():
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0, 0]], np.float32)
    trimmed, non_zeros = trim_zeros_graph(boxes)
    np.testing.assert_array_equal(non_zeros.numpy(), [True, False, True, False])
    np.testing.assert_array_equal(trimmed.numpy(), boxes[[0, 2]])
    np.testing.assert_array_equal(trimmed.numpy(), utils.trim_zeros(boxes))


def test_apply_box_deltas_caps_huge_scales():
    from mrcnn.ops.boxes import MAX_LOG_SCALE, apply_box_deltas_graph
    boxes = tf.constant([[0.4, 0.4, 0.6, 0.6]])
    out = apply_box_deltas_graph(boxes, tf.constant([[0.0, 0.0, 500.0, 1e9]])).numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0, 2] - out[0, 0], 0.2 * np.exp(MAX_LOG_SCALE), rtol=1e-5)
    np.testing.assert_allclose(out[0, 3] - out[0, 1], 0.2 * np.exp(MAX_LOG_SCALE), rtol=1e-5)
