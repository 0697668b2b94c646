"""Detection on images larger than the model input (overlapping tiles) and at another scale (resize, detect, map back).

`detect_tiled(model, image)` cuts the image into overlapping tiles of the model's input size, runs `model.detect` on
them a batch at a time and merges the results so that a cell seen by two tiles counts once:
    - a detection whose box touches a tile edge that lies inside the image is "cut" (the tile saw part of it);
    - two detections from different tiles are the same cell when, inside the part of the image both tiles see, their
      masks cover each other by at least `same_cell` (intersection over the smaller of the two, both restricted to
      that common part; a cut cell and its whole view coincide there);
    - of the views of one cell the best whole one is kept (highest score); when every view is cut (a cell larger
      than the overlap), their masks are united into one detection with the best view's class and score;
    - a cut detection that no other tile saw is kept as it is (the neighbouring tile missed the cell).
Detections of one tile are never merged with each other (the model's own suppression already ran on them).
Masks are kept cropped to their boxes while tiles are processed, so memory holds one batch of tiles plus the cropped
masks; the full-size masks (bool [H, W, N], H * W * N bytes: 157 MB for 50 cells on 2048 x 1536) are made once at the
end, or never with `full_masks=False`.

`detect_at_scale(model, image, factor)` resizes the image by `factor` (mrcnn.data.scale.rescale_factor), detects
(tiled when larger than a tile; an image smaller than a tile is padded to the tile, so the model does not rescale
it), and maps boxes and masks back to the original image.

The model is anything with `detect(list of [h, w, 3] images) -> [dict]` (Matterport's contract: "rois" int32
[N, (y1, x1, y2, x2)], "class_ids" int32 [N], "scores" float32 [N], "masks" bool [h, w, N]) and a `config` with
IMAGE_MAX_DIM (the tile side), IMAGE_MIN_DIM, IMAGE_MIN_SCALE, IMAGE_RESIZE_MODE and BATCH_SIZE.

Shape shorthand:
    H, W: image height and width; T: tile side; N: detections; h, w: one detection's box height and width.
"""

import logging
import math

import cv2
import numpy as np

log = logging.getLogger(__name__)

DEFAULT_SAME_CELL = 0.5
_EDGE_MARGIN = 1  # pixels: a box this close to an inner tile edge touches it


def tile_starts(length, tile, overlap):
    """Start offsets of tiles of side `tile` covering [0, length) with neighbours sharing >= `overlap` pixels.

    The first tile starts at 0 and the last ends at `length`; the others are spread evenly between them. A length
    up to one tile gives [0].
    """
    if tile <= overlap:
        raise ValueError(f"overlap must be smaller than the tile side {tile}, got {overlap}")
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _tile_side(model, tile_size):
    """The tile side: `tile_size` or the model's IMAGE_MAX_DIM; refused when the model would rescale such a tile."""
    config = model.config
    side = int(config.IMAGE_MAX_DIM) if tile_size is None else tile_size
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 16:
        raise ValueError(f"tile_size must be an int >= 16 (pixels), got {tile_size!r}")
    if getattr(config, "IMAGE_RESIZE_MODE", "square") not in ("square", "crop"):
        raise ValueError(f"detect_tiled needs a model whose IMAGE_RESIZE_MODE is 'square' (fixed input), got "
                         f"{config.IMAGE_RESIZE_MODE!r}")
    scale = 1.0
    if getattr(config, "IMAGE_MIN_DIM", None):
        scale = max(1.0, config.IMAGE_MIN_DIM / side)
    if getattr(config, "IMAGE_MIN_SCALE", 0) and scale < config.IMAGE_MIN_SCALE:
        scale = config.IMAGE_MIN_SCALE
    if side * scale > config.IMAGE_MAX_DIM:
        scale = config.IMAGE_MAX_DIM / side
    if scale != 1.0:
        raise ValueError(f"tile_size {side}: the model would rescale such a tile by {scale:.3g}; use the model's "
                         f"input size IMAGE_MAX_DIM = {config.IMAGE_MAX_DIM}")
    return side


def pad_colour(image, pad_value=None):
    """The colour [C] a tile is padded with: `pad_value` (per channel or one value), or the image's median colour,
    which looks like empty smear to the model."""
    if pad_value is None:
        return np.median(image.reshape(-1, image.shape[-1]), axis=0).astype(image.dtype)
    return np.broadcast_to(np.asarray(pad_value, image.dtype), image.shape[-1:])


def pad_tile(crop, side, fill):
    """A `side` x `side` tile holding `crop` [h, w, C] (h, w <= side) in its top-left corner, the rest `fill` [C]
    (pad_colour); `crop` itself when it fills the tile."""
    if crop.shape[:2] == (side, side):
        return crop
    tile = np.empty((side, side, crop.shape[2]), crop.dtype)
    tile[:] = fill
    tile[:crop.shape[0], :crop.shape[1]] = crop
    return tile


