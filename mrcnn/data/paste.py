"""Pasting the mask head's small soft masks into the original image, each pixel read where the head looked.

Shape shorthand: N: detections, h, w: mask-head output size (MASK_SHAPE), H, W: the original image, S: the molded
image's side.

Where a mask cell lies. The mask targets are cut from the ground truth with crop_and_resize on the ROI's normalized
box (y1, x1, y2, x2) (ops/detection_targets.py), which puts cell i of h at normalized y1 + i (y2 - y1) / (h - 1):
the first cell on the box's first pixel centre, the last on its last. The head learns that grid, so reading its
output back must use it too. A pixel y of the original image has its centre at molded pixel (y + 0.5) sy - 0.5 + wy1
(sy: the window's height over the image's, the half-pixel resize that moulded it), which is normalized
c = ((y + 0.5) sy - 0.5 + wy1) / (S - 1); there it reads the head's mask at cell
    s = (c - y1) (h - 1) / (y2 - y1),
bilinearly. The mask stays inside its box: a pixel reads the mask when its centre lies within the box's own molded
pixels (the first and last cells' centres, plus half a molded pixel), the edge cell where it lies past the grid's
edge, and nothing elsewhere. Each axis is one [pixels, cells] matrix of bilinear weights; the mask is
rows @ mask @ cols^T, thresholded.

Matterport's `utils.unmold_mask` instead resizes the mask onto the rounded pixel box with half-pixel centres, which
stretches the grid by h / (h - 1) and moves every edge about half a cell inwards: on PBC the cells came out a few
pixels small and mask IoU >= 0.9 was reached by far fewer of them (benchmarks/mask_stages.py).
mrcnn/export/serving.py's `paste_masks_graph` is this formula in TensorFlow.
"""

import numpy as np

MASK_THRESHOLD = 0.5  # a pixel belongs to the mask where the interpolated soft mask is at least this
# molded pixels: a pixel centre this close outside the box's edge still counts as in it, so that float32 (the export's
# graph) and float64 (here) agree on centres that fall on the edge exactly, as they do at whole-number scales
EDGE_TOLERANCE = 1e-3


def axis_weights(start, stop, window_start, window_size, pixels, molded_side, cells):
    """Bilinear weights of one axis: which mask cells each original pixel reads, and how much.

    start, stop: the box's normalized edges on this axis (of the molded image); window_start, window_size: the
    window's offset and size in molded pixels; pixels: the original image's size on this axis; molded_side: S;
    cells: the mask's size on this axis.
    Returns (first, weights): weights float64 [P, cells] for the original pixels first .. first + P - 1, the only
    ones that read a cell (P may be 0).
    """
    scale = window_size / pixels
    centres = (np.arange(pixels) + 0.5) * scale - 0.5 + window_start  # molded pixels
    first_cell, last_cell = start * (molded_side - 1), stop * (molded_side - 1)
    reach = 0.5 + EDGE_TOLERANCE
    inside = np.nonzero((centres >= first_cell - reach) & (centres <= last_cell + reach))[0]
    if inside.size == 0 or last_cell <= first_cell:
        return 0, np.zeros((0, cells))
    centres = centres[inside[0]:inside[-1] + 1]
    s = np.clip((centres - first_cell) * (cells - 1) / (last_cell - first_cell), 0, cells - 1)
    weights = np.maximum(0.0, 1.0 - np.abs(s[:, None] - np.arange(cells)[None, :]))
    return int(inside[0]), weights


def paste_masks(masks, boxes, window, molded_shape, original_shape, threshold=MASK_THRESHOLD):
    """Full-size binary masks of the original image from the head's soft masks.

    masks: float [N, h, w] soft masks (each detection's class channel).
    boxes: [N, (y1, x1, y2, x2)] normalized boxes of the molded image (the detection layer's).
    window: (y1, x1, y2, x2) molded pixels that hold the image; molded_shape: (S_y, S_x, ...);
    original_shape: (H, W, ...).
    Returns: bool [H, W, N]. A box of zero height or width gives an empty mask.
    """
    masks = np.asarray(masks, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if masks.ndim != 3 or masks.shape[0] != boxes.shape[0]:
        raise ValueError(f"masks must be [N, h, w] with N = len(boxes) = {boxes.shape[0]}, got {masks.shape}")
    height, width = int(original_shape[0]), int(original_shape[1])
    wy1, wx1, wy2, wx2 = (float(v) for v in window)
    full = np.zeros((height, width, boxes.shape[0]), dtype=bool)
    for i, (box, mask) in enumerate(zip(boxes, masks)):
        top, rows = axis_weights(box[0], box[2], wy1, wy2 - wy1, height, molded_shape[0], mask.shape[0])
        left, cols = axis_weights(box[1], box[3], wx1, wx2 - wx1, width, molded_shape[1], mask.shape[1])
        if rows.size and cols.size:
            full[top:top + rows.shape[0], left:left + cols.shape[0], i] = rows @ mask @ cols.T >= threshold
    return full
