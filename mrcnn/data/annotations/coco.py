"""Reader of COCO instances JSON (polygons and RLE; MakeSense's COCO export included).

``read_coco_instances(json_path, image_root, ...)`` reads a file and checks each image against its file under
image_root (header only). ``parse_coco_instances(data, json_path, image_root=None, ..., boxes=True)`` parses a
loaded document; without an image root no file is touched and the sizes are the document's, which is how
``mrcnn.evaluation.load_coco_gt`` reads a ground truth without its images (one parser for training and scoring).
boxes=True also keeps each annotation's own bbox, and box-only annotations (a bbox and no segmentation).

Shape shorthand:
    H, W: image height and width, P: points of a polygon.
"""

import logging
import os

from mrcnn.data.annotations.classes import _canonical_class, check_aliases
from mrcnn.data.annotations.files import MAX_JSON_BYTES, _Resolver, load_json
from mrcnn.data.annotations.geometry import _bbox, _polygon, _positive_int, _rle
from mrcnn.data.annotations.records import ImageRecord, Instance, ReadReport, _finish, _Skip
from mrcnn.data.image_io import MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)


def coco_categories(data, json_path):
    """{category id: name} of a COCO document's "categories"; ValueError naming json_path when malformed."""
    categories = data.get("categories", [])
    if not isinstance(categories, list):
        raise ValueError(f"annotation file {json_path}: 'categories' must be a list, got "
                         f"{type(categories).__name__}")
    names = {}
    for index, category in enumerate(categories):
        cid = category.get("id") if isinstance(category, dict) else None
        name = category.get("name") if isinstance(category, dict) else None
        if isinstance(cid, bool) or not isinstance(cid, int) or not isinstance(name, str):
            raise ValueError(f"annotation file {json_path}: categories[{index}] must be an object with an int 'id' "
                             f"and a str 'name', got {category!r:.80}")
        if cid in names:
            raise ValueError(f"annotation file {json_path}: category id {cid} appears twice")
        names[cid] = name
    return names


def _coco_instance(annotation, record, category_id, category_name, report, boxes):
    """Instance of one COCO annotation (its class name already checked), or _Skip."""
    crowd = annotation.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, float):
        raise _Skip(f"iscrowd must be 0 or 1, got {crowd!r:.40}")
    segmentation = annotation.get("segmentation")
    instance = Instance(category_name, iscrowd=bool(crowd), category_id=category_id)
    if boxes and "bbox" in annotation:
        instance.bbox = _bbox(annotation["bbox"])
    if isinstance(segmentation, dict):
        instance.rle = _rle(segmentation, record.width, record.height)
        if not any(instance.rle["counts"][1::2]):
            raise _Skip("RLE mask is empty")
    elif isinstance(segmentation, list) and segmentation:
        reasons = []
        for k, flat in enumerate(segmentation):
            try:
                if not isinstance(flat, list) or len(flat) % 2:
                    raise _Skip("polygon must be a flat list [x1, y1, x2, y2, ...] of even length")
                instance.polygons.append(_polygon(flat[0::2], flat[1::2], record.width, record.height, report))
            except _Skip as error:
                reasons.append(f"polygon {k}: {error}")
        if not instance.polygons:
            raise _Skip("; ".join(reasons))
        for reason in reasons:
            report.skipped_polygons += 1
            log.warning("%s: dropped part of an annotation of %s: %s", report.json_path, record.file_name, reason)
    elif instance.bbox is None or segmentation not in (None, []):  # else a box-only instance (boxes=True)
        wanted = "polygons or RLE, or none and a bbox" if boxes else "polygons or RLE"
        raise _Skip(f"no segmentation ({wanted}), got {segmentation!r:.60}")
    return instance


def _image_size(entry, resolve):
    """(real path or None, width, height) of a COCO image entry, checked against its file when there is a
    resolver (an image root), or _Skip."""
    width, height = _positive_int(entry, "width"), _positive_int(entry, "height")
    if resolve is None:
        return None, width, height
    path, size = resolve(entry.get("file_name"))
    if size != (width, height):
        raise _Skip(f"declares {width} x {height} pixels but {path} is {size[0]} x {size[1]}")
    return path, width, height


