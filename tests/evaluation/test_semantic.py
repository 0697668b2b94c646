"""Tests for mrcnn/evaluation/semantic.py: label maps, pixel metrics and the BF score by hand."""

import numpy as np
import pytest

from mrcnn.evaluation import evaluate_predictions, semantic


def _half_and_three_quarters(ev):
    """4x4 image; truth: class 1 in the left 2 columns; prediction: class 1 in the left 3 columns."""
    gts = [ev.gt([ev.box_mask(0, 0, 4, 2, shape=(4, 4))], [1], shape=(4, 4))]
    preds = [ev.pred([ev.box_mask(0, 0, 4, 3, shape=(4, 4))], [1], [0.9], shape=(4, 4))]
    return gts, preds


def test_pixel_metrics_hand_computed(ev):
    gts, preds = _half_and_three_quarters(ev)
    s = evaluate_predictions(gts, preds, ["BG", "cell"], object_metrics=False)["semantic"]
    assert s["confusion_matrix"] == [[4, 4], [0, 8]]
    assert s["global_accuracy"] == pytest.approx(12 / 16)
    assert s["per_class"]["BG"]["accuracy"] == 0.5 and s["per_class"]["cell"]["accuracy"] == 1.0
    assert s["mean_accuracy"] == pytest.approx(0.75)
    assert s["per_class"]["BG"]["iou"] == pytest.approx(4 / 8)
    assert s["per_class"]["cell"]["iou"] == pytest.approx(8 / 12)
    assert s["mean_iou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert s["weighted_iou"] == pytest.approx((8 * 0.5 + 8 * 2 / 3) / 16)
    # Default tolerance: 0.75 % of the 5.66 px diagonal, so only coinciding contours count; they are 1 px apart.
    assert s["mean_bf_score"] == 0.0


def test_bf_score_with_a_wider_tolerance(ev):
    gts, preds = _half_and_three_quarters(ev)
    s = evaluate_predictions(gts, preds, ["BG", "cell"], object_metrics=False, bf_tolerance=0.2)["semantic"]
    assert s["mean_bf_score"] == pytest.approx(1.0)  # 1 px apart, tolerance 1.13 px
    assert s["bf_tolerance"] == {"fraction_of_diagonal": 0.2}


def test_bf_score_partial_and_edge_cases():
    gt = np.zeros((10, 10), bool)
    gt[2:8, 2:8] = True
    pred = np.zeros((10, 10), bool)
    pred[2:8, 2:6] = True
    # Truth contour: 20 px; prediction contour: 16 px. Within 0.5 px: shared top/bottom/left parts.
    gb, pb = semantic.boundary(gt), semantic.boundary(pred)
    assert gb.sum() == 20 and pb.sum() == 16
    shared = (gb & pb).sum()  # left column 6, top and bottom rows columns 2..5: 6 + 2 * 3
    assert shared == 12
    p, r = shared / pb.sum(), shared / gb.sum()
    assert semantic.bf_score(gt, pred, 0.5) == pytest.approx(2 * p * r / (p + r))
    assert np.isnan(semantic.bf_score(np.zeros((4, 4), bool), np.zeros((4, 4), bool), 1.0))
    assert semantic.bf_score(gt, np.zeros((10, 10), bool), 1.0) == 0.0
    full = np.ones((4, 4), bool)  # fills the image: no contour on either side
    assert semantic.bf_score(full, full, 0.1) == 1.0


def test_higher_score_wins_overlaps():
    masks = np.zeros((3, 3, 2), bool)
    masks[:, :2, 0] = True
    masks[:, 1:, 1] = True
    label = semantic.class_label_map(masks, np.array([1, 2]), np.array([0.9, 0.5]))
    assert label[:, 1].tolist() == [1, 1, 1] and label[:, 2].tolist() == [2, 2, 2]
    label = semantic.class_label_map(masks, np.array([1, 2]))  # no scores: later on top
    assert label[:, 1].tolist() == [2, 2, 2]


def test_errors():
    with pytest.raises(ValueError, match="bf_tolerance"):
        semantic.semantic_metrics([], [], ["BG", "x"], bf_tolerance=2)
    with pytest.raises(ValueError, match="same shape"):
        semantic.pixel_confusion(np.zeros((2, 2)), np.zeros((3, 3)), 2)
