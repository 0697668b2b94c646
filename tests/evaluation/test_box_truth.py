"""Box-only scoring (mrcnn.evaluation.box_truth): recall, precision and AP of a target group against boxes, and the
overlap table, on hand-computed cases: perfect, none, duplicates, empty ground truth, empty predictions."""

import numpy as np
import pytest

from mrcnn.evaluation.box_truth import Target, match_boxes, overlap_table, score_box_detections, score_target

GT_NAMES = ("WBC", "RBC", "platelets")
PRED_NAMES = ["BG", "lymphocyte", "neutrophil", "erythroblast", "platelet"]
WHITE = Target("white_cells", [0], [1, 2])
A, B, C = [0, 0, 10, 10], [20, 20, 30, 30], [0, 40, 10, 50]
# [0, 0, 10, 10] against [0, 2, 10, 12]: intersection 80, union 120 -> IoU 2/3; against [0, 5, 10, 15]: 1/3.
A_SHIFTED, A_HALF = [0, 2, 10, 12], [0, 5, 10, 15]


def gt(boxes, class_ids):
    return {"boxes": np.array(boxes, float).reshape(-1, 4), "class_ids": np.array(class_ids, int)}


def pred(boxes, class_ids, scores):
    return {"rois": np.array(boxes, float).reshape(-1, 4), "class_ids": np.array(class_ids, int),
            "scores": np.array(scores, float)}


def white(gts, preds):
    return score_target(gts, preds, WHITE.gt_classes, WHITE.pred_classes)


def test_perfect_detection_any_white_class_counts():
    gts = [gt([A, B, C], [0, 0, 1]), gt([C], [0])]
    preds = [pred([A, B, C], [1, 2, 3], [0.9, 0.8, 0.95]), pred([C], [2], [0.7])]  # C of image 0: erythroblast
    r = white(gts, preds)
    assert (r["boxes"], r["detections"], r["matched"]) == (3, 3, 3)
    assert r["recall"] == r["precision"] == r["ap_11point"] == r["ap_allpoint"] == 1.0
    assert r["per_image"][0] == {"boxes": 2, "detections": 2, "matched": 2, "missed": [], "unmatched": []}


def test_no_overlap_is_all_missed_and_all_false():
    r = white([gt([A], [0])], [pred([B], [1], [0.9])])
    assert (r["recall"], r["precision"], r["ap_11point"], r["ap_allpoint"]) == (0.0, 0.0, 0.0, 0.0)
    assert r["per_image"][0]["missed"] == [0] and r["per_image"][0]["unmatched"] == [0]


def test_iou_threshold_is_inclusive_and_box_based():
    assert white([gt([A], [0])], [pred([A_SHIFTED], [1], [0.9])])["recall"] == 1.0  # IoU 2/3
    assert white([gt([A], [0])], [pred([A_HALF], [1], [0.9])])["recall"] == 0.0  # IoU 1/3
    # [0, 0, 10, 10] against [0, 0, 10, 20]: IoU exactly 0.5
    assert score_target([gt([A], [0])], [pred([[0, 0, 10, 20]], [1], [0.9])], [0], [1], 0.5)["recall"] == 1.0


def test_duplicates_one_true_positive_the_best_score_wins():
    # Two detections on box A: the higher score (0.6, IoU 2/3) takes it although the other (0.5) fits exactly; B is
    # no ground truth here, so by score: 0.9 FP, 0.6 TP, 0.5 duplicate FP.
    gts = [gt([A], [0])]
    preds = [pred([B, A_SHIFTED, A], [1, 1, 2], [0.9, 0.6, 0.5])]
    r = white(gts, preds)
    assert (r["matched"], r["detections"], r["recall"]) == (1, 3, 1.0)
    assert r["precision"] == pytest.approx(1 / 3)
    assert r["per_image"][0]["unmatched"] == [0, 2]  # the duplicate with the exact box lost: lower score
    # Curve by score: FP, TP, FP -> precision 0, 1/2, 1/3 at recall 0, 1, 1. 11-point: envelope 1/2 everywhere.
    assert r["ap_11point"] == pytest.approx(0.5)
    assert r["ap_allpoint"] == pytest.approx(0.5)


def test_greedy_by_score_not_by_iou():
    # Box A and A2 = [0, 1, 10, 11]. Detection X (score 0.9) overlaps A 2/3 and A2 0.818; Y (0.8) = A exactly.
    a2 = [0, 1, 10, 11]
    pred_match, gt_match, ious = match_boxes([A, a2], [A_SHIFTED, A], [0.9, 0.8])
    assert ious[0, 1] == pytest.approx(90 / 110) and ious[1, 0] == 1.0
    assert pred_match.tolist() == [1, 0] and gt_match.tolist() == [1, 0]  # X takes its best (A2), Y takes A


