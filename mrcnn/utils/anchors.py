"""Anchor boxes of the feature pyramid (the math only; ``mrcnn.data.anchors`` reads the Config and caches them).

Shape shorthand:
    A: anchors, L: pyramid levels.
"""

import numpy as np


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
