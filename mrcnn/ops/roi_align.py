"""Multi-level ROI Align in the TensorFlow graph: which FPN level pools each ROI, and the pooling itself.

Shape shorthand:
    B: batch, R: ROIs per image (zero-padded), L: pyramid levels (P2..P5, so 4), C: feature channels,
    h_i, w_i: height and width of the feature map of level i, ph, pw: pooled height and width.

Boxes are normalized `(y1, x1, y2, x2)` (convention in `mrcnn.ops.boxes`).
"""

import math

import tensorflow as tf

from mrcnn.ops import portable

# Feature Pyramid Networks paper, eq. 1: a 224x224 ROI (the ImageNet crop) maps to level 4.
CANONICAL_SIZE = 224.0
CANONICAL_LEVEL = 4
MIN_LEVEL = 2
MAX_LEVEL = 5


def roi_pyramid_level(boxes, image_area):
    """The FPN level (2..5) that pools each box: Matterport's
    `min(5, max(2, 4 + round(log2(sqrt(h * w) / (224 / sqrt(image_area))))))`.

    boxes: [..., (y1, x1, y2, x2)] normalized.
    image_area: the image's height * width in pixels, a scalar or a tensor broadcastable to boxes[..., 0]
        (e.g. [B, 1] for boxes [B, R, 4]).
    Returns: int32 [...] levels in [2, 5]. `round` rounds half to even (tf.round, as in Matterport). Zero-area
    boxes (padding) go to level 2.
    """
    boxes = tf.cast(boxes, tf.float32)
    image_area = tf.cast(image_area, tf.float32)
    h = boxes[..., 2] - boxes[..., 0]
    w = boxes[..., 3] - boxes[..., 1]
    size = tf.sqrt(tf.maximum(h * w, 0.0))
    # log2(0) = -inf for padding boxes; the clip below is done in float so that -inf never reaches the int cast.
    level = tf.math.log(size / (CANONICAL_SIZE / tf.sqrt(image_area))) / math.log(2.0)
    level = CANONICAL_LEVEL + tf.round(level)
    level = tf.clip_by_value(level, float(MIN_LEVEL), float(MAX_LEVEL))
    return tf.cast(level, tf.int32)


def pyramid_roi_align(boxes, image_area, feature_maps, pool_shape):
    """Pool every box from its pyramid level with bilinear `tf.image.crop_and_resize` (Matterport's ROI Align).

    boxes: [B, R, (y1, x1, y2, x2)] normalized; zero padding on axis 1 is allowed (pooled from P2, finite).
    image_area: [B] height * width of each (molded) image in pixels.
    feature_maps: L tensors [B, h_i, w_i, C], the levels 2, 3, ... in order.
    pool_shape: (ph, pw).
    Returns: float32 [B, R, ph, pw, C], in the order of `boxes`. No gradient flows into `boxes`.
    """
    boxes = tf.cast(boxes, tf.float32)
    levels = roi_pyramid_level(boxes, tf.cast(image_area, tf.float32)[:, tf.newaxis])
    levels = tf.clip_by_value(levels, MIN_LEVEL, MIN_LEVEL + len(feature_maps) - 1)
    num_rois = tf.shape(boxes)[1]
    pooled = []
    flat_ids = []
    # Inside portable_ops() (a LiteRT export) without the TensorFlow-only ops (mrcnn/ops/portable.py).
    crop = portable.crop_and_resize if portable.enabled() else tf.image.crop_and_resize
    invert = portable.invert_permutation if portable.enabled() else tf.math.invert_permutation
    for i, feature_map in enumerate(feature_maps):
        ix = tf.cast(tf.where(tf.equal(levels, MIN_LEVEL + i)), tf.int32)  # [n, (image, roi)]
        level_boxes = tf.stop_gradient(tf.gather_nd(boxes, ix))
        box_indices = tf.stop_gradient(ix[:, 0])
        pooled.append(crop(tf.cast(feature_map, tf.float32), level_boxes, box_indices, pool_shape))
        flat_ids.append(ix[:, 0] * num_rois + ix[:, 1])
    pooled = tf.concat(pooled, axis=0)
    # pooled[k] belongs to box flat_ids[k]; the inverse permutation puts box j at position j.
    pooled = tf.gather(pooled, invert(tf.concat(flat_ids, axis=0)))
    shape = tf.concat([tf.shape(boxes)[:2], tf.shape(pooled)[1:]], axis=0)
    return tf.reshape(pooled, shape)
