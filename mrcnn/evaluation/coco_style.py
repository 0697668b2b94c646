"""COCO-style detection AP and AR, with pycocotools' own matching rules, for boxes ("bbox") and masks ("segm").

Shape shorthand:
    N: ground-truth instances of one image, D: detections of one image (of one class, after sorting),
    T: IoU thresholds (10), R: recall thresholds (101), K: classes (foreground), M: maxDets settings (1, 10, 100).

This is a separate path from Matterport's matching (matterport.py) because pycocotools differs in the details that
move the figures: per image and category, detections best score first (stable mergesort) and cut to the best 100;
each takes the not-yet-matched ground truth with the highest IoU >= min(t, 1 - 1e-10), later ground truth winning an
exact IoU tie; a crowd region can absorb any number of detections, which then count as neither true nor false
positives, and its IoU is intersection / detection area; regular ground truth is preferred to crowd. Per category,
the detections of all images are pooled (mergesort by score), precision is made non-increasing and sampled at
recall 0, 0.01, ..., 1 (searchsorted, side "left"). Only area range "all" is evaluated. AP is the mean over the
categories that have non-crowd ground truth; AR@m is the mean recall at the last detection with maxDets m.
The figures agree with pycocotools' COCOeval (stats[0], [1], [2], [6], [7], [8]) on the same data.
"""

import numpy as np

from mrcnn.evaluation import ap as ap_lib
from mrcnn.evaluation.matterport import paper_f1, threshold_key
from mrcnn.evaluation.records import coco_bbox, crop_to_content

# pycocotools' Params.iouThrs, built the same way (0.7 and 0.9 are found with isclose, not ==).
COCO_IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
IOU_TYPES = ("bbox", "segm")
REPORTED = {"0.5": 0.5, "0.7": 0.7, "0.75": 0.75, "0.9": 0.9}


