"""Average precision from a precision-recall curve: the three interpolations the reports label.

Shape shorthand:
    D: detections of one class over the whole dataset, sorted by score (highest first), R: recall thresholds.

- "11point": the paper's eq. 5 (PASCAL VOC 2007): mean over r in {0, 0.1, ..., 1} of the interpolated precision
  max{p(r') : r' >= r} (0 where the curve never reaches r).
- "allpoint": Matterport's compute_ap (PASCAL VOC 2010+): the area under the precision envelope, summed where the
  recall changes, the curve padded with (0, 0) in front and (1, 0) at the end.
- "101point": COCO's (pycocotools accumulate): the envelope sampled at r in {0, 0.01, ..., 1} with
  searchsorted(side="left"); 0 beyond the last recall reached.
The matching that produced the curve is not decided here (see matterport.py and coco_style.py).
"""

import numpy as np

# COCO's recall thresholds, built exactly as pycocotools' Params builds them (bit-identical values matter for
# searchsorted at recalls such as 0.3 or 0.7).
RECALL_THRESHOLDS_101 = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
# Eq. 5's recall points as exact ratios k / 10, so that a recall of 3/10 reaches the point 0.3.
RECALL_THRESHOLDS_11 = np.arange(11) / 10.0

INTERPOLATIONS = ("11point", "allpoint", "101point")


def precision_recall(true_positives, num_gt, false_positives=None, eps=0.0):
    """Cumulative precision and recall of detections sorted by score.

    true_positives: bool [D], the detections (best score first) that matched a ground truth.
    num_gt: the number of ground-truth instances (> 0) the recall is relative to.
    false_positives: optional bool [D]; default: every detection that is not a true positive (COCO passes its own,
        because detections matched to crowd regions count as neither).
    eps: added to the precision's denominator (pycocotools adds np.spacing(1); Matterport adds nothing).
    Returns: (precisions float [D], recalls float [D]).
    """
    tp = np.asarray(true_positives, dtype=bool).reshape(-1)
    if num_gt <= 0:
        raise ValueError(f"num_gt must be positive to define recall, got {num_gt}")
    fp = ~tp if false_positives is None else np.asarray(false_positives, dtype=bool).reshape(-1)
    tp_sum = np.cumsum(tp).astype(np.float64)
    fp_sum = np.cumsum(fp).astype(np.float64)
    denominator = tp_sum + fp_sum + eps
    precisions = np.where(denominator > 0, tp_sum / np.where(denominator > 0, denominator, 1.0), 0.0)
    recalls = tp_sum / num_gt
    return precisions, recalls


def _envelope(precisions):
    """Precision made non-increasing from the right: p[i] = max(p[i:])."""
    p = np.asarray(precisions, dtype=np.float64)
    return np.maximum.accumulate(p[::-1])[::-1] if p.size else p


def ap_all_point(precisions, recalls):
    """Matterport's / VOC 2010's all-point AP of one curve (see the module docstring)."""
    precisions = np.concatenate([[0.0], np.asarray(precisions, dtype=np.float64), [0.0]])
    recalls = np.concatenate([[0.0], np.asarray(recalls, dtype=np.float64), [1.0]])
    precisions = _envelope(precisions)
    changes = np.where(recalls[:-1] != recalls[1:])[0] + 1
    return float(np.sum((recalls[changes] - recalls[changes - 1]) * precisions[changes]))


def interpolated_precision(precisions, recalls, recall_thresholds=RECALL_THRESHOLDS_101):
    """COCO's sampled envelope: float [R], the envelope at the first curve point with recall >= each threshold."""
    envelope = _envelope(precisions)
    recalls = np.asarray(recalls, dtype=np.float64)
    indices = np.searchsorted(recalls, recall_thresholds, side="left")
    out = np.zeros(len(recall_thresholds))
    inside = indices < envelope.size
    out[inside] = envelope[indices[inside]]
    return out


def ap_101_point(precisions, recalls):
    """COCO's 101-point AP of one curve: the mean of interpolated_precision at RECALL_THRESHOLDS_101."""
    return float(np.mean(interpolated_precision(precisions, recalls, RECALL_THRESHOLDS_101)))


def ap_11_point(precisions, recalls):
    """The paper's eq. 5: mean over r in {0, 0.1, ..., 1} of max{p : recall >= r}, 0 where recall never reaches r."""
    precisions = np.asarray(precisions, dtype=np.float64)
    recalls = np.asarray(recalls, dtype=np.float64)
    values = [precisions[recalls >= r].max() if np.any(recalls >= r) else 0.0 for r in RECALL_THRESHOLDS_11]
    return float(np.mean(values))


def average_precision(precisions, recalls, interpolation):
    """AP of one curve with `interpolation` in INTERPOLATIONS."""
    if interpolation == "11point":
        return ap_11_point(precisions, recalls)
    if interpolation == "allpoint":
        return ap_all_point(precisions, recalls)
    if interpolation == "101point":
        return ap_101_point(precisions, recalls)
    raise ValueError(f"interpolation={interpolation!r}: valid are {', '.join(INTERPOLATIONS)}")
