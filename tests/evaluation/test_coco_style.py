"""Tests for mrcnn/evaluation/coco_style.py: agreement with pycocotools' COCOeval, and its matching rules."""

import numpy as np
import pytest

from mrcnn.evaluation import coco_io, coco_style, evaluate_predictions
from mrcnn.evaluation.records import check_records

STATS = ("AP", "AP50", "AP75", "AR1", "AR10", "AR100")


def _ours_and_pycocotools(gts, preds, names, image_ids):
    metrics = evaluate_predictions(gts, preds, names, image_ids=image_ids, semantic_metrics=False,
                                   object_metrics=False)
    gt_json = coco_io.to_coco_gt(gts, names, image_ids=image_ids)
    results = coco_io.to_coco_results(preds, image_ids)
    return metrics, gt_json, results


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_agrees_with_pycocotools_on_random_cases(ev, seed):
    gts, preds, names = ev.random_case(seed, num_classes=3, num_images=7, crowd=0.15)
    image_ids = [int(i) for i in np.random.default_rng(seed).permutation(np.arange(100, 107))]
    metrics, gt_json, results = _ours_and_pycocotools(gts, preds, names, image_ids)
    for iou_type in ("bbox", "segm"):
        ours = metrics["detection"]["variants"][f"coco_{iou_type}"]["stats"]
        theirs = coco_io.score_with_pycocotools(gt_json, results, iou_type)
        for key in STATS:
            assert ours[key] == pytest.approx(theirs[key], abs=1e-3), (iou_type, key)


def test_agrees_with_pycocotools_beyond_100_detections(ev):
    # More than maxDets=100 detections in one image and category: only the best 100 count, AR@1/@10 differ.
    gts, preds, names = ev.random_case(21, num_classes=1, num_images=3, max_dets=160, crowd=0.0)
    assert max(len(p["scores"]) for p in preds) > 100
    metrics, gt_json, results = _ours_and_pycocotools(gts, preds, names, [1, 2, 3])
    for iou_type in ("bbox", "segm"):
        ours = metrics["detection"]["variants"][f"coco_{iou_type}"]["stats"]
        theirs = coco_io.score_with_pycocotools(gt_json, results, iou_type)
        for key in STATS:
            assert ours[key] == pytest.approx(theirs[key], abs=1e-3), (iou_type, key)


def test_crowd_region_absorbs_detections(ev):
    a, crowd = ev.box_mask(2, 2, 8, 8), ev.box_mask(10, 10, 24, 30)
    gts = [ev.gt([a, crowd], [1, 1], iscrowd=[False, True])]
    # Two detections inside the crowd region (IoU with it = intersection / detection area = 1), scored above the
    # true positive: neither true nor false positives, so AP stays 1.
    preds = [ev.pred([ev.box_mask(12, 12, 16, 16), ev.box_mask(18, 20, 22, 26), a], [1, 1, 1], [0.99, 0.98, 0.5])]
    names = ["BG", "cell"]
    metrics, gt_json, results = _ours_and_pycocotools(gts, preds, names, [1])
    assert metrics["detection"]["variants"]["coco_segm"]["mAP"]["0.5"] == pytest.approx(1.0)
    assert coco_io.score_with_pycocotools(gt_json, results, "segm")["AP50"] == pytest.approx(1.0)
    # Matterport's matching has no crowd: the two are false positives there.
    assert metrics["detection"]["variants"]["allpoint"]["mAP"]["0.5"] == pytest.approx(1 / 3)
    assert metrics["meta"]["num_gt_instances"] == 1 and metrics["meta"]["num_crowd_regions"] == 1


def test_iou_helpers_match_hand_values():
    # Boxes [x, y, w, h]: 4x4 at the origin against 4x4 shifted by 2 in x: intersection 8, union 24.
    iou = coco_style.box_iou_xywh([[0, 0, 4, 4]], [[2, 0, 4, 4], [2, 0, 4, 4]], [False, True])
    np.testing.assert_allclose(iou, [[8 / 24, 8 / 16]])  # crowd: intersection over the detection's area
    d = np.zeros((4, 4, 1), bool)
    d[:2, :2] = True
    g = np.zeros((4, 4, 1), bool)
    g[:2, :] = True
    np.testing.assert_allclose(coco_style.mask_iou(d, g, [False]), [[0.5]])
    assert coco_style.mask_iou(np.zeros((4, 4, 0), bool), g, [False]).shape == (0, 1)


def test_match_image_prefers_later_gt_on_exact_tie_and_regular_over_crowd():
    # pycocotools keeps the last of equally good ground truth (>= comparison).
    matched, ignored = coco_style.match_image(np.array([[0.6, 0.6]]), np.array([False, False]),
                                              thresholds=[0.5])
    assert matched.tolist() == [[True]] and ignored.tolist() == [[False]]
    # A regular match stops the search before crowd ground truth (listed last).
    matched, ignored = coco_style.match_image(np.array([[0.6, 0.9]]), np.array([False, True]), thresholds=[0.5])
    assert matched.tolist() == [[True]] and ignored.tolist() == [[False]]


def test_bad_iou_type(perfect_case):
    gts, preds, names = perfect_case
    gts, preds = check_records(gts, preds, names)
    with pytest.raises(ValueError, match="iou_type"):
        coco_style.coco_evaluate(gts, preds, len(names), "keypoints")
