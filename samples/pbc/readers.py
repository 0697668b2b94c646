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
    class name not in class_names (matched ignoring case, spaces, a plural s, aliases) E listing the known
        names; S instead when skip_unknown=True
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
Images listed with no instance are kept (``instances == []``); the datasets decide what to do with them.

Coordinates: (x, y) pixels with the COCO convention, pixel (row r, column c) covering [c, c + 1) x [r, r + 1);
``rasterize`` sets a pixel when its centre lies inside the polygon, which matches pycocotools up to ties.

Shape shorthand:
    H, W: image height and width, P: points of a polygon.
"""

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import PureWindowsPath

import numpy as np

from mrcnn.data.image_io import MAX_IMAGE_PIXELS, read_image_size

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 512 * 2 ** 20  # annotation files above this size are refused before parsing
COORDINATE_LIMIT = 1e7  # |x| or |y| above this is treated as corrupt, not clipped
DEFAULT_LABEL_KEYS = ("name", "label", "class", "type")
_LOGGED_SKIPS = 20  # per file, as warnings; further skips go to debug
_VIA_SHAPES = ("polygon", "polyline", "rect", "circle", "ellipse")


@dataclass
class Instance:
    """One annotated object.

    class_name: canonical class name (the spelling in class_names when those were given).
    polygons: list of float [P, (x, y)] pixel arrays, already clipped to the image; their union is the object.
    rle: None or an uncompressed COCO RLE {"size": [H, W], "counts": [int, ...]} (column-major runs, starting
        with background), validated. Exactly one of polygons / rle is non-empty.
    iscrowd: COCO's crowd flag. source: where it came from in the annotation file, for messages.
    """
    class_name: str
    polygons: list = field(default_factory=list)
    rle: dict = None
    iscrowd: bool = False
    source: str = ""


@dataclass
class ImageRecord:
    """One image of an annotation file: `path` (real path under the image root), `width` and `height` in pixels
    (from the file's header), `instances` (list of Instance), `file_name` as written in the file, `image_id`
    (COCO id, or the VIA key)."""
    path: str
    width: int
    height: int
    instances: list = field(default_factory=list)
    file_name: str = ""
    image_id: object = None


@dataclass
class ReadReport:
    """What a reader did with one annotation file: counts and the skipped items [(item, reason)]."""
    json_path: str
    format: str = ""
    images: int = 0
    instances: int = 0
    clipped: int = 0
    skipped_polygons: int = 0
    skipped_images: list = field(default_factory=list)
    skipped_instances: list = field(default_factory=list)

    def skip(self, kind, item, reason):
        """Record and log a skipped "image" or "instance"."""
        target = self.skipped_images if kind == "image" else self.skipped_instances
        target.append((item, reason))
        count = len(self.skipped_images) + len(self.skipped_instances)
        level = logging.WARNING if count <= _LOGGED_SKIPS else logging.DEBUG
        log.log(level, "%s: skipped %s %s: %s", self.json_path, kind, item, reason)

    def summary(self):
        text = (f"{self.json_path} ({self.format}): read {self.images} images with {self.instances} instances; "
                f"skipped {len(self.skipped_images)} images and {len(self.skipped_instances)} instances")
        if self.skipped_polygons:
            text += f"; dropped {self.skipped_polygons} bad polygons of multi-polygon instances"
        if self.clipped:
            text += f"; clipped {self.clipped} polygons to their image"
        return text

    def log_summary(self):
        skipped = self.skipped_images or self.skipped_instances or self.skipped_polygons
        log.log(logging.WARNING if skipped else logging.INFO, "%s", self.summary())


class _Skip(Exception):
    """An item to skip; the message is the reason."""


# ---------------------------------------------------------------------------------------------------------------
#  Files and paths
# ---------------------------------------------------------------------------------------------------------------

def load_json(json_path, max_bytes=MAX_JSON_BYTES):
    """Parse a JSON file; ValueError naming the file when it is missing, empty, too large or not valid JSON."""
    path = os.fspath(json_path)
    if not os.path.exists(path):
        raise ValueError(f"annotation file {path} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"annotation file {path} is not a regular file")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ValueError(f"annotation file {path} has {size} bytes, more than the limit of {max_bytes}")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"annotation file {path} is not UTF-8 text: {error}") from error
    except OSError as error:
        raise ValueError(f"cannot read annotation file {path}: {error}") from error
    if not text.strip():
        raise ValueError(f"annotation file {path} is empty; expected COCO or VIA JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"annotation file {path} is not valid JSON: {error}") from error
    except RecursionError as error:
        raise ValueError(f"annotation file {path} nests JSON too deeply to be an annotation file") from error


def safe_image_path(image_root, file_name):
    """Real path of `file_name` inside `image_root`; ValueError (the reason) when it could lead outside.

    Refuses non-strings, empty names, NUL bytes, URLs, absolute paths (POSIX or Windows), any ".." component and
    names that resolve outside the root through symbolic links. Backslashes count as separators. Nothing is opened.
    """
    if not isinstance(file_name, str) or not file_name.strip():
        raise ValueError(f"file name must be a non-empty string, got {file_name!r}")
    if "\x00" in file_name:
        raise ValueError(f"file name {file_name!r} holds a NUL byte")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", file_name):
        raise ValueError(f"file name {file_name!r} is a URL; only files under the image root are read")
    if os.path.isabs(file_name) or PureWindowsPath(file_name).is_absolute() or PureWindowsPath(file_name).drive \
            or file_name.startswith(("/", "\\")):
        raise ValueError(f"file name {file_name!r} is an absolute path; it must be relative to the image root")
    parts = re.split(r"[\\/]+", file_name)
    if ".." in parts:
        raise ValueError(f"file name {file_name!r} contains '..'; it must stay inside the image root")
    root = os.path.realpath(image_root)
    candidate = os.path.realpath(os.path.join(root, *[p for p in parts if p not in ("", ".")]))
    if os.path.commonpath([root, candidate]) != root:
        raise ValueError(f"file name {file_name!r} resolves to {candidate}, outside the image root {root} "
                         "(a symbolic link?)")
    return candidate


class _Resolver:
    """file name -> (real path, (width, height)), or _Skip. With by_basename, a file name that is not found under
    the root as written is looked up anywhere below it: the one file whose path ends with it (MakeSense exports bare
    names; a file annotated inside root/train/ may be named "neutrophil/x.jpg")."""

    def __init__(self, image_root, max_pixels, by_basename):
        if not os.path.isdir(image_root):
            raise ValueError(f"image root {image_root} is not a directory")
        self.root, self.max_pixels, self.by_basename = os.path.realpath(image_root), max_pixels, by_basename
        self._index = None

    def _find(self, name):
        """The one file under the root whose relative path ends with `name` (compared by path components)."""
        if self._index is None:
            self._index = {}
            for folder, _, files in os.walk(self.root):
                for file in files:
                    self._index.setdefault(file, []).append(os.path.relpath(os.path.join(folder, file), self.root))
        parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]
        hits = [h for h in self._index.get(parts[-1], []) if h.split(os.sep)[-len(parts):] == parts]
        if len(hits) > 1:
            raise _Skip(f"file name {name!r} matches {len(hits)} files under {self.root}: {sorted(hits)[:3]}")
        return hits[0] if hits else None

    def __call__(self, file_name):
        try:
            path = safe_image_path(self.root, file_name)
            if self.by_basename and not os.path.exists(path):
                found = self._find(file_name)
                path = safe_image_path(self.root, found) if found else path
            return path, read_image_size(path, self.max_pixels)
        except ValueError as error:
            raise _Skip(str(error)) from None


# ---------------------------------------------------------------------------------------------------------------
#  Values
# ---------------------------------------------------------------------------------------------------------------

def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Skip(f"{what} must be a number, got {type(value).__name__} {value!r:.40}")
    try:
        value = float(value)
    except OverflowError:
        raise _Skip(f"{what} is too large") from None
    if not math.isfinite(value) or abs(value) > COORDINATE_LIMIT:
        raise _Skip(f"{what} is {value!r}; coordinates must be finite and within +-{COORDINATE_LIMIT:g}")
    return value


def _positive_int(entry, key):
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _Skip(f"{key} must be a positive integer, got {value!r:.40}")
    return value


def _shoelace(points):
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _clip_polygon(points, width, height):
    """Sutherland-Hodgman: the part of a polygon [P, (x, y)] inside [0, width] x [0, height] (maybe < 3 points)."""
    for axis, bound, keep_low in ((0, 0.0, False), (0, float(width), True), (1, 0.0, False),
                                  (1, float(height), True)):
        inside = points[:, axis] <= bound if keep_low else points[:, axis] >= bound
        if inside.all():
            continue
        out = []
        for i in range(len(points)):
            current, previous = points[i], points[i - 1]
            if inside[i] != inside[i - 1]:
                t = (bound - previous[axis]) / (current[axis] - previous[axis])
                out.append(previous + t * (current - previous))
            if inside[i]:
                out.append(current)
        points = np.array(out, dtype=np.float64).reshape(-1, 2)
        if len(points) == 0:
            break
    return points


def _polygon(xs, ys, width, height, report):
    """Validated float [P, (x, y)] polygon clipped to the image, or _Skip."""
    if len(xs) != len(ys):
        raise _Skip(f"polygon has {len(xs)} x and {len(ys)} y coordinates")
    points = np.array([[_number(x, "x coordinate"), _number(y, "y coordinate")] for x, y in zip(xs, ys)],
                      dtype=np.float64).reshape(-1, 2)
    keep = np.any(points != np.roll(points, 1, axis=0), axis=1) if len(points) > 1 else np.ones(len(points), bool)
    points = points[keep]  # consecutive repeats, including a closing copy of the first point
    if len(points) < 3:
        raise _Skip(f"polygon has {len(points)} distinct points; at least 3 are needed")
    if _shoelace(points) < 1e-9:
        raise _Skip("polygon has zero area")
    clipped = _clip_polygon(points, width, height)
    if len(clipped) < 3 or _shoelace(clipped) < 1e-9:
        raise _Skip(f"polygon lies outside the {width} x {height} image (x in [{points[:, 0].min():g}, "
                    f"{points[:, 0].max():g}], y in [{points[:, 1].min():g}, {points[:, 1].max():g}])")
    if len(clipped) != len(points) or not np.array_equal(clipped, points):
        report.clipped += 1
    return clipped


def _rle_string_counts(text):
    """Run lengths of a compressed COCO RLE string (pycocotools' rleFrString), or _Skip when malformed."""
    counts, position = [], 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise _Skip("compressed RLE string ends in the middle of a number")
            code = ord(text[position]) - 48
            if not 0 <= code < 64:
                raise _Skip(f"compressed RLE string holds {text[position]!r}, not a valid character")
            value |= (code & 0x1F) << (5 * shift)
            more = bool(code & 0x20)
            position += 1
            shift += 1
            if shift > 13:
                raise _Skip("compressed RLE string holds a number too large for a run length")
            if not more and code & 0x10:
                value -= 1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _rle(segmentation, width, height):
    """Validated uncompressed RLE {"size": [H, W], "counts": [int]} from a COCO RLE dict, or _Skip."""
    size = segmentation.get("size")
    if not isinstance(size, list) or len(size) != 2 or size != [height, width]:
        raise _Skip(f"RLE size {size!r:.40} is not the image's [height, width] = [{height}, {width}]")
    counts = segmentation.get("counts")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if isinstance(counts, str):
        counts = _rle_string_counts(counts)
    elif isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise _Skip("RLE counts must be integers")
    else:
        raise _Skip(f"RLE counts must be a list of ints or a compressed string, got {type(counts).__name__}")
    if any(c < 0 for c in counts) or sum(counts) != height * width:
        raise _Skip(f"RLE counts must be non-negative and sum to height * width = {height * width}, got sum "
                    f"{sum(counts)}")
    return {"size": [height, width], "counts": [int(c) for c in counts]}


# Other names of the PBC classes found in labelling tools and papers (after _class_key): the paper itself calls the
# immature granulocytes "Mmy", and platelets are also thrombocytes.
CLASS_ALIASES = {
    "mmy": "ig", "immature granulocyte": "ig", "immature granulocytes": "ig", "thrombocyte": "platelet",
    "thrombocytes": "platelet", "plt": "platelet",
}


def _class_key(name):
    """Lower case, '_' and '-' as spaces, one space between words."""
    return " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def _canonical_class(name, class_names, skip_unknown, json_path, item):
    """The class name as spelled in class_names, matched ignoring case, '_' / '-' / spaces, a plural 's' and the
    aliases of CLASS_ALIASES; ValueError or _Skip when unknown."""
    if not isinstance(name, str) or not name.strip():
        raise _Skip(f"class name must be a non-empty string, got {name!r:.40}")
    if class_names is None:
        return name.strip()
    known = {_class_key(n): n for n in class_names}
    key = _class_key(name)
    canonical = known.get(key) or known.get(CLASS_ALIASES.get(key, ""))
    if canonical is None and key.endswith("s"):
        canonical = known.get(key[:-1])
    if canonical is None:
        if skip_unknown:
            raise _Skip(f"unknown class name {name!r}; known: {list(class_names)}")
        raise ValueError(f"annotation file {json_path}: {item} has class name {name!r}, which is not one of the known "
                         f"classes {list(class_names)}; fix the label or pass skip_unknown=True to skip such "
                         "instances")
    return canonical


# ---------------------------------------------------------------------------------------------------------------
#  COCO
# ---------------------------------------------------------------------------------------------------------------

def _coco_categories(data, json_path):
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


def _coco_instance(annotation, record, category_name, report):
    """Instance of one COCO annotation (its class name already checked), or _Skip."""
    crowd = annotation.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, float):
        raise _Skip(f"iscrowd must be 0 or 1, got {crowd!r:.40}")
    segmentation = annotation.get("segmentation")
    instance = Instance(category_name, iscrowd=bool(crowd))
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
    else:
        raise _Skip(f"no segmentation (polygons or RLE), got {segmentation!r:.60}")
    return instance


def _read_coco(data, json_path, image_root, class_names, skip_unknown, max_pixels, match_basename):
    report = ReadReport(os.fspath(json_path), format="coco")
    images, annotations = data.get("images"), data.get("annotations", [])
    for key, value in (("images", images), ("annotations", annotations)):
        if not isinstance(value, list):
            raise ValueError(f"annotation file {json_path}: '{key}' must be a list, got {type(value).__name__}")
    if not images:
        raise ValueError(f"annotation file {json_path} lists no images")
    categories = _coco_categories(data, json_path)
    resolve = _Resolver(image_root, max_pixels, match_basename)
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
            width, height = _positive_int(entry, "width"), _positive_int(entry, "height")
            path, size = resolve(entry.get("file_name"))
            if size != (width, height):
                raise _Skip(f"declares {width} x {height} pixels but {path} is {size[0]} x {size[1]}")
            if image_id in records or path in paths:
                raise _Skip(f"duplicate image (id {image_id!r} or file {path})")
        except _Skip as error:
            report.skip("image", item, str(error))
            continue
        skipped_ids.discard(image_id)
        records[image_id] = ImageRecord(path, width, height, [], entry["file_name"], image_id)
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
            name = _canonical_class(categories[category_id], class_names, skip_unknown, json_path, item)
            instance = _coco_instance(annotation, record, name, report)
        except _Skip as error:
            report.skip("instance", item, str(error))
            continue
        instance.source = item
        record.instances.append(instance)
    return _finish(list(records.values()), report)


def _finish(records, report):
    report.images = len(records)
    report.instances = sum(len(r.instances) for r in records)
    report.log_summary()
    return records, report


def read_coco_instances(json_path, image_root, class_names=None, skip_unknown=False, max_pixels=MAX_IMAGE_PIXELS,
                        match_basename=False, max_json_bytes=MAX_JSON_BYTES):
    """Read a COCO instances JSON: ([ImageRecord], ReadReport). See the module notes for bad input.

    json_path: the JSON file. image_root: folder that the images' file_name values are relative to.
    class_names: None (accept any category name) or the known names. skip_unknown: skip instances of unknown
    classes instead of raising. max_pixels: refuse larger images (header check). match_basename: when a file
    name is not found under the root as written, use the one file below the root whose path ends with it.
    """
    data = load_json(json_path, max_json_bytes)
    if not isinstance(data, dict) or "images" not in data:
        raise ValueError(f"annotation file {json_path} is not COCO instances JSON: expected an object with "
                         f"'images', 'annotations' and 'categories', got {type(data).__name__}")
    return _read_coco(data, json_path, image_root, class_names, skip_unknown, max_pixels, match_basename)


# ---------------------------------------------------------------------------------------------------------------
#  VIA / VGG
# ---------------------------------------------------------------------------------------------------------------

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


def _read_via(data, json_path, image_root, class_names, label_key, skip_unknown, max_pixels, match_basename):
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
                name = _canonical_class(name, class_names, skip_unknown, json_path, region_item)
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
             max_pixels=MAX_IMAGE_PIXELS, match_basename=False, max_json_bytes=MAX_JSON_BYTES):
    """Read a VIA / VGG JSON (v1, v2, MakeSense, a VIA 2 project): ([ImageRecord], ReadReport).

    label_key: the region attribute holding the class name; None tries "name", "label", "class", "type".
    Other arguments as in read_coco_instances. Shapes polygon, polyline (closed), rect, circle and ellipse
    become polygons.
    """
    data = load_json(json_path, max_json_bytes)
    return _read_via(data, json_path, image_root, class_names, label_key, skip_unknown, max_pixels,
                     match_basename)


