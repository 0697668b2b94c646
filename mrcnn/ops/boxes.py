"""Box math in the TensorFlow graph: the box convention of the whole package, stated here once.

Box convention
--------------
- A box is `(y1, x1, y2, x2)`.
- Outside the graph (datasets, `mrcnn.utils`, `detect()` results) boxes are in pixels and `(y2, x2)` is exclusive:
  a box covering rows 10..19 is `(10, x1, 20, x2)`.
- Inside the graph boxes are normalized with Matterport's rule
  `norm = (box - [0, 0, 1, 1]) / [h - 1, w - 1, h - 1, w - 1]` for an image of h x w pixels, so the normalized
  `(y2, x2)` is inclusive and `(0, 0, 1, 1)` is the whole image. `norm_boxes_graph` / `denorm_boxes_graph` (and
  their NumPy twins `mrcnn.utils.norm_boxes` / `denorm_boxes`) convert.
- Box deltas are Matterport's `(dy, dx, log(dh), log(dw))` with `h = y2 - y1`, `w = x2 - x1` and the centre at
  `y1 + 0.5 h`, `x1 + 0.5 w`: `dy = (gt_cy - cy) / h`, `dh = log(gt_h / h)`. The heads predict deltas divided by
  a per-coordinate standard deviation (`RPN_BBOX_STD_DEV`, `BBOX_STD_DEV`); that scaling is left to the caller.
- Zero padding: a row of four zeros is "no box". `trim_zeros_graph` removes such rows.

Shape shorthand:
    N, N1, N2: numbers of boxes; `...`: any leading dimensions (e.g. batch).

The NumPy twins of these functions live in `mrcnn.utils` (`apply_box_deltas`, `box_refinement`,
`compute_overlaps`, `norm_boxes`, `denorm_boxes`, `trim_zeros`); tests/ops/test_boxes.py checks their parity.
"""

import math

import tensorflow as tf

# Largest log scale a box delta may apply (detectron2's log(1000 / 16)).
MAX_LOG_SCALE = math.log(1000.0 / 16)


def _unstack4(t):
    """Split the last axis of [..., 4] into four [...] tensors."""
    return t[..., 0], t[..., 1], t[..., 2], t[..., 3]


def apply_box_deltas_graph(boxes, deltas):
    """Move boxes by deltas (decode); the inverse of `box_refinement_graph`.

    boxes: [..., (y1, x1, y2, x2)].
    deltas: [..., (dy, dx, log(dh), log(dw))], same shape as boxes (or broadcastable to it).
    Returns: float32 [..., (y1, x1, y2, x2)].

    log(dh) and log(dw) are capped at MAX_LOG_SCALE (a box grows at most 62.5x, as in detectron2): an untrained or
    diverging head can predict huge values, and exp() would overflow to inf boxes that crop_and_resize rejects.
    Matterport did not cap; no sane delta comes near the cap.
    """
    boxes = tf.cast(boxes, tf.float32)
    deltas = tf.cast(deltas, tf.float32)
    y1, x1, y2, x2 = _unstack4(boxes)
    dy, dx, dh, dw = _unstack4(deltas)
    dh = tf.minimum(dh, MAX_LOG_SCALE)
    dw = tf.minimum(dw, MAX_LOG_SCALE)
    height = y2 - y1
    width = x2 - x1
    center_y = y1 + 0.5 * height + dy * height
    center_x = x1 + 0.5 * width + dx * width
    height = height * tf.exp(dh)
    width = width * tf.exp(dw)
    y1 = center_y - 0.5 * height
    x1 = center_x - 0.5 * width
    return tf.stack([y1, x1, y1 + height, x1 + width], axis=-1)


def clip_boxes_graph(boxes, window):
    """Clip boxes to lie inside a window.

    boxes: [..., (y1, x1, y2, x2)].
    window: [(y1, x1, y2, x2)] or a tensor broadcastable to boxes, e.g. [batch, 1, 4] for boxes [batch, N, 4].
    Returns: float32 boxes of the shape of `boxes`; each coordinate lies in [window y1, window y2] (rows) or
    [window x1, window x2] (columns).
    """
    boxes = tf.cast(boxes, tf.float32)
    window = tf.cast(window, tf.float32)
    low = tf.concat([window[..., 0:2], window[..., 0:2]], axis=-1)
    high = tf.concat([window[..., 2:4], window[..., 2:4]], axis=-1)
    return tf.maximum(tf.minimum(boxes, high), low)