def box_iou_xywh(dt, gt, iscrowd):
    """pycocotools' box IoU: float [D, N] of [D, (x, y, w, h)] against [N, (x, y, w, h)]; crowd: inter / dt area."""
    dt = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    w = np.minimum(dt[:, None, 0] + dt[:, None, 2], gt[None, :, 0] + gt[None, :, 2]) - np.maximum(
        dt[:, None, 0], gt[None, :, 0])
    h = np.minimum(dt[:, None, 1] + dt[:, None, 3], gt[None, :, 1] + gt[None, :, 3]) - np.maximum(
        dt[:, None, 1], gt[None, :, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    return _iou_from_intersection(inter, dt[:, 2] * dt[:, 3], gt[:, 2] * gt[:, 3], iscrowd)


def mask_iou(dt_masks, gt_masks, iscrowd):
    """pycocotools' mask IoU in float64: [D, N] of bool [H, W, D] against bool [H, W, N]; crowd: inter / dt area."""
    dt_masks, gt_masks = np.asarray(dt_masks), np.asarray(gt_masks)
    d = dt_masks.reshape(dt_masks.shape[0] * dt_masks.shape[1], dt_masks.shape[-1]).astype(np.float64)
    g = gt_masks.reshape(gt_masks.shape[0] * gt_masks.shape[1], gt_masks.shape[-1]).astype(np.float64)
    return _iou_from_intersection(d.T @ g, d.sum(axis=0), g.sum(axis=0), iscrowd)


def _iou_from_intersection(inter, dt_area, gt_area, iscrowd):
    crowd = np.asarray(iscrowd, dtype=bool)[None, :]
    union = np.where(crowd, dt_area[:, None], dt_area[:, None] + gt_area[None, :] - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def matched_ground_truth(ious, ignore, thresholds=COCO_IOU_THRESHOLDS):
    """pycocotools' evaluateImg matching of one image and category: which ground truth each detection takes.

    ious: float [D, N], detections sorted best first and cut to maxDets; ignore: bool [N] (crowd), ground truth
    already ordered non-ignored first. Each detection in turn takes the not-yet-taken ground truth with the highest
    IoU >= min(t, 1 - 1e-10) (a later one on an exact tie; crowd regions can be taken again and only when no
    regular ground truth qualifies).
    Returns int [T, D]: the index of the ground truth each detection took, -1 for none.
    """
    num_dt, num_gt = ious.shape
    taken_by = -np.ones((len(thresholds), num_dt), dtype=np.int64)
    for ti, t in enumerate(thresholds):
        gt_taken = np.zeros(num_gt, dtype=bool)
        for d in range(num_dt):
            best, m = min(t, 1 - 1e-10), -1
            for g in range(num_gt):
                if gt_taken[g] and not ignore[g]:
                    continue
                if m > -1 and not ignore[m] and ignore[g]:
                    break
                if ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m == -1:
                continue
            taken_by[ti, d] = m
            gt_taken[m] = True
    return taken_by


def match_image(ious, ignore, thresholds=COCO_IOU_THRESHOLDS):
    """pycocotools' matching of one image and category (matched_ground_truth's arguments).

    Returns (matched bool [T, D], det_ignored bool [T, D]: matched to a crowd region).
    """
    taken_by = matched_ground_truth(ious, ignore, thresholds)
    matched = taken_by > -1
    det_ignored = np.zeros_like(matched)
    det_ignored[matched] = np.asarray(ignore, dtype=bool)[taken_by[matched]]
    return matched, det_ignored


def _image_class_results(gt, pred, iou_type, num_classes, max_det):
    """{class id: (scores [D], matched [T, D], det_ignored [T, D], gt_ignored [N])} of one image."""
    if iou_type == "segm":
        gt, pred = crop_to_content(gt, pred)
        ious = mask_iou(pred["masks"], gt["masks"], gt["iscrowd"])
    else:
        ious = box_iou_xywh(coco_bbox(pred, "rois"), coco_bbox(gt, "boxes"), gt["iscrowd"])
    out = {}
    for k in range(1, num_classes):
        gi = np.where(gt["class_ids"] == k)[0]
        di = np.where(pred["class_ids"] == k)[0]
        if gi.size == 0 and di.size == 0:
            continue
        di = di[np.argsort(-pred["scores"][di], kind="mergesort")][:max_det]
        gi = gi[np.argsort(gt["iscrowd"][gi], kind="mergesort")]
        ignore = gt["iscrowd"][gi]
        matched, det_ignored = match_image(ious[np.ix_(di, gi)], ignore)
        out[k] = (pred["scores"][di], matched, det_ignored, ignore)
    return out


def coco_evaluate(gts, preds, num_classes, iou_type, image_order=None):
    """pycocotools' evaluate + accumulate on normalised records.

    iou_type: "bbox" or "segm" (segm needs masks on both sides). image_order: the order images are pooled in
    (pycocotools: sorted image ids; only score ties across images depend on it); default: as given.
    Returns {"precision": float [T, R, K, M] (-1: class without ground truth), "recall": float [T, K, M]}.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type={iou_type!r}: valid are {', '.join(IOU_TYPES)}")
    order = range(len(gts)) if image_order is None else image_order
    per_image = [_image_class_results(gts[i], preds[i], iou_type, num_classes, MAX_DETS[-1]) for i in order]
    T, R, K, M = len(COCO_IOU_THRESHOLDS), len(ap_lib.RECALL_THRESHOLDS_101), num_classes - 1, len(MAX_DETS)
    precision = -np.ones((T, R, K, M))
    recall = -np.ones((T, K, M))
    for k in range(1, num_classes):
        entries = [r[k] for r in per_image if k in r]
        if not entries:
            continue
        gt_ignored = np.concatenate([e[3] for e in entries])
        num_gt = int(np.count_nonzero(~gt_ignored))
        if num_gt == 0:
            continue
        for mi, max_det in enumerate(MAX_DETS):
            scores = np.concatenate([e[0][:max_det] for e in entries])
            inds = np.argsort(-scores, kind="mergesort")
            matched = np.concatenate([e[1][:, :max_det] for e in entries], axis=1)[:, inds]
            ignored = np.concatenate([e[2][:, :max_det] for e in entries], axis=1)[:, inds]
            for ti in range(T):
                tps = matched[ti] & ~ignored[ti]
                fps = ~matched[ti] & ~ignored[ti]
                pr, rc = ap_lib.precision_recall(tps, num_gt, false_positives=fps, eps=np.spacing(1))
                recall[ti, k - 1, mi] = rc[-1] if rc.size else 0.0
                precision[ti, :, k - 1, mi] = ap_lib.interpolated_precision(pr, rc)
    return {"precision": precision, "recall": recall}


def _mean_valid(values):
    values = np.asarray(values)
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else None


def coco_summary(result, class_names, iou_type):
    """A variant block (label, mAP by threshold, mAR = AR@100, F1, per-class AP and recall) plus COCO's stats."""
    precision, recall = result["precision"][..., -1], result["recall"][..., -1]  # maxDets 100
    names = list(class_names)[1:]
    t_index = {key: int(np.where(np.isclose(COCO_IOU_THRESHOLDS, value))[0][0]) for key, value in REPORTED.items()}
    mean_ap = {key: _mean_valid(precision[ti]) for key, ti in t_index.items()}
    mean_ap["0.5:0.95"] = _mean_valid(precision)
    per_class = {key: {name: _mean_valid(precision[ti, :, k]) for k, name in enumerate(names)}
                 for key, ti in t_index.items()}
    per_class["0.5:0.95"] = {name: _mean_valid(precision[:, :, k]) for k, name in enumerate(names)}
    ar = {str(m): _mean_valid(result["recall"][..., mi]) for mi, m in enumerate(MAX_DETS)}
    what = "mask IoU" if iou_type == "segm" else "box IoU"
    return {
        "label": f"COCO-style AP ({what}, pycocotools rules: per category, maxDets 100, area all, 101-point)",
        "mAP": {key: mean_ap[key] for key in ("0.5", "0.7", "0.75", "0.9", "0.5:0.95")},
        "mAR": ar["100"], "mAR_definition": "COCO AR@100: recall averaged over IoU 0.5:0.95 and classes",
        "F1": paper_f1(mean_ap["0.5"], ar["100"]),
        "per_class_AP": per_class,
        "per_class_recall": {name: (None if recall[0, k] < 0 else float(recall[0, k])) for k, name in
                             enumerate(names)},
        "AR": ar,
        "stats": {"AP": mean_ap["0.5:0.95"], "AP50": mean_ap["0.5"], "AP75": mean_ap["0.75"],
                  "AR1": ar["1"], "AR10": ar["10"], "AR100": ar["100"]},
        "thresholds": [threshold_key(t) for t in COCO_IOU_THRESHOLDS],
    }
