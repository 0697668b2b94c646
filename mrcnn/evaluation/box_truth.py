"""Scoring detections against box-only ground truth (no masks, e.g. YOLO labels): recall, precision and box AP of a
group of classes, and which ground truth each predicted class lands on.

Shape shorthand:
    N: ground-truth boxes of one image, D: detections of one image, P: detections of one target over the dataset.

Records, one per image:
    ground truth {"boxes": [N, (y1, x1, y2, x2)] pixels, "class_ids": int [N]}, in the label file's class ids;
    predictions as MaskRCNN.detect returns them {"rois": [D, (y1, x1, y2, x2)] pixels, "class_ids": int [D],
        "scores": float [D]} (masks are not read), in the model's class ids.
The two id spaces need not agree: a target names the ground-truth classes and the predicted classes that stand for
the same thing (white cells: TXL-PBC's class 0 "WBC" against PBC's six white-cell classes).

Matching, per image and target: the target's detections (any of its predicted classes) are matched one-to-one to its
boxes (any of its ground-truth classes), class-agnostically, by box IoU (mrcnn.utils.compute_overlaps), with
pycocotools' greedy rule (coco_style.matched_ground_truth): best score first, each detection takes the not-yet-taken
box with the highest IoU >= iou_threshold. A second detection on a box already taken is a false positive.
Figures over the dataset (score_target):
    recall = matched boxes / boxes (None without boxes); precision = matched detections / detections (None without
    detections); AP at iou_threshold: the target's detections of every image pooled and sorted by score (stable
    mergesort), one precision-recall curve against all its boxes (ap.precision_recall), given with the paper's
    11-point interpolation (ap.ap_11_point, eq. 5) and the all-point area (ap.ap_all_point, VOC 2010 / Matterport);
    None without boxes. Only the detections the model returned (score >= its threshold) reach the curve.
Overlap table (overlap_table), a diagnostic: every detection, whatever its class, goes to the class of the box it
overlaps most when that IoU >= iou_threshold (not one-to-one), else to "none"; e.g. how many erythroblast detections
sit on a white cell, how many white-cell detections on a red cell.
"""

from collections import namedtuple

import numpy as np

from mrcnn.evaluation import ap as ap_lib
from mrcnn.evaluation.coco_style import matched_ground_truth
from mrcnn.utils import compute_overlaps

# One group of classes scored together: name, ground-truth class ids, predicted class ids.
Target = namedtuple("Target", "name gt_classes pred_classes")
NONE_LABEL = "none"


def _checked(gts, preds):
    """(gts, preds) as lists of dicts of NumPy arrays, or a ValueError naming the image and field."""
    gts, preds = list(gts), list(preds)
    if len(gts) != len(preds):
        raise ValueError(f"gts and preds must hold one record per image, got {len(gts)} and {len(preds)}")
    out_g, out_p = [], []
    for i, (g, p) in enumerate(zip(gts, preds)):
        records = {}
        for kind, record, box_key, keys in (("gts", g, "boxes", ("class_ids",)),
                                           ("preds", p, "rois", ("class_ids", "scores"))):
            boxes = np.asarray(record[box_key], dtype=np.float64)
            if boxes.size == 0:
                boxes = boxes.reshape(0, 4)
            if boxes.ndim != 2 or boxes.shape[1] != 4:
                raise ValueError(f"{kind}[{i}][{box_key!r}] must be [N, (y1, x1, y2, x2)], got shape {boxes.shape}")
            fields = {box_key: boxes}
            for key in keys:
                values = np.asarray(record[key]).reshape(-1)
                if values.shape[0] != boxes.shape[0]:
                    raise ValueError(f"{kind}[{i}][{key!r}] has {values.shape[0]} entries for {boxes.shape[0]} "
                                     "boxes; expected one per box")
                fields[key] = values.astype(np.float64 if key == "scores" else np.int64)
            records[kind] = fields
        out_g.append(records["gts"])
        out_p.append(records["preds"])
    return out_g, out_p


