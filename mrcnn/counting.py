"""One cell, one count: detections of different classes on the same cell become one cell.

Shape shorthand: N: detections of one image, H, W: the image's height and width.

Mask R-CNN suppresses overlapping detections within a class only (per-class non-maximum suppression), which is
right for mAP and wrong for counting: an uncertain monocyte can come out as "ig 0.72", "monocyte 0.69" and
"neutrophil 0.56" on the same pixels, three cells in a differential where there is one. The rule here:

    the detections are taken from the highest score down; one whose mask overlaps the mask of a cell already counted
    with IoU > SAME_CELL_IOU is not a cell but an alternative class of that cell; any other one is a cell.

Each decision depends only on detections that score higher, so the decisions hold at every confidence threshold: at
threshold t the cells are the detections that are cells and score >= t, and an alternative never outlives its cell
(it scores lower). A count therefore needs no recomputation when the threshold moves (the web page's slider).
Touching cells share few pixels (IoU near 0) and stay two cells; a fragment of a cell (half its mask) has IoU near
0.5 and, above the cut-off, joins it.
"""

import numpy as np

SAME_CELL_IOU = 0.5  # mask IoU above which two detections are one cell


def same_cell(masks, scores, iou=SAME_CELL_IOU):
    """Which detections are cells, and which are alternatives of a cell (module notes).

    Args:
        masks: bool [H, W, N], one full-image mask per detection.
        scores: [N] confidences.
        iou: the mask IoU above which a detection joins a cell already counted.
    Returns int [N]: -1 for a cell, else the index of the cell (a higher-scoring detection) it is an alternative of.
    Raises ValueError when the shapes disagree.
    """
    masks = np.asarray(masks)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if masks.ndim != 3 or masks.shape[-1] != scores.shape[0]:
        raise ValueError(f"same_cell: masks {masks.shape} and scores {scores.shape} disagree; masks must be "
                         "[H, W, N] with one score per detection")
    count = scores.shape[0]
    boxes = _boxes(masks)  # of the masks themselves: a rescaled mask may reach a pixel past its rounded "roi"
    areas = masks.reshape(-1, count).sum(axis=0) if count else np.zeros(0)
    owner = np.full(count, -1, dtype=np.int64)
    cells = []
    for j in np.argsort(-scores, kind="stable"):
        for i in cells:
            if _mask_iou(masks, boxes, areas, i, j) > iou:
                owner[j] = i
                break
        else:
            cells.append(j)
    return owner


def cell_counts(class_ids, owner, num_classes):
    """Cells per class, [num_classes - 1] ints, class 1 first (a row of counts.csv): the detections that are cells
    (owner == -1, from same_cell) counted by their class id in 1..num_classes - 1."""
    class_ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    owner = np.asarray(owner, dtype=np.int64).reshape(-1)
    return np.bincount(class_ids[owner < 0], minlength=num_classes)[1:num_classes].tolist()


def _mask_iou(masks, boxes, areas, i, j):
    """IoU of masks i and j, counted inside the intersection of their boxes (outside it one of them is empty)."""
    y1, x1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
    y2, x2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
    if y2 <= y1 or x2 <= x1:
        return 0.0
    inter = np.count_nonzero(masks[y1:y2, x1:x2, i] & masks[y1:y2, x1:x2, j])
    union = areas[i] + areas[j] - inter
    return inter / union if union else 0.0


def _boxes(masks):
    """[N, (y1, x1, y2, x2)] the pixel box of each mask (y2, x2 exclusive); an empty mask's box is empty."""
    boxes = np.zeros((masks.shape[-1], 4), dtype=np.int64)
    for k in range(masks.shape[-1]):
        rows, cols = np.flatnonzero(masks[..., k].any(axis=1)), np.flatnonzero(masks[..., k].any(axis=0))
        if rows.size:
            boxes[k] = rows[0], cols[0], rows[-1] + 1, cols[-1] + 1
    return boxes
