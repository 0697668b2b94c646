"""Tests for mrcnn/evaluation/evaluate.py and records.py: the metrics.json layout and input validation."""

import json

import numpy as np
import pytest

from mrcnn.evaluation import SCHEMA_VERSION, evaluate_predictions

VARIANT_KEYS = {"label", "mAP", "mAR", "mAR_definition", "F1", "per_class_AP", "per_class_recall"}


def test_schema_is_stable(perfect_case):
    metrics = evaluate_predictions(*perfect_case, source={"backbone": "resnet101"})
    assert metrics["schema_version"] == SCHEMA_VERSION == 1
    assert set(metrics) == {"schema_version", "meta", "detection", "classification", "semantic", "objects", "losses"}
    assert {"class_names", "num_images", "num_gt_instances", "num_predictions", "masks", "skipped",
            "source"} <= set(metrics["meta"])
    assert list(metrics["detection"]["variants"]) == ["11point", "allpoint", "101point", "matterport", "coco_segm",
                                                      "coco_bbox"]
    for name, block in metrics["detection"]["variants"].items():
        assert VARIANT_KEYS <= set(block), name
        assert set(block["mAP"]) == {"0.5", "0.7", "0.75", "0.9", "0.5:0.95"}, name
    assert {"iou", "recall", "precision", "matching"} <= set(metrics["detection"]["pr_curves"])
    assert {"confusion_matrix", "confusion_matrix_normalized", "per_class", "macro", "top1_accuracy",
            "labels", "columns"} <= set(metrics["classification"])
    assert {"global_accuracy", "mean_accuracy", "mean_iou", "weighted_iou", "mean_bf_score",
            "per_class"} <= set(metrics["semantic"])
    assert {"f1", "dice", "iou", "hausdorff", "tp", "fp", "fn"} <= set(metrics["objects"])
    json.dumps(metrics, allow_nan=False)  # JSON-ready: no NumPy types, no NaN
    assert metrics["meta"]["source"] == {"backbone": "resnet101"}


def test_perfect_everything(perfect_case):
    m = evaluate_predictions(*perfect_case)
    assert m["classification"]["top1_accuracy"] == 1.0 and m["classification"]["macro"]["f1"] == 1.0
    assert m["semantic"]["global_accuracy"] == 1.0 and m["semantic"]["mean_bf_score"] == 1.0
    assert m["objects"]["f1"] == 1.0 and m["objects"]["dice"] == 1.0 and m["objects"]["hausdorff"] == 0.0


def test_box_only_predictions_skip_mask_metrics(perfect_case):
    gts, preds, names = perfect_case
    boxes_only = [{k: v for k, v in p.items() if k != "masks"} for p in preds]
    m = evaluate_predictions(gts, boxes_only, names)
    assert list(m["detection"]["variants"]) == ["coco_bbox"] and m["detection"]["primary"] == "coco_bbox"
    assert m["semantic"] is None and m["objects"] is None and m["meta"]["skipped"]
    assert m["detection"]["variants"]["coco_bbox"]["mAP"]["0.5"] == pytest.approx(1.0)


def test_zero_box_in_the_middle_keeps_masks_aligned(ev):
    # An empty ground-truth mask gives a zero box; Matterport's trim_zeros would drop it and shift the masks.
    a, b = ev.box_mask(2, 2, 10, 10), ev.box_mask(12, 14, 20, 26)
    gts = [ev.gt([a, np.zeros_like(a), b], [1, 1, 1])]
    preds = [ev.pred([a, b], [1, 1], [0.9, 0.8])]
    m = evaluate_predictions(gts, preds, ["BG", "cell"], semantic_metrics=False, object_metrics=False)
    assert m["detection"]["variants"]["11point"]["mAR"] == pytest.approx(2 / 3)  # the empty one is a miss


@pytest.mark.parametrize("change, message", [
    (lambda g, p: g[0].update(class_ids=np.array([1, 5])), r"gts\[0\]\['class_ids'\] holds \[5\]"),
    (lambda g, p: p[0].update(class_ids=np.array([-1, 2])), r"preds\[0\]\['class_ids'\] holds \[-1\]"),
    (lambda g, p: p[0].update(scores=np.array([0.5])), r"preds\[0\]\['scores'\] must hold 2"),
    (lambda g, p: g[0].update(masks=g[0]["masks"][..., :1]), r"gts\[0\]\['masks'\] must be \[H, W, 2\]"),
    (lambda g, p: p[1].update(masks=np.zeros((5, 5, 1), bool), rois=np.zeros((1, 4))), "image 1"),
    (lambda g, p: g.pop(), "one record per image"),
])
def test_bad_input_names_image_and_field(perfect_case, change, message):
    gts, preds, names = perfect_case
    gts, preds = list(gts), list(preds)
    gts[0], preds[0] = dict(gts[0]), dict(preds[0])
    preds[1] = dict(preds[1])
    change(gts, preds)
    with pytest.raises(ValueError, match=message):
        evaluate_predictions(gts, preds, names)


def test_bad_class_names_and_image_ids(perfect_case):
    gts, preds, _ = perfect_case
    with pytest.raises(ValueError, match="class_names"):
        evaluate_predictions(gts, preds, ["BG"])
    with pytest.raises(ValueError, match="image_ids"):
        evaluate_predictions(gts, preds, ["BG", "a", "b"], image_ids=[1])
