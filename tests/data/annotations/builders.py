"""Builders shared by the tests of mrcnn/data/annotations/: image files, COCO and VIA documents."""

import json
import struct
import zlib

from PIL import Image

CLASSES = ["neutrophil", "platelet"]


def write_image(path, width=40, height=30, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height), 128).save(path)
    return path


def write_png_header(path, width, height):
    """A PNG whose IHDR declares width x height but holds no pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def write_json(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def coco(images, annotations, categories=None):
    categories = categories or [{"id": 1, "name": "neutrophil"}, {"id": 2, "name": "platelet"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_image(image_id, file_name, width=40, height=30):
    return {"id": image_id, "file_name": file_name, "width": width, "height": height}


def coco_polygon(ann_id, image_id, flat, category_id=1):
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "segmentation": [flat], "iscrowd": 0}


SQUARE = [2, 3, 12, 3, 12, 8, 2, 8]  # x 2..12, y 3..8: pixels rows 3..7, columns 2..11


def via_region(xs, ys, label="neutrophil", key="name", shape="polygon"):
    return {"shape_attributes": {"name": shape, "all_points_x": xs, "all_points_y": ys},
            "region_attributes": {key: label}}
