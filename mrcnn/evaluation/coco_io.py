"""COCO files in and out: instances ground truth, results, and a cross-check with pycocotools itself.

Shape shorthand:
    H, W: image height and width, N: instances of one image, D: detections of one image, K: categories.

Class ids are ours (1..K, 0 = background); category ids are the file's. load_coco_gt numbers the categories in
ascending category id (pycocotools' order) and returns the mapping both ways. A ground truth is parsed by the
annotation reader that training data goes through (mrcnn.data.annotations, no image opened) and refused when the
reader would skip any part of it; segmentations, of the ground truth and of results, are decoded by the project's
one decoder, mrcnn/data/annotations/masks.py (pycocotools: polygons and uncompressed RLE through frPyObjects,
parts merged), so mask IoUs are pycocotools' and pbc.py evaluate sees the same masks.
Results are written as COCO expects them: bbox [x, y, w, h] from the (y1, x1, y2, x2) rois, RLE "counts" as str.
"""

import contextlib
import copy
import io
import json
import logging
import os

import numpy as np
from pycocotools import mask as mask_utils

from mrcnn.data.annotations.coco import coco_categories, parse_coco_instances
from mrcnn.data.annotations.masks import decode_rles, instance_rle, segmentation_rle

log = logging.getLogger(__name__)


def _load_json(source, what):
    if isinstance(source, (dict, list)):
        return source
    if not os.path.isfile(source):
        raise FileNotFoundError(f"{what} file not found: {source}")
    with open(source, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}: not valid JSON ({e})") from None


def _strict_read(data, name):
    """The ImageRecords of a COCO ground truth parsed by the annotation reader (no image opened, boxes kept);
    ValueError when the reader had to skip anything: scoring a part of a ground truth would change the figures."""
    records, report = parse_coco_instances(data, name, boxes=True)
    if report.skipped_images or report.skipped_instances or report.skipped_polygons:
        first = (report.skipped_images + report.skipped_instances)[:3]
        details = "; ".join(f"{item}: {reason}" for item, reason in first) or "see the warnings above"
        raise ValueError(f"{name}: the ground truth must be read whole to be scored, but {report.summary()} "
                         f"({details}); fix the file")
    return records


def load_coco_gt(source, image_dir=None):
    """Ground truth of a COCO instances file (or its dict), one record per image in ascending image id.

    image_dir: optional folder of the images; each record then has "path" (the file is not read here).
    Returns {"records": [gt record + "image_id", "file_name", "height", "width"], "image_ids": [...],
    "class_names": ["BG", names...], "category_ids": [category id of class 1, 2, ...],
    "category_map": {class id: category id}, "source": str}. Masks are None for every image when some annotation
    has no segmentation (a box-only file: mask metrics are skipped).

    The file is parsed by the annotation reader the training data goes through
    (mrcnn.data.annotations.parse_coco_instances, without opening any image: sizes are the file's) and decoded
    by its decoder (masks.py), so pbc.py evaluate and this function see the same masks. Polygons partly outside
    their image are clipped to it (pycocotools rasterises them unclipped: a few pixels along the border differ).
    Anything the reader would skip (an annotation of an unknown image or category, a malformed polygon, RLE, bbox
    or image entry, ...) is a ValueError here instead: a partly read ground truth would be scored as if it were
    whole.
    """
    data = _load_json(source, "ground-truth")
    name = source if isinstance(source, str) else "<dict>"
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise ValueError(f"{name if isinstance(source, str) else 'gt'}: not a COCO instances file "
                             f"(no '{key}' list)")
    images = _strict_read(data, name)
    categories = coco_categories(data, name)  # {category id: name}, checked by the reader already
    category_ids = sorted(categories)
    class_of = {cid: k + 1 for k, cid in enumerate(category_ids)}
    try:
        images.sort(key=lambda image: image.image_id)
    except TypeError:
        raise ValueError(f"{name}: image ids must be all ints or all strings to be ordered") from None
    with_masks = all(i.polygons or i.rle is not None for image in images for i in image.instances)
    if not with_masks:
        log.warning("some annotations have no segmentation: masks are not loaded, mask metrics will be skipped")
    records = []
    for image in images:
        h, w = image.height, image.width
        rles = [instance_rle(i, h, w) for i in image.instances]
        bbox = np.array([i.bbox if i.bbox is not None else mask_utils.toBbox(rle)
                         for i, rle in zip(image.instances, rles)], dtype=np.float64).reshape(-1, 4)
        record = {
            "image_id": image.image_id, "file_name": image.file_name, "height": h, "width": w,
            "class_ids": np.array([class_of[i.category_id] for i in image.instances], dtype=np.int64),
            "iscrowd": np.array([i.iscrowd for i in image.instances], dtype=bool),
            "coco_bbox": bbox,
            "boxes": np.stack([bbox[:, 1], bbox[:, 0], bbox[:, 1] + bbox[:, 3], bbox[:, 0] + bbox[:, 2]], axis=1),
            "masks": decode_rles(rles, h, w) if with_masks else None,
        }
        if image_dir is not None and image.file_name:
            record["path"] = os.path.join(image_dir, image.file_name)
        records.append(record)
    return {"records": records, "image_ids": [image.image_id for image in images],
            "class_names": ["BG"] + [categories[cid] for cid in category_ids],
            "category_ids": category_ids, "category_map": {k + 1: cid for k, cid in enumerate(category_ids)},
            "source": name}


