"""Resizing images and masks the way Matterport's pipeline does, and the small per-instance masks ("mini masks").

``resize_image`` scales an image keeping its aspect ratio, then pads or crops it ("none", "square", "pad64",
"crop"); ``resize_mask`` applies the same to masks. ``minimize_mask`` / ``expand_mask`` store each instance's mask
cropped to its box at a fixed small size, and back; ``mold_mask`` / ``unmold_mask`` do the same for one mask and the
network's soft mask output. Nothing here reads a Config.

Shape shorthand:
    N: instances, H, W: image height and width, C: image channels, h, w: mini-mask height and width.
"""

import random
import warnings

import numpy as np
import scipy.ndimage
import skimage.transform


def resize(image, output_shape, order=1, mode="constant", cval=0, clip=True,
           preserve_range=False, anti_aliasing=False, anti_aliasing_sigma=None):
    """``skimage.transform.resize`` with Matterport's defaults (no anti-aliasing).

    A bool input with ``order > 0`` is interpolated as float32 (skimage refuses bool there).
    """
    image = np.asarray(image)
    if image.dtype == bool and order > 0:
        image = image.astype(np.float32)
    return skimage.transform.resize(
        image, output_shape, order=order, mode=mode, cval=cval, clip=clip,
        preserve_range=preserve_range, anti_aliasing=anti_aliasing,
        anti_aliasing_sigma=anti_aliasing_sigma)


_RESIZE_MODES = ("none", "square", "pad64", "crop")


