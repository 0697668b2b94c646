"""Tests of mrcnn/utils/ through the names mrcnn.utils exports: box math, resizing, masks, anchors, AP and the
Dataset base class."""

import logging
import os
import re
import math
import random

import numpy as np
import pytest

from mrcnn import utils


def masks_from_boxes(boxes, shape=(32, 32)):
    """[N, (y1, x1, y2, x2)] -> bool [H, W, N] filled rectangles."""
    masks = np.zeros(tuple(shape) + (len(boxes),), dtype=bool)
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        masks[y1:y2, x1:x2, i] = True
    return masks


############################################################
#  Boxes
############################################################

def test_compute_iou_hand_cases():
    box = np.array([0, 0, 10, 10])
    boxes = np.array([
        [20, 20, 30, 30],  # disjoint
        [2, 2, 7, 7],      # nested: 25 / 100
        [0, 0, 10, 10],    # identical
        [0, 10, 10, 20],   # touching edge
        [5, 5, 15, 15],    # 25 / (100 + 100 - 25)
    ])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iou = utils.compute_iou(box, boxes, 100.0, areas)
    np.testing.assert_allclose(iou, [0.0, 0.25, 1.0, 0.0, 25 / 175])


def test_compute_iou_degenerate_boxes_give_zero_not_nan():
    box = np.array([3, 3, 3, 3])
    boxes = np.array([[3, 3, 3, 3]])
    with np.errstate(all="raise"):
        iou = utils.compute_iou(box, boxes, 0.0, np.array([0.0]))
    np.testing.assert_array_equal(iou, [0.0])


def test_compute_overlaps_matrix():
    boxes1 = np.array([[0, 0, 10, 10], [0, 0, 20, 20]])
    boxes2 = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [30, 30, 40, 40], [0, 10, 10, 20]])
    overlaps = utils.compute_overlaps(boxes1, boxes2)
    expected = np.array([
        [1.0, 25 / 175, 0.0, 0.0],
        [100 / 400, 100 / 400, 0.0, 100 / 400],
    ])
    assert overlaps.shape == (2, 4)
    np.testing.assert_allclose(overlaps, expected)


def test_compute_overlaps_matches_compute_iou_on_random_boxes():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 50, size=(7, 2, 2))
    boxes1 = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    corners = rng.uniform(0, 50, size=(5, 2, 2))
    boxes2 = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    loop = np.stack([utils.compute_iou(b, boxes1, a, area1) for b, a in zip(boxes2, area2)], axis=1)
    np.testing.assert_allclose(utils.compute_overlaps(boxes1, boxes2), loop)


def test_compute_overlaps_empty_and_bad_shape():
    assert utils.compute_overlaps(np.zeros((0, 4)), np.array([[0, 0, 1, 1]])).shape == (0, 1)
    with pytest.raises(ValueError, match="boxes2"):
        utils.compute_overlaps(np.zeros((1, 4)), np.zeros((3,)))


def test_compute_overlaps_masks():
    masks1 = masks_from_boxes([[0, 0, 4, 4], [10, 10, 12, 12]], shape=(16, 16))
    masks2 = masks_from_boxes([[0, 0, 4, 2], [0, 0, 4, 4]], shape=(16, 16))
    overlaps = utils.compute_overlaps_masks(masks1, masks2)
    np.testing.assert_allclose(overlaps, [[0.5, 1.0], [0.0, 0.0]])
    empty = np.zeros((16, 16, 0), dtype=bool)
    np.testing.assert_array_equal(utils.compute_overlaps_masks(empty, masks2), np.zeros((0, 2)))
    np.testing.assert_array_equal(utils.compute_overlaps_masks(masks1, empty), np.zeros((2, 0)))
    np.testing.assert_array_equal(utils.compute_overlaps_masks(np.empty([0, 0, 0]), masks2), np.zeros((0, 2)))


