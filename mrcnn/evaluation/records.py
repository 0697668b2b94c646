"""The per-image records every metric of mrcnn.evaluation reads, and their validation.

Shape shorthand:
    H, W: image height and width, N: ground-truth instances of one image, D: detections of one image.

A ground-truth record (one per image) is a dict:
    "class_ids": int [N], 1..NUM_CLASSES - 1; a negative id marks a crowd region (Matterport's convention).
    "masks": bool [H, W, N], or None / absent when only boxes are known (mask metrics are then skipped).
    "boxes": optional [N, (y1, x1, y2, x2)] pixels, (y2, x2) exclusive; extract_bboxes(masks) when absent.
    "iscrowd": optional bool [N] (True marks a crowd region; combined with negative class ids).
    "coco_bbox": optional float [N, (x, y, w, h)]: the COCO file's own boxes, used by the COCO-style box AP so it
        matches pycocotools to the last bit (load_coco_gt fills it).
A prediction record is the dict MaskRCNN.detect returns:
    "rois": [D, (y1, x1, y2, x2)] pixels; "class_ids": int [D]; "scores": float [D];
    "masks": bool [H, W, D], or None / absent for box-only results; optional "coco_bbox" as above.
`check_gt` and `check_pred` return normalised copies (NumPy arrays of fixed dtypes, "iscrowd" always present,
class ids made positive) or raise ValueError naming the image and the field.
"""

import numpy as np

from mrcnn.utils import extract_bboxes


def _masks(value, index, kind, count):
    if value is None:
        return None
    masks = np.asarray(value)
    if masks.ndim != 3 or masks.shape[-1] != count:
        raise ValueError(f"{kind}[{index}]['masks'] must be [H, W, {count}] (one mask per instance), "
                         f"got shape {masks.shape}")
    return masks if masks.dtype == bool else masks > 0.5


def _boxes(value, index, kind, field, count):
    boxes = np.asarray(value, dtype=np.float64)
    if boxes.size == 0 and count == 0:
        return np.zeros((0, 4))
    if boxes.ndim != 2 or boxes.shape != (count, 4):
        raise ValueError(f"{kind}[{index}][{field!r}] must be [{count}, 4], got shape {boxes.shape}")
    return boxes


def _class_ids(value, index, kind, num_classes, allow_negative):
    ids = np.asarray(value)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)
                         and not np.all(np.equal(np.mod(ids, 1), 0))):
        raise ValueError(f"{kind}[{index}]['class_ids'] must be a 1-D array of integers, got {ids!r}")
    ids = ids.astype(np.int64)
    bad = ids[(np.abs(ids) < 1) | (np.abs(ids) >= num_classes) | ((ids < 0) & (not allow_negative))]
    if bad.size:
        valid = f"1..{num_classes - 1}" + (" (negative for crowd)" if allow_negative else "")
        raise ValueError(f"{kind}[{index}]['class_ids'] holds {bad.tolist()}: valid ids are {valid} "
                         f"for {num_classes} class names")
    return ids


def check_gt(record, index, num_classes):
    """Normalised copy of one ground-truth record (see the module docstring); index names it in errors."""
    if not isinstance(record, dict) or "class_ids" not in record:
        raise ValueError(f"gts[{index}] must be a dict with 'class_ids' and 'masks' (and optional 'boxes'), "
                         f"got {type(record).__name__}")
    ids = _class_ids(record["class_ids"], index, "gts", num_classes, allow_negative=True)
    n = ids.shape[0]
    masks = _masks(record.get("masks"), index, "gts", n)
    if record.get("boxes") is not None:
        boxes = _boxes(record["boxes"], index, "gts", "boxes", n)
    elif masks is not None:
        boxes = extract_bboxes(masks).astype(np.float64)
    else:
        raise ValueError(f"gts[{index}] has neither 'masks' nor 'boxes': give at least one")
    iscrowd = ids < 0
    if record.get("iscrowd") is not None:
        flags = np.asarray(record["iscrowd"]).astype(bool).reshape(-1)
        if flags.shape[0] != n:
            raise ValueError(f"gts[{index}]['iscrowd'] must have {n} entries, got {flags.shape[0]}")
        iscrowd = iscrowd | flags
    out = {"class_ids": np.abs(ids), "masks": masks, "boxes": boxes, "iscrowd": iscrowd}
    if record.get("coco_bbox") is not None:
        out["coco_bbox"] = _boxes(record["coco_bbox"], index, "gts", "coco_bbox", n)
    return out


