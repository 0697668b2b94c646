"""The graph's three TensorFlow-only ops written with ops every runtime has, for exports to LiteRT.

Shape shorthand: B: batch, H, W: feature-map size, C: channels, n: crops, ch, cw: crop size, N: boxes, K: kept.

LiteRT has no built-in CropAndResize, CombinedNonMaxSuppression or InvertPermutation; a model that uses them needs
TensorFlow's select ops (the Flex delegate), which the ai-edge-litert interpreter does not link. Inside
`portable_ops()` the layers that use them trace these instead (mrcnn/export/formats.py does it for LiteRT):
    crop_and_resize      tf.image.crop_and_resize(method="bilinear", extrapolation_value=0) from gather_nd
    invert_permutation   tf.math.invert_permutation from scatter_nd
    nms_one_image        combined NMS of one image from NonMaxSuppressionV5 (batch 1: an export's)
The same values (tests/ops/test_portable.py); NMS may order boxes of exactly equal scores otherwise.
"""

import contextlib
import threading

import tensorflow as tf

_STATE = threading.local()


@contextlib.contextmanager
def portable_ops():
    """Layers traced inside use the functions of this module instead of TensorFlow-only ops (nests)."""
    _STATE.depth = getattr(_STATE, "depth", 0) + 1
    try:
        yield
    finally:
        _STATE.depth -= 1


def enabled():
    """True inside `portable_ops()`."""
    return getattr(_STATE, "depth", 0) > 0


def crop_and_resize(image, boxes, box_indices, crop_size):
    """tf.image.crop_and_resize(image, boxes, box_indices, crop_size, "bilinear"), extrapolation 0.

    image: [B, H, W, C]; boxes: [n, (y1, x1, y2, x2)] normalized; box_indices: int32 [n]; crop_size: (ch, cw).
    Returns float32 [n, ch, cw, C]. Sample i of a box reads the image at y1 * (H - 1) + i * (y2 - y1) * (H - 1) /
    (ch - 1) (the box's centre when ch is 1), x likewise; a sample outside the image reads 0.
    """
    image = tf.cast(image, tf.float32)
    boxes = tf.cast(boxes, tf.float32)
    height = tf.cast(tf.shape(image)[1], tf.float32)
    width = tf.cast(tf.shape(image)[2], tf.float32)

    def samples(start, stop, size, extent):  # [n] -> [n, size] coordinates in pixels
        if size > 1:
            step = tf.range(size, dtype=tf.float32) * ((stop - start) * (extent - 1) / (size - 1))[:, None]
            return start[:, None] * (extent - 1) + step
        return (0.5 * (start + stop) * (extent - 1))[:, None]

    ys = samples(boxes[:, 0], boxes[:, 2], int(crop_size[0]), height)  # [n, ch]
    xs = samples(boxes[:, 1], boxes[:, 3], int(crop_size[1]), width)  # [n, cw]
    y_inside = tf.logical_and(ys >= 0, ys <= height - 1)
    x_inside = tf.logical_and(xs >= 0, xs <= width - 1)
    top, left = tf.floor(ys), tf.floor(xs)
    bottom, right = tf.math.ceil(ys), tf.math.ceil(xs)
    y_lerp, x_lerp = ys - top, xs - left

    def clip(v, extent):
        return tf.cast(tf.clip_by_value(v, 0.0, extent - 1), tf.int32)
    top, bottom, left, right = clip(top, height), clip(bottom, height), clip(left, width), clip(right, width)
    n, ch, cw = tf.shape(boxes)[0], int(crop_size[0]), int(crop_size[1])
    batch = tf.broadcast_to(tf.reshape(tf.cast(box_indices, tf.int32), [-1, 1, 1]), [n, ch, cw])

    def corner(rows, cols):  # [n, ch], [n, cw] -> [n, ch, cw, C]
        rows = tf.broadcast_to(tf.expand_dims(rows, 2), [n, ch, cw])
        cols = tf.broadcast_to(tf.expand_dims(cols, 1), [n, ch, cw])
        return tf.gather_nd(image, tf.stack([batch, rows, cols], axis=-1))

    x_lerp = tf.reshape(x_lerp, [n, 1, cw, 1])
    upper = corner(top, left) + (corner(top, right) - corner(top, left)) * x_lerp
    lower = corner(bottom, left) + (corner(bottom, right) - corner(bottom, left)) * x_lerp
    value = upper + (lower - upper) * tf.reshape(y_lerp, [n, ch, 1, 1])
    inside = tf.logical_and(tf.reshape(y_inside, [n, ch, 1, 1]), tf.reshape(x_inside, [n, 1, cw, 1]))
    return tf.where(inside, value, 0.0)


def invert_permutation(permutation):
    """tf.math.invert_permutation: int32 [N] -> [N] with result[permutation[i]] = i."""
    permutation = tf.cast(permutation, tf.int32)
    size = tf.shape(permutation)[0]
    return tf.scatter_nd(tf.expand_dims(permutation, 1), tf.range(size), tf.expand_dims(size, 0))


def nms_one_image(boxes, scores, max_output, iou_threshold, score_threshold):
    """Greedy NMS of one image's boxes [N, 4] with scores [N]: (indices int32 [max_output], their scores
    [max_output], valid: how many of them are kept), best first; boxes scoring below score_threshold are left out.
    The rows from `valid` on are padding (LiteRT fills them with its own values: mask them with `keep_rows`)."""
    boxes = tf.cast(boxes, tf.float32)
    # A box of zero area overlaps nothing in TensorFlow's NMS, itself included; LiteRT's NMS then selects it again
    # and again. Each such box is moved to a unit square of its own far outside the image: it still overlaps nothing
    # else, and overlaps itself. The indices returned are those of the boxes given.
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    corner = 1000.0 + 2.0 * tf.cast(tf.range(tf.shape(boxes)[0]), tf.float32)
    alone = tf.stack([corner, corner, corner + 1.0, corner + 1.0], axis=1)
    boxes = tf.where(tf.expand_dims(tf.abs(area) > 0, 1), boxes, alone)
    selected = tf.raw_ops.NonMaxSuppressionV5(
        boxes=boxes, scores=tf.cast(scores, tf.float32), max_output_size=max_output,
        iou_threshold=float(iou_threshold), score_threshold=float(score_threshold), soft_nms_sigma=0.0,
        pad_to_max_output_size=True)
    return selected.selected_indices, selected.selected_scores, selected.valid_outputs


def keep_rows(values, valid):
    """values [max_output, ...] with the rows from `valid` on set to 0 (combined NMS's zero padding)."""
    rows = tf.range(tf.shape(values)[0]) < valid
    rows = tf.reshape(rows, tf.concat([tf.shape(values)[:1], tf.ones([len(values.shape) - 1], tf.int32)], 0))
    return tf.where(rows, values, tf.zeros_like(values))