def _crops(result, window, tile_index, shape):
    """One tile's detections as records with full-image boxes and masks cropped to them (the tile's padding cut)."""
    y0, x0, y1, x1 = window
    height, width = shape
    records = []
    for i in range(len(result["class_ids"])):
        ty1, tx1, ty2, tx2 = (int(v) for v in result["rois"][i])
        ty1, tx1, ty2, tx2 = max(ty1, 0), max(tx1, 0), min(ty2, y1 - y0), min(tx2, x1 - x0)  # padding is not image
        if ty2 <= ty1 or tx2 <= tx1:
            continue
        mask = np.array(result["masks"][ty1:ty2, tx1:tx2, i], dtype=bool)
        box = np.array([ty1 + y0, tx1 + x0, ty2 + y0, tx2 + x0])
        cut = ((ty1 <= _EDGE_MARGIN and y0 > 0) or (tx1 <= _EDGE_MARGIN and x0 > 0)
               or (ty2 >= y1 - y0 - _EDGE_MARGIN and y1 < height) or (tx2 >= x1 - x0 - _EDGE_MARGIN and x1 < width))
        records.append({"box": box, "mask": mask, "class_id": int(result["class_ids"][i]),
                        "score": float(result["scores"][i]), "cut": bool(cut), "views": [(tile_index, window)]})
    return records


def _area_within(record, window):
    """Mask pixels of a record inside `window` (y1, x1, y2, x2) of the image."""
    y1, x1, y2, x2 = record["box"]
    wy1, wx1, wy2, wx2 = max(window[0], y1), max(window[1], x1), min(window[2], y2), min(window[3], x2)
    if wy2 <= wy1 or wx2 <= wx1:
        return 0
    return int(record["mask"][wy1 - y1:wy2 - y1, wx1 - x1:wx2 - x1].sum())


def _common_cover(a, b, window):
    """Intersection over the smaller mask, both restricted to `window`; 0 when either is empty there."""
    smaller = min(_area_within(a, window), _area_within(b, window))
    if smaller == 0:
        return 0.0
    y1, x1 = np.maximum(a["box"][:2], b["box"][:2])
    y2, x2 = np.minimum(a["box"][2:], b["box"][2:])
    y1, x1, y2, x2 = max(y1, window[0]), max(x1, window[1]), min(y2, window[2]), min(x2, window[3])
    if y2 <= y1 or x2 <= x1:
        return 0.0
    ma = a["mask"][y1 - a["box"][0]:y2 - a["box"][0], x1 - a["box"][1]:x2 - a["box"][1]]
    mb = b["mask"][y1 - b["box"][0]:y2 - b["box"][0], x1 - b["box"][1]:x2 - b["box"][1]]
    return float((ma & mb).sum()) / smaller


def _same_cell(kept, record, threshold):
    """Does `record` show a cell that `kept` (possibly merged from several tiles) already holds?"""
    tile = record["views"][0]
    for other_index, other_window in kept["views"]:
        if other_index == tile[0]:
            continue
        common = (max(tile[1][0], other_window[0]), max(tile[1][1], other_window[1]),
                  min(tile[1][2], other_window[2]), min(tile[1][3], other_window[3]))
        if common[2] > common[0] and common[3] > common[1] and _common_cover(kept, record, common) >= threshold:
            return True
    return False


def _unite(kept, record):
    """Merge a cut view into a cut detection: the union of masks and boxes, the best view's class and score."""
    box = np.concatenate([np.minimum(kept["box"][:2], record["box"][:2]),
                          np.maximum(kept["box"][2:], record["box"][2:])])
    mask = np.zeros((box[2] - box[0], box[3] - box[1]), bool)
    for part in (kept, record):
        y1, x1, y2, x2 = part["box"] - np.tile(box[:2], 2)
        mask[y1:y2, x1:x2] |= part["mask"]
    kept.update(box=box, mask=mask, views=kept["views"] + record["views"])


def merge_tiles(records, same_cell=DEFAULT_SAME_CELL):
    """Merge the per-tile records of `detect_tiled` (see the module notes): [record], one per cell."""
    order = sorted(range(len(records)), key=lambda i: (records[i]["cut"], -records[i]["score"], i))
    kept, boxes = [], np.zeros((0, 4), np.int64)  # boxes: [len(kept), (y1, x1, y2, x2)], to skip distant cells fast
    for i in order:
        record = records[i]
        box = record["box"]
        near = np.flatnonzero((boxes[:, 0] < box[2]) & (boxes[:, 2] > box[0]) & (boxes[:, 1] < box[3])
                              & (boxes[:, 3] > box[1]))
        match = next((k for k in near if _same_cell(kept[k], record, same_cell)), None)
        if match is None:
            kept.append(dict(record))
            boxes = np.vstack([boxes, box[None]])
        elif kept[match]["cut"] and record["cut"]:
            _unite(kept[match], record)
            boxes[match] = kept[match]["box"]
    return kept