def box_refinement_graph(box, gt_box):
    """Deltas that move `box` onto `gt_box` (encode).

    box, gt_box: [..., (y1, x1, y2, x2)] of the same shape.
    Returns: float32 [..., (dy, dx, log(dh), log(dw))]. Boxes of zero height or width give inf/NaN, as in
    Matterport: callers pass positive ROIs and real ground-truth boxes only.
    """
    box = tf.cast(box, tf.float32)
    gt_box = tf.cast(gt_box, tf.float32)
    y1, x1, y2, x2 = _unstack4(box)
    gy1, gx1, gy2, gx2 = _unstack4(gt_box)
    height = y2 - y1
    width = x2 - x1
    gt_height = gy2 - gy1
    gt_width = gx2 - gx1
    dy = ((gy1 + 0.5 * gt_height) - (y1 + 0.5 * height)) / height
    dx = ((gx1 + 0.5 * gt_width) - (x1 + 0.5 * width)) / width
    dh = tf.math.log(gt_height / height)
    dw = tf.math.log(gt_width / width)
    return tf.stack([dy, dx, dh, dw], axis=-1)


def overlaps_graph(boxes1, boxes2):
    """IoU of every box of `boxes1` with every box of `boxes2`.

    boxes1: [N1, (y1, x1, y2, x2)]; boxes2: [N2, (y1, x1, y2, x2)]. Either may be empty. Both may also carry the
    same leading batch axes ([B, N1, 4] and [B, N2, 4]: each batch entry's boxes with its own).
    Returns: float32 [N1, N2] ([B, N1, N2]). Where the union has no area (two zero-area boxes) the IoU is 0, never NaN.
    """
    boxes1 = tf.cast(boxes1, tf.float32)
    boxes2 = tf.cast(boxes2, tf.float32)
    b1 = boxes1[..., :, tf.newaxis, :]
    b2 = boxes2[..., tf.newaxis, :, :]
    y1 = tf.maximum(b1[..., 0], b2[..., 0])
    x1 = tf.maximum(b1[..., 1], b2[..., 1])
    y2 = tf.minimum(b1[..., 2], b2[..., 2])
    x2 = tf.minimum(b1[..., 3], b2[..., 3])
    intersection = tf.maximum(y2 - y1, 0.0) * tf.maximum(x2 - x1, 0.0)
    area1 = (b1[..., 2] - b1[..., 0]) * (b1[..., 3] - b1[..., 1])
    area2 = (b2[..., 2] - b2[..., 0]) * (b2[..., 3] - b2[..., 1])
    union = area1 + area2 - intersection
    return tf.math.divide_no_nan(intersection, tf.where(union > 0, union, tf.zeros_like(union)))


def _norm_scale_shift(shape):
    """Scale [..., 4] and shift [4] of Matterport's normalization for an image shape [..., (h, w)]."""
    shape = tf.cast(shape, tf.float32)
    h = shape[..., 0:1]
    w = shape[..., 1:2]
    scale = tf.concat([h, w, h, w], axis=-1) - 1.0
    shift = tf.constant([0.0, 0.0, 1.0, 1.0])
    return scale, shift


def norm_boxes_graph(boxes, shape):
    """Pixel boxes -> normalized boxes.

    boxes: [..., (y1, x1, y2, x2)] in pixels, (y2, x2) exclusive.
    shape: [(height, width)] in pixels, or [..., (height, width)] broadcastable against boxes' leading
        dimensions (e.g. [batch, 2] with boxes [batch, 4]).
    Returns: float32 [..., (y1, x1, y2, x2)] normalized, (y2, x2) inclusive.
    """
    scale, shift = _norm_scale_shift(shape)
    return (tf.cast(boxes, tf.float32) - shift) / scale


def denorm_boxes_graph(boxes, shape):
    """Normalized boxes -> pixel boxes, rounded to the nearest pixel.

    boxes: [..., (y1, x1, y2, x2)] normalized.
    shape: [(height, width)] in pixels, or broadcastable [..., (height, width)] as in `norm_boxes_graph`.
    Returns: int32 [..., (y1, x1, y2, x2)] in pixels, (y2, x2) exclusive.
    """
    scale, shift = _norm_scale_shift(shape)
    return tf.cast(tf.round(tf.cast(boxes, tf.float32) * scale + shift), tf.int32)


def trim_zeros_graph(boxes):
    """Remove the zero-padding rows of a box tensor.

    boxes: [N, 4] (boxes or deltas), some rows all zeros.
    Returns: (boxes [N', 4] without the all-zero rows, non_zeros bool [N]: True where a row was kept). Use
    `non_zeros` to trim tensors aligned with the boxes (class ids, masks).
    """
    non_zeros = tf.reduce_any(tf.not_equal(boxes, 0), axis=1)
    return tf.boolean_mask(boxes, non_zeros), non_zeros
