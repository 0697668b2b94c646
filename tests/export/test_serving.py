"""The export's in-graph moulding and unmoulding (mrcnn/export/serving.py) against the NumPy steps `detect` runs."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn import utils
from mrcnn.data.mold import mold_inputs, unmold_detections
from mrcnn.data.paste import paste_masks
from mrcnn.export.serving import (mold_image_graph, paste_masks_graph, resize_graph, unmold_detections_graph,
                                  zoom_matrix)
from tests.tiny_config import TinyConfig


def test_zoom_matrix_by_hand():
    # 2 -> 4: outputs sample the input at -0.25, 0.25, 0.75, 1.25; beyond the ends the input reads 0.
    expected = [[0.75, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 0.75]]
    np.testing.assert_allclose(zoom_matrix(2, 4).numpy(), expected, atol=1e-7)
    np.testing.assert_array_equal(zoom_matrix(5, 5).numpy(), np.eye(5))  # scale 1: the image unchanged


@pytest.mark.parametrize("shape", [(47, 64), (20, 27), (64, 86), (37, 50)])
def test_resize_is_skimage_resize(shape):
    image = np.random.default_rng(0).integers(0, 256, (37, 50, 3)).astype(np.uint8)
    expected = utils.resize(image, shape, preserve_range=True)
    np.testing.assert_allclose(resize_graph(image, *shape).numpy(), expected, atol=2e-3)


@pytest.mark.parametrize("shape", [(64, 64), (40, 90), (100, 30), (7, 200), (64, 63)])
def test_mold_is_mold_inputs(shape):
    config = TinyConfig()
    image = np.random.default_rng(1).integers(0, 256, shape + (3,)).astype(np.uint8)
    molded, metas, windows = mold_inputs([image], config)
    got, meta, window = mold_image_graph(tf.constant(image), config)
    np.testing.assert_array_equal(window.numpy(), windows[0])
    np.testing.assert_allclose(meta.numpy(), metas[0], rtol=1e-6)
    # Truncating the resized float values to integers may fall on either side for a value within float32's
    # rounding of an integer: at most one level, in very few pixels.
    difference = np.abs(got.numpy() - molded[0])
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_paste_is_paste_masks():
    rng = np.random.default_rng(2)
    masks = rng.random((5, 28, 28)).astype(np.float32)
    boxes = np.array([[0.1, 0.1, 0.6, 0.5], [0, 0, 1, 1], [0.3, 0.3, 0.32, 0.34], [0.4, 0.2, 0.4, 0.3],
                      [0.7, 0.8, 0.95, 0.99]], np.float32)
    window, molded = np.array([8, 0, 56, 64], np.int32), (64, 64)
    got = paste_masks_graph(tf.constant(masks), tf.constant(boxes), tf.constant(window), molded, 60, 70).numpy()
    expected = paste_masks(masks, boxes, window, molded, (60, 70, 3))
    for i in range(5):
        assert (got[i] != expected[..., i]).sum() <= 2, i  # a value within float32 rounding of 0.5 may go either way
    assert not got[3].any()  # zero height: an empty mask


def _detections(rng, count, d=8):
    detections = np.zeros((d, 6), np.float32)
    y1x1 = rng.uniform(0.1, 0.5, (count, 2))
    detections[:count, :2] = y1x1
    detections[:count, 2:4] = y1x1 + rng.uniform(0.05, 0.4, (count, 2))
    detections[:count, 4] = rng.integers(1, 4, count)
    detections[:count, 5] = np.sort(rng.uniform(0.5, 1, count))[::-1]
    return detections


@pytest.mark.parametrize("count", [0, 1, 5, 8])
def test_unmold_is_unmold_detections(count):
    rng = np.random.default_rng(count)
    detections = _detections(rng, count)
    mrcnn_mask = rng.random((max(count, 1), 28, 28, 4)).astype(np.float32)
    original, molded, window = (50, 80, 3), (64, 64, 3), np.array([12, 0, 52, 64], np.int32)
    expected = unmold_detections(detections, mrcnn_mask, original, molded, window)
    got = unmold_detections_graph(tf.constant(detections), tf.constant(mrcnn_mask), tf.constant(original),
                                  molded[:2], tf.constant(window))
    boxes, class_ids, scores, masks = (t.numpy() for t in got)
    assert masks.shape == (50, 80, len(expected[0]))
    np.testing.assert_array_equal(boxes, expected[0])
    np.testing.assert_array_equal(class_ids, expected[1])
    np.testing.assert_allclose(scores, expected[2])
    assert (masks != expected[3]).sum() <= 2 * len(boxes)