def match_boxes(gt_boxes, pred_boxes, pred_scores, iou_threshold=0.5):
    """Greedy one-to-one matching of one image's detections to its boxes (see the module docstring).

    gt_boxes: [N, (y1, x1, y2, x2)]; pred_boxes: [D, (y1, x1, y2, x2)]; pred_scores: [D].
    Returns (pred_match int [D]: index of the box each detection took, -1 for none, in the given order;
             gt_match int [N]: index of the detection that took each box, -1 for none;
             ious float [D, N]).
    """
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    ious = compute_overlaps(pred_boxes, gt_boxes)
    order = np.argsort(-scores, kind="mergesort")
    taken = matched_ground_truth(ious[order], np.zeros(len(gt_boxes), dtype=bool), thresholds=[iou_threshold])[0]
    pred_match = -np.ones(len(pred_boxes), dtype=np.int64)
    pred_match[order] = taken
    gt_match = -np.ones(len(gt_boxes), dtype=np.int64)
    hit = np.where(pred_match > -1)[0]
    gt_match[pred_match[hit]] = hit
    return pred_match, gt_match, ious


def _ratio(num, den):
    return float(num) / den if den else None


def score_target(gts, preds, gt_classes, pred_classes, iou_threshold=0.5):
    """Recall, precision and AP of one target over the dataset (module docstring).

    gt_classes, pred_classes: the ground-truth and predicted class ids that make the target.
    Returns {"boxes", "detections", "matched", "recall", "precision", "ap_11point", "ap_allpoint",
    "per_image": [{"boxes", "detections", "matched", "missed": box indices, "unmatched": detection indices}]}
    (indices into the image's records).
    """
    gts, preds = _checked(gts, preds)
    scores, hits, per_image = [], [], []
    for g, p in zip(gts, preds):
        gi = np.where(np.isin(g["class_ids"], list(gt_classes)))[0]
        di = np.where(np.isin(p["class_ids"], list(pred_classes)))[0]
        pred_match, gt_match, _ = match_boxes(g["boxes"][gi], p["rois"][di], p["scores"][di], iou_threshold)
        scores.append(p["scores"][di])
        hits.append(pred_match > -1)
        per_image.append({"boxes": int(gi.size), "detections": int(di.size), "matched": int(np.sum(gt_match > -1)),
                          "missed": gi[gt_match == -1].tolist(), "unmatched": di[pred_match == -1].tolist()})
    num_boxes = sum(r["boxes"] for r in per_image)
    num_dets = sum(r["detections"] for r in per_image)
    matched = sum(r["matched"] for r in per_image)
    out = {"boxes": num_boxes, "detections": num_dets, "matched": matched, "recall": _ratio(matched, num_boxes),
           "precision": _ratio(matched, num_dets), "ap_11point": None, "ap_allpoint": None, "per_image": per_image}
    if num_boxes:
        scores = np.concatenate(scores) if scores else np.zeros(0)
        hits = np.concatenate(hits) if hits else np.zeros(0, bool)
        order = np.argsort(-scores, kind="mergesort")
        precisions, recalls = ap_lib.precision_recall(hits[order], num_boxes)
        out["ap_11point"] = ap_lib.ap_11_point(precisions, recalls)
        out["ap_allpoint"] = ap_lib.ap_all_point(precisions, recalls)
    return out


def overlap_table(gts, preds, pred_class_names, gt_class_names, iou_threshold=0.5):
    """{predicted class name: {ground-truth class name or "none": detections}} (module docstring).

    pred_class_names: names by predicted class id (the model's, background first); gt_class_names: names by
    ground-truth class id. Only predicted classes that occur are listed.
    """
    gts, preds = _checked(gts, preds)
    columns = list(gt_class_names) + [NONE_LABEL]
    table = {}
    for g, p in zip(gts, preds):
        ious = compute_overlaps(p["rois"], g["boxes"])
        for d, class_id in enumerate(p["class_ids"]):
            row = table.setdefault(pred_class_names[class_id], dict.fromkeys(columns, 0))
            best = int(np.argmax(ious[d])) if ious.shape[1] else -1
            row[gt_class_names[g["class_ids"][best]] if best >= 0 and ious[d, best] >= iou_threshold
                else NONE_LABEL] += 1
    return {name: table[name] for name in pred_class_names if name in table}


def score_box_detections(gts, preds, targets, pred_class_names, gt_class_names, iou_threshold=0.5):
    """{"iou_threshold", "targets": {target name: score_target(...)}, "overlaps": overlap_table(...)}.

    targets: Target tuples (name, ground-truth class ids, predicted class ids).
    """
    return {"iou_threshold": iou_threshold,
            "targets": {t.name: score_target(gts, preds, t.gt_classes, t.pred_classes, iou_threshold)
                        for t in targets},
            "overlaps": overlap_table(gts, preds, pred_class_names, gt_class_names, iou_threshold)}