def test_non_max_suppression_hand_cases():
    boxes = np.array([
        [0, 0, 10, 10],
        [1, 1, 11, 11],    # IoU with box 0 = 81 / 119 = 0.68
        [20, 20, 30, 30],  # disjoint
        [0, 0, 10, 5],     # IoU with box 0 = 0.5
    ])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    np.testing.assert_array_equal(utils.non_max_suppression(boxes, scores, 0.5), [0, 2, 3])
    np.testing.assert_array_equal(utils.non_max_suppression(boxes, scores, 0.49), [0, 2])
    np.testing.assert_array_equal(utils.non_max_suppression(boxes, scores, 0.7), [0, 1, 2, 3])
    # The best-scoring box wins, wherever it is: box 1 removes box 0 (0.68) and box 3 (36 / 114 = 0.32).
    kept = utils.non_max_suppression(boxes, np.array([0.1, 0.8, 0.7, 0.6]), 0.3)
    np.testing.assert_array_equal(kept, [1, 2])
    kept = utils.non_max_suppression(boxes, np.array([0.1, 0.8, 0.7, 0.6]), 0.35)
    np.testing.assert_array_equal(kept, [1, 2, 3])
    assert kept.dtype == np.int32


def test_non_max_suppression_empty_and_mismatch():
    kept = utils.non_max_suppression(np.zeros((0, 4)), np.zeros((0,)), 0.5)
    assert kept.shape == (0,) and kept.dtype == np.int32
    with pytest.raises(ValueError, match="scores"):
        utils.non_max_suppression(np.zeros((2, 4)), np.zeros((3,)), 0.5)


def test_box_refinement_hand_case():
    deltas = utils.box_refinement(np.array([[0, 0, 10, 20]]), np.array([[5, 10, 25, 30]]))
    # box: centre (5, 10), size (10, 20); gt: centre (15, 20), size (20, 20)
    np.testing.assert_allclose(deltas, [[1.0, 0.5, math.log(2.0), 0.0]], rtol=1e-6)
    assert deltas.dtype == np.float32


def test_box_refinement_apply_box_deltas_round_trip():
    rng = np.random.default_rng(1)
    y1x1 = rng.uniform(0, 100, size=(50, 2))
    boxes = np.concatenate([y1x1, y1x1 + rng.uniform(1, 60, size=(50, 2))], axis=1)
    y1x1 = rng.uniform(0, 100, size=(50, 2))
    gt = np.concatenate([y1x1, y1x1 + rng.uniform(1, 60, size=(50, 2))], axis=1)
    deltas = utils.box_refinement(boxes, gt)
    restored = utils.apply_box_deltas(boxes, deltas)
    assert restored.dtype == np.float32
    np.testing.assert_allclose(restored, gt, atol=1e-3)


def test_apply_box_deltas_zero_deltas_is_identity():
    boxes = np.array([[2, 3, 12, 9]])
    np.testing.assert_allclose(utils.apply_box_deltas(boxes, np.zeros((1, 4))), boxes)


def test_norm_denorm_boxes():
    boxes = np.array([[0, 0, 10, 20], [3, 4, 7, 11], [0, 0, 1, 1]])
    shape = (10, 20)
    normed = utils.norm_boxes(boxes, shape)
    assert normed.dtype == np.float32
    np.testing.assert_allclose(normed[0], [0, 0, 1, 1])  # whole image -> unit box
    np.testing.assert_allclose(normed[1], [3 / 9, 4 / 19, 6 / 9, 10 / 19], rtol=1e-6)
    back = utils.denorm_boxes(normed, shape)
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, boxes)
    with pytest.raises(ValueError, match="shape"):
        utils.norm_boxes(boxes, (10, 20, 3))
    with pytest.raises(ValueError, match="shape"):
        utils.denorm_boxes(normed, (1, 20))


def test_extract_bboxes_hand_drawn():
    mask = np.zeros((8, 10, 3), dtype=bool)
    mask[1:4, 2:5, 0] = True        # rectangle
    mask[6, 9, 1] = True            # single pixel in the corner
    mask[0, 0, 1] = True            # ... and another far away: box spans both
    # mask 2 is empty
    boxes = utils.extract_bboxes(mask)
    assert boxes.dtype == np.int32
    np.testing.assert_array_equal(boxes, [[1, 2, 4, 5], [0, 0, 7, 10], [0, 0, 0, 0]])
    assert utils.extract_bboxes(np.zeros((4, 4, 0))).shape == (0, 4)
    with pytest.raises(ValueError, match="mask"):
        utils.extract_bboxes(np.zeros((4, 4)))


############################################################
#  Anchors
############################################################

