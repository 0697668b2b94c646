"""Tests for the detection figures (mrcnn/evaluation/matterport.py and coco_style.py through evaluate_predictions):
hand-built cases with known answers, and agreement with mrcnn.utils.compute_ap (Matterport's definition)."""

import numpy as np
import pytest

from mrcnn import utils
from mrcnn.evaluation import evaluate_predictions

MASK_VARIANTS = ("11point", "allpoint", "101point", "matterport", "coco_segm", "coco_bbox")


def _detect(gts, preds, names):
    return evaluate_predictions(gts, preds, names, semantic_metrics=False, object_metrics=False)["detection"]


def _map(detection, threshold="0.5"):
    return {name: detection["variants"][name]["mAP"][threshold] for name in MASK_VARIANTS}


def test_perfect(perfect_case):
    detection = _detect(*perfect_case)
    for name, block in detection["variants"].items():
        for threshold, value in block["mAP"].items():
            assert value == pytest.approx(1.0), (name, threshold)
        assert block["mAR"] == pytest.approx(1.0) and block["F1"] == pytest.approx(1.0), name
    assert detection["primary"] == "11point"
    assert detection["variants"]["11point"]["per_class_AP"]["0.5"] == {"round": 1.0, "square": 1.0}


def test_one_false_positive_scored_above_the_true_positive(ev):
    a = ev.box_mask(2, 2, 10, 10)
    gts = [ev.gt([a], [1])]
    preds = [ev.pred([ev.box_mask(14, 20, 20, 28), a], [1, 1], [0.95, 0.9])]
    detection = _detect(gts, preds, ["BG", "cell"])
    # Precision 0 then 1/2 at recall 0 then 1: every interpolation gives 0.5.
    for name, value in _map(detection).items():
        assert value == pytest.approx(0.5), name
    block = detection["variants"]["11point"]
    assert block["mAR"] == 1.0 and block["F1"] == pytest.approx(2 * 0.5 / 1.5)
    # Below the true positive the false positive costs nothing.
    preds = [ev.pred([ev.box_mask(14, 20, 20, 28), a], [1, 1], [0.5, 0.9])]
    assert all(v == pytest.approx(1.0) for v in _map(_detect(gts, preds, ["BG", "cell"])).values())


def test_one_miss(ev):
    a, b = ev.box_mask(2, 2, 10, 10), ev.box_mask(12, 14, 20, 26)
    gts = [ev.gt([a, b], [1, 1])]
    preds = [ev.pred([a], [1], [0.9])]
    values = _map(_detect(gts, preds, ["BG", "cell"]))
    assert values["allpoint"] == pytest.approx(0.5)
    assert values["matterport"] == pytest.approx(0.5)
    assert values["11point"] == pytest.approx(6 / 11)  # r = 0, .1, ..., .5 have precision 1
    assert values["101point"] == pytest.approx(51 / 101)  # r = 0, .01, ..., .50
    assert values["coco_segm"] == pytest.approx(51 / 101) and values["coco_bbox"] == pytest.approx(51 / 101)
    detection = _detect(gts, preds, ["BG", "cell"])
    assert detection["variants"]["11point"]["mAR"] == pytest.approx(0.5)
    assert detection["variants"]["matterport"]["mAR"] == pytest.approx(0.5)  # compute_recall: 1 of 2 boxes


def test_wrong_class(ev):
    a = ev.box_mask(2, 2, 10, 10)
    detection = _detect([ev.gt([a], [1])], [ev.pred([a], [2], [0.9])], ["BG", "one", "two"])
    for name, value in _map(detection).items():
        assert value == 0.0, name
    per_class = detection["variants"]["11point"]["per_class_AP"]["0.5"]
    assert per_class == {"one": 0.0, "two": None}  # class two has no ground truth: left out of the mean
    assert detection["variants"]["coco_segm"]["per_class_AP"]["0.5"] == {"one": 0.0, "two": None}
    # Matterport's compute_recall is class-agnostic: the box is found.
    assert detection["variants"]["matterport"]["mAR"] == 1.0


