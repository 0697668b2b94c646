"""Anchors of the feature pyramid for an image shape, computed once and cached.

Shape shorthand:
    A: anchors (all pyramid levels), L: pyramid levels (P2..P6).

The anchor math itself is `mrcnn.utils.generate_pyramid_anchors`; this module only reads the Config, works out the
feature-map shapes and caches the result per (scales, ratios, feature shapes, strides, anchor stride, image shape),
so the data generator and the model builder can call `get_anchors` for every image at no cost.
"""

import math
import threading

import numpy as np

from mrcnn import utils

_CACHE = {}
_CACHE_LOCK = threading.Lock()


def compute_backbone_shapes(config, image_shape):
    """Feature-map sizes of the pyramid levels for an input of `image_shape`.

    config: a Config; `COMPUTE_BACKBONE_SHAPE(image_shape)` is used when it is callable (Matterport's hook for
        custom backbones), otherwise one level per entry of `BACKBONE_STRIDES`.
    image_shape: [(height, width, ...)] of the network input in pixels.
    Returns: int [L, (height, width)] = [[ceil(h / s), ceil(w / s)] for s in BACKBONE_STRIDES].
    """
    if callable(getattr(config, "COMPUTE_BACKBONE_SHAPE", None)):
        return np.asarray(config.COMPUTE_BACKBONE_SHAPE(image_shape))
    height, width = _image_hw(image_shape)
    return np.array([[int(math.ceil(height / stride)), int(math.ceil(width / stride))]
                     for stride in config.BACKBONE_STRIDES])


def get_anchors(config, image_shape, normalized=False):
    """All anchors of the pyramid for an input of `image_shape`, cached.

    config: a Config (RPN_ANCHOR_SCALES, RPN_ANCHOR_RATIOS, BACKBONE_STRIDES, RPN_ANCHOR_STRIDE and
        COMPUTE_BACKBONE_SHAPE are read).
    image_shape: [(height, width, ...)] of the network input (the resized, padded image) in pixels.
    normalized: False for pixel coordinates, True for Matterport's normalized coordinates
        (`utils.norm_boxes` with the image's height and width).
    Returns: float32 [A, (y1, x1, y2, x2)], level P2 first; read-only (the array is shared by every caller, copy it
        before changing it).
    """
    height, width = _image_hw(image_shape)
    backbone_shapes = compute_backbone_shapes(config, (height, width))
    key = (
        tuple(float(s) for s in np.ravel(config.RPN_ANCHOR_SCALES)),
        tuple(float(r) for r in np.ravel(config.RPN_ANCHOR_RATIOS)),
        tuple(tuple(int(v) for v in shape) for shape in backbone_shapes),
        tuple(int(s) for s in config.BACKBONE_STRIDES),
        int(config.RPN_ANCHOR_STRIDE),
        (height, width),
        bool(normalized),
    )
    with _CACHE_LOCK:
        anchors = _CACHE.get(key)
    if anchors is not None:
        return anchors
    anchors = utils.generate_pyramid_anchors(
        config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS, backbone_shapes,
        config.BACKBONE_STRIDES, config.RPN_ANCHOR_STRIDE)
    if normalized:
        anchors = utils.norm_boxes(anchors, (height, width))
    anchors = np.ascontiguousarray(anchors, dtype=np.float32)
    anchors.flags.writeable = False
    with _CACHE_LOCK:
        anchors = _CACHE.setdefault(key, anchors)
    return anchors


def clear_anchor_cache():
    """Forget every cached anchor array (for tests and long-running processes that change configs)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _image_hw(image_shape):
    """(height, width) as ints from [H, W, ...]; None sides (resize mode "none") raise a ValueError."""
    if image_shape is None or len(image_shape) < 2:
        raise ValueError(f"image_shape must be [height, width, ...], got {image_shape!r}")
    height, width = image_shape[0], image_shape[1]
    if height is None or width is None:
        raise ValueError(f"image_shape {tuple(image_shape)} has an unknown side (IMAGE_RESIZE_MODE 'none'); "
                         "anchors need the actual image height and width")
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"image_shape {tuple(image_shape)}: height and width must be >= 1")
    return int(height), int(width)
