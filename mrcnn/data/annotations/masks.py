"""The one decoder of COCO segmentations: polygons and RLE become masks through pycocotools, for the whole project.

    rle = segmentation_rle([[x1, y1, x2, y2, x3, y3, ...], ...], H, W)    # or an RLE dict
    masks = decode_rles([rle, ...], H, W)                                  # bool [H, W, N]
    mask = rasterize(instance, H, W)                                       # an Instance of the readers

The readers' ``rasterize`` (what ``AnnotatedDataset.load_mask`` and so ``pbc.py train`` / ``pbc.py evaluate`` use),
``mrcnn.evaluation.coco_io`` (what ``python -m mrcnn.evaluation`` uses), the annotator's areas and boxes and its
contact sheet all turn segmentations into pixels here, so a file gives the same masks everywhere, and the same as
pycocotools' own COCOeval: a polygon goes through ``frPyObjects``, the polygons of one object are ``merge``d (their
union), an uncompressed RLE goes through ``frPyObjects``, a compressed one is used as it is, and ``decode`` gives the
pixels. pycocotools sets a pixel when its centre lies inside the polygon as traced on a grid 5 times finer than the
pixels, with rounding: pixels whose centre is within about 0.2 pixel of an edge may go either way (an exact
centre-in-polygon fill, which the readers used before, differs on about 3 % of the pixels of small random polygons,
all that close to an edge).

Nothing is validated here beyond the type of the segmentation: pycocotools trusts its input (an RLE whose counts
sum past H * W overruns its buffer), so files are read by the readers first (coco.py, geometry.py), which check
every number; ``rasterize`` re-checks an Instance's RLE size and sum because an Instance can be built by hand.

Coordinates: (x, y) pixels with the COCO convention, pixel (row r, column c) covering [c, c + 1) x [r, r + 1).

Shape shorthand:
    H, W: image height and width, N: masks, P: points of a polygon.
"""

import numpy as np
from pycocotools import mask as mask_utils


def segmentation_rle(segmentation, height, width, where="segmentation"):
    """pycocotools' compressed RLE {"size": [H, W], "counts": bytes} of one COCO segmentation.

    segmentation: polygons (a non-empty list of flat [x1, y1, x2, y2, ...] lists or float [P, (x, y)] arrays;
    the object is their union), an uncompressed RLE {"size": [H, W], "counts": [int, ...]}, or a compressed one
    ("counts" a str or bytes). ValueError naming `where` for anything else.
    """
    if isinstance(segmentation, list):
        if not segmentation:
            raise ValueError(f"{where}: empty polygon list")
        polygons = [np.asarray(p, dtype=np.float64).ravel().tolist() for p in segmentation]
        return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    if isinstance(segmentation, dict) and "counts" in segmentation:
        if isinstance(segmentation["counts"], list):
            return mask_utils.frPyObjects(segmentation, height, width)
        rle = dict(segmentation)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
        return rle
    raise ValueError(f"{where}: 'segmentation' must be polygons or an RLE dict with 'counts', "
                     f"got {type(segmentation).__name__}")


def decode_rles(rles, height, width):
    """bool [H, W, N] masks of N compressed RLEs of an H x W image (N may be 0)."""
    if not rles:
        return np.zeros((height, width, 0), dtype=bool)
    return mask_utils.decode(list(rles)).reshape(height, width, -1).astype(bool)


def instance_rle(instance, height, width):
    """Compressed RLE of an Instance (mrcnn.data.annotations.records): its polygons' union or its RLE; None when it
    has neither (a box-only instance). ValueError when its RLE is not [height, width] or its counts do not sum to
    height * width (pycocotools would read past its buffer)."""
    if instance.rle is not None:
        where = instance.source or "instance"
        if list(instance.rle["size"]) != [height, width]:
            raise ValueError(f"{where}: RLE size {instance.rle['size']} is not [height, width] = [{height}, {width}]")
        if sum(instance.rle["counts"]) != height * width:
            raise ValueError(f"{where}: RLE counts do not sum to {height * width}")
        return segmentation_rle(instance.rle, height, width, where)
    if instance.polygons:
        return segmentation_rle(list(instance.polygons), height, width, instance.source or "instance")
    return None


def rasterize(instance, height, width):
    """bool [H, W] mask of an Instance (all False when it has no polygon and no RLE); see instance_rle."""
    rle = instance_rle(instance, height, width)
    if rle is None:
        return np.zeros([height, width], dtype=bool)
    return decode_rles([rle], height, width)[..., 0]
