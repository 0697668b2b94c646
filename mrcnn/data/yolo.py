"""Reading YOLO-format box labels: one `NAME.txt` beside each image, one object per line, `class cx cy w h`.

Shape shorthand:
    N: objects (label lines) of one image.

The four numbers are the box centre and size normalised to the image's width (cx, w) and height (cy, h), so the
reader needs the image size: `read_yolo_labels` takes it from the image header (mrcnn.data.image_io.read_image_size,
nothing is decoded). Boxes come back in pixels as float [N, (y1, x1, y2, x2)], (y2, x2) exclusive like every box of
mrcnn, with the class ids as written (YOLO's 0-based ids, e.g. TXL-PBC's 0 WBC, 1 RBC, 2 platelets: TXL_PBC_CLASSES).

Rules (each broken rule is a ValueError naming the file, the line number and what would be valid):
    blank lines are skipped; an empty file is an image with no objects
    exactly 5 fields per line (segmentation labels, with a polygon after the class, are refused)
    the class is an integer in 0..len(class_names) - 1 (an integral float such as "1.0" is accepted)
    cx, cy, w, h are finite numbers; w and h > 0
    cx, cy, w, h and the box edges (cx +- w / 2, cy +- h / 2) lie in [0, 1] up to `tolerance` (default 0.005, half
        a percent of the side: exporters round); edges inside the tolerance are clipped to the image
`list_yolo_folder` pairs the images of a folder with their label files and names the images without one (and label
files without an image); `read_yolo_folder` reads every labelled image.
"""

import logging
import math
import os
from collections import namedtuple

import numpy as np

from mrcnn.data.image_io import IMAGE_EXTENSIONS, read_image_size

log = logging.getLogger(__name__)

# TXL-PBC's classes (arXiv 2407.13214), by YOLO class id.
TXL_PBC_CLASSES = ("WBC", "RBC", "platelets")
DEFAULT_TOLERANCE = 0.005

YoloListing = namedtuple("YoloListing", "labelled unlabelled orphan_labels")
YoloLabels = namedtuple("YoloLabels", "image_path boxes class_ids")


def _valid_classes(class_names):
    return ", ".join(f"{i} {name}" for i, name in enumerate(class_names))


def _class_id(field, class_names, where):
    try:
        value = float(field)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{where}: class {field!r} is not an integer; valid classes are "
                         f"{_valid_classes(class_names)}")
    if not 0 <= int(value) < len(class_names):
        raise ValueError(f"{where}: unknown class {int(value)}; valid classes are {_valid_classes(class_names)}")
    return int(value)


def _number(field, name, where):
    try:
        value = float(field)
    except ValueError:
        raise ValueError(f"{where}: {name} = {field!r} is not a number; expected a normalised value in "
                         "[0, 1]") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} = {field!r} is not finite; expected a normalised value in [0, 1]")
    return value


def parse_yolo_labels(text, width, height, class_names=TXL_PBC_CLASSES, tolerance=DEFAULT_TOLERANCE,
                      source="<text>"):
    """(boxes float [N, (y1, x1, y2, x2)] pixels, class_ids int [N]) of one label file's text.

    width, height: the image's size in pixels; class_names: the names by YOLO class id (only their number is
    checked); source: the file named in error messages. Rules and errors: see the module docstring.
    """
    if int(width) <= 0 or int(height) <= 0:
        raise ValueError(f"{source}: image size {width} x {height}; width and height must be positive")
    boxes, class_ids = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{source}, line {number}"
        if len(fields) != 5:
            raise ValueError(f"{where}: {len(fields)} fields ({line.strip()[:80]!r}); expected 5: "
                             "class cx cy w h (YOLO boxes; polygons are not read)")
        class_id = _class_id(fields[0], class_names, where)
        cx, cy, w, h = (_number(f, n, where) for f, n in zip(fields[1:], ("cx", "cy", "w", "h")))
        if w <= 0 or h <= 0:
            raise ValueError(f"{where}: box size w = {fields[3]}, h = {fields[4]}; both must be > 0")
        edges = {"cx": cx, "cy": cy, "w": w, "h": h, "left edge cx - w/2": cx - w / 2,
                 "right edge cx + w/2": cx + w / 2, "top edge cy - h/2": cy - h / 2,
                 "bottom edge cy + h/2": cy + h / 2}
        for name, value in edges.items():
            if not -tolerance <= value <= 1 + tolerance:
                raise ValueError(f"{where}: {name} = {value:.6g} lies outside the image; normalised values and "
                                 f"box edges must be in [0, 1] (tolerance {tolerance:g})")
        x1, x2 = (np.clip([cx - w / 2, cx + w / 2], 0.0, 1.0) * int(width)).tolist()
        y1, y2 = (np.clip([cy - h / 2, cy + h / 2], 0.0, 1.0) * int(height)).tolist()
        boxes.append((y1, x1, y2, x2))
        class_ids.append(class_id)
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(class_ids, dtype=np.int64)


