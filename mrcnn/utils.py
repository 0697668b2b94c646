"""Matterport's NumPy helpers and the ``Dataset`` base class (names and semantics kept).

Everything here runs outside the graph on NumPy arrays; no TensorFlow is imported. Boxes are in pixels
and follow the box and delta conventions stated in ``mrcnn/ops/boxes.py``. Differences from Matterport: clear ``ValueError`` messages instead of
asserts, no crash or NaN on empty inputs, ``compute_matches`` no longer lets a second prediction match a
ground truth already matched to prediction 0, verbose output goes through ``logging``, and nothing is
ever downloaded.

Shape shorthand:
    N: instances (ground truth or predictions), M: a second set of boxes or instances,
    A: anchors, H, W: image height and width, C: image channels, h, w: mini-mask height and width.
"""

import logging
import random
import warnings

import numpy as np
import scipy.ndimage
import skimage.transform

from mrcnn.data.image_io import MAX_IMAGE_PIXELS, read_image_rgb

logger = logging.getLogger(__name__)

# Where Matterport publishes its COCO weights; only quoted in an error message, never fetched.
COCO_MODEL_URL = "https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5"


def _as_boxes(boxes, name):
    """Return ``boxes`` as an array of shape [N, 4] or raise a ValueError naming the argument."""
    boxes = np.asarray(boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape [N, (y1, x1, y2, x2)], got shape {boxes.shape}")
    return boxes


############################################################
#  Bounding boxes
############################################################

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


############################################################
#  Resizing images and masks
############################################################

def resize(image, output_shape, order=1, mode="constant", cval=0, clip=True,
           preserve_range=False, anti_aliasing=False, anti_aliasing_sigma=None):
    """``skimage.transform.resize`` with Matterport's defaults (no anti-aliasing).

    A bool input with ``order > 0`` is interpolated as float32 (skimage refuses bool there).
    """
    image = np.asarray(image)
    if image.dtype == bool and order > 0:
        image = image.astype(np.float32)
    return skimage.transform.resize(
        image, output_shape, order=order, mode=mode, cval=cval, clip=clip,
        preserve_range=preserve_range, anti_aliasing=anti_aliasing,
        anti_aliasing_sigma=anti_aliasing_sigma)


_RESIZE_MODES = ("none", "square", "pad64", "crop")


def resize_image(image, min_dim=None, max_dim=None, min_scale=None, mode="square"):
    """Resize an image keeping its aspect ratio, then pad or crop it (Matterport's modes).

    image: [H, W, C].
    min_dim: scale up (never down) so the shorter side is ``min_dim``.
    max_dim: in "square" mode, cap the scale so the longer side is at most ``max_dim``, then pad to
        [max_dim, max_dim].
    min_scale: scale up by at least this factor even when ``min_dim`` does not ask for it.
    mode: "none" (unchanged), "square" (see max_dim), "pad64" (scale by min_dim/min_scale, then pad
        height and width to multiples of 64; max_dim ignored), "crop" (scale by min_dim/min_scale,
        then a random ``min_dim`` x ``min_dim`` crop from Python's ``random``; training only).
    Returns:
        image: [H', W', C], same dtype as the input (float results are truncated by ``astype``).
        window: (y1, x1, y2, x2) of the image inside the padded result, (y2, x2) exclusive.
        scale: the scale factor applied.
        padding: [(top, bottom), (left, right), (0, 0)].
        crop: (y, x, height, width) in "crop" mode, else None.
    """
    if mode not in _RESIZE_MODES:
        raise ValueError(f"mode must be one of {_RESIZE_MODES}, got {mode!r}")
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must have shape [height, width, channels], got shape {image.shape}")
    image_dtype = image.dtype
    h, w = image.shape[:2]
    window = (0, 0, h, w)
    scale = 1
    padding = [(0, 0), (0, 0), (0, 0)]
    crop = None
    if mode == "none":
        return image, window, scale, padding, crop
    if mode == "square" and not max_dim:
        raise ValueError(f"mode 'square' needs max_dim (the side of the square), got {max_dim!r}")
    if mode == "crop" and not min_dim:
        raise ValueError(f"mode 'crop' needs min_dim (the side of the crop), got {min_dim!r}")
    if mode == "pad64" and min_dim and min_dim % 64 != 0:
        raise ValueError(f"mode 'pad64' needs min_dim to be a multiple of 64, got {min_dim}")

    if min_dim:
        scale = max(1, min_dim / min(h, w))
    if min_scale and scale < min_scale:
        scale = min_scale
    if max_dim and mode == "square":
        image_max = max(h, w)
        if round(image_max * scale) > max_dim:
            scale = max_dim / image_max
    if scale != 1:
        image = resize(image, (round(h * scale), round(w * scale)), preserve_range=True)

    h, w = image.shape[:2]
    if mode == "square":
        top_pad = (max_dim - h) // 2
        left_pad = (max_dim - w) // 2
        padding = [(top_pad, max_dim - h - top_pad), (left_pad, max_dim - w - left_pad), (0, 0)]
        image = np.pad(image, padding, mode="constant", constant_values=0)
        window = (top_pad, left_pad, h + top_pad, w + left_pad)
    elif mode == "pad64":
        pad_h = (64 - h % 64) % 64
        pad_w = (64 - w % 64) % 64
        padding = [(pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)]
        image = np.pad(image, padding, mode="constant", constant_values=0)
        window = (pad_h // 2, pad_w // 2, h + pad_h // 2, w + pad_w // 2)
    else:  # crop
        if h < min_dim or w < min_dim:
            raise ValueError(f"cannot crop {min_dim}x{min_dim} from an image resized to {h}x{w}")
        y = random.randint(0, h - min_dim)
        x = random.randint(0, w - min_dim)
        crop = (y, x, min_dim, min_dim)
        image = image[y:y + min_dim, x:x + min_dim]
        window = (0, 0, min_dim, min_dim)
    return image.astype(image_dtype), window, scale, padding, crop


def resize_mask(mask, scale, padding, crop=None):
    """Resize, then pad or crop, masks exactly as ``resize_image`` did the image.

    mask: [H, W, N]; scale, padding, crop: as returned by ``resize_image``.
    Returns: [H', W', N], same dtype (nearest-neighbour zoom, order 0).
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must have shape [height, width, instances], got shape {mask.shape}")
    if scale != 1:
        if mask.shape[-1] == 0:
            new_hw = [int(round(mask.shape[0] * scale)), int(round(mask.shape[1] * scale))]
            mask = np.zeros(new_hw + [0], dtype=mask.dtype)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mask = scipy.ndimage.zoom(mask, zoom=[scale, scale, 1], order=0)
    if crop is not None:
        y, x, h, w = crop
        return mask[y:y + h, x:x + w]
    return np.pad(mask, padding, mode="constant", constant_values=0)


def minimize_mask(bbox, mask, mini_shape):
    """Crop each mask to its box and shrink it to ``mini_shape`` to save memory.

    bbox: [N, (y1, x1, y2, x2)] ints; mask: [H, W, N]; mini_shape: (h, w).
    Returns: bool [h, w, N]. A box of zero area raises ValueError.
    """
    mini_shape = tuple(int(s) for s in mini_shape)
    mini_mask = np.zeros(mini_shape + (mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = (int(v) for v in bbox[i][:4])
        m = mask[y1:y2, x1:x2, i].astype(np.float32)
        if m.size == 0:
            raise ValueError(f"bbox[{i}] = {(y1, x1, y2, x2)} has zero area inside a mask of shape "
                             f"{mask.shape[:2]}; drop empty instances before minimize_mask")
        mini_mask[:, :, i] = np.around(resize(m, mini_shape)).astype(bool)
    return mini_mask


def expand_mask(bbox, mini_mask, image_shape):
    """Reverse ``minimize_mask``: grow each mini mask back into its box in a full-size mask.

    bbox: [N, (y1, x1, y2, x2)] ints; mini_mask: [h, w, N]; image_shape: (H, W, ...).
    Returns: bool [H, W, N]. A zero-area box leaves its mask empty.
    """
    mask = np.zeros(tuple(image_shape[:2]) + (mini_mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = (int(v) for v in bbox[i][:4])
        if y2 <= y1 or x2 <= x1:
            continue
        m = resize(mini_mask[:, :, i].astype(np.float32), (y2 - y1, x2 - x1))
        mask[y1:y2, x1:x2, i] = np.around(m).astype(bool)
    return mask


def mold_mask(mask, bbox, mask_shape):
    """Crop a full-size mask to ``bbox`` and resize it to ``mask_shape``; the inverse of ``unmold_mask``.

    Matterport left this as an empty stub taking ``(mask, config)``; pass ``config.MASK_SHAPE``.
    mask: [H, W] bool or float; bbox: (y1, x1, y2, x2) ints; mask_shape: (h, w).
    Returns: float32 [h, w] in [0, 1].
    """
    y1, x1, y2, x2 = (int(v) for v in bbox)
    crop = np.asarray(mask)[y1:y2, x1:x2]
    if crop.size == 0:
        raise ValueError(f"bbox {(y1, x1, y2, x2)} has zero area inside a mask of shape {np.shape(mask)}")
    return resize(crop.astype(np.float32), tuple(mask_shape)).astype(np.float32)


def unmold_mask(mask, bbox, image_shape):
    """Paste a small soft mask from the network into a full-size binary mask.

    mask: float [h, w] (typically 28x28); bbox: (y1, x1, y2, x2) pixels; image_shape: (H, W, ...).
    Returns: bool [H, W], thresholded at 0.5. Parts of the box outside the image are dropped; a box of
    zero area gives an empty mask.
    """
    threshold = 0.5
    y1, x1, y2, x2 = (int(round(float(v))) for v in bbox)
    height, width = int(image_shape[0]), int(image_shape[1])
    full_mask = np.zeros((height, width), dtype=bool)
    if y2 <= y1 or x2 <= x1:
        return full_mask
    m = resize(np.asarray(mask, dtype=np.float32), (y2 - y1, x2 - x1)) >= threshold
    cy1, cx1 = max(y1, 0), max(x1, 0)
    cy2, cx2 = min(y2, height), min(x2, width)
    if cy2 > cy1 and cx2 > cx1:
        full_mask[cy1:cy2, cx1:cx2] = m[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
    return full_mask


############################################################
#  Anchors
############################################################

def generate_anchors(scales, ratios, shape, feature_stride, anchor_stride):
    """Anchors of one feature map, centred on ``(row, col) * feature_stride``.

    scales: anchor sizes in pixels, e.g. 32 or [32, 64]; ratios: width/height ratios, e.g. [0.5, 1, 2];
    shape: (rows, cols) of the feature map; feature_stride: image pixels per feature cell;
    anchor_stride: an anchor every ``anchor_stride`` feature cells.
    Returns: float [A, (y1, x1, y2, x2)] pixels, ordered by row, then column, then (ratio, scale).
    """
    scales, ratios = np.meshgrid(np.array(scales), np.array(ratios))
    scales = scales.flatten()
    ratios = ratios.flatten()
    heights = scales / np.sqrt(ratios)
    widths = scales * np.sqrt(ratios)
    shifts_y = np.arange(0, shape[0], anchor_stride) * feature_stride
    shifts_x = np.arange(0, shape[1], anchor_stride) * feature_stride
    shifts_x, shifts_y = np.meshgrid(shifts_x, shifts_y)
    box_widths, box_centers_x = np.meshgrid(widths, shifts_x)
    box_heights, box_centers_y = np.meshgrid(heights, shifts_y)
    box_centers = np.stack([box_centers_y, box_centers_x], axis=2).reshape([-1, 2])
    box_sizes = np.stack([box_heights, box_widths], axis=2).reshape([-1, 2])
    return np.concatenate([box_centers - 0.5 * box_sizes, box_centers + 0.5 * box_sizes], axis=1)


def generate_pyramid_anchors(scales, ratios, feature_shapes, feature_strides, anchor_stride):
    """Anchors of every pyramid level: ``scales[i]`` on level i with all ``ratios``.

    feature_shapes: [levels, (rows, cols)]; feature_strides: [levels].
    Returns: float [A, (y1, x1, y2, x2)] pixels, the anchors of scales[0] first, then scales[1], ...
    """
    if not len(scales) == len(feature_shapes) == len(feature_strides):
        raise ValueError(f"scales, feature_shapes and feature_strides need one entry per pyramid level, "
                         f"got {len(scales)}, {len(feature_shapes)} and {len(feature_strides)}")
    anchors = [generate_anchors(scales[i], ratios, feature_shapes[i], feature_strides[i], anchor_stride)
               for i in range(len(scales))]
    return np.concatenate(anchors, axis=0)


############################################################
#  Evaluation
############################################################

def trim_zeros(x):
    """Drop the rows of ``x`` that are all zeros (zero padding). x: [rows, columns]."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D [rows, columns], got shape {x.shape}")
    return x[~np.all(x == 0, axis=1)]


def compute_matches(gt_boxes, gt_class_ids, gt_masks,
                    pred_boxes, pred_class_ids, pred_scores, pred_masks,
                    iou_threshold=0.5, score_threshold=0.0):
    """Greedily match predictions (best score first) to ground truth by mask IoU and class.

    gt_boxes: [N, (y1, x1, y2, x2)], trailing all-zero rows are padding; gt_class_ids: [N];
    gt_masks: [H, W, N]; pred_boxes: [M, (y1, x1, y2, x2)], zero padded likewise; pred_class_ids,
    pred_scores: [M]; pred_masks: [H, W, M]. iou_threshold: minimum mask IoU of a match;
    score_threshold: candidate ground truth with a mask IoU below it are not considered (Matterport's name).
    Returns:
        gt_match: float [N], for each ground truth the index of its prediction (in score order) or -1.
        pred_match: float [M], for each prediction in score order the index of its ground truth or -1.
        overlaps: float [M, N] mask IoU, predictions in score order.
    """
    gt_boxes = trim_zeros(gt_boxes)
    gt_masks = np.asarray(gt_masks)[..., :gt_boxes.shape[0]]
    pred_boxes = trim_zeros(pred_boxes)
    pred_scores = np.asarray(pred_scores)[:pred_boxes.shape[0]]
    indices = np.argsort(-pred_scores, kind="stable")
    pred_boxes = pred_boxes[indices]
    pred_class_ids = np.asarray(pred_class_ids)[indices]
    pred_masks = np.asarray(pred_masks)[..., indices]
    gt_class_ids = np.asarray(gt_class_ids)

    overlaps = compute_overlaps_masks(pred_masks, gt_masks)

    pred_match = -1 * np.ones([pred_boxes.shape[0]])
    gt_match = -1 * np.ones([gt_boxes.shape[0]])
    for i in range(len(pred_boxes)):
        sorted_ixs = np.argsort(-overlaps[i], kind="stable")
        low_score_idx = np.where(overlaps[i, sorted_ixs] < score_threshold)[0]
        if low_score_idx.size > 0:
            sorted_ixs = sorted_ixs[:low_score_idx[0]]
        for j in sorted_ixs:
            if gt_match[j] > -1:  # already matched (Matterport tested > 0 and so re-matched GT 0)
                continue
            if overlaps[i, j] < iou_threshold:
                break
            if pred_class_ids[i] == gt_class_ids[j]:
                gt_match[j] = i
                pred_match[i] = j
                break
    return gt_match, pred_match, overlaps


def compute_ap(gt_boxes, gt_class_ids, gt_masks,
               pred_boxes, pred_class_ids, pred_scores, pred_masks,
               iou_threshold=0.5):
    """Average precision at one mask-IoU threshold, Matterport's all-point interpolation.

    Arguments as in ``compute_matches``.
    Returns:
        mAP: float. 0 when there are no predictions; also 0 when there is no ground truth
            (AP is undefined there; Matterport divided by zero).
        precisions: float [M + 2], interpolated precision padded with 0 at both ends.
        recalls: float [M + 2], recall padded with 0 at the start and 1 at the end.
        overlaps: float [M, N] mask IoU, predictions in score order.
    """
    gt_match, pred_match, overlaps = compute_matches(
        gt_boxes, gt_class_ids, gt_masks,
        pred_boxes, pred_class_ids, pred_scores, pred_masks,
        iou_threshold)
    true_positives = np.cumsum(pred_match > -1)
    precisions = true_positives / (np.arange(len(pred_match)) + 1)
    if len(gt_match):
        recalls = true_positives.astype(np.float32) / len(gt_match)
    else:
        recalls = np.zeros(len(pred_match), dtype=np.float32)
    precisions = np.concatenate([[0], precisions, [0]])
    recalls = np.concatenate([[0], recalls, [1]])
    # Make precision monotonically non-increasing (the VOC envelope).
    for i in range(len(precisions) - 2, -1, -1):
        precisions[i] = np.maximum(precisions[i], precisions[i + 1])
    indices = np.where(recalls[:-1] != recalls[1:])[0] + 1
    mAP = float(np.sum((recalls[indices] - recalls[indices - 1]) * precisions[indices]))
    return mAP, precisions, recalls, overlaps


def compute_ap_range(gt_box, gt_class_id, gt_mask,
                     pred_box, pred_class_id, pred_score, pred_mask,
                     iou_thresholds=None, verbose=1):
    """Mean of ``compute_ap`` over IoU thresholds, by default 0.50, 0.55, ..., 0.95.

    verbose: log each AP and the mean at INFO level.
    Returns: float, the mean AP.
    """
    if iou_thresholds is None:
        iou_thresholds = np.arange(0.5, 1.0, 0.05)
    iou_thresholds = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
    if iou_thresholds.size == 0:
        raise ValueError("iou_thresholds must hold at least one threshold, got an empty sequence")
    aps = []
    for iou_threshold in iou_thresholds:
        ap = compute_ap(gt_box, gt_class_id, gt_mask,
                        pred_box, pred_class_id, pred_score, pred_mask,
                        iou_threshold=iou_threshold)[0]
        if verbose:
            logger.info("AP @%.2f:\t %.3f", iou_threshold, ap)
        aps.append(ap)
    mean_ap = float(np.mean(aps))
    if verbose:
        logger.info("AP @%.2f-%.2f:\t %.3f", iou_thresholds[0], iou_thresholds[-1], mean_ap)
    return mean_ap


def compute_recall(pred_boxes, gt_boxes, iou):
    """Fraction of ground-truth boxes that some prediction overlaps with IoU >= ``iou``.

    pred_boxes: [M, (y1, x1, y2, x2)]; gt_boxes: [N, (y1, x1, y2, x2)], pixels.
    Returns: (recall, positive_ids): recall is a float (0 when either set is empty), positive_ids
        int [K] the predictions whose best IoU reaches ``iou``. Each prediction counts only for the
        ground truth it overlaps most.
    """
    pred_boxes = _as_boxes(pred_boxes, "pred_boxes")
    gt_boxes = _as_boxes(gt_boxes, "gt_boxes")
    if pred_boxes.shape[0] == 0 or gt_boxes.shape[0] == 0:
        return 0.0, np.zeros([0], dtype=np.int64)
    overlaps = compute_overlaps(pred_boxes, gt_boxes)
    iou_max = np.max(overlaps, axis=1)
    iou_argmax = np.argmax(overlaps, axis=1)
    positive_ids = np.where(iou_max >= iou)[0]
    matched_gt_boxes = iou_argmax[positive_ids]
    return len(set(matched_gt_boxes.tolist())) / gt_boxes.shape[0], positive_ids


def download_trained_weights(coco_model_path, verbose=1):
    """Never downloads: raise RuntimeError saying where to put Matterport's COCO weights."""
    raise RuntimeError(
        f"mrcnn never downloads weights. Fetch mask_rcnn_coco.h5 yourself from Matterport's GitHub "
        f"release v2.0 ({COCO_MODEL_URL}), save it as {coco_model_path!s} (or anywhere) and pass that path.")



############################################################
#  Dataset
############################################################

_warned_load_mask = set()


class Dataset:
    """Base class of datasets: classes and images from one or more sources, Matterport's API.

    Subclass it, call ``add_class``/``add_image`` in a loader method, override ``load_mask`` (and
    ``image_reference`` if useful), then call ``prepare()`` before use::

        class CellDataset(Dataset):
            def load_cells(self, folder): ...      # add_class / add_image
            def load_mask(self, image_id): ...     # -> bool [H, W, N], int32 [N]

    Class 0 is always the background ``{"source": "", "id": 0, "name": "BG"}``. Attributes:
    ``class_info`` (list of dicts with source, id, name), ``image_info`` (list of dicts with id, source,
    path and any extra keyword given to ``add_image``); after ``prepare()`` also ``num_classes``,
    ``class_ids``, ``class_names``, ``num_images``, ``class_from_source_map``, ``image_from_source_map``
    (keys "source.id"), ``sources`` and ``source_class_ids`` (source -> internal class ids, BG included).
    ``max_pixels`` (class attribute, default ``mrcnn.data.image_io.MAX_IMAGE_PIXELS``): ``load_image`` refuses
    files whose header declares more pixels, before decoding them.
    """

    max_pixels = MAX_IMAGE_PIXELS

    def __init__(self, class_map=None):
        self._image_ids = []
        self.image_info = []
        self.class_info = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids = {}

    def add_class(self, source, class_id, class_name):
        """Register a class; a (source, class_id) pair already present is skipped silently."""
        if "." in source:
            raise ValueError(f"source name cannot contain a dot, got {source!r}")
        for info in self.class_info:
            if info["source"] == source and info["id"] == class_id:
                return
        self.class_info.append({"source": source, "id": class_id, "name": class_name})

    def add_image(self, source, image_id, path, **kwargs):
        """Register an image; extra keyword arguments are stored in its ``image_info`` entry."""
        image_info = {"id": image_id, "source": source, "path": path}
        image_info.update(kwargs)
        self.image_info.append(image_info)

    def image_reference(self, image_id):
        """A link or description of the image for debugging; override in subclasses."""
        return ""

    def prepare(self, class_map=None):
        """Build the internal ids and lookup tables (``class_map`` is unused, as in Matterport)."""

        def clean_name(name):
            """Keep the part of the name before the first comma."""
            return ",".join(name.split(",")[:1])

        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        self.class_names = [clean_name(c["name"]) for c in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)
        self.class_from_source_map = {f"{info['source']}.{info['id']}": int(i)
                                      for info, i in zip(self.class_info, self.class_ids)}
        self.image_from_source_map = {f"{info['source']}.{info['id']}": int(i)
                                      for info, i in zip(self.image_info, self._image_ids)}
        self.sources = list(dict.fromkeys(info["source"] for info in self.class_info))
        self.source_class_ids = {
            source: [i for i, info in enumerate(self.class_info) if i == 0 or info["source"] == source]
            for source in self.sources}

    def _require_prepared(self):
        if not hasattr(self, "class_from_source_map"):
            raise ValueError(f"{type(self).__name__}.prepare() must be called first")

    def map_source_class_id(self, source_class_id):
        """Internal class id of a "source.id" key, e.g. ``map_source_class_id("coco.12") -> 23``."""
        self._require_prepared()
        if source_class_id not in self.class_from_source_map:
            raise ValueError(f"unknown source class id {source_class_id!r}; known: "
                             f"{sorted(self.class_from_source_map)}")
        return self.class_from_source_map[source_class_id]

    def get_source_class_id(self, class_id, source):
        """The id that internal class ``class_id`` has in ``source``."""
        if not 0 <= class_id < len(self.class_info):
            raise ValueError(f"class_id must be in [0, {len(self.class_info)}), got {class_id}")
        info = self.class_info[class_id]
        if info["source"] != source:
            raise ValueError(f"class {class_id} ({info['name']!r}) comes from source {info['source']!r}, "
                             f"not {source!r}")
        return info["id"]

    @property
    def image_ids(self):
        """Internal image ids, [num_images] (an empty list before ``prepare()``)."""
        return self._image_ids

    def source_image_link(self, image_id):
        """Path or URL of the image; override to return a URL."""
        return self.image_info[image_id]["path"]

    def load_image(self, image_id):
        """Read an image as uint8 [H, W, 3] (grayscale -> RGB, alpha dropped, 16-bit scaled to 8-bit).

        A missing, empty, truncated or undecodable file, or one whose header declares more than ``max_pixels``
        pixels, raises ValueError naming its path (see mrcnn.data.image_io.read_image_rgb).
        """
        if not 0 <= image_id < len(self.image_info):
            raise ValueError(f"image_id must be in [0, {len(self.image_info)}), got {image_id}")
        return read_image_rgb(self.image_info[image_id]["path"], self.max_pixels)

    def load_mask(self, image_id):
        """Instance masks of an image; override it. The base class returns no instances.

        Returns: masks: bool [H, W, N], one binary mask per instance; class_ids: int32 [N].
        """
        name = type(self).__qualname__
        if name not in _warned_load_mask:
            _warned_load_mask.add(name)
            logger.warning("%s does not override load_mask(); every image gets an empty mask", name)
        return np.empty([0, 0, 0]), np.empty([0], np.int32)
