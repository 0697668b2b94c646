"""Image classification from instance predictions: the paper's Tables 5 and 6.

Shape shorthand:
    I: images, K: foreground classes (class ids 1..K), K + 1 columns: the K classes and "none".

Each image gets one true class and one predicted class:
- truth: the class of its largest ground-truth instance (mask area, else box area; crowd regions never), or the
  caller's own label per image (image_labels); images with neither are left out and counted.
- prediction: the class of the top-scoring detection, or "none" when the image has no detection. "none" is its own
  column of the confusion matrix (a miss), never a row.
From the [K, K + 1] confusion matrix (rows: truth, columns: prediction), per class c with TP = cm[c, c],
FN = row total - TP (including "none"), FP = column total - TP, TN = total - TP - FN - FP:
precision TP / (TP + FP), recall TP / (TP + FN), F1 = 2 P R / (P + R), specificity TN / (TN + FP), one-vs-rest
accuracy (TP + TN) / total; a ratio with a zero denominator is 0 (scikit-learn's zero_division=0). Macro averages
run over the classes that occur as truth or as prediction (scikit-learn's default labels). "ovr_accuracy" (macro
one-vs-rest accuracy) is what the paper calls accuracy; "top1_accuracy" = trace / total is the plain accuracy.
"""

import numpy as np

NONE_LABEL = "none"
PER_CLASS_FIELDS = ("precision", "recall", "f1", "specificity", "ovr_accuracy")


def image_truth(gt):
    """Class id of the largest non-crowd ground-truth instance of a normalised record, or 0 when there is none."""
    keep = np.where(~gt["iscrowd"])[0]
    if keep.size == 0:
        return 0
    if gt["masks"] is not None:
        areas = gt["masks"][..., keep].reshape(-1, keep.size).sum(axis=0)
    else:
        b = gt["boxes"][keep]
        areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return int(gt["class_ids"][keep[int(np.argmax(areas))]])


def top1_prediction(pred):
    """Class id of the top-scoring detection of a normalised record (first one on a tie), 0 when there is none."""
    if pred["scores"].size == 0:
        return 0
    return int(pred["class_ids"][int(np.argmax(pred["scores"]))])


def confusion_matrix(truth, predicted, num_classes):
    """int [K, K + 1]: rows true class ids 1..K, columns predicted 1..K then "none" (id 0).

    truth: int [I] in 1..K; predicted: int [I] in 0..K (0 = no detection); num_classes = K + 1 (with background).
    """
    truth = np.asarray(truth, dtype=np.int64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.int64).reshape(-1)
    k = num_classes - 1
    if truth.shape != predicted.shape:
        raise ValueError(f"truth and predicted must have one entry per image, got {truth.shape} and "
                         f"{predicted.shape}")
    if truth.size and (truth.min() < 1 or truth.max() > k):
        raise ValueError(f"truth holds class ids {sorted(set(truth.tolist()))}: valid are 1..{k}")
    if predicted.size and (predicted.min() < 0 or predicted.max() > k):
        raise ValueError(f"predicted holds class ids {sorted(set(predicted.tolist()))}: valid are 0 (none)..{k}")
    columns = np.where(predicted == 0, k, predicted - 1)
    cm = np.zeros((k, k + 1), dtype=np.int64)
    np.add.at(cm, (truth - 1, columns), 1)
    return cm


def _ratio(num, den):
    return float(num) / float(den) if den else 0.0


def classification_metrics(cm, class_names):
    """Per-class and macro metrics of a [K, K + 1] confusion matrix (see the module docstring).

    class_names: the K + 1 names with the background first (the background is never a row or column).
    """
    cm = np.asarray(cm, dtype=np.int64)
    names = list(class_names)[1:]
    k = len(names)
    if cm.shape != (k, k + 1):
        raise ValueError(f"cm must be [{k}, {k + 1}] for {k} classes, got shape {cm.shape}")
    total = int(cm.sum())
    per_class, used = {}, []
    for c, name in enumerate(names):
        tp = int(cm[c, c])
        fn = int(cm[c].sum()) - tp
        fp = int(cm[:, c].sum()) - tp
        tn = total - tp - fn - fp
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        per_class[name] = {
            "precision": precision, "recall": recall, "f1": _ratio(2 * precision * recall, precision + recall),
            "specificity": _ratio(tn, tn + fp), "ovr_accuracy": _ratio(tp + tn, total),
            "support": int(cm[c].sum()), "predicted": int(cm[:, c].sum()), "tp": tp, "fp": fp, "fn": fn, "tn": tn}
        if per_class[name]["support"] or per_class[name]["predicted"]:
            used.append(name)
    macro = {field: (float(np.mean([per_class[n][field] for n in used])) if used else None)
             for field in PER_CLASS_FIELDS}
    rows = cm.sum(axis=1, keepdims=True)
    normalized = np.where(rows > 0, cm / np.where(rows > 0, rows, 1), 0.0)
    return {
        "labels": names, "columns": names + [NONE_LABEL],
        "confusion_matrix": cm.tolist(), "confusion_matrix_normalized": normalized.tolist(),
        "num_images": total, "per_class": per_class, "macro": macro, "macro_classes": used,
        "top1_accuracy": _ratio(np.trace(cm[:, :k]), total),
        "no_detection": int(cm[:, k].sum()),
    }


def evaluate_classification(gts, preds, class_names, image_labels=None):
    """Tables 5/6 block from normalised records; image_labels: optional true class id per image (0 / None: skip)."""
    if image_labels is not None and len(image_labels) != len(gts):
        raise ValueError(f"image_labels must hold one class id per image ({len(gts)}), got {len(image_labels)}")
    truth, predicted, skipped = [], [], 0
    for i, (gt, pred) in enumerate(zip(gts, preds)):
        label = image_truth(gt) if image_labels is None else int(image_labels[i] or 0)
        if label == 0:
            skipped += 1
            continue
        truth.append(label)
        predicted.append(top1_prediction(pred))
    out = classification_metrics(confusion_matrix(truth, predicted, len(class_names)), class_names)
    out["images_skipped"] = skipped
    out["truth"] = "image_labels" if image_labels is not None else "class of the largest ground-truth instance"
    out["prediction"] = "class of the top-scoring detection; 'none' when the image has no detection"
    return out