def test_ap_pools_images_by_score():
    # Image 0: TP at 0.9; image 1: FP at 0.8, TP at 0.7; 3 boxes (one never found).
    gts = [gt([A], [0]), gt([A, B], [0, 0])]
    preds = [pred([A], [1], [0.9]), pred([C, B], [1, 2], [0.8, 0.7])]
    r = white(gts, preds)
    assert (r["matched"], r["recall"], r["precision"]) == (2, pytest.approx(2 / 3), pytest.approx(2 / 3))
    # Precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3. 11-point: r <= 1/3 (0, .1, .2, .3) -> 1; r in .4 .. .6 -> 2/3;
    # beyond 2/3 -> 0: (4 + 3 * 2/3) / 11. All-point: 1/3 * 1 + 1/3 * 2/3.
    assert r["ap_11point"] == pytest.approx((4 + 2) / 11)
    assert r["ap_allpoint"] == pytest.approx(1 / 3 + 2 / 9)


def test_empty_ground_truth_and_empty_predictions():
    r = white([gt([], [])], [pred([A], [1], [0.9])])
    assert (r["boxes"], r["recall"], r["precision"], r["ap_11point"], r["ap_allpoint"]) == (0, None, 0.0, None, None)
    r = white([gt([A, B], [0, 0])], [pred([], [], [])])
    assert (r["recall"], r["precision"], r["ap_11point"], r["ap_allpoint"]) == (0.0, None, 0.0, 0.0)
    assert r["per_image"][0]["missed"] == [0, 1]
    r = white([], [])
    assert (r["boxes"], r["detections"], r["recall"], r["precision"]) == (0, 0, None, None)


def test_other_classes_are_not_targets():
    # A red-cell box under a white-cell detection is a false positive; an erythroblast on a white cell is no hit.
    r = white([gt([A, B], [1, 0])], [pred([A, B], [1, 3], [0.9, 0.8])])
    assert (r["boxes"], r["detections"], r["matched"], r["precision"]) == (1, 1, 0, 0.0)


def test_overlap_table_counts_where_each_detection_lands():
    gts = [gt([A, B, C], [0, 1, 2])]
    preds = [pred([A, A_SHIFTED, B, A_HALF, C], [3, 3, 1, 1, 4], [0.9, 0.8, 0.7, 0.6, 0.5])]
    table = overlap_table(gts, preds, PRED_NAMES, GT_NAMES)
    assert list(table) == ["lymphocyte", "erythroblast", "platelet"]  # in class-id order, only those that occur
    assert table["erythroblast"] == {"WBC": 2, "RBC": 0, "platelets": 0, "none": 0}  # not one-to-one
    assert table["lymphocyte"] == {"WBC": 0, "RBC": 1, "platelets": 0, "none": 1}
    assert table["platelet"] == {"WBC": 0, "RBC": 0, "platelets": 1, "none": 0}
    assert overlap_table([gt([], [])], [pred([A], [2], [0.5])], PRED_NAMES, GT_NAMES) == {
        "neutrophil": {"WBC": 0, "RBC": 0, "platelets": 0, "none": 1}}


def test_score_box_detections_bundles_targets_and_table():
    targets = [WHITE, Target("platelets", [2], [4])]
    out = score_box_detections([gt([A, C], [0, 2])], [pred([A], [2], [0.9])], targets, PRED_NAMES, GT_NAMES)
    assert out["iou_threshold"] == 0.5
    assert out["targets"]["white_cells"]["recall"] == 1.0
    assert (out["targets"]["platelets"]["recall"], out["targets"]["platelets"]["precision"]) == (0.0, None)
    assert out["overlaps"] == {"neutrophil": {"WBC": 1, "RBC": 0, "platelets": 0, "none": 0}}


def test_malformed_records_name_the_image_and_field():
    with pytest.raises(ValueError, match="one record per image, got 1 and 0"):
        white([gt([A], [0])], [])
    with pytest.raises(ValueError, match=r"preds\[0\]\['scores'\] has 2 entries for 1 boxes"):
        white([gt([A], [0])], [pred([A], [1], [0.9, 0.8])])
    with pytest.raises(ValueError, match=r"gts\[0\]\['boxes'\] must be \[N, \(y1, x1, y2, x2\)\], got shape \(3,\)"):
        white([{"boxes": np.zeros(3), "class_ids": [0]}], [pred([], [], [])])