def load_coco_results(source, gt):
    """Prediction records of a COCO results file (or list), aligned with gt["image_ids"] (load_coco_gt's output).

    Every result needs image_id, category_id, score and bbox or segmentation. Masks are loaded when every result
    has a segmentation, else all masks are None (box-only results). Raises ValueError for an image or category the
    ground truth does not have (pycocotools refuses those too).
    """
    results = _load_json(source, "results")
    if not isinstance(results, list):
        raise ValueError(f"results must be a JSON list of detections, got {type(results).__name__}")
    index = {image_id: i for i, image_id in enumerate(gt["image_ids"])}
    class_of = {cid: k for k, cid in gt["category_map"].items()}
    per_image = [[] for _ in gt["image_ids"]]
    for n, r in enumerate(results):
        for key in ("image_id", "category_id", "score"):
            if key not in r:
                raise ValueError(f"results[{n}] has no {key!r}")
        if r["image_id"] not in index:
            raise ValueError(f"results[{n}]: image_id {r['image_id']} is not in the ground truth")
        if r["category_id"] not in class_of:
            raise ValueError(f"results[{n}]: category_id {r['category_id']} is not in the ground truth's "
                             f"categories {gt['category_ids']}")
        if "bbox" not in r and "segmentation" not in r:
            raise ValueError(f"results[{n}] has neither 'bbox' nor 'segmentation'")
        per_image[index[r["image_id"]]].append(r)
    with_masks = bool(results) and all(r.get("segmentation") for r in results)
    records = []
    for i, items in enumerate(per_image):
        g = gt["records"][i]
        h, w = g["height"], g["width"]
        rles = [segmentation_rle(r["segmentation"], h, w, f"result for image {g['image_id']}")
                if r.get("segmentation") else None for r in items]
        bbox = np.array([r["bbox"] if "bbox" in r else mask_utils.toBbox(rle) for r, rle in zip(items, rles)],
                        dtype=np.float64).reshape(-1, 4)
        records.append({
            "image_id": g["image_id"],
            "class_ids": np.array([class_of[r["category_id"]] for r in items], dtype=np.int64),
            "scores": np.array([r["score"] for r in items], dtype=np.float64),
            "coco_bbox": bbox,
            "rois": np.stack([bbox[:, 1], bbox[:, 0], bbox[:, 1] + bbox[:, 3], bbox[:, 0] + bbox[:, 2]], axis=1),
            "masks": decode_rles(rles, h, w) if with_masks or not results else None,
        })
    return records


