"""Detection AP with Matterport's matching (mask IoU): the paper's Table 4 in four labelled variants.

Shape shorthand:
    N: ground-truth instances of one image, D: detections of one image, T: IoU thresholds, K: classes.

Matching is mrcnn.utils.compute_matches, reused as is: predictions best score first, each takes the unmatched
ground truth of its class with the highest mask IoU at or above the threshold. Crowd regions are left out (Matterport
has no crowd concept). From the matches:

- "11point", "allpoint", "101point" (per class): every detection of class k over the dataset, sorted by score, gives
  one precision-recall curve against all ground truth of class k; AP of that curve with the named interpolation
  (mrcnn.evaluation.ap); mAP = mean over the classes that have ground truth (the paper's eq. 6). mAR = mean over the
  same classes of the recall reached with all detections at IoU 0.5.
- "matterport" (per image): Matterport's own evaluation loop, mrcnn.utils.compute_ap on each image (all classes
  together, all-point interpolation), averaged over the images that have ground truth; 0.5:0.95 is the per-image
  compute_ap_range mean, averaged. mAR = mean over the same images of mrcnn.utils.compute_recall(rois, gt boxes,
  0.5) (box IoU, class-agnostic), as Matterport-based evaluations compute it. Images without ground truth are
  skipped here (compute_ap is undefined there) and counted in "images_skipped".
F1 = 2 mAP(0.5) mAR / (mAP(0.5) + mAR): the paper's F1 of Table 4.
"""

import numpy as np

from mrcnn.evaluation import ap as ap_lib
from mrcnn.evaluation.records import crop_to_content, safe_boxes
from mrcnn.utils import compute_ap, compute_matches, compute_recall

# The ten COCO thresholds 0.5, 0.55, ..., 0.95 (rounded, so that 0.7 is 0.7).
IOU_THRESHOLDS = np.round(np.linspace(0.5, 0.95, 10), 2)
# The thresholds every variant reports; "0.5:0.95" is the mean over IOU_THRESHOLDS.
REPORTED_THRESHOLDS = ("0.5", "0.7", "0.75", "0.9", "0.5:0.95")

LABELS = {
    "11point": "11-point interpolated AP (paper eq. 5), per class over the dataset, Matterport matching, mask IoU",
    "allpoint": "all-point AP (VOC 2010 area), per class over the dataset, Matterport matching, mask IoU",
    "101point": "101-point AP (COCO interpolation), per class over the dataset, Matterport matching, mask IoU",
    "matterport": "Matterport's evaluation: utils.compute_ap (all-point) per image, mean over images, mask IoU",
}
MAR_DEFINITIONS = {
    "per_class": "mean over classes of the recall at mask IoU 0.5 (Matterport matching, all detections)",
    "matterport": "mean over images of utils.compute_recall(rois, gt_boxes, iou=0.5): box IoU, class-agnostic",
}


def threshold_key(t):
    """'0.5', '0.55', ... for a threshold value."""
    return f"{float(t):g}"


def paper_f1(mean_ap, mean_ar):
    """The paper's F1: harmonic mean of mAP(0.5) and mAR; None when either is None, 0 when both are 0."""
    if mean_ap is None or mean_ar is None:
        return None
    return 0.0 if mean_ap + mean_ar == 0 else float(2 * mean_ap * mean_ar / (mean_ap + mean_ar))


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _sorted_pred(pred):
    order = np.argsort(-pred["scores"], kind="stable")
    return {"rois": safe_boxes(pred["rois"])[order], "class_ids": pred["class_ids"][order],
            "scores": pred["scores"][order], "masks": pred["masks"][..., order]}


def _non_crowd(gt):
    keep = ~gt["iscrowd"]
    return {"boxes": safe_boxes(gt["boxes"][keep]), "class_ids": gt["class_ids"][keep],
            "masks": gt["masks"][..., keep], "real_boxes": gt["boxes"][keep]}


def match_dataset(gts, preds, iou_thresholds=IOU_THRESHOLDS):
    """Matterport's matches of every image at every threshold.

    gts, preds: normalised records (mrcnn.evaluation.records), with masks.
    Returns {"scores": float [P], "class_ids": int [P], "image": int [P], "tp": bool [T, P],
    "num_gt": int [K_max + 1] counts of non-crowd ground truth per class id}, P = all detections of the dataset in
    (image, score) order.
    """
    scores, class_ids, image_index, tps = [], [], [], []
    max_class = max([int(g["class_ids"].max()) for g in gts if g["class_ids"].size]
                    + [int(p["class_ids"].max()) for p in preds if p["class_ids"].size] + [0])
    num_gt = np.zeros(max_class + 1, dtype=np.int64)
    for i, (gt, pred) in enumerate(zip(gts, preds)):
        gt, pred = crop_to_content(gt, pred)
        g, p = _non_crowd(gt), _sorted_pred(pred)
        num_gt += np.bincount(g["class_ids"], minlength=max_class + 1)
        rows = []
        for t in iou_thresholds:
            _, pred_match, _ = compute_matches(g["boxes"], g["class_ids"], g["masks"], p["rois"], p["class_ids"],
                                               p["scores"], p["masks"], iou_threshold=float(t))
            rows.append(pred_match > -1)
        tps.append(np.array(rows, dtype=bool).reshape(len(iou_thresholds), -1))
        scores.append(p["scores"])
        class_ids.append(p["class_ids"])
        image_index.append(np.full(len(p["scores"]), i))
    return {"scores": np.concatenate(scores) if scores else np.zeros(0),
            "class_ids": np.concatenate(class_ids).astype(np.int64) if class_ids else np.zeros(0, np.int64),
            "image": np.concatenate(image_index) if image_index else np.zeros(0, np.int64),
            "tp": np.concatenate(tps, axis=1) if tps else np.zeros((len(iou_thresholds), 0), bool),
            "num_gt": num_gt}


