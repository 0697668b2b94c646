"""Contact sheet: a PNG grid of annotation overlays for a human to review, unsure images first.

Images are read by mrcnn.data.image_io.read_image_rgb (the header checked first, truncated files refused); one that
cannot be read is left out of the sheet with a warning giving the reason.

Shape shorthand:
    H, W: image height and width, N: instances of one image.
"""

import json
import logging
import os

import numpy as np

from mrcnn.data.image_io import read_image_rgb

log = logging.getLogger(__name__)


def _select_for_sheet(images, max_images):
    """Unsure images first (all, up to max_images), then evenly spaced sure ones to fill the sheet."""
    unsure = [im for im in images if im.get("mrcnn_flags")]
    sure = [im for im in images if not im.get("mrcnn_flags")]
    room = max(0, max_images - len(unsure))
    if len(sure) > room:
        sure = [sure[int(i)] for i in np.linspace(0, len(sure) - 1, room)] if room else []
    return unsure[:max_images] + sure


def _tile(image, entry, anns, class_names, tile_size, coco_json):
    """uint8 [tile_size, tile_size, 3]: the image with its annotations blended and outlined (orange: unsure)."""
    from PIL import Image
    from skimage.segmentation import find_boundaries

    from mrcnn import visualize
    from mrcnn.data.annotations.masks import decode_rles, segmentation_rle
    from mrcnn.utils import extract_bboxes

    height, width = image.shape[:2]
    masks = decode_rles([segmentation_rle(a["segmentation"], height, width, f"{coco_json}: annotation "
                                          f"{a.get('id')}") for a in anns], height, width)
    colour = (1.0, 0.0, 0.0) if entry.get("mrcnn_flags") else (0.0, 0.75, 0.0)
    overlay = visualize.draw_instances(image, extract_bboxes(masks), masks, [a["category_id"] for a in anns],
                                       class_names, colors=[colour] * len(anns), show_bbox=False, alpha=0.2)
    tile = np.array(Image.fromarray(overlay).resize((tile_size, tile_size)))
    for i in range(len(anns)):  # outlines drawn at tile scale, 2 px wide, so they stay visible
        small = np.asarray(Image.fromarray(masks[..., i]).resize((tile_size, tile_size), Image.NEAREST))
        tile[find_boundaries(small, mode="thick")] = [int(255 * c) for c in colour]
    return tile


def contact_sheet(coco_json, image_root, out_png, columns=8, tile_size=192, max_images=240):
    """Write a PNG grid of annotation overlays for human review, unsure images first; returns the PNG path.

    coco_json: a COCO instances file (as annotate_folder writes; plain COCO works too); image_root: the folder its
    file names are relative to. Each tile: the image with its masks blended and outlined (green: sure, orange:
    unsure; mrcnn.visualize.draw_instances), then the file name, the confidence and the flags as text.
    max_images: tiles at most (every unsure image first, then an even sample of the sure ones). Images are read
    with mrcnn.data.image_io.read_image_rgb; one that cannot be read is left out with a warning giving the reason
    (ValueError when none can be read).
    """
    from PIL import Image, ImageDraw

    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive int; got {columns!r}")
    with open(coco_json) as f:
        coco = json.load(f)
    names = {c["id"]: c["name"] for c in coco.get("categories", [])}
    class_names = ["BG"] + [names.get(i, str(i)) for i in range(1, max(names, default=0) + 1)]
    by_image = {}
    for ann in coco.get("annotations", []):
        by_image.setdefault(ann["image_id"], []).append(ann)
    chosen = _select_for_sheet(coco.get("images", []), max_images)
    if not chosen:
        raise ValueError(f"{coco_json}: no images to show")
    tiles = []
    for entry in chosen:
        try:
            image = read_image_rgb(os.path.join(image_root, entry["file_name"]))
        except ValueError as error:
            log.warning("contact sheet: cannot read the image (%s); left out", error)
            continue
        tiles.append((entry, _tile(image, entry, by_image.get(entry["id"], []), class_names, tile_size, coco_json)))
    if not tiles:
        raise ValueError(f"{coco_json}: none of the {len(chosen)} images chosen for the sheet can be read under "
                         f"{image_root}")
    text_height = 26
    sheet = Image.new("RGB", (columns * tile_size, -(-len(tiles) // columns) * (tile_size + text_height)), "white")
    pen = ImageDraw.Draw(sheet)
    for k, (entry, tile) in enumerate(tiles):
        flags = entry.get("mrcnn_flags", [])
        x, y = (k % columns) * tile_size, (k // columns) * (tile_size + text_height)
        sheet.paste(Image.fromarray(tile), (x, y))
        caption = os.path.basename(entry["file_name"])[:tile_size // 6]
        status = f"{entry.get('mrcnn_confidence', '')} " + (",".join(flags) if flags else "ok")
        pen.text((x + 2, y + tile_size), caption, fill=(0, 0, 0))
        pen.text((x + 2, y + tile_size + 12), status[:tile_size // 6], fill=(200, 60, 0) if flags else (0, 110, 0))
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    sheet.save(out_png)
    log.info("contact sheet %s: %d of %d images (%d unsure, %d unreadable left out)", out_png, len(tiles),
             len(coco.get("images", [])), sum(bool(e.get("mrcnn_flags")) for e, _ in tiles), len(chosen) - len(tiles))
    return out_png
