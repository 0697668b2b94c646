"""Figure plumbing and pixel drawing for mrcnn.visualize (and mrcnn/visualize_boxes.py): the pyplot figure a
function makes and how it is saved or shown, the input checks, colours, mask blending and box outlines in NumPy.

Public names are re-exported by ``mrcnn.visualize`` (``figure_to_array``, ``random_colors``, ``apply_mask``,
``draw_box``, ``draw_instances``); import them from there.

Shape shorthand: H: image height, W: image width, N: instances.
Boxes are pixel ``(y1, x1, y2, x2)`` with ``(y2, x2)`` exclusive; masks are bool ``[H, W, N]``.
Colours are RGB(A) tuples of floats in [0, 1] (as ``random_colors`` returns them).
"""

import colorsys
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from skimage.measure import find_contours


############################################################
#  Figure plumbing
############################################################

def _new_axes(figsize=None, nrows=1, ncols=1):
    """A new pyplot figure and its axes [nrows, ncols]: the current figure, as Matterport's plt.subplots made it."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    return fig, axes


def _finish(fig, save_path=None, show=None, created=True):
    """Save (PNG unless the suffix names another format) and/or show; return path or figure.

    show: True, False, or None for Matterport's auto_show: show a figure this function `created` when nothing
    was saved. A created figure that was saved is closed after showing (its file is the result).
    """
    path = None
    if save_path is not None:
        path = os.fspath(save_path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi)
    if show is None:
        show = created and path is None
    if show or (created and path is not None):
        import matplotlib.pyplot as plt
        if show:
            plt.show()
        if created and path is not None:
            plt.close(fig)
    return path if path is not None else fig


def figure_to_array(fig):
    """The pixels of a Figure (as its Agg canvas draws them): uint8 RGB [H, W, 3], H, W = figsize x dpi.
    For TensorBoard images (mrcnn.evaluation.callback) or any array consumer."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.array(canvas.buffer_rgba())[:, :, :3]


def _check_image(image, name="image"):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{name} must be an RGB array [H, W, 3]; got shape {image.shape}")
    return image


def _check_instances(image, boxes, masks, class_ids, class_names, scores=None,
                     captions=None, colors=None):
    """Validate one image's instances; returns (boxes [N, 4], masks [H, W, N], class_ids [N])."""
    boxes = np.asarray(boxes)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [N, (y1, x1, y2, x2)]; got shape {boxes.shape}")
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[:2] != image.shape[:2]:
        raise ValueError(f"masks must be [H, W, N] with H, W = {image.shape[:2]}; "
                         f"got shape {masks.shape}")
    class_ids = np.asarray(class_ids).reshape(-1)
    n = boxes.shape[0]
    if not n == masks.shape[-1] == class_ids.shape[0]:
        raise ValueError(f"instance counts differ: boxes has {n}, masks has {masks.shape[-1]}, "
                         f"class_ids has {class_ids.shape[0]}; all three must be equal")
    for name, value in (("scores", scores), ("captions", captions), ("colors", colors)):
        if value is not None and len(value) < n:
            raise ValueError(f"{name} has {len(value)} entries; need one per instance ({n})")
    if n and (class_ids.min() < 0 or class_ids.max() >= len(class_names)):
        raise ValueError(f"class_ids must lie in [0, {len(class_names)}) (len(class_names)); "
                         f"got {class_ids.tolist()}")
    return boxes, masks, class_ids


def _mask_contours(mask):
    """Outline polygons [(x, y)] of a mask; padded so masks touching the border close."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask
    return [np.fliplr(verts) - 1 for verts in find_contours(padded, 0.5)]


############################################################
#  Colours and pixel overlays (numpy only)
############################################################

def random_colors(N, bright=True, seed=None):
    """N visually distinct RGB colours (floats in [0, 1]), evenly spaced in hue, shuffled.

    seed: int or None. The same seed gives the same list; None shuffles differently each call.
    """
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 0:
        raise ValueError(f"N must be a non-negative int; got {N!r}")
    brightness = 1.0 if bright else 0.7
    colors = [colorsys.hsv_to_rgb(i / N, 1.0, brightness) for i in range(N)]
    order = np.random.default_rng(seed).permutation(N)
    return [colors[i] for i in order]


def apply_mask(image, mask, color, alpha=0.5):
    """Blend `color` into `image` where `mask` is set.

    Masked pixels become ``image * (1 - alpha) + alpha * color * 255`` (Matterport's formula).

    image: [H, W, 3], modified in place and returned. Integer images get the blend rounded to the
        nearest integer (Matterport truncated).
    mask: [H, W], non-zero = inside. color: 3 (or 4, alpha ignored) floats in [0, 1].
    """
    mask = np.asarray(mask).astype(bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} must equal the image's H, W {image.shape[:2]}")
    for c in range(3):
        blended = image[:, :, c] * (1 - alpha) + alpha * color[c] * 255
        if np.issubdtype(image.dtype, np.integer):
            info = np.iinfo(image.dtype)
            blended = np.clip(np.rint(blended), info.min, info.max)
        image[:, :, c] = np.where(mask, blended, image[:, :, c])
    return image


def draw_box(image, box, color, thickness=1):
    """Draw a box outline into `image` in place (numpy only) and return it.

    box: (y1, x1, y2, x2) pixels, (y2, x2) exclusive; clipped to the image. The outline lies on
        the box's own border pixels, `thickness` pixels wide, inwards.
    color: per-channel values in the image's range (e.g. 3 ints 0..255 for uint8).
    """
    height, width = image.shape[:2]
    y1, x1, y2, x2 = (int(round(float(v))) for v in box)
    y1, x1, y2, x2 = max(y1, 0), max(x1, 0), min(y2, height), min(x2, width)
    if y1 >= y2 or x1 >= x2:
        return image
    t = max(int(thickness), 1)
    image[y1:min(y1 + t, y2), x1:x2] = color
    image[max(y2 - t, y1):y2, x1:x2] = color
    image[y1:y2, x1:min(x1 + t, x2)] = color
    image[y1:y2, max(x2 - t, x1):x2] = color
    return image


def draw_instances(image, boxes, masks, class_ids, class_names, scores=None, colors=None,
                   show_mask=True, show_bbox=True, alpha=0.5):
    """A uint8 RGB overlay of instances: masks blended, box outlines drawn, no text, no matplotlib.

    For contact sheets and fast batch output. image: [H, W, 3]; boxes: [N, (y1, x1, y2, x2)]
    pixels; masks: bool [H, W, N]; class_ids: int [N] indexing class_names; scores: [N] or None
    (validated only: there is no text). Instances whose box is all zeros are skipped (Matterport).
    Returns uint8 [H, W, 3]; the input is not modified.
    """
    image = _check_image(image)
    boxes, masks, class_ids = _check_instances(image, boxes, masks, class_ids, class_names,
                                               scores=scores, colors=colors)
    n = boxes.shape[0]
    colors = colors if colors is not None else random_colors(n)
    overlay = image.astype(np.float32)
    drawable = [i for i in range(n) if np.any(boxes[i])]
    if show_mask:
        for i in drawable:
            apply_mask(overlay, masks[:, :, i], colors[i], alpha)
    overlay = np.clip(np.rint(overlay), 0, 255).astype(np.uint8)
    if show_bbox:
        for i in drawable:
            rgb = [int(round(255 * v)) for v in colors[i][:3]]
            draw_box(overlay, boxes[i], rgb)
    return overlay