def test_generate_anchors_literal_tiny_grid():
    anchors = utils.generate_anchors(8, [0.5, 1, 2], [2, 2], 4, 1)
    s = math.sqrt(2)
    expected = []
    for cy, cx in [(0, 0), (0, 4), (4, 0), (4, 4)]:       # row by row
        expected.append([cy - 4 * s, cx - 2 * s, cy + 4 * s, cx + 2 * s])  # ratio 0.5: tall
        expected.append([cy - 4, cx - 4, cy + 4, cx + 4])                  # ratio 1
        expected.append([cy - 2 * s, cx - 4 * s, cy + 2 * s, cx + 4 * s])  # ratio 2: wide
    np.testing.assert_allclose(anchors, expected, atol=1e-9)


def test_generate_anchors_anchor_stride():
    anchors = utils.generate_anchors(4, [1], [4, 3], 8, 2)
    # rows 0, 2 and cols 0, 2 -> centres (0, 0), (0, 16), (16, 0), (16, 16)
    np.testing.assert_allclose(anchors, [[-2, -2, 2, 2], [-2, 14, 2, 18], [14, -2, 18, 2], [14, 14, 18, 18]])


def test_generate_pyramid_anchors_count_and_order():
    anchors = utils.generate_pyramid_anchors((32, 64), [0.5, 1, 2], [[4, 4], [2, 2]], [4, 8], 1)
    assert anchors.shape == (3 * 16 + 3 * 4, 4)
    sizes = anchors[:, 2] - anchors[:, 0]
    np.testing.assert_allclose(sizes[:48].max(), 32 * math.sqrt(2))
    np.testing.assert_allclose(sizes[48:].min(), 64 / math.sqrt(2))
    assert utils.generate_pyramid_anchors((32, 64), [1], [[4, 4], [2, 2]], [4, 8], 2).shape == (5, 4)
    with pytest.raises(ValueError, match="feature_shapes"):
        utils.generate_pyramid_anchors((32, 64), [1], [[4, 4]], [4, 8], 1)


############################################################
#  Resizing
############################################################

def test_resize_image_none():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    out, window, scale, padding, crop = utils.resize_image(image, mode="none")
    assert out is image
    assert window == (0, 0, 2, 3) and scale == 1 and crop is None
    assert padding == [(0, 0), (0, 0), (0, 0)]


def test_resize_image_square_scales_and_pads():
    image = np.full((30, 60, 3), 200, dtype=np.uint8)
    out, window, scale, padding, crop = utils.resize_image(image, min_dim=40, max_dim=64, mode="square")
    # min_dim asks 4/3, which would make the long side 80 > 64, so scale = 64 / 60.
    assert scale == pytest.approx(64 / 60)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert padding == [(16, 16), (0, 0), (0, 0)]
    assert window == (16, 0, 48, 64)
    assert crop is None
    assert np.all(out[:16] == 0) and np.all(out[48:] == 0)
    assert np.all(out[16:48] == 200)


def test_resize_image_square_pads_only():
    image = np.ones((20, 10, 3), dtype=np.float32)
    out, window, scale, padding, _ = utils.resize_image(image, max_dim=32, mode="square")
    assert scale == 1 and out.dtype == np.float32 and out.shape == (32, 32, 3)
    assert padding == [(6, 6), (11, 11), (0, 0)]
    assert window == (6, 11, 26, 21)
    assert out.sum() == 20 * 10 * 3


def test_resize_image_pad64():
    image = np.full((100, 70, 3), 9, dtype=np.uint8)
    out, window, scale, padding, crop = utils.resize_image(image, min_dim=128, mode="pad64")
    assert scale == pytest.approx(128 / 70)
    # resized to (183, 128), then padded to (192, 128)
    assert out.shape == (192, 128, 3)
    assert out.shape[0] % 64 == 0 and out.shape[1] % 64 == 0
    assert padding == [(4, 5), (0, 0), (0, 0)]
    assert window == (4, 0, 187, 128) and crop is None
    out, window, scale, padding, _ = utils.resize_image(np.zeros((64, 65, 3), np.uint8), mode="pad64")
    assert scale == 1 and out.shape == (64, 128, 3) and padding == [(0, 0), (31, 32), (0, 0)]
    with pytest.raises(ValueError, match="multiple of 64"):
        utils.resize_image(image, min_dim=100, mode="pad64")