def parse_coco_instances(data, json_path, image_root=None, class_names=None, skip_unknown=False,
                         max_pixels=MAX_IMAGE_PIXELS, match_basename=False, aliases=None, boxes=False):
    """Parse a loaded COCO instances document: ([ImageRecord], ReadReport). See the package notes for bad input.

    json_path: the file it came from (or a name for it), for messages. image_root: as in read_coco_instances, or
    None: no image file is opened, each record's path is None and its width and height are the document's.
    boxes: keep each annotation's bbox (Instance.bbox; a malformed one skips the instance) and accept box-only
    annotations. Other arguments as in read_coco_instances.
    """
    aliases = check_aliases(aliases)
    report = ReadReport(os.fspath(json_path), format="coco")
    if not isinstance(data, dict):
        raise ValueError(f"annotation file {json_path} is not COCO instances JSON: expected an object with "
                         f"'images', 'annotations' and 'categories', got {type(data).__name__}")
    images, annotations = data.get("images"), data.get("annotations", [])
    for key, value in (("images", images), ("annotations", annotations)):
        if not isinstance(value, list):
            raise ValueError(f"annotation file {json_path}: '{key}' must be a list, got {type(value).__name__}")
    if not images:
        raise ValueError(f"annotation file {json_path} lists no images")
    categories = coco_categories(data, json_path)
    resolve = None if image_root is None else _Resolver(image_root, max_pixels, match_basename)
    records, paths, skipped_ids = {}, set(), set()
    for index, entry in enumerate(images):
        item = f"images[{index}]"
        try:
            if not isinstance(entry, dict):
                raise _Skip(f"must be an object, got {type(entry).__name__}")
            image_id = entry.get("id")
            item = f"images[{index}] ({entry.get('file_name')!r:.60})"
            if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
                raise _Skip(f"id must be an int or a string, got {image_id!r:.40}")
            skipped_ids.add(image_id)
            path, width, height = _image_size(entry, resolve)
            if image_id in records or (path is not None and path in paths):
                raise _Skip(f"duplicate image (id {image_id!r} or file {path})")
        except _Skip as error:
            report.skip("image", item, str(error))
            continue
        skipped_ids.discard(image_id)
        records[image_id] = ImageRecord(path, width, height, [], entry.get("file_name"), image_id)
        paths.add(path)
    for index, annotation in enumerate(annotations):
        item = f"annotations[{index}]"
        try:
            if not isinstance(annotation, dict):
                raise _Skip(f"must be an object, got {type(annotation).__name__}")
            item = f"annotations[{index}] (id {annotation.get('id')!r:.20})"
            image_id, category_id = annotation.get("image_id"), annotation.get("category_id")
            hashable = isinstance(image_id, (int, str)) and not isinstance(image_id, bool)
            if not hashable or image_id not in records:
                if hashable and image_id in skipped_ids:
                    raise _Skip(f"its image {image_id!r} was skipped")
                raise _Skip(f"image_id {image_id!r:.40} is not in 'images'")
            if isinstance(category_id, bool) or not isinstance(category_id, int) or category_id not in categories:
                raise _Skip(f"category_id {category_id!r:.40} is not in 'categories'")
            record = records[image_id]
            name = _canonical_class(categories[category_id], class_names, skip_unknown, json_path, item, aliases)
            instance = _coco_instance(annotation, record, category_id, name, report, boxes)
        except _Skip as error:
            report.skip("instance", item, str(error))
            continue
        instance.source = item
        record.instances.append(instance)
    return _finish(list(records.values()), report)


def read_coco_instances(json_path, image_root, class_names=None, skip_unknown=False, max_pixels=MAX_IMAGE_PIXELS,
                        match_basename=False, max_json_bytes=MAX_JSON_BYTES, aliases=None):
    """Read a COCO instances JSON: ([ImageRecord], ReadReport). See the module notes for bad input.

    json_path: the JSON file. image_root: folder that the images' file_name values are relative to.
    class_names: None (accept any category name) or the known names. skip_unknown: skip instances of unknown
    classes instead of raising. max_pixels: refuse larger images (header check). match_basename: when a file
    name is not found under the root as written, use the one file below the root whose path ends with it.
    aliases: None or {other name: class name}, other names of the known classes (see classes.py).
    """
    data = load_json(json_path, max_json_bytes)
    if not isinstance(data, dict) or "images" not in data:
        raise ValueError(f"annotation file {json_path} is not COCO instances JSON: expected an object with "
                         f"'images', 'annotations' and 'categories', got {type(data).__name__}")
    return parse_coco_instances(data, json_path, image_root, class_names, skip_unknown, max_pixels, match_basename,
                                aliases)
