"""A cell's mask as the page gets it, and back: a small PNG cropped to the mask's own extent, placed in the image.

Shape shorthand: H, W: the image's height and width.

    png = mask_png(mask)                   # {"x", "y", "png": a data URL}, or None for an empty mask
    mask = cell_mask(cell, H, W)           # bool [H, W] from a cell {"mask": png, ...}

The page tints the PNG in the cell's colour; the store keeps it with the cell (on disk, mrcnn/app/disk.py), and the
exports rebuild the full-size mask from it (mrcnn/app/exports.py), so the COCO corrections hold the very pixels the
page drew.
"""

import base64
import io

import numpy as np


def mask_png(mask):
    """One detection's mask for the page: {"x", "y", "png"}: a PNG data URL of the mask cropped to its own extent
    (white, opaque inside, transparent outside; the page tints it), placed at pixel (x, y) of the image; None for an
    empty mask."""
    from PIL import Image

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    y1, y2, x1, x2 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    alpha = mask[y1:y2, x1:x2].astype(np.uint8) * 255
    pixels = np.stack([np.full_like(alpha, 255), alpha], axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return {"x": int(x1), "y": int(y1), "png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}


def cell_mask(cell, height, width):
    """bool [H, W]: a cell's mask from its PNG crop (mask_png), placed in the image."""
    from PIL import Image

    mask = np.zeros((height, width), dtype=bool)
    if not cell.get("mask"):
        return mask
    png = base64.b64decode(cell["mask"]["png"].split(",", 1)[1])
    alpha = np.array(Image.open(io.BytesIO(png)).convert("LA"))[..., 1] > 0
    x, y = cell["mask"]["x"], cell["mask"]["y"]
    crop = alpha[:max(0, height - y), :max(0, width - x)]
    mask[y:y + crop.shape[0], x:x + crop.shape[1]] = crop
    return mask
