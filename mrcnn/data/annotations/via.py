"""Reader of VIA / VGG JSON v1 and v2 (MakeSense's VGG export, VIA 2 projects): polygon, polyline, rect, circle and
ellipse regions, each becoming a polygon.

Shape shorthand:
    P: points of a polygon.
"""

import math
import os

import numpy as np

from mrcnn.data.annotations.classes import _canonical_class, check_aliases
from mrcnn.data.annotations.files import MAX_JSON_BYTES, _Resolver, load_json
from mrcnn.data.annotations.geometry import _number, _polygon
from mrcnn.data.annotations.records import ImageRecord, Instance, ReadReport, _finish, _Skip
from mrcnn.data.image_io import MAX_IMAGE_PIXELS

DEFAULT_LABEL_KEYS = ("name", "label", "class", "type")
_VIA_SHAPES = ("polygon", "polyline", "rect", "circle", "ellipse")


def _region_label(attributes, keys):
    """The class name of a VIA region: the first key present; a {name: true} checkbox dict with one true entry."""
    if not isinstance(attributes, dict):
        return None
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, dict):
            chosen = [k for k, v in value.items() if v]
            value = chosen[0] if len(chosen) == 1 else None
        if isinstance(value, str) and value.strip():
            return value
    return None


def _via_polygon(shape, width, height, report):
    """Polygon [P, (x, y)] of a VIA shape_attributes dict, or _Skip."""
    if not isinstance(shape, dict):
        raise _Skip(f"shape_attributes must be an object, got {type(shape).__name__}")
    kind = shape.get("name")
    if kind in ("polygon", "polyline"):
        xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
        if not isinstance(xs, list) or not isinstance(ys, list):
            raise _Skip("all_points_x and all_points_y must be lists")
        return _polygon(xs, ys, width, height, report)
    if kind == "rect":
        x, y = _number(shape.get("x"), "x"), _number(shape.get("y"), "y")
        w, h = _number(shape.get("width"), "width"), _number(shape.get("height"), "height")
        return _polygon([x, x + w, x + w, x], [y, y, y + h, y + h], width, height, report)
    if kind in ("circle", "ellipse"):
        cx, cy = _number(shape.get("cx"), "cx"), _number(shape.get("cy"), "cy")
        if kind == "circle":
            rx = ry = _number(shape.get("r"), "r")
            theta = 0.0
        else:
            rx, ry = _number(shape.get("rx"), "rx"), _number(shape.get("ry"), "ry")
            theta = _number(shape.get("theta", 0.0), "theta")
        t = np.linspace(0.0, 2 * math.pi, 48, endpoint=False)
        px, py = rx * np.cos(t), ry * np.sin(t)
        xs = cx + px * math.cos(theta) - py * math.sin(theta)
        ys = cy + px * math.sin(theta) + py * math.cos(theta)
        return _polygon(xs.tolist(), ys.tolist(), width, height, report)
    raise _Skip(f"shape {kind!r:.40} is not a region; supported: {list(_VIA_SHAPES)}")


def _read_via(data, json_path, image_root, class_names, label_key, skip_unknown, max_pixels, match_basename,
              aliases=None):
    aliases = check_aliases(aliases)
    report = ReadReport(os.fspath(json_path), format="via")
    if isinstance(data, dict) and isinstance(data.get("_via_img_metadata"), dict):
        data = data["_via_img_metadata"]  # a VIA 2 project file
    if not isinstance(data, dict):
        raise ValueError(f"annotation file {json_path} is not VIA/VGG JSON: expected an object of images keyed by "
                         f"file name, got {type(data).__name__}")
    if not data:
        raise ValueError(f"annotation file {json_path} lists no images")
    keys = DEFAULT_LABEL_KEYS if label_key is None else (label_key,)
    resolve = _Resolver(image_root, max_pixels, match_basename)
    records, paths, regions_seen, labelled = [], set(), 0, 0
    versions = set()
    for key, entry in data.items():
        item = f"image {key!r:.60}"
        try:
            if not isinstance(entry, dict):
                raise _Skip(f"must be an object, got {type(entry).__name__}")
            regions = entry.get("regions", [])
            if isinstance(regions, dict):  # VIA 1 / MakeSense: {"0": region, "1": region, ...}
                versions.add("v1")
                regions = [regions[k] for k in sorted(regions, key=lambda k: (len(str(k)), str(k)))]
            elif isinstance(regions, list):
                versions.add("v2")
            else:
                raise _Skip(f"regions must be a list or an object, got {type(regions).__name__}")
            path, (width, height) = resolve(entry.get("filename"))
            if path in paths:
                raise _Skip(f"duplicate entry for {path}")
        except _Skip as error:
            report.skip("image", item, str(error))
            continue
        record = ImageRecord(path, width, height, [], entry["filename"], key)
        for index, region in enumerate(regions):
            region_item = f"region {index} of {entry['filename']!r:.60}"
            regions_seen += 1
            try:
                if not isinstance(region, dict):
                    raise _Skip(f"must be an object, got {type(region).__name__}")
                name = _region_label(region.get("region_attributes"), keys)
                if name is None:
                    raise _Skip(f"no class name in region_attributes under {list(keys)}: "
                                f"{region.get('region_attributes')!r:.60}")
                labelled += 1
                name = _canonical_class(name, class_names, skip_unknown, json_path, region_item, aliases)
                polygon = _via_polygon(region.get("shape_attributes"), width, height, report)
            except _Skip as error:
                report.skip("instance", region_item, str(error))
                continue
            record.instances.append(Instance(name, [polygon], source=region_item))
        records.append(record)
        paths.add(path)
    if regions_seen and not labelled:
        raise ValueError(f"annotation file {json_path}: none of its {regions_seen} regions has a class name in "
                         f"region_attributes under {list(keys)}; pass label_key=<the attribute holding the class>")
    report.format = "via " + "+".join(sorted(versions)) if versions else "via"
    return _finish(records, report)


def read_via(json_path, image_root, class_names=None, label_key=None, skip_unknown=False,
             max_pixels=MAX_IMAGE_PIXELS, match_basename=False, max_json_bytes=MAX_JSON_BYTES, aliases=None):
    """Read a VIA / VGG JSON (v1, v2, MakeSense, a VIA 2 project): ([ImageRecord], ReadReport).

    label_key: the region attribute holding the class name; None tries "name", "label", "class", "type".
    Other arguments as in read_coco_instances. Shapes polygon, polyline (closed), rect, circle and ellipse
    become polygons.
    """
    data = load_json(json_path, max_json_bytes)
    return _read_via(data, json_path, image_root, class_names, label_key, skip_unknown, max_pixels,
                     match_basename, aliases)