def test_resize_image_crop():
    image = np.arange(50 * 80 * 3, dtype=np.int32).reshape(50, 80, 3)
    random.seed(3)
    out, window, scale, padding, crop = utils.resize_image(image, min_dim=32, mode="crop")
    y, x, h, w = crop
    assert (h, w) == (32, 32) and 0 <= y <= 18 and 0 <= x <= 48
    assert scale == 1 and window == (0, 0, 32, 32)
    np.testing.assert_array_equal(out, image[y:y + 32, x:x + 32])
    random.seed(3)
    assert utils.resize_image(image, min_dim=32, mode="crop")[4] == crop
    # A small image is scaled up first: 20x40 -> 32x64, so the crop starts on row 0.
    small = np.ones((20, 40, 3), np.uint8)
    out, window, scale, padding, crop = utils.resize_image(small, min_dim=32, mode="crop")
    assert scale == pytest.approx(1.6) and out.shape == (32, 32, 3) and crop[0] == 0


def test_resize_image_bad_arguments():
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="mode"):
        utils.resize_image(image, max_dim=16, mode="fit")
    with pytest.raises(ValueError, match="max_dim"):
        utils.resize_image(image, mode="square")
    with pytest.raises(ValueError, match="min_dim"):
        utils.resize_image(image, mode="crop")
    with pytest.raises(ValueError, match="image"):
        utils.resize_image(np.zeros((10, 10)), max_dim=16)


def test_resize_wrapper_accepts_bool():
    out = utils.resize(np.ones((2, 2), dtype=bool), (4, 4))
    assert out.shape == (4, 4) and np.all(out == 1.0)


@pytest.mark.parametrize("mode, kwargs", [
    ("square", {"min_dim": 40, "max_dim": 64}),
    ("square", {"max_dim": 64}),
    ("pad64", {"min_dim": 64}),
    ("crop", {"min_dim": 32}),
])
def test_resize_mask_consistent_with_resize_image(mode, kwargs):
    image = np.zeros((30, 50, 3), dtype=np.uint8)
    image[5:25, 10:40] = 255
    mask = np.zeros((30, 50, 1), dtype=bool)
    mask[5:25, 10:40, 0] = True
    random.seed(0)
    out, window, scale, padding, crop = utils.resize_image(image, mode=mode, **kwargs)
    out_mask = utils.resize_mask(mask, scale, padding, crop)
    assert out_mask.shape == out.shape[:2] + (1,)
    assert out_mask.dtype == bool
    box_from_mask = utils.extract_bboxes(out_mask)[0]
    box_from_image = utils.extract_bboxes(out[..., :1] > 127)[0]
    assert np.abs(box_from_mask - box_from_image).max() <= 1
    if crop is None:  # nothing of the mask lies in the padding
        wy1, wx1, wy2, wx2 = window
        assert out_mask.sum() == out_mask[wy1:wy2, wx1:wx2].sum()


def test_resize_mask_no_instances():
    out = utils.resize_mask(np.zeros((10, 20, 0), bool), 2.0, [(1, 1), (0, 0), (0, 0)])
    assert out.shape == (22, 40, 0)


def test_minimize_expand_mask_round_trip():
    mask = np.zeros((32, 32, 2), dtype=bool)
    mask[4:20, 6:26, 0] = True
    mask[10:13, 1:31, 1] = True
    bbox = utils.extract_bboxes(mask)
    mini = utils.minimize_mask(bbox, mask, (8, 8))
    assert mini.shape == (8, 8, 2) and mini.dtype == bool and mini.all()
    np.testing.assert_array_equal(utils.expand_mask(bbox, mini, (32, 32, 3)), mask)
    with pytest.raises(ValueError, match="zero area"):
        utils.minimize_mask(np.array([[3, 3, 3, 9]]), mask[..., :1], (8, 8))


