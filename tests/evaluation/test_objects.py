"""Tests for mrcnn/evaluation/objects.py: Hausdorff distance on known shapes and GlaS object metrics by hand."""

import numpy as np
import pytest

from mrcnn.evaluation import objects


def _region(shape, *boxes):
    m = np.zeros(shape, bool)
    for y1, x1, y2, x2 in boxes:
        m[y1:y2, x1:x2] = True
    return m


def test_hausdorff_two_squares():
    # 4x4 square and a 4x6 rectangle sharing its left part: the farthest rectangle pixel (column 5) is 2 px from
    # the square's last column (3); every square pixel is inside the rectangle.
    a = _region((8, 8), (0, 0, 4, 4))
    b = _region((8, 8), (0, 0, 4, 6))
    assert objects.hausdorff_distance(a, b) == 2.0
    assert objects.hausdorff_distance(b, a) == 2.0


def test_hausdorff_two_points_and_disjoint_squares():
    a = _region((10, 10), (0, 0, 1, 1))
    b = _region((10, 10), (3, 4, 4, 5))
    assert objects.hausdorff_distance(a, b) == 5.0  # the 3-4-5 triangle
    # 2x2 squares at rows 0-1 / cols 0-1 and rows 0-1 / cols 6-7: every pixel is 6 px from its counterpart.
    c = _region((10, 10), (0, 0, 2, 2))
    d = _region((10, 10), (0, 6, 2, 8))
    assert objects.hausdorff_distance(c, d) == 6.0


def test_hausdorff_errors():
    with pytest.raises(ValueError, match="non-empty"):
        objects.hausdorff_distance(np.zeros((3, 3), bool), np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="one shape"):
        objects.hausdorff_distance(np.ones((3, 3), bool), np.ones((4, 4), bool))


def test_object_metrics_hand_computed():
    # G1 = 2x2 (4 px) segmented exactly; G2 = 3x4 (12 px) missed.
    gt_map = np.zeros((10, 10), np.int32)
    gt_map[0:2, 0:2] = 1
    gt_map[5:8, 5:9] = 2
    pred_map = np.zeros((10, 10), np.int32)
    pred_map[0:2, 0:2] = 1
    s = objects.image_object_scores(gt_map, pred_map)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1)
    assert s["f1"] == pytest.approx(2 / 3)
    # Dice: 1/2 [4/16 * 1 + 12/16 * 0 + 4/4 * 1] = 0.625; IoU the same here.
    assert s["dice"] == pytest.approx(0.625) and s["iou"] == pytest.approx(0.625)
    # Hausdorff: G1-S1 0; G2 has no overlapping S, so its partner is S1 (the nearest). H(G2, S1): G2's corner
    # (7, 8) is |(7, 8) - (1, 1)| from S1, farther than S1's corner (0, 0) is from G2's (5, 5).
    h_g2 = np.hypot(6, 7)
    assert s["hausdorff"] == pytest.approx(0.5 * (12 / 16 * h_g2))


def test_fifty_percent_rule():
    gt_map = np.zeros((4, 10), np.int32)
    gt_map[:, :8] = 1  # 32 px
    half = np.zeros((4, 10), np.int32)
    half[:, 4:10] = 1  # covers 16 px = 50 % of G: a true positive
    assert objects.image_object_scores(gt_map, half)["tp"] == 1
    less = np.zeros((4, 10), np.int32)
    less[:, 5:10] = 1  # 12 px of G: false positive, and G is a false negative
    s = objects.image_object_scores(gt_map, less)
    assert (s["tp"], s["fp"], s["fn"]) == (0, 1, 1)


def test_instance_map_and_one_sided_images(ev):
    masks = ev.stack([ev.box_mask(0, 0, 5, 5), ev.box_mask(0, 0, 5, 5), ev.box_mask(10, 10, 12, 12)])
    m = objects.instance_map(masks, np.array([0.9, 0.5, 0.7]))
    assert sorted(np.unique(m).tolist()) == [0, 1, 2]  # the covered duplicate vanished, ids renumbered
    assert objects.instance_map(np.ones((2, 2, 1), bool)).tolist() == [[1, 1], [1, 1]]
    gts = [ev.gt([ev.box_mask(0, 0, 5, 5)], [1]), ev.gt([], [])]
    preds = [ev.pred([], [], []), ev.pred([], [], [])]
    o = objects.object_metrics(*_normalised(gts, preds))
    assert o["dice"] == 0.0 and o["hausdorff"] is None and o["images_without_hausdorff"] == 2
    assert (o["tp"], o["fp"], o["fn"]) == (0, 0, 1) and o["f1"] == 0.0


def _normalised(gts, preds):
    from mrcnn.evaluation.records import check_records
    return check_records(gts, preds, ["BG", "cell"])