def per_class_curves(matches, class_id, threshold_index):
    """(precisions, recalls) of one class at one threshold over the dataset; None when the class has no GT."""
    num_gt = int(matches["num_gt"][class_id]) if class_id < len(matches["num_gt"]) else 0
    if num_gt == 0:
        return None
    mine = np.where(matches["class_ids"] == class_id)[0]
    order = mine[np.argsort(-matches["scores"][mine], kind="mergesort")]
    return ap_lib.precision_recall(matches["tp"][threshold_index, order], num_gt)


def per_class_variants(matches, class_names):
    """The "11point", "allpoint" and "101point" variant blocks plus the PR curves at IoU 0.5 (see module doc)."""
    keys = [threshold_key(t) for t in IOU_THRESHOLDS]
    names = list(class_names)
    ap = {interp: {k: {} for k in keys} for interp in ap_lib.INTERPOLATIONS}
    recall = {k: {} for k in keys}
    curves = {}
    for class_id in range(1, len(names)):
        for ti, key in enumerate(keys):
            pr = per_class_curves(matches, class_id, ti)
            for interp in ap_lib.INTERPOLATIONS:
                ap[interp][key][names[class_id]] = (None if pr is None
                                                    else ap_lib.average_precision(pr[0], pr[1], interp))
            recall[key][names[class_id]] = None if pr is None else (float(pr[1][-1]) if len(pr[1]) else 0.0)
            if key == "0.5" and pr is not None:
                curves[names[class_id]] = ap_lib.interpolated_precision(pr[0], pr[1]).tolist()
    out = {}
    for interp in ap_lib.INTERPOLATIONS:
        per_class = {key: ap[interp][key] for key in keys if key in REPORTED_THRESHOLDS}
        per_class["0.5:0.95"] = {name: _mean([ap[interp][k][name] for k in keys]) for name in names[1:]}
        mean_ap = {key: _mean(per_class[key].values()) for key in REPORTED_THRESHOLDS}
        mar = _mean(recall["0.5"].values()) if "0.5" in recall else None
        out[interp] = {"label": LABELS[interp], "mAP": mean_ap, "mAR": mar, "mAR_definition": MAR_DEFINITIONS[
            "per_class"], "F1": paper_f1(mean_ap["0.5"], mar), "per_class_AP": per_class,
            "per_class_recall": recall.get("0.5", {})}
    pr_curves = {"iou": "0.5", "matching": "Matterport (mask IoU), per class over the dataset",
                 "recall": ap_lib.RECALL_THRESHOLDS_101.tolist(), "precision": curves}
    return out, pr_curves


def per_image_variant(gts, preds):
    """The "matterport" variant block: compute_ap per image, mean over images with ground truth (module doc)."""
    keys = [threshold_key(t) for t in IOU_THRESHOLDS]
    per_image = {k: [] for k in keys}
    recalls = []
    skipped = 0
    for gt, pred in zip(gts, preds):
        gt, pred = crop_to_content(gt, pred)
        g = _non_crowd(gt)
        if g["class_ids"].size == 0:
            skipped += 1
            continue
        p = _sorted_pred(pred)
        for t, key in zip(IOU_THRESHOLDS, keys):
            value = compute_ap(g["boxes"], g["class_ids"], g["masks"], p["rois"], p["class_ids"], p["scores"],
                               p["masks"], iou_threshold=float(t))[0]
            per_image[key].append(value)
        recalls.append(compute_recall(pred["rois"], g["real_boxes"], 0.5)[0])
    mean_ap = {key: _mean(per_image[key]) for key in REPORTED_THRESHOLDS if key != "0.5:0.95"}
    mean_ap["0.5:0.95"] = float(np.mean(np.mean([per_image[k] for k in keys], axis=0))) if recalls else None
    mar = _mean(recalls)
    return {"label": LABELS["matterport"], "mAP": mean_ap, "mAR": mar,
            "mAR_definition": MAR_DEFINITIONS["matterport"], "F1": paper_f1(mean_ap["0.5"], mar),
            "per_class_AP": None, "per_class_recall": None, "images_used": len(recalls), "images_skipped": skipped}


def matterport_detection(gts, preds, class_names):
    """({"11point", "allpoint", "101point", "matterport": variant block}, pr_curves) on records with masks."""
    matches = match_dataset(gts, preds)
    variants, pr_curves = per_class_variants(matches, class_names)
    variants["matterport"] = per_image_variant(gts, preds)
    return variants, pr_curves
