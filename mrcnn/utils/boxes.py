"""Boxes outside the graph, in NumPy: tight boxes of masks, IoU of boxes and of masks, NMS, box deltas, normalization.

Boxes are in pixels and follow the box and delta conventions stated in ``mrcnn/ops/boxes.py``, whose graph functions
these twin (tests/ops/test_boxes.py checks the parity). Differences from Matterport: ValueError messages instead of
asserts, and no crash or NaN on empty or degenerate input.

Shape shorthand:
    N: boxes or instances, M: a second set of boxes or instances, H, W: image height and width.
"""

import numpy as np


def _as_boxes(boxes, name):
    """Return ``boxes`` as an array of shape [N, 4] or raise a ValueError naming the argument."""
    boxes = np.asarray(boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape [N, (y1, x1, y2, x2)], got shape {boxes.shape}")
    return boxes


def extract_bboxes(mask):
    """Tight boxes around masks.

    mask: [H, W, N] of bool or 0/1 values.
    Returns: int32 [N, (y1, x1, y2, x2)] with (y2, x2) exclusive; an empty mask gives a row of zeros
    (this happens after resizing or cropping).
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must have shape [height, width, instances], got shape {mask.shape}")
    boxes = np.zeros([mask.shape[-1], 4], dtype=np.int32)
    for i in range(mask.shape[-1]):
        m = mask[:, :, i]
        cols = np.where(np.any(m, axis=0))[0]
        rows = np.where(np.any(m, axis=1))[0]
        if cols.size:
            boxes[i] = (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1)
    return boxes


def compute_iou(box, boxes, box_area, boxes_area):
    """IoU of one box with each of ``boxes``.

    box: [(y1, x1, y2, x2)]; boxes: [N, (y1, x1, y2, x2)]; box_area: float, the area of ``box``;
    boxes_area: [N], the areas of ``boxes`` (passed in so callers compute them once).
    Returns: float [N]; 0 where the union is empty (two degenerate boxes).
    """
    y1 = np.maximum(box[0], boxes[:, 0])
    y2 = np.minimum(box[2], boxes[:, 2])
    x1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[3], boxes[:, 3])
    intersection = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = box_area + np.asarray(boxes_area) - intersection
    safe_union = np.where(union > 0, union, 1)
    return np.where(union > 0, intersection / safe_union, 0.0)


def compute_overlaps(boxes1, boxes2):
    """IoU between two sets of boxes (vectorized; same values as Matterport's loop).

    boxes1: [N, (y1, x1, y2, x2)]; boxes2: [M, (y1, x1, y2, x2)].
    Returns: float [N, M].
    """
    boxes1 = _as_boxes(boxes1, "boxes1").astype(np.float64)
    boxes2 = _as_boxes(boxes2, "boxes2").astype(np.float64)
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    y1 = np.maximum(boxes1[:, None, 0], boxes2[None, :, 0])
    x1 = np.maximum(boxes1[:, None, 1], boxes2[None, :, 1])
    y2 = np.minimum(boxes1[:, None, 2], boxes2[None, :, 2])
    x2 = np.minimum(boxes1[:, None, 3], boxes2[None, :, 3])
    intersection = np.maximum(y2 - y1, 0) * np.maximum(x2 - x1, 0)
    union = area1[:, None] + area2[None, :] - intersection
    safe_union = np.where(union > 0, union, 1)
    return np.where(union > 0, intersection / safe_union, 0.0)


def compute_overlaps_masks(masks1, masks2):
    """IoU between two sets of masks (pixels > 0.5 count as foreground).

    masks1: [H, W, N]; masks2: [H, W, M].
    Returns: float [N, M]; all zeros (shape [N, M]) when either set is empty.
    """
    masks1 = np.asarray(masks1)
    masks2 = np.asarray(masks2)
    n1, n2 = masks1.shape[-1], masks2.shape[-1]
    if n1 == 0 or n2 == 0:
        return np.zeros((n1, n2))
    if masks1.shape[:2] != masks2.shape[:2]:
        raise ValueError(f"masks1 and masks2 must share [height, width], "
                         f"got {masks1.shape} and {masks2.shape}")
    flat1 = np.reshape(masks1 > 0.5, (-1, n1)).astype(np.float32)
    flat2 = np.reshape(masks2 > 0.5, (-1, n2)).astype(np.float32)
    area1 = flat1.sum(axis=0)
    area2 = flat2.sum(axis=0)
    intersections = flat1.T @ flat2
    union = area1[:, None] + area2[None, :] - intersections
    return np.where(union > 0, intersections / np.where(union > 0, union, 1), 0.0)


def non_max_suppression(boxes, scores, threshold):
    """Greedy NMS: keep the best-scoring box, drop the others whose IoU with it exceeds ``threshold``.

    boxes: [N, (y1, x1, y2, x2)]; scores: [N]; threshold: float IoU.
    Returns: int32 [K] indices of kept boxes, best score first (equal scores: lower index first).
    An empty input gives an empty result.
    """
    boxes = _as_boxes(boxes, "boxes")
    scores = np.asarray(scores)
    if scores.shape != (boxes.shape[0],):
        raise ValueError(f"scores must have shape [{boxes.shape[0]}] to match boxes, got {scores.shape}")
    if boxes.dtype.kind != "f":
        boxes = boxes.astype(np.float32)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ixs = np.argsort(-scores, kind="stable")
    pick = []
    while ixs.size > 0:
        i = ixs[0]
        pick.append(i)
        iou = compute_iou(boxes[i], boxes[ixs[1:]], area[i], area[ixs[1:]])
        ixs = ixs[1:][iou <= threshold]
    return np.array(pick, dtype=np.int32)


def box_refinement(box, gt_box):
    """Deltas that move ``box`` onto ``gt_box``.

    box, gt_box: [N, (y1, x1, y2, x2)] with (y2, x2) exclusive.
    Returns: float32 [N, (dy, dx, log(dh), log(dw))].
    """
    box = _as_boxes(box, "box").astype(np.float32)
    gt_box = _as_boxes(gt_box, "gt_box").astype(np.float32)
    height = box[:, 2] - box[:, 0]
    width = box[:, 3] - box[:, 1]
    center_y = box[:, 0] + 0.5 * height
    center_x = box[:, 1] + 0.5 * width
    gt_height = gt_box[:, 2] - gt_box[:, 0]
    gt_width = gt_box[:, 3] - gt_box[:, 1]
    gt_center_y = gt_box[:, 0] + 0.5 * gt_height
    gt_center_x = gt_box[:, 1] + 0.5 * gt_width
    dy = (gt_center_y - center_y) / height
    dx = (gt_center_x - center_x) / width
    dh = np.log(gt_height / height)
    dw = np.log(gt_width / width)
    return np.stack([dy, dx, dh, dw], axis=1).astype(np.float32)


def apply_box_deltas(boxes, deltas):
    """Apply ``(dy, dx, log(dh), log(dw))`` deltas; the inverse of ``box_refinement``.

    boxes: [N, (y1, x1, y2, x2)]; deltas: [N, (dy, dx, log(dh), log(dw))].
    Returns: float32 [N, (y1, x1, y2, x2)].
    """
    boxes = _as_boxes(boxes, "boxes").astype(np.float32)
    deltas = _as_boxes(deltas, "deltas").astype(np.float32)
    height = boxes[:, 2] - boxes[:, 0]
    width = boxes[:, 3] - boxes[:, 1]
    center_y = boxes[:, 0] + 0.5 * height + deltas[:, 0] * height
    center_x = boxes[:, 1] + 0.5 * width + deltas[:, 1] * width
    height = height * np.exp(deltas[:, 2])
    width = width * np.exp(deltas[:, 3])
    y1 = center_y - 0.5 * height
    x1 = center_x - 0.5 * width
    return np.stack([y1, x1, y1 + height, x1 + width], axis=1).astype(np.float32)


def _norm_scale_shift(shape):
    if len(shape) != 2:
        raise ValueError(f"shape must be (height, width), got {tuple(shape)}")
    h, w = int(shape[0]), int(shape[1])
    if h < 2 or w < 2:
        raise ValueError(f"shape must be at least (2, 2) to normalize boxes, got ({h}, {w})")
    return np.array([h - 1, w - 1, h - 1, w - 1]), np.array([0, 0, 1, 1])


def norm_boxes(boxes, shape):
    """Pixel boxes -> normalized boxes.

    boxes: [N, (y1, x1, y2, x2)] pixels, (y2, x2) exclusive; shape: (height, width) in pixels.
    Returns: float32 [N, (y1, x1, y2, x2)] normalized, (y2, x2) inclusive.
    """
    scale, shift = _norm_scale_shift(shape)
    return np.divide(np.asarray(boxes) - shift, scale).astype(np.float32)


def denorm_boxes(boxes, shape):
    """Normalized boxes -> pixel boxes (rounded to the nearest pixel).

    boxes: [N, (y1, x1, y2, x2)] normalized; shape: (height, width) in pixels.
    Returns: int32 [N, (y1, x1, y2, x2)] pixels, (y2, x2) exclusive.
    """
    scale, shift = _norm_scale_shift(shape)
    return np.around(np.multiply(boxes, scale) + shift).astype(np.int32)


def trim_zeros(x):
    """Drop the rows of ``x`` that are all zeros (zero padding). x: [rows, columns]."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D [rows, columns], got shape {x.shape}")
    return x[~np.all(x == 0, axis=1)]
