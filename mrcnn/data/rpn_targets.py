"""Training targets computed in NumPy by the input pipeline: RPN anchor targets, random ROIs, head targets.

Shape shorthand:
    A: anchors, G: ground-truth instances of one image, T: RPN_TRAIN_ANCHORS_PER_IMAGE, R: ROIs,
    S: TRAIN_ROIS_PER_IMAGE, K: NUM_CLASSES (background included), H, W: image height and width,
    h, w: mini-mask or mask-head size.

Everything here is plain math with explicit arguments (no Config) and draws its randomness from a
`numpy.random.Generator` passed in, so the generator can make results reproducible per (seed, epoch, batch).
Boxes are pixels `(y1, x1, y2, x2)`, (y2, x2) exclusive; deltas are `(dy, dx, log(dh), log(dw))` divided by the
standard deviations. Negative class ids mark crowd boxes (COCO's iscrowd): never a target, and anchors touching them
are never negatives.
"""

import numpy as np

from mrcnn import utils

# Anchors whose IoU with any crowd box reaches this are never negatives (Matterport's value).
CROWD_IOU = 0.001


def build_rpn_targets(anchors, gt_class_ids, gt_boxes, train_anchors_per_image, rpn_bbox_std_dev,
                      positive_iou=0.7, negative_iou=0.3, rng=None):
    """Label anchors positive / negative / neutral and compute the deltas of the positives (Matterport's rules).

    anchors: [A, (y1, x1, y2, x2)] pixels.
    gt_class_ids: int [G]; negative ids are crowd boxes. gt_boxes: [G, (y1, x1, y2, x2)] pixels.
    train_anchors_per_image: T, the anchors kept for the loss; at most T // 2 positives.
    rpn_bbox_std_dev: [4] divisor of the deltas (Config.RPN_BBOX_STD_DEV).
    positive_iou / negative_iou: an anchor with IoU >= positive_iou with some GT box is positive; one whose best IoU
        is < negative_iou is negative (unless it touches a crowd box). Besides, every GT box makes positive all the
        anchors tied for its highest IoU, however low that IoU is.
    rng: numpy.random.Generator for subsampling; a fresh unseeded one when None.
    Returns:
        rpn_match: int32 [A], 1 positive, -1 negative, 0 neutral; at most T // 2 positives and T in all.
        rpn_bbox: float32 [T, (dy, dx, log(dh), log(dw))] / std_dev, one row per positive anchor in anchor order
            (towards the GT box the anchor overlaps most), zero-padded after the positives.
    """
    rng = np.random.default_rng() if rng is None else rng
    anchors = _boxes(anchors, "anchors")
    gt_boxes = _boxes(gt_boxes, "gt_boxes")
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    if gt_class_ids.shape[0] != gt_boxes.shape[0]:
        raise ValueError(f"gt_class_ids has {gt_class_ids.shape[0]} entries but gt_boxes has {gt_boxes.shape[0]} "
                         "rows; they must match")
    train_anchors_per_image = int(train_anchors_per_image)
    std_dev = np.asarray(rpn_bbox_std_dev, dtype=np.float32).reshape(4)
    num_anchors = anchors.shape[0]
    rpn_match = np.zeros([num_anchors], dtype=np.int32)
    rpn_bbox = np.zeros([train_anchors_per_image, 4], dtype=np.float32)

    crowd = gt_class_ids < 0
    if np.any(crowd):
        crowd_iou = utils.compute_overlaps(anchors, gt_boxes[crowd])
        no_crowd = np.max(crowd_iou, axis=1) < CROWD_IOU
    else:
        no_crowd = np.ones([num_anchors], dtype=bool)
    keep = gt_class_ids > 0
    gt_boxes = gt_boxes[keep]

    if gt_boxes.shape[0]:
        overlaps = utils.compute_overlaps(anchors, gt_boxes)  # [A, G]
        anchor_iou_argmax = np.argmax(overlaps, axis=1)
        anchor_iou_max = overlaps[np.arange(num_anchors), anchor_iou_argmax]
    else:
        overlaps = np.zeros([num_anchors, 0])
        anchor_iou_argmax = np.zeros([num_anchors], dtype=np.int64)
        anchor_iou_max = np.zeros([num_anchors])

    # 1. Negatives first; matches below overwrite them.
    rpn_match[(anchor_iou_max < negative_iou) & no_crowd] = -1
    # 2. Every GT box gets the anchors tied for its best IoU (a GT box that overlaps no anchor at all gets none).
    if gt_boxes.shape[0]:
        gt_iou_max = np.max(overlaps, axis=0)
        best = (overlaps == gt_iou_max[None, :]) & (gt_iou_max[None, :] > 0)
        rpn_match[np.any(best, axis=1)] = 1
    # 3. High-overlap anchors.
    rpn_match[anchor_iou_max >= positive_iou] = 1

    # Subsample: positives at most half of T, negatives fill the rest.
    ids = np.where(rpn_match == 1)[0]
    extra = len(ids) - train_anchors_per_image // 2
    if extra > 0:
        rpn_match[rng.choice(ids, extra, replace=False)] = 0
    ids = np.where(rpn_match == -1)[0]
    extra = len(ids) - (train_anchors_per_image - int(np.sum(rpn_match == 1)))
    if extra > 0:
        rpn_match[rng.choice(ids, extra, replace=False)] = 0

    ids = np.where(rpn_match == 1)[0]
    if ids.size:
        deltas = utils.box_refinement(anchors[ids], gt_boxes[anchor_iou_argmax[ids]])
        rpn_bbox[:ids.size] = deltas / std_dev
    return rpn_match, rpn_bbox