def _assemble(records, shape, full_masks):
    """Matterport's result dict from records (full masks bool [H, W, N], or "mask_crops": [bool [h, w]])."""
    height, width = shape
    records = sorted(records, key=lambda r: -r["score"])
    result = {"rois": np.array([r["box"] for r in records], np.int32).reshape(-1, 4),
              "class_ids": np.array([r["class_id"] for r in records], np.int32),
              "scores": np.array([r["score"] for r in records], np.float32)}
    if not full_masks:
        result["mask_crops"] = [r["mask"] for r in records]
        return result
    masks = np.zeros((height, width, len(records)), bool)
    for i, r in enumerate(records):
        y1, x1, y2, x2 = r["box"]
        masks[y1:y2, x1:x2, i] = r["mask"]
    result["masks"] = masks
    return result


def _check_image(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be an array [H, W, C] with H, W >= 1, got shape {image.shape}")
    return image


def detect_tiled(model, image, tile_size=None, overlap=None, same_cell=DEFAULT_SAME_CELL, pad_value=None,
                 full_masks=True):
    """Detect on an image of any size through overlapping tiles of the model's input size (see the module notes).

    image: [H, W, C] at the scale the model was trained at.
    tile_size: tile side T in pixels; default the model's IMAGE_MAX_DIM (another size is refused when the model
        would rescale it).
    overlap: pixels shared by neighbouring tiles, >= the largest cell expected (a larger cell is never whole in one
        tile: its cut views are united); default T // 2.
    same_cell: intersection over the smaller mask, within the part both tiles see, from which two views are one cell.
    pad_value: colour of the padding of tiles that reach past a side shorter than T (default the image's median
        colour, which looks like empty smear to the model); per channel or one value.
    full_masks: False returns "mask_crops" ([N] bool [h, w], each the mask inside its box) instead of "masks".
    Returns {"rois": int32 [N, (y1, x1, y2, x2)], "class_ids": int32 [N], "scores": float32 [N], "masks": bool
    [H, W, N]}, sorted by decreasing score.
    """
    image = _check_image(image)
    side = _tile_side(model, tile_size)
    overlap = side // 2 if overlap is None else overlap
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < side:
        raise ValueError(f"overlap must be an int in [0, {side}) pixels (the tile side is {side}), got {overlap!r}")
    if not 0.0 < same_cell <= 1.0:
        raise ValueError(f"same_cell must be in (0, 1], got {same_cell!r}")
    height, width = image.shape[:2]
    fill = pad_colour(image, pad_value) if min(height, width) < side else None  # padding only then
    windows = [(y, x, min(y + side, height), min(x + side, width))
               for y in tile_starts(height, side, overlap) for x in tile_starts(width, side, overlap)]
    batch = max(1, int(getattr(model.config, "BATCH_SIZE", 1)))
    records = []
    for start in range(0, len(windows), batch):
        chunk = windows[start:start + batch]
        tiles = [pad_tile(image[y1:y2, x1:x2], side, fill) for y1, x1, y2, x2 in chunk]
        for k, result in enumerate(model.detect(tiles)):
            records += _crops(result, chunk[k], start + k, (height, width))
    kept = merge_tiles(records, same_cell)
    log.debug("tiled detection: %d tiles of %d px, %d detections, %d after merging", len(windows), side,
             len(records), len(kept))
    return _assemble(kept, (height, width), full_masks)


def detect_at_scale(model, image, factor, full_masks=True, **tiled_args):
    """Resize an image by `factor`, detect (`detect_tiled`, which pads an image smaller than a tile), map back.

    image: [H, W, C]; factor: positive (mrcnn.data.scale.rescale_factor: > 1 enlarges); tiled_args: detect_tiled's.
    Returns detect_tiled's dict in the coordinates of `image`: boxes scaled back and rounded (within a pixel of the
    original's for any factor), masks resized to them.
    """
    image = _check_image(image)
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)) or not (
            math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a positive finite number, got {factor!r}")
    height, width = image.shape[:2]
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    if size == (height, width):
        return detect_tiled(model, image, full_masks=full_masks, **tiled_args)
    resized = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    if resized.ndim == 2:  # cv2 drops a single channel
        resized = resized[:, :, None]
    if max(size) == _tile_side(model, None) and hasattr(model, "detect_resized") and not tiled_args:
        # One input, filled: the model maps its results straight to the image, pasting the masks at the image's
        # resolution (a binary mask resized back loses ~2 % of its IoU).
        result = model.detect_resized([resized], [image.shape])[0]
        return result if full_masks else _assemble(_crops(result, (0, 0, height, width), 0, (height, width)),
                                                   (height, width), False)
    scaled = detect_tiled(model, resized, full_masks=False, **tiled_args)
    ratio = np.array([height / size[0], width / size[1]] * 2)
    records = []
    for box, class_id, score, crop in zip(scaled["rois"], scaled["class_ids"], scaled["scores"], scaled["mask_crops"]):
        y1, x1, y2, x2 = np.clip(np.rint(box * ratio).astype(int), 0, [height, width, height, width])
        if y2 <= y1 or x2 <= x1:
            continue
        mask = cv2.resize(crop.astype(np.uint8), (int(x2 - x1), int(y2 - y1)), interpolation=cv2.INTER_NEAREST) > 0
        records.append({"box": np.array([y1, x1, y2, x2]), "mask": mask, "class_id": int(class_id),
                        "score": float(score)})
    return _assemble(records, (height, width), full_masks)
