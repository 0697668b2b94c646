"""Image meta: per-image facts packed into one float vector that travels with the image through the graph.

Shape shorthand: B: batch, C: NUM_CLASSES (background included), M: meta length = 12 + C.

The layout is Matterport's and is defined here only (`META_LAYOUT`); every reader goes through `parse_image_meta`
(NumPy) or `parse_image_meta_graph` (TensorFlow):

    image_id            [1]  index of the image in its Dataset
    original_image_shape[3]  (H, W, C) before resizing
    image_shape         [3]  (H, W, C) after resizing and padding: the shape the network sees
    window              [4]  (y1, x1, y2, x2) in pixels of the resized image: the part that is image, not padding
    scale               [1]  resize factor
    active_class_ids    [C]  1 for classes of the image's dataset source, 0 otherwise (multi-source training)
"""

import numpy as np
import tensorflow as tf

# (name, length) in order; a length of None means NUM_CLASSES.
META_LAYOUT = (
    ("image_id", 1),
    ("original_image_shape", 3),
    ("image_shape", 3),
    ("window", 4),
    ("scale", 1),
    ("active_class_ids", None),
)
FIXED_META_SIZE = sum(n for _, n in META_LAYOUT if n is not None)  # 12


def meta_size(num_classes):
    """Length of the meta vector for `num_classes` classes (background included)."""
    return FIXED_META_SIZE + num_classes


def compose_image_meta(image_id, original_image_shape, image_shape, window, scale, active_class_ids):
    """Pack the facts of one image into a float32 vector [M] (layout in the module docstring)."""
    parts = {
        "image_id": [image_id],
        "original_image_shape": list(original_image_shape),
        "image_shape": list(image_shape),
        "window": list(window),
        "scale": [scale],
        "active_class_ids": list(active_class_ids),
    }
    for name, length in META_LAYOUT:
        if length is not None and len(parts[name]) != length:
            raise ValueError(f"compose_image_meta: {name} needs {length} values, got {parts[name]}")
    return np.array([v for name, _ in META_LAYOUT for v in parts[name]], dtype=np.float32)


def _slices(width):
    start, out = 0, {}
    for name, length in META_LAYOUT:
        length = width - FIXED_META_SIZE if length is None else length
        out[name] = slice(start, start + length)
        start += length
    return out


def parse_image_meta(meta):
    """Unpack [B, M] (or [M]) meta into a dict of NumPy arrays; ids and shapes as int32, the rest float32."""
    meta = np.asarray(meta)
    if meta.shape[-1] <= FIXED_META_SIZE:
        raise ValueError(f"parse_image_meta: meta vectors need more than {FIXED_META_SIZE} values, "
                         f"got shape {meta.shape}")
    out = {}
    for name, s in _slices(meta.shape[-1]).items():
        value = meta[..., s]
        if name in ("image_id", "scale"):
            value = value[..., 0]
        if name in ("image_id", "original_image_shape", "image_shape", "active_class_ids"):
            value = value.astype(np.int32)
        else:
            value = value.astype(np.float32)
        out[name] = value
    return out


def parse_image_meta_graph(meta):
    """Unpack a [B, M] meta tensor into a dict of float32 tensors (same keys as `parse_image_meta`).

    image_id and scale are [B]; the others keep their last axis, e.g. window [B, 4].
    """
    width = meta.shape[-1]
    if width is None:
        raise ValueError("parse_image_meta_graph needs a static meta length")
    out = {}
    for name, s in _slices(width).items():
        value = meta[..., s]
        if name in ("image_id", "scale"):
            value = value[..., 0]
        out[name] = tf.cast(value, tf.float32)
    return out