def is_coco(data):
    """Whether parsed JSON looks like COCO instances (an object with an 'images' list and annotations or
    categories) rather than VIA."""
    return isinstance(data, dict) and isinstance(data.get("images"), list) and (
        "annotations" in data or "categories" in data)


def read_annotations(json_path, image_root, class_names=None, label_key=None, skip_unknown=False,
                     max_pixels=MAX_IMAGE_PIXELS, match_basename=False, max_json_bytes=MAX_JSON_BYTES):
    """Read a COCO or VIA file, whichever it is (see is_coco): ([ImageRecord], ReadReport)."""
    data = load_json(json_path, max_json_bytes)
    if is_coco(data):
        return _read_coco(data, json_path, image_root, class_names, skip_unknown, max_pixels, match_basename)
    return _read_via(data, json_path, image_root, class_names, label_key, skip_unknown, max_pixels, match_basename)


# ---------------------------------------------------------------------------------------------------------------
#  Masks
# ---------------------------------------------------------------------------------------------------------------

def rasterize(instance, height, width):
    """bool [H, W] mask of an Instance: the union of its polygons (skimage.draw.polygon, pixel centres) or its
    RLE (pycocotools.mask.decode). ValueError when an RLE's size is not [height, width]."""
    mask = np.zeros([height, width], dtype=bool)
    if instance.rle is not None:
        import pycocotools.mask

        if list(instance.rle["size"]) != [height, width]:
            raise ValueError(f"{instance.source or 'instance'}: RLE size {instance.rle['size']} is not "
                             f"[height, width] = [{height}, {width}]")
        if sum(instance.rle["counts"]) != height * width:  # decode does not check; never let it overrun
            raise ValueError(f"{instance.source or 'instance'}: RLE counts do not sum to {height * width}")
        compressed = pycocotools.mask.frPyObjects(instance.rle, height, width)
        return pycocotools.mask.decode(compressed).astype(bool)
    import skimage.draw

    for polygon in instance.polygons:
        polygon = np.asarray(polygon, dtype=np.float64)
        rows, cols = skimage.draw.polygon(polygon[:, 1] - 0.5, polygon[:, 0] - 0.5, shape=(height, width))
        mask[rows, cols] = True
    return mask
