"""Tests for mrcnn/evaluation/ap.py: the three interpolations on hand-computed curves."""

import numpy as np
import pytest

from mrcnn import utils
from mrcnn.evaluation import ap


def test_precision_recall_counts():
    precisions, recalls = ap.precision_recall([True, False, True, False], num_gt=4)
    np.testing.assert_allclose(precisions, [1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(recalls, [0.25, 0.25, 0.5, 0.5])
    # COCO's ignored detections count as neither true nor false positives.
    precisions, _ = ap.precision_recall([True, False, False], 2, false_positives=[False, False, True])
    np.testing.assert_allclose(precisions, [1, 1, 0.5])
    with pytest.raises(ValueError, match="num_gt"):
        ap.precision_recall([True], 0)


def test_interpolations_hand_computed():
    # TP, FP, TP with 3 ground truth: precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3.
    precisions, recalls = ap.precision_recall([True, False, True], 3)
    # All-point: envelope 1 up to 1/3, then 2/3 up to 2/3.
    assert ap.ap_all_point(precisions, recalls) == pytest.approx(1 / 3 + (1 / 3) * (2 / 3))
    # 11-point: r = 0, .1, .2, .3 -> 1; r = .4, .5, .6 -> 2/3; r = .7 ... 1 -> 0.
    assert ap.ap_11_point(precisions, recalls) == pytest.approx((4 * 1 + 3 * 2 / 3) / 11)
    # 101-point: r = 0 ... .33 -> 1 (34 points), .34 ... .66 -> 2/3 (33 points), the rest 0.
    assert ap.ap_101_point(precisions, recalls) == pytest.approx((34 + 33 * 2 / 3) / 101)


def test_eleven_point_reaches_exact_tenths():
    # Recall 3/10 must reach the point 0.3 (linspace's 0.30000000000000004 would miss it).
    precisions, recalls = ap.precision_recall([True] * 3, 10)
    assert ap.ap_11_point(precisions, recalls) == pytest.approx(4 / 11)


def test_all_point_equals_matterport_compute_ap_formula():
    # Same curve through mrcnn.utils.compute_ap: one image, 3 GT of class 1, predictions TP, FP, TP.
    masks = np.zeros((10, 10, 3), dtype=bool)
    for i in range(3):
        masks[i * 3:i * 3 + 2, 0:5, i] = True
    fp = np.zeros((10, 10, 1), dtype=bool)
    fp[:, 8:, 0] = True
    pred_masks = np.concatenate([masks[..., :1], fp, masks[..., 1:2]], axis=-1)
    value = utils.compute_ap(utils.extract_bboxes(masks), np.ones(3), masks, utils.extract_bboxes(pred_masks),
                             np.ones(3), np.array([0.9, 0.8, 0.7]), pred_masks)[0]
    precisions, recalls = ap.precision_recall([True, False, True], 3)
    assert ap.ap_all_point(precisions, recalls) == pytest.approx(value)


def test_empty_curve_and_bad_name():
    for name in ap.INTERPOLATIONS:
        assert ap.average_precision([], [], name) == 0.0
    with pytest.raises(ValueError, match="interpolation"):
        ap.average_precision([1.0], [1.0], "13point")