def resize_image(image, min_dim=None, max_dim=None, min_scale=None, mode="square"):
    """Resize an image keeping its aspect ratio, then pad or crop it (Matterport's modes).

    image: [H, W, C].
    min_dim: scale up (never down) so the shorter side is ``min_dim``.
    max_dim: in "square" mode, cap the scale so the longer side is at most ``max_dim``, then pad to
        [max_dim, max_dim].
    min_scale: scale up by at least this factor even when ``min_dim`` does not ask for it.
    mode: "none" (unchanged), "square" (see max_dim), "pad64" (scale by min_dim/min_scale, then pad
        height and width to multiples of 64; max_dim ignored), "crop" (scale by min_dim/min_scale,
        then a random ``min_dim`` x ``min_dim`` crop from Python's ``random``; training only).
    Returns:
        image: [H', W', C], same dtype as the input (float results are truncated by ``astype``).
        window: (y1, x1, y2, x2) of the image inside the padded result, (y2, x2) exclusive.
        scale: the scale factor applied.
        padding: [(top, bottom), (left, right), (0, 0)].
        crop: (y, x, height, width) in "crop" mode, else None.
    """
    if mode not in _RESIZE_MODES:
        raise ValueError(f"mode must be one of {_RESIZE_MODES}, got {mode!r}")
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must have shape [height, width, channels], got shape {image.shape}")
    image_dtype = image.dtype
    h, w = image.shape[:2]
    window = (0, 0, h, w)
    scale = 1
    padding = [(0, 0), (0, 0), (0, 0)]
    crop = None
    if mode == "none":
        return image, window, scale, padding, crop
    if mode == "square" and not max_dim:
        raise ValueError(f"mode 'square' needs max_dim (the side of the square), got {max_dim!r}")
    if mode == "crop" and not min_dim:
        raise ValueError(f"mode 'crop' needs min_dim (the side of the crop), got {min_dim!r}")
    if mode == "pad64" and min_dim and min_dim % 64 != 0:
        raise ValueError(f"mode 'pad64' needs min_dim to be a multiple of 64, got {min_dim}")

    if min_dim:
        scale = max(1, min_dim / min(h, w))
    if min_scale and scale < min_scale:
        scale = min_scale
    if max_dim and mode == "square":
        image_max = max(h, w)
        if round(image_max * scale) > max_dim:
            scale = max_dim / image_max
    if scale != 1:
        image = resize(image, (round(h * scale), round(w * scale)), preserve_range=True)

    h, w = image.shape[:2]
    if mode == "square":
        top_pad = (max_dim - h) // 2
        left_pad = (max_dim - w) // 2
        padding = [(top_pad, max_dim - h - top_pad), (left_pad, max_dim - w - left_pad), (0, 0)]
        image = np.pad(image, padding, mode="constant", constant_values=0)
        window = (top_pad, left_pad, h + top_pad, w + left_pad)
    elif mode == "pad64":
        pad_h = (64 - h % 64) % 64
        pad_w = (64 - w % 64) % 64
        padding = [(pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)]
        image = np.pad(image, padding, mode="constant", constant_values=0)
        window = (pad_h // 2, pad_w // 2, h + pad_h // 2, w + pad_w // 2)
    else:  # crop
        if h < min_dim or w < min_dim:
            raise ValueError(f"cannot crop {min_dim}x{min_dim} from an image resized to {h}x{w}")
        y = random.randint(0, h - min_dim)
        x = random.randint(0, w - min_dim)
        crop = (y, x, min_dim, min_dim)
        image = image[y:y + min_dim, x:x + min_dim]
        window = (0, 0, min_dim, min_dim)
    return image.astype(image_dtype), window, scale, padding, crop


def resize_mask(mask, scale, padding, crop=None):
    """Resize, then pad or crop, masks exactly as ``resize_image`` did the image.

    mask: [H, W, N]; scale, padding, crop: as returned by ``resize_image``.
    Returns: [H', W', N], same dtype (nearest-neighbour zoom, order 0).
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must have shape [height, width, instances], got shape {mask.shape}")
    if scale != 1:
        if mask.shape[-1] == 0:
            new_hw = [int(round(mask.shape[0] * scale)), int(round(mask.shape[1] * scale))]
            mask = np.zeros(new_hw + [0], dtype=mask.dtype)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mask = scipy.ndimage.zoom(mask, zoom=[scale, scale, 1], order=0)
    if crop is not None:
        y, x, h, w = crop
        return mask[y:y + h, x:x + w]
    return np.pad(mask, padding, mode="constant", constant_values=0)


def minimize_mask(bbox, mask, mini_shape):
    """Crop each mask to its box and shrink it to ``mini_shape`` to save memory.

    bbox: [N, (y1, x1, y2, x2)] ints; mask: [H, W, N]; mini_shape: (h, w).
    Returns: bool [h, w, N]. A box of zero area raises ValueError.
    """
    mini_shape = tuple(int(s) for s in mini_shape)
    mini_mask = np.zeros(mini_shape + (mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = (int(v) for v in bbox[i][:4])
        m = mask[y1:y2, x1:x2, i].astype(np.float32)
        if m.size == 0:
            raise ValueError(f"bbox[{i}] = {(y1, x1, y2, x2)} has zero area inside a mask of shape "
                             f"{mask.shape[:2]}; drop empty instances before minimize_mask")
        mini_mask[:, :, i] = np.around(resize(m, mini_shape)).astype(bool)
    return mini_mask


def expand_mask(bbox, mini_mask, image_shape):
    """Reverse ``minimize_mask``: grow each mini mask back into its box in a full-size mask.

    bbox: [N, (y1, x1, y2, x2)] ints; mini_mask: [h, w, N]; image_shape: (H, W, ...).
    Returns: bool [H, W, N]. A zero-area box leaves its mask empty.
    """
    mask = np.zeros(tuple(image_shape[:2]) + (mini_mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = (int(v) for v in bbox[i][:4])
        if y2 <= y1 or x2 <= x1:
            continue
        m = resize(mini_mask[:, :, i].astype(np.float32), (y2 - y1, x2 - x1))
        mask[y1:y2, x1:x2, i] = np.around(m).astype(bool)
    return mask


def mold_mask(mask, bbox, mask_shape):
    """Crop a full-size mask to ``bbox`` and resize it to ``mask_shape``; the inverse of ``unmold_mask``.

    Matterport left this as an empty stub taking ``(mask, config)``; pass ``config.MASK_SHAPE``.
    mask: [H, W] bool or float; bbox: (y1, x1, y2, x2) ints; mask_shape: (h, w).
    Returns: float32 [h, w] in [0, 1].
    """
    y1, x1, y2, x2 = (int(v) for v in bbox)
    crop = np.asarray(mask)[y1:y2, x1:x2]
    if crop.size == 0:
        raise ValueError(f"bbox {(y1, x1, y2, x2)} has zero area inside a mask of shape {np.shape(mask)}")
    return resize(crop.astype(np.float32), tuple(mask_shape)).astype(np.float32)


def unmold_mask(mask, bbox, image_shape):
    """Paste a small soft mask from the network into a full-size binary mask.

    mask: float [h, w] (typically 28x28); bbox: (y1, x1, y2, x2) pixels; image_shape: (H, W, ...).
    Returns: bool [H, W], thresholded at 0.5. Parts of the box outside the image are dropped; a box of
    zero area gives an empty mask.
    """
    threshold = 0.5
    y1, x1, y2, x2 = (int(round(float(v))) for v in bbox)
    height, width = int(image_shape[0]), int(image_shape[1])
    full_mask = np.zeros((height, width), dtype=bool)
    if y2 <= y1 or x2 <= x1:
        return full_mask
    m = resize(np.asarray(mask, dtype=np.float32), (y2 - y1, x2 - x1)) >= threshold
    cy1, cx1 = max(y1, 0), max(x1, 0)
    cy2, cx2 = min(y2, height), min(x2, width)
    if cy2 > cy1 and cx2 > cx1:
        full_mask[cy1:cy2, cx1:cx2] = m[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
    return full_mask