def check_pred(record, index, num_classes):
    """Normalised copy of one prediction record (see the module docstring); index names it in errors."""
    if not isinstance(record, dict) or "class_ids" not in record or "scores" not in record:
        raise ValueError(f"preds[{index}] must be a dict with 'rois', 'class_ids', 'scores' and 'masks' "
                         f"(MaskRCNN.detect's output), got {type(record).__name__}")
    ids = _class_ids(record["class_ids"], index, "preds", num_classes, allow_negative=False)
    n = ids.shape[0]
    scores = np.asarray(record["scores"], dtype=np.float64).reshape(-1)
    if scores.shape[0] != n or not np.all(np.isfinite(scores)):
        raise ValueError(f"preds[{index}]['scores'] must hold {n} finite numbers, got {scores!r}")
    masks = _masks(record.get("masks"), index, "preds", n)
    if record.get("rois") is not None:
        rois = _boxes(record["rois"], index, "preds", "rois", n)
    elif masks is not None:
        rois = extract_bboxes(masks).astype(np.float64)
    else:
        raise ValueError(f"preds[{index}] has neither 'rois' nor 'masks': give at least one")
    out = {"rois": rois, "class_ids": ids, "scores": scores, "masks": masks}
    if record.get("coco_bbox") is not None:
        out["coco_bbox"] = _boxes(record["coco_bbox"], index, "preds", "coco_bbox", n)
    return out


def check_records(gts, preds, class_names):
    """Validate both lists; returns (gts, preds) normalised. Masks of one image must share its [H, W]."""
    if not isinstance(class_names, (list, tuple)) or len(class_names) < 2:
        raise ValueError(f"class_names must list the background and at least one class, e.g. ['BG', 'cell'], "
                         f"got {class_names!r}")
    gts, preds = list(gts), list(preds)
    if len(gts) != len(preds):
        raise ValueError(f"gts and preds must hold one record per image: got {len(gts)} and {len(preds)}")
    num_classes = len(class_names)
    gts = [check_gt(g, i, num_classes) for i, g in enumerate(gts)]
    preds = [check_pred(p, i, num_classes) for i, p in enumerate(preds)]
    for i, (g, p) in enumerate(zip(gts, preds)):
        if g["masks"] is not None and p["masks"] is not None and g["masks"].shape[:2] != p["masks"].shape[:2]:
            raise ValueError(f"image {i}: ground-truth masks are {g['masks'].shape[:2]} but predicted masks are "
                             f"{p['masks'].shape[:2]}; both must be in the original image's pixels")
    return gts, preds


def coco_bbox(record, field):
    """[N, (x, y, w, h)] float boxes of a normalised record: its "coco_bbox", else converted from `field`."""
    if "coco_bbox" in record:
        return record["coco_bbox"]
    b = record[field]
    return np.stack([b[:, 1], b[:, 0], b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], axis=1) if len(b) else np.zeros((0, 4))


def safe_boxes(boxes):
    """Boxes with every all-zero row replaced by (0, 0, 0, 1).

    mrcnn.utils.compute_matches/compute_ap drop all-zero rows as padding (trim_zeros) and then cut the masks to the
    remaining count, which misaligns masks and boxes when a zero row is not trailing (an empty mask gives a zero
    box). The boxes are used for nothing else there, so a placeholder keeps every instance in place.
    """
    boxes = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    boxes[np.all(boxes == 0, axis=1)] = (0, 0, 0, 1)
    return boxes


def crop_to_content(gt, pred, pad=0):
    """(gt, pred) with both masks cut to the box around every mask pixel of the image (at least 1 x 1), widened by
    `pad` pixels on each side within the image.

    Mask IoUs, intersections and distances between the masks do not change, and the mask arithmetic of the metrics
    gets cheaper (a PBC cell covers a tenth of its image). Boxes are left in image pixels.
    """
    if gt["masks"] is None or pred["masks"] is None:
        return gt, pred
    # Reductions that keep the instance axis inside the reduced block (any(axis=-1) alone is ~100x slower).
    rows = np.where(gt["masks"].any(axis=(1, 2)) | pred["masks"].any(axis=(1, 2)))[0]
    cols = np.where(gt["masks"].any(axis=0).any(axis=-1) | pred["masks"].any(axis=0).any(axis=-1))[0]
    height, width = gt["masks"].shape[:2]
    y1, y2 = (max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, height)) if rows.size else (0, 1)
    x1, x2 = (max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, width)) if cols.size else (0, 1)
    return dict(gt, masks=gt["masks"][y1:y2, x1:x2]), dict(pred, masks=pred["masks"][y1:y2, x1:x2])