def generate_random_rois(image_shape, count, gt_class_ids, gt_boxes, rng=None):
    """Random ROIs like an RPN would propose, to train the heads without the RPN (Config.USE_RPN_ROIS = False).

    90% of `count` are spread evenly over the GT boxes, each drawn inside the GT box grown by its own height and
    width on every side (clipped to the image); the rest anywhere in the image. No ROI has zero area.
    image_shape: [(H, W, ...)]; count: R; gt_class_ids: int [G] (unused, kept for Matterport's signature);
    gt_boxes: [G, (y1, x1, y2, x2)] pixels; rng: numpy.random.Generator (fresh unseeded one when None).
    Returns: int32 [R, (y1, x1, y2, x2)] pixels, the GT-centred ROIs first.
    """
    del gt_class_ids
    rng = np.random.default_rng() if rng is None else rng
    gt_boxes = _boxes(gt_boxes, "gt_boxes").astype(np.int64)
    height, width = int(image_shape[0]), int(image_shape[1])
    if height < 2 or width < 2:
        raise ValueError(f"image_shape {tuple(image_shape)}: need height and width >= 2 to draw ROIs of non-zero "
                         "area")
    count = int(count)
    rois = np.zeros([count, 4], dtype=np.int32)
    rois_per_box = int(0.9 * count / gt_boxes.shape[0]) if gt_boxes.shape[0] else 0
    for i, (y1, x1, y2, x2) in enumerate(gt_boxes):
        h, w = max(y2 - y1, 1), max(x2 - x1, 1)
        rois[rois_per_box * i:rois_per_box * (i + 1)] = _random_boxes(
            rng, rois_per_box, (max(y1 - h, 0), min(y2 + h, height)), (max(x1 - w, 0), min(x2 + w, width)))
    remaining = count - rois_per_box * gt_boxes.shape[0]
    if remaining > 0:
        rois[count - remaining:] = _random_boxes(rng, remaining, (0, height), (0, width))
    return rois


def _random_boxes(rng, count, y_range, x_range):
    """`count` boxes with corners drawn uniformly in [low, high) per axis, degenerate ones redrawn. -> int [n, 4]."""
    if count == 0:
        return np.zeros([0, 4], dtype=np.int32)
    # A range one pixel wide cannot hold two distinct corners: widen it by one pixel (still inside the image
    # unless the image is one pixel, which the caller rejects).
    ranges = []
    for low, high in (y_range, x_range):
        if high - low < 2:
            low, high = (low, low + 2) if low == 0 else (high - 2, high)
        ranges.append((low, high))
    sides = []
    for low, high in ranges:
        picked = np.zeros([0, 2], dtype=np.int64)
        while picked.shape[0] < count:
            pairs = rng.integers(low, high, size=(count * 2, 2))
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
            picked = np.concatenate([picked, pairs])[:count]
        sides.append(np.sort(picked, axis=1))
    (y1, y2), (x1, x2) = sides[0].T, sides[1].T
    return np.stack([y1, x1, y2, x2], axis=1).astype(np.int32)