def encode_mask(mask):
    """COCO compressed RLE of one bool [H, W] mask, "counts" as str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _category(category_map, class_id):
    if category_map is None:
        return int(class_id)
    try:
        return int(category_map[int(class_id)])
    except (KeyError, IndexError):
        raise ValueError(f"class id {class_id} has no entry in category_map") from None


def to_coco_results(records, image_ids, category_map=None):
    """COCO results (a list of dicts) from prediction records (MaskRCNN.detect's dicts), one per image.

    image_ids: the COCO image id of each record; category_map: {class id: category id} (or a list indexed by class
    id); None keeps class ids as category ids. "segmentation" (RLE) is written when the record has masks.
    """
    if len(records) != len(image_ids):
        raise ValueError(f"records and image_ids must match one to one, got {len(records)} and {len(image_ids)}")
    out = []
    for record, image_id in zip(records, image_ids):
        rois = np.asarray(record["rois"], dtype=np.float64).reshape(-1, 4)
        masks = record.get("masks")
        for d in range(rois.shape[0]):
            y1, x1, y2, x2 = (float(v) for v in rois[d])
            item = {"image_id": image_id, "category_id": _category(category_map, record["class_ids"][d]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(record["scores"][d])}
            if masks is not None:
                item["segmentation"] = encode_mask(masks[..., d])
            out.append(item)
    return out


def to_coco_gt(records, class_names, image_ids=None, category_ids=None, file_names=None):
    """A COCO instances dict from ground-truth records (masks as RLE); ids default to 1, 2, ...

    The boxes written are the records' "coco_bbox", else their "boxes", else the masks' tight boxes.
    """
    from mrcnn.evaluation.records import check_gt, coco_bbox
    image_ids = list(image_ids) if image_ids is not None else list(range(1, len(records) + 1))
    category_ids = list(category_ids) if category_ids is not None else list(range(1, len(class_names)))
    images, annotations = [], []
    for n, (raw, image_id) in enumerate(zip(records, image_ids)):
        record = check_gt(raw, n, len(class_names))
        masks = record["masks"]
        if masks is None:
            h, w = int(raw["height"]), int(raw["width"])
        else:
            h, w = masks.shape[:2]
        images.append({"id": image_id, "height": int(h), "width": int(w),
                       "file_name": file_names[n] if file_names else f"{image_id}.png"})
        boxes = coco_bbox(record, "boxes")
        for i in range(record["class_ids"].shape[0]):
            ann = {"id": len(annotations) + 1, "image_id": image_id,
                   "category_id": category_ids[record["class_ids"][i] - 1],
                   "bbox": [float(v) for v in boxes[i]], "iscrowd": int(record["iscrowd"][i])}
            if masks is not None:
                ann["segmentation"] = encode_mask(masks[..., i])
                ann["area"] = float(masks[..., i].sum())
            else:
                ann["area"] = float(boxes[i, 2] * boxes[i, 3])
            annotations.append(ann)
    categories = [{"id": cid, "name": name} for cid, name in zip(category_ids, class_names[1:])]
    return {"images": images, "annotations": annotations, "categories": categories}


def score_with_pycocotools(gt, results, iou_type):
    """pycocotools' own COCOeval stats for a cross-check: {"AP", "AP50", "AP75", "AP_small", ..., "AR100", ...}.

    gt: a COCO instances file or dict; results: a results file or list; iou_type "bbox" or "segm".
    Returns None when there is no detection (pycocotools cannot load an empty result list).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    data = _load_json(gt, "ground-truth")
    results = _load_json(results, "results")
    if not results:
        return None
    results = copy.deepcopy(results)
    if iou_type == "bbox":
        for r in results:
            r.pop("segmentation", None)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(data)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    names = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
             "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")
    return {name: (float(v) if v >= 0 else None) for name, v in zip(names, evaluator.stats)}