def test_unmold_mask():
    small = np.zeros((4, 4), dtype=np.float32)
    small[:, :2] = 1.0  # left half on
    full = utils.unmold_mask(small, (2, 3, 10, 11), (12, 14, 3))
    expected = np.zeros((12, 14), dtype=bool)
    expected[2:10, 3:7] = True
    assert full.dtype == bool
    np.testing.assert_array_equal(full, expected)
    # A box that sticks out of the image is cut at the border.
    full = utils.unmold_mask(np.ones((4, 4)), (8, 10, 16, 18), (12, 14, 3))
    expected = np.zeros((12, 14), dtype=bool)
    expected[8:, 10:] = True
    np.testing.assert_array_equal(full, expected)
    assert not utils.unmold_mask(np.ones((4, 4)), (5, 5, 5, 9), (12, 14)).any()


def test_mold_mask_is_inverse_of_unmold_mask():
    full = np.zeros((20, 20), dtype=bool)
    full[4:12, 2:18] = True
    molded = utils.mold_mask(full, (4, 2, 12, 18), (6, 6))
    assert molded.shape == (6, 6) and molded.dtype == np.float32
    np.testing.assert_allclose(molded, 1.0)
    np.testing.assert_array_equal(utils.unmold_mask(molded, (4, 2, 12, 18), (20, 20)), full)


############################################################
#  Evaluation
############################################################

def test_trim_zeros():
    x = np.array([[1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 0, 5], [0, 0, 0, 0]])
    np.testing.assert_array_equal(utils.trim_zeros(x), [[1, 2, 3, 4], [0, 0, 0, 5]])
    assert utils.trim_zeros(np.zeros((3, 4))).shape == (0, 4)
    with pytest.raises(ValueError, match="2-D"):
        utils.trim_zeros(np.zeros(4))


GT_BOXES = np.array([[2, 2, 10, 10], [16, 16, 28, 28]])


def ap(pred_boxes, pred_class_ids, pred_scores, gt_boxes=GT_BOXES, gt_class_ids=(1, 1), **kwargs):
    gt_boxes = np.asarray(gt_boxes).reshape(-1, 4)
    pred_boxes = np.asarray(pred_boxes).reshape(-1, 4)
    return utils.compute_ap(gt_boxes, np.array(gt_class_ids, dtype=np.int32), masks_from_boxes(gt_boxes),
                            pred_boxes, np.array(pred_class_ids, dtype=np.int32),
                            np.array(pred_scores, dtype=np.float32), masks_from_boxes(pred_boxes), **kwargs)


def test_compute_ap_perfect():
    mAP, precisions, recalls, overlaps = ap(GT_BOXES[::-1], [1, 1], [0.9, 0.8])
    assert mAP == pytest.approx(1.0)
    np.testing.assert_allclose(recalls, [0, 0.5, 1, 1])
    np.testing.assert_allclose(overlaps, [[0, 1], [1, 0]])


def test_compute_ap_false_positive():
    fp = [20, 0, 30, 8]
    # A false positive ranked last costs nothing at all-point interpolation ...
    assert ap([GT_BOXES[0], GT_BOXES[1], fp], [1, 1, 1], [0.9, 0.8, 0.1])[0] == pytest.approx(1.0)
    # ... ranked first: raw precisions 0, 1/2, 2/3 at recalls 0, 1/2, 1; the envelope lifts every
    # precision to the best one at a higher recall, 2/3, so AP = 2/3.
    mAP, precisions, recalls, _ = ap([fp, GT_BOXES[0], GT_BOXES[1]], [1, 1, 1], [0.9, 0.8, 0.7])
    assert mAP == pytest.approx(2 / 3)
    np.testing.assert_allclose(precisions, [2 / 3, 2 / 3, 2 / 3, 2 / 3, 0])
    np.testing.assert_allclose(recalls, [0, 0, 0.5, 1, 1])


def test_compute_ap_miss():
    assert ap([GT_BOXES[1]], [1], [0.9])[0] == pytest.approx(0.5)


def test_compute_ap_wrong_class():
    # Wrong class first: precision 1/2 at recall 1/2, and GT 1 is never found: AP = 0.5 * 0.5.
    assert ap(GT_BOXES, [2, 1], [0.9, 0.8])[0] == pytest.approx(0.25)
    # Right class first: precision 1 at recall 1/2.
    assert ap(GT_BOXES, [1, 2], [0.9, 0.8])[0] == pytest.approx(0.5)
    assert ap(GT_BOXES, [2, 2], [0.9, 0.8])[0] == 0.0