def build_detection_targets(rois, gt_class_ids, gt_boxes, gt_masks, train_rois_per_image, roi_positive_ratio,
                            bbox_std_dev, mask_shape, num_classes, image_shape, use_mini_mask,
                            positive_iou=0.5, rng=None):
    """Targets of the classifier and mask heads for given ROIs (Matterport's debugging helper, NumPy twin of the
    DetectionTargetLayer; training uses the layer).

    rois: [R, (y1, x1, y2, x2)] pixels (R > 0). gt_class_ids: int [G]; non-positive ids (crowds, padding) are
    ignored. gt_boxes: int [G, (y1, x1, y2, x2)] pixels. gt_masks: bool [H, W, G] or mini masks [h, w, G] when
    use_mini_mask. train_rois_per_image: S. roi_positive_ratio: highest share of positives among S.
    bbox_std_dev: [4]. mask_shape: (h, w) of the mask head. num_classes: K. image_shape: [(H, W, ...)].
    positive_iou: IoU from which an ROI is positive (Config.ROI_POSITIVE_IOU); below it it is background.
    Returns:
        rois: [S, (y1, x1, y2, x2)] sampled ROIs (positives first; repeated background ROIs fill up a shortfall).
        class_ids: int32 [S], 0 for background.
        bboxes: float32 [S, K, (dy, dx, log(dh), log(dw))] / std_dev, non-zero only at the ROI's class.
        masks: float32 [S, h, w, K], the GT mask cut to the ROI and resized, non-zero only at the ROI's class.
    """
    rng = np.random.default_rng() if rng is None else rng
    rois = _boxes(rois, "rois")
    if rois.shape[0] == 0:
        raise ValueError("rois is empty: build_detection_targets needs at least one ROI")
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    instance_ids = np.where(gt_class_ids > 0)[0]
    if instance_ids.size == 0:
        raise ValueError("build_detection_targets needs at least one ground-truth instance with a class id > 0")
    gt_class_ids = gt_class_ids[instance_ids].astype(np.int32)
    gt_boxes = _boxes(gt_boxes, "gt_boxes")[instance_ids].astype(np.int32)
    gt_masks = np.asarray(gt_masks)[:, :, instance_ids]
    if use_mini_mask:
        gt_masks = utils.expand_mask(gt_boxes, gt_masks, image_shape)
    size = int(train_rois_per_image)

    overlaps = utils.compute_overlaps(rois, gt_boxes)
    roi_gt = np.argmax(overlaps, axis=1)
    roi_iou_max = overlaps[np.arange(rois.shape[0]), roi_gt]
    fg_ids = np.where(roi_iou_max >= positive_iou)[0]
    bg_ids = np.where(roi_iou_max < positive_iou)[0]
    fg_count = int(size * roi_positive_ratio)
    if fg_ids.size > fg_count:
        fg_ids = rng.choice(fg_ids, fg_count, replace=False)
    if bg_ids.size > size - fg_ids.size:
        bg_ids = rng.choice(bg_ids, size - fg_ids.size, replace=False)
    shortfall = size - fg_ids.size - bg_ids.size
    if shortfall > 0:  # too few ROIs: repeat background ones (positives when there is no background)
        if bg_ids.size:
            bg_ids = np.concatenate([bg_ids, rng.choice(bg_ids, shortfall, replace=True)])
        else:
            fg_ids = np.concatenate([fg_ids, rng.choice(fg_ids, shortfall, replace=True)])
    keep = np.concatenate([fg_ids, bg_ids]).astype(np.int64)
    is_fg = np.arange(size) < fg_ids.size

    rois_out = rois[keep]
    class_ids = np.where(is_fg, gt_class_ids[roi_gt[keep]], 0).astype(np.int32)
    bboxes = np.zeros([size, num_classes, 4], dtype=np.float32)
    masks = np.zeros([size, int(mask_shape[0]), int(mask_shape[1]), num_classes], dtype=np.float32)
    std_dev = np.asarray(bbox_std_dev, dtype=np.float32).reshape(4)
    for i in np.where(is_fg)[0]:
        class_id = class_ids[i]
        gt_id = roi_gt[keep[i]]
        bboxes[i, class_id] = utils.box_refinement(rois_out[i:i + 1], gt_boxes[gt_id:gt_id + 1])[0] / std_dev
        y1, x1, y2, x2 = rois_out[i].astype(np.int64)
        crop = gt_masks[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0), gt_id]
        if crop.size:
            masks[i, :, :, class_id] = utils.resize(crop.astype(np.float32), tuple(int(s) for s in mask_shape))
    return rois_out, class_ids, bboxes, masks


def _boxes(boxes, name):
    boxes = np.asarray(boxes)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape [N, (y1, x1, y2, x2)], got {boxes.shape}")
    return boxes
