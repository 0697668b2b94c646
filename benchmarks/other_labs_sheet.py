"""Contact sheets of benchmarks/other_labs.py: the images where a model went wrong, drawn for a human to look at.

Shape shorthand:
    H, W: image height and width, h, w: the tile's, N: ground-truth cells of one image, D: detections of one image.

Each tile is drawn at tile scale (small crops enlarged, large fields reduced) so that thin outlines stay visible:
the detections' masks blended and outlined and their boxes (mrcnn.visualize), then the ground-truth cells, green when
found and red when missed: their boxes, or the expert's mask outline where there is one.
"""

import os

import numpy as np

FOUND, MISSED = (0, 170, 0), (220, 0, 0)


def _resized_mask(mask, size):
    from PIL import Image
    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127


def draw_tile(image, pred, class_names, colours, truth_boxes, truth_found, truth_mask=None, tile=256):
    """uint8 [h, w, 3] with max(h, w) = tile (see the module docstring).

    image: uint8 [H, W, 3]; pred: MaskRCNN.detect's dict ("rois" [D, 4], "class_ids" [D], "masks" [H, W, D]);
    class_names: by class id; colours: D RGB tuples of floats in [0, 1]; truth_boxes: [N, (y1, x1, y2, x2)] pixels;
    truth_found: N bools; truth_mask: optional bool [H, W], outlined instead of the boxes.
    """
    from PIL import Image
    from skimage.segmentation import find_boundaries

    from mrcnn import visualize
    factor = tile / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))  # (w, h) for PIL
    masks = np.asarray(pred["masks"])
    masks = np.stack([_resized_mask(masks[..., i], size) for i in range(masks.shape[-1])], axis=-1) \
        if masks.shape[-1] else np.zeros(size[::-1] + (0,), bool)
    out = visualize.draw_instances(np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)),
                                   np.asarray(pred["rois"]) * factor, masks, pred["class_ids"], class_names,
                                   colors=colours, alpha=0.25)
    for i, colour in enumerate(colours):
        out[find_boundaries(masks[..., i], mode="inner")] = [round(255 * c) for c in colour[:3]]
    for box, found in zip(np.asarray(truth_boxes).reshape(-1, 4), truth_found):
        if truth_mask is not None:
            out[find_boundaries(_resized_mask(truth_mask, size), mode="thick")] = FOUND if found else MISSED
        else:
            visualize.draw_box(out, box * factor, FOUND if found else MISSED, 2)
    return out


def save_sheet(tiles, out_png, tile=256, columns=4):
    """Write [(uint8 [h, w, 3] tile, name, caption)] as a PNG grid, the two text lines under each tile; returns the
    path, or None when there is no tile."""
    from PIL import Image, ImageDraw
    if not tiles:
        return None
    text = 28
    sheet = Image.new("RGB", (columns * tile, -(-len(tiles) // columns) * (tile + text)), "white")
    pen = ImageDraw.Draw(sheet)
    for k, (pixels, name, caption) in enumerate(tiles):
        im = Image.fromarray(pixels)
        x, y = (k % columns) * tile, (k // columns) * (tile + text)
        sheet.paste(im, (x + (tile - im.width) // 2, y + (tile - im.height) // 2))
        pen.text((x + 2, y + tile), name[:tile // 7], fill=(0, 0, 0))
        pen.text((x + 2, y + tile + 13), caption, fill=(160, 40, 0))
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    sheet.save(out_png)
    return out_png