def test_compute_ap_iou_threshold():
    shifted = [[2, 2, 10, 14]]  # IoU 64 / 96 = 0.667 with GT 0
    assert ap(shifted, [1], [0.9], gt_boxes=GT_BOXES[:1], gt_class_ids=[1])[0] == pytest.approx(1.0)
    assert ap(shifted, [1], [0.9], gt_boxes=GT_BOXES[:1], gt_class_ids=[1], iou_threshold=0.7)[0] == 0.0


def test_compute_ap_empty_predictions():
    mAP, precisions, recalls, overlaps = ap(np.zeros((0, 4), int), [], [])
    assert mAP == 0.0 and overlaps.shape == (0, 2)


def test_compute_ap_empty_ground_truth_gives_zero_without_warnings():
    with np.errstate(all="raise"):
        mAP, precisions, recalls, overlaps = ap(GT_BOXES, [1, 1], [0.9, 0.8],
                                                gt_boxes=np.zeros((0, 4), int), gt_class_ids=[])
    assert mAP == 0.0 and not np.isnan(recalls).any() and overlaps.shape == (2, 0)


def test_compute_matches():
    gt_boxes = np.array([[2, 2, 10, 10], [16, 16, 28, 28], [0, 0, 0, 0]])  # last row is padding
    gt_masks = masks_from_boxes(gt_boxes)
    pred_boxes = np.array([[16, 16, 28, 28], [2, 2, 10, 10], [2, 2, 10, 10]])
    pred_scores = np.array([0.5, 0.9, 0.7])
    gt_match, pred_match, overlaps = utils.compute_matches(
        gt_boxes, np.array([1, 2, 0]), gt_masks,
        pred_boxes, np.array([2, 1, 1]), pred_scores, masks_from_boxes(pred_boxes))
    # Score order: pred 1 (0.9), pred 2 (0.7), pred 0 (0.5). GT 0 is taken by the first; the duplicate
    # does not match it again (Matterport's `gt_match[j] > 0` test let it).
    np.testing.assert_array_equal(pred_match, [0, -1, 1])
    np.testing.assert_array_equal(gt_match, [0, 2])
    assert overlaps.shape == (3, 2)
    np.testing.assert_allclose(overlaps, [[1, 0], [1, 0], [0, 1]])


def test_compute_ap_range(caplog):
    shifted = [[2, 2, 10, 14]]  # IoU 0.667: matched at 0.50, 0.55, 0.60, 0.65 only
    args = (GT_BOXES[:1], np.array([1]), masks_from_boxes(GT_BOXES[:1]),
            np.array(shifted), np.array([1]), np.array([0.9]), masks_from_boxes(shifted))
    with caplog.at_level(logging.INFO, logger="mrcnn.utils"):
        mean_ap = utils.compute_ap_range(*args)
    assert mean_ap == pytest.approx(4 / 10)
    assert "AP @0.50-0.95" in caplog.text
    assert utils.compute_ap_range(*args, iou_thresholds=[0.5, 0.7], verbose=0) == pytest.approx(0.5)


def test_compute_recall():
    pred = np.array([[2, 2, 10, 10], [2, 2, 10, 11], [30, 30, 31, 31]])
    recall, positive_ids = utils.compute_recall(pred, GT_BOXES, 0.5)
    # Two predictions hit GT 0, none hits GT 1.
    assert recall == pytest.approx(0.5)
    np.testing.assert_array_equal(positive_ids, [0, 1])
    assert utils.compute_recall(np.zeros((0, 4)), GT_BOXES, 0.5)[0] == 0.0
    assert utils.compute_recall(pred, np.zeros((0, 4)), 0.5)[0] == 0.0


def test_download_trained_weights_offline_names_the_url_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("MRCNN_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=re.escape(utils.COCO_MODEL_URL)):
        utils.download_trained_weights(str(tmp_path / "mask_rcnn_coco.h5"))
    assert not (tmp_path / "mask_rcnn_coco.h5").exists()


def test_download_trained_weights_copies_the_cached_file(tmp_path, monkeypatch):
    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)
    (cache / "mask_rcnn_coco.h5").write_bytes(b"weights")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    target = str(tmp_path / "here" / "coco.h5")
    os.makedirs(os.path.dirname(target))
    assert utils.download_trained_weights(target) == target
    assert open(target, "rb").read() == b"weights"
