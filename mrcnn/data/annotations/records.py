"""What a reader returns: ImageRecord (one image) holding Instances (one object each), and the ReadReport of a file.

Shape shorthand:
    P: points of a polygon, H, W: image height and width.
"""

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_LOGGED_SKIPS = 20  # per file, as warnings; further skips go to debug


@dataclass
class Instance:
    """One annotated object.

    class_name: canonical class name (the spelling in class_names when those were given).
    polygons: list of float [P, (x, y)] pixel arrays, already clipped to the image; their union is the object.
    rle: None or an uncompressed COCO RLE {"size": [H, W], "counts": [int, ...]} (column-major runs, starting
        with background), validated. Exactly one of polygons / rle is non-empty, except for a box-only instance
        (COCO read with boxes=True: neither, and a bbox).
    iscrowd: COCO's crowd flag. source: where it came from in the annotation file, for messages.
    category_id: COCO's category id (None for VIA). bbox: None, or (COCO read with boxes=True) the file's own
        [x, y, width, height] in pixels, validated.
    """
    class_name: str
    polygons: list = field(default_factory=list)
    rle: dict = None
    iscrowd: bool = False
    source: str = ""
    category_id: int = None
    bbox: list = None


@dataclass
class ImageRecord:
    """One image of an annotation file: `path` (real path under the image root; None for COCO read without an
    image root), `width` and `height` in pixels (from the image file's header; without an image root, COCO's),
    `instances` (list of Instance), `file_name` as written in the file, `image_id` (COCO id, or the VIA key)."""
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


def _finish(records, report):
    report.images = len(records)
    report.instances = sum(len(r.instances) for r in records)
    report.log_summary()
    return records, report