def test_duplicate_detection_is_a_false_positive_after_full_recall(ev):
    a = ev.box_mask(2, 2, 10, 10)
    gts = [ev.gt([a], [1])]
    preds = [ev.pred([a, a], [1, 1], [0.9, 0.8])]
    for name, value in _map(_detect(gts, preds, ["BG", "cell"])).items():
        assert value == pytest.approx(1.0), name
    # Ranked first, the duplicate would still only be one true positive: precision 1, then 1/2 at recall 1.
    metrics = evaluate_predictions(gts, preds, ["BG", "cell"])
    assert metrics["objects"]["tp"] == 1 and metrics["objects"]["fp"] == 0  # collapsed in the instance map


def test_empty_image(ev):
    a = ev.box_mask(2, 2, 10, 10)
    empty_gt, empty_pred = ev.gt([], []), ev.pred([], [], [])
    gts, preds = [ev.gt([a], [1]), empty_gt], [ev.pred([a], [1], [0.9]), empty_pred]
    detection = _detect(gts, preds, ["BG", "cell"])
    assert all(v == pytest.approx(1.0) for v in _map(detection).values())
    assert detection["variants"]["matterport"]["images_used"] == 1
    assert detection["variants"]["matterport"]["images_skipped"] == 1
    # A false positive on the empty image (scored highest) counts in the per-class and COCO figures, but
    # Matterport's per-image loop cannot score an image without ground truth and skips it.
    preds[1] = ev.pred([ev.box_mask(0, 0, 5, 5)], [1], [0.95])
    values = _map(_detect(gts, preds, ["BG", "cell"]))
    assert values["matterport"] == pytest.approx(1.0)
    for name in ("11point", "allpoint", "101point", "coco_segm", "coco_bbox"):
        assert values[name] == pytest.approx(0.5), name


def test_nothing_at_all(ev):
    detection = _detect([ev.gt([], [])], [ev.pred([], [], [])], ["BG", "cell"])
    for name, block in detection["variants"].items():
        assert block["mAP"]["0.5"] is None and block["F1"] is None, name


def test_iou_thresholds_from_a_known_overlap(ev):
    # Prediction 8x10 over ground truth 8x8 (IoU 0.8): a match at 0.5 and 0.7 and 0.75, not at 0.9.
    gts = [ev.gt([ev.box_mask(2, 2, 10, 10)], [1])]
    preds = [ev.pred([ev.box_mask(2, 2, 10, 12)], [1], [0.9])]
    for name in MASK_VARIANTS:
        block = _detect(gts, preds, ["BG", "cell"])["variants"][name]
        assert block["mAP"]["0.7"] == pytest.approx(1.0) and block["mAP"]["0.75"] == pytest.approx(1.0), name
        assert block["mAP"]["0.9"] == 0.0, name
        assert block["mAP"]["0.5:0.95"] == pytest.approx(0.7), name  # 0.5 ... 0.8 of the ten thresholds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matterport_variant_is_mean_of_compute_ap(ev, seed):
    gts, preds, names = ev.random_case(seed, crowd=0.0)
    detection = _detect(gts, preds, names)
    for threshold in ("0.5", "0.75", "0.9"):
        expected = [utils.compute_ap(utils.extract_bboxes(g["masks"]), g["class_ids"], g["masks"], p["rois"],
                                     p["class_ids"], p["scores"], p["masks"], iou_threshold=float(threshold))[0]
                    for g, p in zip(gts, preds) if len(g["class_ids"])]
        assert detection["variants"]["matterport"]["mAP"][threshold] == pytest.approx(np.mean(expected), abs=1e-9)
    expected = [utils.compute_ap_range(utils.extract_bboxes(g["masks"]), g["class_ids"], g["masks"], p["rois"],
                                       p["class_ids"], p["scores"], p["masks"], verbose=0)
                for g, p in zip(gts, preds) if len(g["class_ids"])]
    assert detection["variants"]["matterport"]["mAP"]["0.5:0.95"] == pytest.approx(np.mean(expected), abs=1e-9)
