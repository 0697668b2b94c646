"""evaluate_predictions: every metric of mrcnn.evaluation on one set of predictions, as the metrics.json dict.

Shape shorthand:
    H, W: image height and width, N: ground-truth instances of one image, D: detections of one image.

Inputs are per-image records (mrcnn/evaluation/records.py): ground truth {"class_ids" [N], "masks" bool [H, W, N],
optional "boxes" [N, (y1, x1, y2, x2)], "iscrowd" [N]} and predictions as MaskRCNN.detect returns them
{"rois" [D, (y1, x1, y2, x2)], "class_ids" [D], "scores" [D], "masks" bool [H, W, D]}. Everything that needs masks
is skipped (and listed in meta.skipped) when either side has none. The output layout is versioned by
SCHEMA_VERSION and documented in the README ("metrics.json"); keys are only ever added.
"""

import logging
import math
import time

import numpy as np

from mrcnn.evaluation import classification, coco_style, matterport, objects, semantic
from mrcnn.evaluation.records import check_records

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# The variant the report and compare_runs put beside the paper's Table 4 when the caller names none: eq. 5.
PRIMARY_VARIANT = "11point"
VARIANT_ORDER = ("11point", "allpoint", "101point", "matterport", "coco_segm", "coco_bbox")


def to_jsonable(value):
    """A copy of `value` with NumPy scalars/arrays as Python numbers/lists and NaN/inf as None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def evaluate_predictions(gts, preds, class_names, image_ids=None, image_labels=None, coco=True, semantic_metrics=True,
                         object_metrics=True, bf_tolerance=semantic.DEFAULT_BF_TOLERANCE, losses=None,
                         source=None):
    """All metrics of one prediction set (the metrics.json dict; see the README for the schema).

    Args:
        gts, preds: one ground-truth and one prediction record per image (same order).
        class_names: names by class id, background first (["BG", "basophil", ...]).
        image_ids: optional COCO image ids of the images; the COCO-style path pools images in ascending id, as
            pycocotools does (only matters for score ties across images).
        image_labels: optional true class id per image for the classification (default: the class of the image's
            largest ground-truth instance).
        coco: compute the COCO-style bbox and segm figures.
        semantic_metrics, object_metrics: compute the 003 and 004 blocks (need masks).
        bf_tolerance: BF-score distance tolerance as a fraction of the image diagonal.
        losses: read_losses(log_dir)'s dict to store as the "losses" block (Table 3), or None.
        source: free-form {name: str} stored in meta.source (e.g. gt file, results file, backbone, run folder).
    Returns: the metrics dict, JSON-ready (NaN as None).
    """
    start = time.time()
    gts, preds = check_records(gts, preds, class_names)
    class_names = [str(n) for n in class_names]
    if image_ids is not None and len(image_ids) != len(gts):
        raise ValueError(f"image_ids must hold one id per image ({len(gts)}), got {len(image_ids)}")
    has_masks = all(g["masks"] is not None for g in gts) and all(p["masks"] is not None for p in preds)
    skipped = []
    variants, pr_curves = {}, None
    if has_masks:
        variants, pr_curves = matterport.matterport_detection(gts, preds, class_names)
    else:
        skipped += ["detection: 11point, allpoint, 101point, matterport (no masks)", "semantic (no masks)",
                    "objects (no masks)", "detection: coco_segm (no masks)"]
    if coco:
        order = None if image_ids is None else list(np.argsort(np.asarray(image_ids), kind="stable"))
        for iou_type in ("segm", "bbox") if has_masks else ("bbox",):
            result = coco_style.coco_evaluate(gts, preds, len(class_names), iou_type, image_order=order)
            variants[f"coco_{iou_type}"] = coco_style.coco_summary(result, class_names, iou_type)
    variants = {k: variants[k] for k in VARIANT_ORDER if k in variants}
    primary = PRIMARY_VARIANT if PRIMARY_VARIANT in variants else next(iter(variants), None)
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "meta": {
            "class_names": class_names,
            "num_images": len(gts),
            "num_gt_instances": int(sum(int((~g["iscrowd"]).sum()) for g in gts)),
            "num_crowd_regions": int(sum(int(g["iscrowd"].sum()) for g in gts)),
            "num_predictions": int(sum(p["scores"].size for p in preds)),
            "masks": has_masks,
            "skipped": skipped,
            "source": dict(source or {}),
        },
        "detection": {"primary": primary, "variants": variants, "pr_curves": pr_curves},
        "classification": classification.evaluate_classification(gts, preds, class_names, image_labels),
        "semantic": None,
        "objects": None,
        "losses": losses,
    }
    if has_masks and semantic_metrics:
        metrics["semantic"] = semantic.semantic_metrics(gts, preds, class_names, bf_tolerance)
    if has_masks and object_metrics:
        metrics["objects"] = objects.object_metrics(gts, preds)
    metrics["meta"]["seconds"] = round(time.time() - start, 3)
    log.info("evaluated %d images in %.1f s", len(gts), time.time() - start)
    return to_jsonable(metrics)


def evaluate_coco_files(gt_source, results_source, image_dir=None, check_with_pycocotools=False, **kwargs):
    """evaluate_predictions on a COCO instances file and a COCO results file (paths or loaded JSON).

    check_with_pycocotools: also score with pycocotools' COCOeval and store its stats and the largest difference
    from our COCO-style figures under detection.pycocotools. Other keyword arguments go to evaluate_predictions.
    """
    from mrcnn.evaluation import coco_io
    gt = coco_io.load_coco_gt(gt_source, image_dir=image_dir)
    preds = coco_io.load_coco_results(results_source, gt)
    source = {"gt": gt["source"], "results": results_source if isinstance(results_source, str) else "<list>"}
    source.update(kwargs.pop("source", None) or {})
    metrics = evaluate_predictions(gt["records"], preds, gt["class_names"], image_ids=gt["image_ids"],
                                   source=source, **kwargs)
    if check_with_pycocotools:
        metrics["detection"]["pycocotools"] = pycocotools_check(metrics, gt_source, results_source)
    return metrics


def pycocotools_check(metrics, gt_source, results_source):
    """{iou_type: {"stats": pycocotools' stats, "max_abs_difference": vs our COCO-style stats}}."""
    from mrcnn.evaluation import coco_io
    out = {}
    for iou_type in ("bbox", "segm"):
        ours = metrics["detection"]["variants"].get(f"coco_{iou_type}")
        if ours is None:
            continue
        theirs = coco_io.score_with_pycocotools(gt_source, results_source, iou_type)
        diffs = [abs(ours["stats"][k] - theirs[k]) for k in ours["stats"]
                 if theirs and ours["stats"][k] is not None and theirs.get(k) is not None]
        out[iou_type] = {"stats": theirs, "max_abs_difference": max(diffs) if diffs else None}
    return to_jsonable(out)
