"""Semantic-segmentation metrics (Tran et al., seed 003) computed from instance predictions.

Shape shorthand:
    H, W: image height and width, N: instances of one image, C: classes including the background (id 0).

Instances become one class label map per image: background 0, each instance painted with its class id; where
instances overlap the higher score wins (predictions are painted lowest score first; ground truth in its own order,
later instances on top). From the dataset's pixel confusion matrix (rows truth, columns prediction):
- global accuracy = correct pixels / all pixels;
- class accuracy = TP / (TP + FN) (pixel recall); mean accuracy over the classes that have ground-truth pixels;
- class IoU = TP / (TP + FP + FN) (None where that is 0/0); mean IoU over the classes where it is defined;
- weighted IoU = sum of class IoUs weighted by the class's share of ground-truth pixels;
- BF (boundary F1) score per image and class, as MATLAB's bfscore: boundary pixels of the class's region in each
  map (4-connected contour; the image frame is not a contour); precision = share of predicted boundary pixels within
  `tolerance` of the true boundary, recall the converse, BF = 2 P R / (P + R). The tolerance is a fraction of the
  image diagonal, 0.75 % by default (MATLAB's default for bfscore). A class absent from both maps of an image is
  skipped (NaN); present in only one, 0; a region without any contour in both maps (it fills the image), 1.
  Class "mean BF score" = mean over images where defined; the dataset's mean BF score = mean over images of the
  image's mean over classes.
"""

import numpy as np
import scipy.ndimage as ndi

from mrcnn.evaluation.records import crop_to_content

DEFAULT_BF_TOLERANCE = 0.0075  # fraction of the image diagonal (MATLAB bfscore's default)


def class_label_map(masks, class_ids, scores=None, shape=None):
    """int32 [H, W]: 0 background, else the class id of the instance on top (highest score when scores given).

    masks: bool [H, W, N] (or None with shape=(H, W) for an empty map); class_ids: int [N]; scores: float [N].
    """
    if masks is None:
        if shape is None:
            raise ValueError("class_label_map needs masks [H, W, N] or shape=(H, W)")
        return np.zeros(shape, dtype=np.int32)
    out = np.zeros(masks.shape[:2], dtype=np.int32)
    order = range(masks.shape[-1]) if scores is None else np.argsort(scores, kind="stable")
    for i in order:
        out[masks[..., i]] = class_ids[i]
    return out


def pixel_confusion(gt_map, pred_map, num_classes):
    """int64 [C, C] pixel counts, rows true class, columns predicted class."""
    gt_map = np.asarray(gt_map, dtype=np.int64)
    pred_map = np.asarray(pred_map, dtype=np.int64)
    if gt_map.shape != pred_map.shape:
        raise ValueError(f"gt_map {gt_map.shape} and pred_map {pred_map.shape} must have the same shape")
    counts = np.bincount((gt_map * num_classes + pred_map).ravel(), minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def boundary(mask):
    """bool [H, W]: pixels of `mask` with a 4-neighbour outside it (the image frame does not count as outside)."""
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndi.binary_erosion(mask, border_value=1)


def bf_score(gt_mask, pred_mask, tolerance):
    """Boundary F1 of two bool [H, W] regions with a distance tolerance in pixels (see the module docstring)."""
    gt_mask, pred_mask = np.asarray(gt_mask, bool), np.asarray(pred_mask, bool)
    if not gt_mask.any() and not pred_mask.any():
        return float("nan")
    if not gt_mask.any() or not pred_mask.any():
        return 0.0
    gb, pb = boundary(gt_mask), boundary(pred_mask)
    if not gb.any() and not pb.any():
        return 1.0
    if not gb.any() or not pb.any():
        return 0.0
    # Distances only between contour pixels: cut to the box around both contours (exact, and cheaper).
    both = gb | pb
    rows, cols = np.where(both.any(axis=1))[0], np.where(both.any(axis=0))[0]
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    gb, pb = gb[window], pb[window]
    precision = float(np.mean(ndi.distance_transform_edt(~gb)[pb] <= tolerance))
    recall = float(np.mean(ndi.distance_transform_edt(~pb)[gb] <= tolerance))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _ratio_or_none(num, den):
    return float(num) / float(den) if den else None


def semantic_metrics(gts, preds, class_names, bf_tolerance=DEFAULT_BF_TOLERANCE):
    """The 003 block from normalised records with masks (see the module docstring)."""
    if not 0 < bf_tolerance < 1:
        raise ValueError(f"bf_tolerance is a fraction of the image diagonal in (0, 1), got {bf_tolerance}")
    num_classes = len(class_names)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    bf = []  # [images, C] with NaN where undefined
    for gt, pred in zip(gts, preds):
        shape = gt["masks"].shape[:2]
        tolerance = bf_tolerance * float(np.hypot(*shape))
        # Work on the box around all instances plus one background pixel: outside it both maps are background
        # (counted below) and no contour lies there, so the figures are those of the whole image.
        gt, pred = crop_to_content(gt, pred, pad=1)
        gt_map = class_label_map(gt["masks"], gt["class_ids"])
        pred_map = class_label_map(pred["masks"], pred["class_ids"], pred["scores"])
        cm += pixel_confusion(gt_map, pred_map, num_classes)
        cm[0, 0] += shape[0] * shape[1] - gt_map.size
        bf.append([bf_score(gt_map == c, pred_map == c, tolerance) for c in range(num_classes)])
    bf = np.array(bf, dtype=np.float64).reshape(-1, num_classes)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    fp = cm.sum(axis=0) - tp
    accuracy = [_ratio_or_none(tp[c], support[c]) for c in range(num_classes)]
    iou = [_ratio_or_none(tp[c], support[c] + fp[c]) for c in range(num_classes)]
    with np.errstate(invalid="ignore"):
        class_bf = [float(np.nanmean(bf[:, c])) if np.any(~np.isnan(bf[:, c])) else None for c in range(num_classes)]
        image_bf = [np.nanmean(row) for row in bf if np.any(~np.isnan(row))]
    defined_iou = [c for c in range(num_classes) if iou[c] is not None]
    weight = float(sum(support[c] for c in defined_iou))
    rows = cm.sum(axis=1, keepdims=True)
    return {
        "classes": list(class_names),
        "global_accuracy": _ratio_or_none(tp.sum(), cm.sum()),
        "mean_accuracy": _mean([a for a in accuracy if a is not None]),
        "mean_iou": _mean([iou[c] for c in defined_iou]),
        "weighted_iou": (float(sum(support[c] * iou[c] for c in defined_iou)) / weight) if weight else None,
        "mean_bf_score": _mean(image_bf),
        "bf_tolerance": {"fraction_of_diagonal": bf_tolerance},
        "per_class": {name: {"accuracy": accuracy[c], "iou": iou[c], "mean_bf_score": class_bf[c],
                             "pixels": int(support[c])} for c, name in enumerate(class_names)},
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": np.where(rows > 0, cm / np.where(rows > 0, rows, 1), 0.0).tolist(),
    }


def _mean(values):
    return float(np.mean(values)) if len(values) else None
