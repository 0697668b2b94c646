"""Tests for mrcnn/evaluation/classification.py: a hand-checked confusion matrix and the paper's accuracy."""

import numpy as np
import pytest

from mrcnn.evaluation import classification, evaluate_predictions

NAMES = ["BG", "a", "b", "c"]


def test_hand_checked_confusion_matrix_and_metrics():
    truth = [1, 1, 2, 3, 3, 3]
    predicted = [1, 0, 2, 2, 3, 3]  # 0: no detection
    cm = classification.confusion_matrix(truth, predicted, len(NAMES))
    assert cm.tolist() == [[1, 0, 0, 1],
                           [0, 1, 0, 0],
                           [0, 1, 2, 0]]
    m = classification.classification_metrics(cm, NAMES)
    a, b, c = (m["per_class"][k] for k in ("a", "b", "c"))
    # a: TP 1, FN 1 (the miss), FP 0, TN 4.   b: TP 1, FN 0, FP 1, TN 4.   c: TP 2, FN 1, FP 0, TN 3.
    assert (a["tp"], a["fn"], a["fp"], a["tn"]) == (1, 1, 0, 4)
    assert (b["tp"], b["fn"], b["fp"], b["tn"]) == (1, 0, 1, 4)
    assert (c["tp"], c["fn"], c["fp"], c["tn"]) == (2, 1, 0, 3)
    assert a["precision"] == 1 and a["recall"] == 0.5 and a["specificity"] == 1 and a["f1"] == pytest.approx(2 / 3)
    assert b["precision"] == 0.5 and b["recall"] == 1 and b["specificity"] == pytest.approx(0.8)
    assert c["recall"] == pytest.approx(2 / 3) and c["ovr_accuracy"] == pytest.approx(5 / 6)
    assert m["macro"]["precision"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["macro"]["recall"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert m["macro"]["specificity"] == pytest.approx((1 + 0.8 + 1) / 3)
    assert m["macro"]["ovr_accuracy"] == pytest.approx(5 / 6)
    assert m["top1_accuracy"] == pytest.approx(4 / 6)
    assert m["no_detection"] == 1 and m["columns"] == ["a", "b", "c", "none"]
    np.testing.assert_allclose(m["confusion_matrix_normalized"][0], [0.5, 0, 0, 0.5])


def test_paper_accuracy_is_macro_one_vs_rest():
    # With K balanced classes and no miss, macro one-vs-rest accuracy = 1 - 2 (1 - top-1) / K: the relation the
    # paper's Table 5 fits (ResNet101: 1 - 2 * (1 - 0.9737) / 8 = 0.9934 against 0.9931).
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(1, 9), 20)
    predicted = np.where(rng.random(truth.size) < 0.9, truth, rng.integers(1, 9, truth.size))
    m = classification.classification_metrics(classification.confusion_matrix(truth, predicted, 9),
                                               ["BG"] + list("abcdefgh"))
    assert m["macro"]["ovr_accuracy"] == pytest.approx(1 - 2 * (1 - m["top1_accuracy"]) / 8)
    assert m["macro"]["recall"] == pytest.approx(m["top1_accuracy"])  # balanced classes


def test_unused_class_left_out_of_macro():
    m = classification.classification_metrics(classification.confusion_matrix([1, 1], [1, 1], 4), NAMES)
    assert m["macro_classes"] == ["a"] and m["macro"]["precision"] == 1.0
    assert m["per_class"]["b"]["precision"] == 0.0  # zero division -> 0


def test_errors():
    with pytest.raises(ValueError, match="truth holds"):
        classification.confusion_matrix([0], [1], 4)
    with pytest.raises(ValueError, match="predicted holds"):
        classification.confusion_matrix([1], [4], 4)
    with pytest.raises(ValueError, match="one entry per image"):
        classification.confusion_matrix([1, 2], [1], 4)


def test_from_records_top_detection_and_largest_truth(ev):
    small, large = ev.box_mask(0, 0, 3, 3), ev.box_mask(5, 5, 20, 20)
    gts = [ev.gt([small, large], [1, 2]),  # truth: class 2 (largest)
           ev.gt([large], [3]),
           ev.gt([], [])]  # no truth: left out
    preds = [ev.pred([small, large], [1, 2], [0.6, 0.9]),  # top: class 2
             ev.pred([], [], []),  # no detection
             ev.pred([small], [1], [0.5])]
    c = evaluate_predictions(gts, preds, NAMES, semantic_metrics=False, object_metrics=False)["classification"]
    assert c["confusion_matrix"] == [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    assert c["images_skipped"] == 1 and c["num_images"] == 2
    # Explicit image labels replace the largest-instance rule.
    c = evaluate_predictions(gts, preds, NAMES, image_labels=[1, 3, 1], semantic_metrics=False,
                             object_metrics=False)["classification"]
    assert c["confusion_matrix"] == [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    assert c["truth"] == "image_labels"
