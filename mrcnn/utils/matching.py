"""Matterport's evaluation: predictions matched to ground truth by mask IoU, AP at one or several IoU thresholds,
box recall. ``mrcnn.evaluation`` builds the paper's tables on these (Matterport's variant) and on its own AP variants.

Differences from Matterport: ``compute_matches`` no longer lets a second prediction match a ground truth already
matched to prediction 0, AP is 0 instead of a division by zero when there is no ground truth, and verbose output
goes through ``logging``.

Shape shorthand:
    N: ground-truth instances, M: predictions, H, W: image height and width.
"""

import logging

import numpy as np

from mrcnn.utils.boxes import _as_boxes, compute_overlaps, compute_overlaps_masks, trim_zeros

logger = logging.getLogger(__name__)


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