def label_path_of(image_path):
    """The YOLO label file of an image: the same path with the extension replaced by .txt."""
    return os.path.splitext(os.fspath(image_path))[0] + ".txt"


def read_yolo_labels(image_path, class_names=TXL_PBC_CLASSES, label_path=None, tolerance=DEFAULT_TOLERANCE):
    """(boxes float [N, (y1, x1, y2, x2)] pixels, class_ids int [N]) of one image from its YOLO label file.

    label_path: default label_path_of(image_path). The image size comes from the image header. ValueError naming
    the file (and line) when the label file is missing, unreadable or breaks a rule of the module docstring, or
    when the image header cannot be read.
    """
    label_path = label_path_of(image_path) if label_path is None else os.fspath(label_path)
    width, height = read_image_size(image_path)
    try:
        with open(label_path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise ValueError(f"{label_path}: no such label file for image {image_path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{label_path}: cannot read the label file as UTF-8 text ({error})") from error
    return parse_yolo_labels(text, width, height, class_names, tolerance, source=label_path)


def list_yolo_folder(folder):
    """YoloListing(labelled [(image path, label path)], unlabelled [image path], orphan_labels [label path]),
    each sorted by file name. Images are the files with an IMAGE_EXTENSIONS ending (any case)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"{folder} is not a folder; expected a folder of images, each with a YOLO NAME.txt")
    names = sorted(os.listdir(folder))
    images = [n for n in names if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, n))]
    labels = {n for n in names if n.endswith(".txt")}
    labelled, unlabelled = [], []
    for name in images:
        label = os.path.splitext(name)[0] + ".txt"
        if label in labels:
            labelled.append((os.path.join(folder, name), os.path.join(folder, label)))
        else:
            unlabelled.append(os.path.join(folder, name))
    stems = {os.path.splitext(n)[0] for n in images}
    orphans = [os.path.join(folder, n) for n in sorted(labels) if os.path.splitext(n)[0] not in stems]
    return YoloListing(labelled, unlabelled, orphans)


def read_yolo_folder(folder, class_names=TXL_PBC_CLASSES, limit=None, tolerance=DEFAULT_TOLERANCE):
    """Yield YoloLabels(image_path, boxes float [N, (y1, x1, y2, x2)], class_ids int [N]) for every image of
    `folder` that has a label file, in file-name order (the first `limit` when given).

    Images without a label file, and label files without an image, are logged (a warning naming up to five of
    them); use list_yolo_folder to get the full lists. A bad label file raises ValueError (file and line).
    """
    listing = list_yolo_folder(folder)
    for kind, paths in (("images without a YOLO label file", listing.unlabelled),
                        ("label files without an image", listing.orphan_labels)):
        if paths:
            shown = ", ".join(os.path.basename(p) for p in paths[:5])
            log.warning("%s: %d %s (skipped): %s%s", folder, len(paths), kind, shown,
                        ", ..." if len(paths) > 5 else "")
    for image_path, label_path in listing.labelled[:limit]:
        boxes, class_ids = read_yolo_labels(image_path, class_names, label_path, tolerance)
        yield YoloLabels(image_path, boxes, class_ids)
