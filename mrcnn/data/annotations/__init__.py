"""Readers of instance annotations: COCO instances JSON (polygons and RLE) and VIA / VGG JSON v1 and v2.

MakeSense, the paper's labelling tool, exports both formats: COCO (annotation ids from 0, one polygon per
annotation) and VGG/VIA 1 (``regions`` a dict keyed "0", "1", ...; ``region_attributes: {"label": name}``; the
first point repeated at the end). VIA 2 keeps ``regions`` as a list and a project file nests the images under
``_via_img_metadata``; all of these are read. Pure parsing: no TensorFlow; image files are opened only to read their
header (PIL's ``Image.open(...).size``, nothing is decoded).

Every reader returns ``(records, report)``: a list of ``ImageRecord`` and a ``ReadReport`` that counts what was
read and lists each skipped item with the annotation file and the reason; skips are logged as warnings (the first
20 of a file, the rest at debug level) and a one-line summary with the counts is logged at the end.

What happens to bad input (E = ValueError naming the annotation file; S = skipped, logged and counted):
    annotation file missing, not a file, empty, larger than max_json_bytes, not UTF-8, malformed or too
        deeply nested JSON, wrong top-level type, no image at all ........................................ E
    COCO "images" / "annotations" / "categories" not lists, a category without an int id and str name,
        duplicate category ids ........................................................................ E
    class name not in class_names (matched ignoring case, spaces, a plural s, the aliases given) E listing the
        known names; S instead when skip_unknown=True
    aliases not a dict of non-empty strings ........................................................... TypeError
    VIA file in which no region carries a class name under the label keys ........... E (name the key)
    image entry of the wrong type or with a missing / wrong-typed file name, id, width or height ....... S
    file name that is absolute, contains "..", is a URL, holds a NUL byte, or resolves (through symbolic
        links) outside image_root ................................ S; such a file is never opened
    image file missing, not a regular file, header unreadable (zero bytes, not an image, truncated header),
        more than max_pixels pixels in its header ....................... S; the file is never decoded
    COCO width / height different from the image file's, duplicate image id or file .................. S
    annotation of an unknown or skipped image, unknown category_id, no segmentation, wrong types ........ S
    polygon with fewer than 3 distinct points, an odd number of coordinates, non-numbers, NaN / inf or
        |coordinate| > 1e7, zero area, or lying entirely outside the image ... S the polygon (and the
        instance when none of its polygons is left)
    polygon partly outside the image .......................... clipped to the image, counted as "clipped"
    RLE with a size other than the image's, counts that are not non-negative ints summing to H * W, or a
        malformed compressed string ......................................................... S the instance
    VIA region without a class name, of shape "point", or of an unknown shape ........................... S
    COCO parsed with boxes=True (parse_coco_instances): a bbox that is not 4 finite numbers with width and
        height >= 0 ..... S the instance; an annotation with a bbox and no segmentation is a box-only instance
Images listed with no instance are kept (``instances == []``); the datasets decide what to do with them.
COCO parsed without an image root (``parse_coco_instances(data, name)``, how mrcnn.evaluation reads a ground truth):
no file is opened, so the file-name and image-file rows do not apply and the sizes are the document's.

Coordinates: (x, y) pixels with the COCO convention, pixel (row r, column c) covering [c, c + 1) x [r, r + 1).
``rasterize`` turns an Instance into a mask with pycocotools, through the project's one decoder of COCO
segmentations (masks.py). mrcnn.evaluation.load_coco_gt parses with parse_coco_instances and decodes with masks.py
too: a COCO file gives the same masks to ``pbc.py train`` / ``pbc.py evaluate`` and to ``python -m
mrcnn.evaluation``.

Nothing here is specific to a dataset: class names and their aliases are the caller's (PBC's are in
samples/pbc/classes.py). ``mrcnn.data.annotated.AnnotatedDataset`` is a ``mrcnn.utils.Dataset`` over one such file.

Modules: records (Instance, ImageRecord, ReadReport), files (load_json, safe_image_path, the image-file resolver),
geometry (numbers, polygons, RLE, validated), masks (segmentation_rle, decode_rles, rasterize: the decoder),
classes (class-name matching and aliases), coco, via; this package exports their public names and
read_annotations.

Shape shorthand:
    H, W: image height and width, P: points of a polygon.
"""

from mrcnn.data.annotations.coco import parse_coco_instances, read_coco_instances
from mrcnn.data.annotations.files import MAX_JSON_BYTES, load_json, safe_image_path
from mrcnn.data.annotations.geometry import COORDINATE_LIMIT
from mrcnn.data.annotations.masks import decode_rles, rasterize, segmentation_rle
from mrcnn.data.annotations.records import ImageRecord, Instance, ReadReport
from mrcnn.data.annotations.via import DEFAULT_LABEL_KEYS, _read_via, read_via
from mrcnn.data.image_io import MAX_IMAGE_PIXELS

__all__ = [
    "COORDINATE_LIMIT", "DEFAULT_LABEL_KEYS", "MAX_JSON_BYTES", "ImageRecord", "Instance",
    "ReadReport", "decode_rles", "is_coco", "load_json", "parse_coco_instances", "rasterize", "read_annotations",
    "read_coco_instances", "read_via", "safe_image_path", "segmentation_rle",
]


def is_coco(data):
    """Whether parsed JSON looks like COCO instances (an object with an 'images' list and annotations or
    categories) rather than VIA."""
    return isinstance(data, dict) and isinstance(data.get("images"), list) and (
        "annotations" in data or "categories" in data)


def read_annotations(json_path, image_root, class_names=None, label_key=None, skip_unknown=False,
                     max_pixels=MAX_IMAGE_PIXELS, match_basename=False, max_json_bytes=MAX_JSON_BYTES, aliases=None):
    """Read a COCO or VIA file, whichever it is (see is_coco): ([ImageRecord], ReadReport). Arguments as in
    read_coco_instances and read_via."""
    data = load_json(json_path, max_json_bytes)
    if is_coco(data):
        return parse_coco_instances(data, json_path, image_root, class_names, skip_unknown, max_pixels,
                                    match_basename, aliases)
    return _read_via(data, json_path, image_root, class_names, label_key, skip_unknown, max_pixels, match_basename,
                     aliases)
