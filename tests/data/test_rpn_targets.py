import numpy as np
import pytest

from mrcnn import utils
from mrcnn.data.anchors import get_anchors
from mrcnn.data.rpn_targets import build_detection_targets, build_rpn_targets, generate_random_rois

STD = np.array([0.1, 0.1, 0.2, 0.2])
T = 32


@pytest.fixture
def anchors(config):
    return get_anchors(config, (64, 64, 3))


def _targets(anchors, class_ids, boxes, seed=0, **kwargs):
    return build_rpn_targets(anchors, np.array(class_ids, np.int32), np.array(boxes, np.int32).reshape(-1, 4), T,
                             STD, rng=np.random.default_rng(seed), **kwargs)


def test_every_gt_gets_its_best_anchors_even_a_tiny_one(anchors):
    boxes = np.array([[10, 10, 42, 42], [50, 50, 52, 52]])
    overlaps = utils.compute_overlaps(anchors, boxes)
    assert overlaps[:, 1].max() < 0.3  # the 2x2 box matches no anchor well
    match, bbox = _targets(anchors, [1, 2], boxes)
    assert match.dtype == np.int32 and match.shape == (anchors.shape[0],)
    assert bbox.dtype == np.float32 and bbox.shape == (T, 4)
    for g in range(2):
        best = np.where(overlaps[:, g] == overlaps[:, g].max())[0]
        assert np.all(match[best] == 1)  # every anchor tied for the best IoU
    assert set(np.unique(match)) <= {-1, 0, 1}
    # Negatives are exactly the remaining budget, all with IoU < 0.3.
    assert np.sum(match == -1) == T - np.sum(match == 1)
    assert np.all(overlaps[match == -1].max(axis=1) < 0.3)


def test_deltas_decode_to_the_gt_boxes(anchors):
    boxes = np.array([[10, 10, 42, 42], [4, 30, 20, 62], [40, 2, 60, 30]])
    match, bbox = _targets(anchors, [1, 2, 1], boxes)
    ids = np.where(match == 1)[0]
    assert ids.size >= 3
    nearest = boxes[np.argmax(utils.compute_overlaps(anchors[ids], boxes), axis=1)]
    decoded = utils.apply_box_deltas(anchors[ids], bbox[:ids.size] * STD)
    np.testing.assert_allclose(decoded, nearest, atol=1e-3)
    assert np.all(bbox[ids.size:] == 0)  # zero padding after the positives


def test_caps_with_many_gt(anchors):
    rng = np.random.default_rng(1)
    y1x1 = rng.integers(0, 40, size=(40, 2))
    sizes = rng.integers(8, 24, size=(40, 2))
    boxes = np.concatenate([y1x1, np.minimum(y1x1 + sizes, 64)], axis=1)
    match, bbox = _targets(anchors, np.ones(40), boxes)
    assert np.sum(match == 1) == T // 2
    assert np.sum(match == -1) == T // 2
    assert np.all(bbox[T // 2:] == 0) and np.all(np.any(bbox[:T // 2] != 0, axis=1))


def test_no_gt_gives_only_negatives(anchors):
    match, bbox = _targets(anchors, [], np.zeros((0, 4)))
    assert np.sum(match == 1) == 0
    assert np.sum(match == -1) == T
    assert np.all(bbox == 0)


def test_crowd_boxes(anchors):
    crowd = np.array([10, 10, 42, 42])
    overlaps = utils.compute_overlaps(anchors, crowd[None])[:, 0]
    # Only a crowd box: no positives, and no negative anchor touches it.
    match, _ = _targets(anchors, [-1], [crowd])
    assert np.sum(match == 1) == 0
    assert np.sum(match == -1) == T
    assert np.all(overlaps[match == -1] < 0.001)
    # A crowd box beside a real one: positives come from the real box only.
    real = np.array([44, 44, 60, 60])
    match, bbox = _targets(anchors, [-2, 1], [crowd, real])
    ids = np.where(match == 1)[0]
    assert ids.size > 0
    np.testing.assert_allclose(utils.apply_box_deltas(anchors[ids], bbox[:ids.size] * STD),
                               np.repeat(real[None], ids.size, axis=0), atol=1e-3)
    assert np.all(overlaps[match == -1] < 0.001)


def test_thresholds_are_arguments(anchors):
    box = [[10, 10, 42, 42]]
    match, _ = _targets(anchors, [1], box, negative_iou=0.0)
    assert np.sum(match == -1) == 0
    loose, _ = _targets(anchors, [1], box, positive_iou=0.2)
    strict, _ = _targets(anchors, [1], box, positive_iou=0.9)
    assert np.sum(loose == 1) > np.sum(strict == 1) >= 1


def test_seeded_rng_is_reproducible(anchors):
    boxes = [[10, 10, 42, 42], [30, 30, 60, 60]]
    first = _targets(anchors, [1, 2], boxes, seed=5)
    second = _targets(anchors, [1, 2], boxes, seed=5)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_random_rois():
    boxes = np.array([[10, 10, 20, 30], [40, 40, 60, 44]])
    rois = generate_random_rois((64, 64, 3), 50, np.array([1, 2]), boxes, rng=np.random.default_rng(0))
    assert rois.shape == (50, 4) and rois.dtype == np.int32
    assert np.all(rois[:, 2] > rois[:, 0]) and np.all(rois[:, 3] > rois[:, 1])
    assert np.all(rois >= 0) and np.all(rois[:, 2:] <= 64)
    per_box = int(0.9 * 50 / 2)
    near_first = rois[:per_box]  # inside the first box grown by its height/width: y 0..30, x 0..50
    assert np.all(near_first[:, 2] <= 30) and np.all(near_first[:, 3] <= 50)
    again = generate_random_rois((64, 64, 3), 50, np.array([1, 2]), boxes, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(rois, again)
    anywhere = generate_random_rois((64, 64, 3), 10, np.zeros(0), np.zeros((0, 4)), rng=np.random.default_rng(0))
    assert anywhere.shape == (10, 4) and np.all(anywhere[:, 2] > anywhere[:, 0])


def test_detection_targets_for_an_exact_roi():
    gt_boxes = np.array([[8, 8, 24, 40]], np.int32)
    gt_masks = np.zeros((64, 64, 1), bool)
    gt_masks[8:24, 8:40] = True
    rois = np.array([[8, 8, 24, 40], [40, 40, 60, 60]])
    out_rois, class_ids, bboxes, masks = build_detection_targets(
        rois, np.array([2]), gt_boxes, gt_masks, 4, 0.5, STD, (14, 14), 3, (64, 64, 3), False,
        rng=np.random.default_rng(0))
    assert out_rois.shape == (4, 4) and class_ids.shape == (4,)
    assert bboxes.shape == (4, 3, 4) and masks.shape == (4, 14, 14, 3)
    np.testing.assert_array_equal(out_rois[0], rois[0])
    np.testing.assert_array_equal(class_ids, [2, 0, 0, 0])  # background repeated to fill the 4 slots
    np.testing.assert_allclose(bboxes[0], 0, atol=1e-6)
    np.testing.assert_allclose(masks[0, :, :, 2], 1.0)
    assert np.all(masks[1:] == 0) and np.all(masks[0, :, :, :2] == 0)
