"""Tests of samples/pbc/readers/: COCO (polygons, RLE) and VIA v1 / v2 / MakeSense files, and every bad input."""

import json
import logging
import os
import struct
import zlib

import numpy as np
import pycocotools.mask
import pytest
from PIL import Image

from samples.pbc.readers import records
from samples.pbc.readers import (Instance, rasterize, read_annotations, read_coco_instances, read_via,
                                 safe_image_path)

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


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "data"
    write_image(root / "a.png")
    write_image(root / "sub" / "b.png", 20, 10)
    return root


# ---------------------------------------------------------------------------------------------------------------
#  COCO
# ---------------------------------------------------------------------------------------------------------------

def test_coco_polygons(root, tmp_path):
    data = coco([coco_image(1, "a.png"), coco_image(7, "sub/b.png", 20, 10)],
                [coco_polygon(0, 1, SQUARE), coco_polygon(1, 7, [0, 0, 5, 0, 5, 5], category_id=2)])
    records, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, CLASSES)
    assert [r.path for r in records] == [str(root / "a.png"), str(root / "sub" / "b.png")]
    assert [(r.width, r.height, r.image_id) for r in records] == [(40, 30, 1), (20, 10, 7)]
    a, b = records
    assert [i.class_name for i in a.instances] == ["neutrophil"] and b.instances[0].class_name == "platelet"
    np.testing.assert_array_equal(a.instances[0].polygons[0], np.reshape(SQUARE, (4, 2)))
    expected = np.zeros((30, 40), bool)
    expected[3:8, 2:12] = True
    np.testing.assert_array_equal(rasterize(a.instances[0], 30, 40), expected)
    # the same square rasterised by pycocotools
    rle = pycocotools.mask.frPyObjects([SQUARE], 30, 40)
    np.testing.assert_array_equal(pycocotools.mask.decode(rle)[..., 0].astype(bool), expected)
    assert (report.format, report.images, report.instances, report.skipped_images, report.skipped_instances) == \
        ("coco", 2, 2, [], [])


def test_coco_multi_polygon_instance_is_the_union(root, tmp_path):
    second = [20, 20, 25, 20, 25, 25, 20, 25]
    data = coco([coco_image(1, "a.png")],
                [{"id": 3, "image_id": 1, "category_id": 1, "segmentation": [SQUARE, second]}])
    records, _ = read_coco_instances(write_json(tmp_path / "c.json", data), root, CLASSES)
    mask = rasterize(records[0].instances[0], 30, 40)
    assert mask.sum() == 50 + 25 and mask[22, 22] and mask[5, 5]


@pytest.mark.parametrize("compressed", [True, False])
def test_coco_rle(root, tmp_path, compressed):
    rng = np.random.default_rng(0)
    mask = np.zeros((30, 40), np.uint8)
    mask[5:20, 10:30] = rng.uniform(size=(15, 20)) > 0.3
    if compressed:
        rle = pycocotools.mask.encode(np.asfortranarray(mask))
        segmentation = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    else:
        flat = mask.flatten(order="F")
        changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
        counts = np.diff(np.concatenate([[0], changes])).tolist()
        segmentation = {"size": [30, 40], "counts": counts}
    data = coco([coco_image(1, "a.png")],
                [{"id": 1, "image_id": 1, "category_id": 2, "segmentation": segmentation, "iscrowd": 1}])
    records, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, CLASSES)
    instance = records[0].instances[0]
    assert instance.iscrowd and instance.class_name == "platelet" and instance.rle["size"] == [30, 40]
    np.testing.assert_array_equal(rasterize(instance, 30, 40), mask.astype(bool))
    with pytest.raises(ValueError, match=r"RLE size \[30, 40\]"):
        rasterize(instance, 31, 40)


def test_makesense_coco_export(root, tmp_path):
    """MakeSense: annotation ids from 0, bare file names, bbox and area present, categories in label order."""
    write_image(root / "train" / "neutrophil" / "SNE_1.jpg")
    data = {"info": {"description": "my-project"},
            "images": [{"id": 1, "width": 40, "height": 30, "file_name": "SNE_1.jpg"}],
            "annotations": [{"id": 0, "iscrowd": 0, "image_id": 1, "category_id": 1,
                             "segmentation": [[10.5, 5.2, 30.1, 5.9, 29.7, 25.3, 11.0, 24.8]],
                             "bbox": [10.5, 5.2, 19.6, 20.1], "area": 380.0}],
            "categories": [{"id": 1, "name": "Neutrophil"}]}
    path = write_json(tmp_path / "ms.json", data)
    records, report = read_coco_instances(path, root, CLASSES)
    assert records == [] and "does not exist" in report.skipped_images[0][1]
    records, report = read_coco_instances(path, root, CLASSES, match_basename=True)
    assert records[0].path == str(root / "train" / "neutrophil" / "SNE_1.jpg")
    assert records[0].instances[0].class_name == "neutrophil"  # case-insensitive match, canonical spelling


# ---------------------------------------------------------------------------------------------------------------
#  VIA
# ---------------------------------------------------------------------------------------------------------------

def via_region(xs, ys, label="neutrophil", key="name", shape="polygon"):
    return {"shape_attributes": {"name": shape, "all_points_x": xs, "all_points_y": ys},
            "region_attributes": {key: label}}


def test_via_v1_regions_keyed_by_index(root, tmp_path):
    data = {"a.png123": {"filename": "a.png", "size": 123, "file_attributes": {},
                         "regions": {"1": via_region([20, 25, 25], [20, 20, 25], "platelet"),
                                     "0": via_region([2, 12, 12, 2], [3, 3, 8, 8])}}}
    records, report = read_via(write_json(tmp_path / "v1.json", data), root, CLASSES)
    assert report.format == "via v1" and report.instances == 2
    assert [i.class_name for i in records[0].instances] == ["neutrophil", "platelet"]
    assert rasterize(records[0].instances[0], 30, 40).sum() == 50


def test_via_v2_project_file_with_list_regions(root, tmp_path):
    data = {"_via_settings": {}, "_via_attributes": {},
            "_via_img_metadata": {"b.png-1": {"filename": "sub/b.png", "size": -1, "file_attributes": {},
                                              "regions": [via_region([0, 5, 5, 0], [0, 0, 5, 5], "Platelet",
                                                                     key="class")]}}}
    records, report = read_via(write_json(tmp_path / "v2.json", data), root, CLASSES)
    assert report.format == "via v2" and records[0].path == str(root / "sub" / "b.png")
    assert records[0].instances[0].class_name == "platelet"


def test_via_makesense_export(root, tmp_path):
    """MakeSense's VGG export: key = file name, regions {"0": ...}, label under "label", closed polygons."""
    data = {"a.png": {"fileref": "", "size": 4567, "filename": "a.png", "base64_img_data": "", "file_attributes": {},
                      "regions": {"0": {"shape_attributes": {"name": "polygon", "all_points_x": [2, 12, 12, 2, 2],
                                                             "all_points_y": [3, 3, 8, 8, 3]},
                                        "region_attributes": {"label": "neutrophil"}}}}}
    records, _ = read_via(write_json(tmp_path / "ms.json", data), root, CLASSES)
    assert records[0].instances[0].polygons[0].shape == (4, 2)  # the closing point is dropped
    assert rasterize(records[0].instances[0], 30, 40).sum() == 50


def test_via_other_shapes_label_key_and_checkbox_attributes(root, tmp_path):
    regions = [{"shape_attributes": {"name": "rect", "x": 2, "y": 3, "width": 10, "height": 5},
                "region_attributes": {"cell_type": "neutrophil"}},
               {"shape_attributes": {"name": "circle", "cx": 25, "cy": 15, "r": 4},
                "region_attributes": {"cell_type": {"platelet": True, "neutrophil": False}}},
               {"shape_attributes": {"name": "ellipse", "cx": 30, "cy": 20, "rx": 5, "ry": 2, "theta": 0.5},
                "region_attributes": {"cell_type": "platelet"}}]
    data = {"x": {"filename": "a.png", "regions": regions}}
    records, _ = read_via(write_json(tmp_path / "v.json", data), root, CLASSES, label_key="cell_type")
    masks = [rasterize(i, 30, 40) for i in records[0].instances]
    assert [i.class_name for i in records[0].instances] == ["neutrophil", "platelet", "platelet"]
    assert masks[0].sum() == 50 and 40 < masks[1].sum() < 60 and 25 < masks[2].sum() < 40


def test_read_annotations_detects_the_format(root, tmp_path):
    via = write_json(tmp_path / "v.json", {"k": {"filename": "a.png", "regions": [via_region([2, 12, 12],
                                                                                            [3, 3, 8])]}})
    cc = write_json(tmp_path / "c.json", coco([coco_image(1, "a.png")], [coco_polygon(1, 1, SQUARE)]))
    assert read_annotations(via, root, CLASSES)[1].format == "via v2"
    assert read_annotations(cc, root, CLASSES)[1].format == "coco"


# ---------------------------------------------------------------------------------------------------------------
#  Bad annotation files: errors naming the file
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    ("", "is empty"), ("  \n ", "is empty"), ("{\"images\": [", "is not valid JSON"),
    ("[" * 50000 + "]" * 50000, "nests JSON too deeply"), ("[1, 2]", "expected"), ("{}", "lists no images")])
@pytest.mark.parametrize("reader", [read_coco_instances, read_via, read_annotations])
def test_bad_json_files_raise_naming_the_file(root, tmp_path, content, message, reader):
    path = write_json(tmp_path / "bad.json", content)
    if reader is read_coco_instances and content == "{}":
        message = "is not COCO"
    with pytest.raises(ValueError, match=message) as info:
        reader(path, root, CLASSES)
    assert str(path) in str(info.value)


def test_missing_binary_and_oversized_json(root, tmp_path):
    with pytest.raises(ValueError, match="does not exist") as info:
        read_via(tmp_path / "nope.json", root)
    assert "nope.json" in str(info.value)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_annotations(binary, root)
    big = write_json(tmp_path / "big.json", coco([coco_image(1, "a.png")], []))
    with pytest.raises(ValueError, match="more than the limit of 10"):
        read_coco_instances(big, root, max_json_bytes=10)
    with pytest.raises(ValueError, match="is not a directory"):
        read_coco_instances(big, tmp_path / "no_such_root")


@pytest.mark.parametrize("data, message", [
    ({"images": {}, "annotations": []}, "'images' must be a list"),
    ({"images": [coco_image(1, "a.png")], "annotations": {}}, "'annotations' must be a list"),
    (coco([coco_image(1, "a.png")], [], [{"id": "1", "name": "x"}]), r"categories\[0\] must be"),
    (coco([coco_image(1, "a.png")], [], [{"id": 1, "name": "neutrophil"}, {"id": 1, "name": "platelet"}]),
     "appears twice")])
def test_malformed_coco_structure_raises(root, tmp_path, data, message):
    path = write_json(tmp_path / "c.json", data)
    with pytest.raises(ValueError, match=message) as info:
        read_coco_instances(path, root, CLASSES)
    assert str(path) in str(info.value)


def test_unknown_class_name_raises_listing_known_names_or_is_skipped(root, tmp_path):
    data = coco([coco_image(1, "a.png")], [coco_polygon(1, 1, SQUARE), coco_polygon(2, 1, SQUARE, 3)],
                [{"id": 1, "name": "neutrophil"}, {"id": 3, "name": "blast"}])
    path = write_json(tmp_path / "c.json", data)
    with pytest.raises(ValueError, match=r"'blast'.*\['neutrophil', 'platelet'\]") as info:
        read_coco_instances(path, root, CLASSES)
    assert str(path) in str(info.value)
    records, report = read_coco_instances(path, root, CLASSES, skip_unknown=True)
    assert len(records[0].instances) == 1 and "unknown class name 'blast'" in report.skipped_instances[0][1]
    via = write_json(tmp_path / "v.json", {"k": {"filename": "a.png", "regions": [via_region([2, 12, 12], [3, 3, 8],
                                                                                            "blast")]}})
    with pytest.raises(ValueError, match="blast"):
        read_via(via, root, CLASSES)
    records, _ = read_coco_instances(path, root, class_names=None)  # no class list: any name is accepted
    assert [i.class_name for i in records[0].instances] == ["neutrophil", "blast"]


def test_via_without_any_class_name_raises_naming_label_key(root, tmp_path):
    data = {"k": {"filename": "a.png", "regions": [via_region([2, 12, 12], [3, 3, 8], key="species")]}}
    with pytest.raises(ValueError, match="label_key"):
        read_via(write_json(tmp_path / "v.json", data), root, CLASSES)
    records, _ = read_via(write_json(tmp_path / "v.json", data), root, CLASSES,
                          label_key="species")
    assert records[0].instances[0].class_name == "neutrophil"


# ---------------------------------------------------------------------------------------------------------------
#  Bad images and paths: skipped, logged, counted, never read
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture
def opened(monkeypatch):
    """Paths PIL was asked to open."""
    paths = []
    original = Image.open

    def spy(path, *args, **kwargs):
        paths.append(os.path.realpath(path))
        return original(path, *args, **kwargs)
    monkeypatch.setattr(Image, "open", spy)
    return paths


def test_paths_escaping_the_root_are_skipped_and_never_opened(root, tmp_path, opened, caplog):
    outside = write_image(tmp_path / "outside" / "secret.png")
    os.symlink(outside, root / "link.png")
    os.symlink(tmp_path / "outside", root / "linkdir")
    names = ["../outside/secret.png", str(outside), "sub/../../outside/secret.png", "link.png", "linkdir/secret.png",
             "http://example.com/a.png", "C:\\data\\a.png", "\\\\server\\share\\a.png", "a.png\x00.txt", "", 7]
    data = coco([coco_image(i + 1, name) for i, name in enumerate(names)] + [coco_image(99, "a.png")], [])
    path = write_json(tmp_path / "c.json", data)
    with caplog.at_level(logging.WARNING, logger="samples.pbc.readers"):
        records, report = read_coco_instances(path, root, CLASSES)
    assert [r.path for r in records] == [str(root / "a.png")]
    assert len(report.skipped_images) == len(names)
    assert str(outside) not in opened and opened == [str(root / "a.png")]
    reasons = " | ".join(reason for _, reason in report.skipped_images)
    for expected in ("contains '..'", "absolute path", "outside the image root", "is a URL", "NUL byte",
                     "non-empty string"):
        assert expected in reasons
    assert str(path) in caplog.text and "skipped image" in caplog.text
    assert f"skipped {len(names)} images" in caplog.records[-1].getMessage()  # the closing count


def test_via_paths_escaping_the_root_are_skipped(root, tmp_path, opened):
    outside = write_image(tmp_path / "secret.png")
    data = {"a": {"filename": "../secret.png", "regions": []}, "b": {"filename": str(outside), "regions": []}}
    records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES)
    assert records == [] and len(report.skipped_images) == 2 and opened == []


@pytest.mark.parametrize("name", ["../x.png", "/etc/passwd", "a/../../x.png", "..\\x.png", "D:/x.png", "ftp://h/x"])
def test_safe_image_path_refuses(root, name):
    with pytest.raises(ValueError, match="file name"):
        safe_image_path(root, name)


def test_safe_image_path_accepts_names_inside(root):
    assert safe_image_path(root, "sub/b.png") == str(root / "sub" / "b.png")
    assert safe_image_path(root, "sub\\b.png") == str(root / "sub" / "b.png")
    assert safe_image_path(root, "./a.png") == str(root / "a.png")


def test_bad_image_files_are_skipped(root, tmp_path, caplog):
    (root / "garbage.png").write_bytes(b"this is not an image")
    (root / "empty.jpg").write_bytes(b"")
    (root / "cut.png").write_bytes((root / "a.png").read_bytes()[:12])  # truncated inside the header
    write_png_header(root / "huge.png", 30000, 30000)
    (root / "folder.png").mkdir()
    names = ["garbage.png", "empty.jpg", "cut.png", "huge.png", "folder.png", "missing.png"]
    data = {n: {"filename": n, "regions": [via_region([1, 5, 5], [1, 1, 5])]} for n in names}
    data["ok"] = {"filename": "a.png", "regions": [via_region([1, 5, 5], [1, 1, 5])]}
    with caplog.at_level(logging.WARNING, logger="samples.pbc.readers"):
        records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES)
    assert [r.file_name for r in records] == ["a.png"]
    reasons = dict(report.skipped_images)
    assert "cannot read the image header" in reasons["image 'garbage.png'"]
    assert "cannot read the image header" in reasons["image 'empty.jpg'"]
    assert "cannot read the image header" in reasons["image 'cut.png'"]
    assert "too large" in reasons["image 'huge.png'"] or "more than the limit" in reasons["image 'huge.png'"]
    assert "does not exist" in reasons["image 'folder.png'"] and "does not exist" in reasons["image 'missing.png'"]
    assert "huge.png" in caplog.text and "skipped 6 images" in caplog.text


def test_pixel_limit_is_checked_on_the_header(root, tmp_path):
    write_png_header(root / "big.png", 2000, 1000)
    data = coco([coco_image(1, "big.png", 2000, 1000), coco_image(2, "a.png")], [])
    records, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, max_pixels=1_000_000)
    assert [r.file_name for r in records] == ["a.png"]
    assert "2000 x 1000 = 2000000 pixels, more than the limit of 1000000" in report.skipped_images[0][1]


def test_coco_bad_image_entries_are_skipped(root, tmp_path):
    images = [coco_image(1, "a.png", 41, 30), "not an object", {"id": 2, "file_name": "a.png", "width": "40",
                                                                 "height": 30},
              {"id": True, "file_name": "a.png", "width": 40, "height": 30}, {"id": 3, "width": 40, "height": 30},
              coco_image(4, "a.png"), coco_image(4, "sub/b.png", 20, 10), coco_image(5, "a.png")]
    records, report = read_coco_instances(write_json(tmp_path / "c.json", coco(images, [])), root, CLASSES)
    assert [(r.image_id, r.file_name) for r in records] == [(4, "a.png")]
    reasons = [reason for _, reason in report.skipped_images]
    assert "declares 41 x 30 pixels" in reasons[0] and "must be an object" in reasons[1]
    assert "width must be a positive integer" in reasons[2] and "id must be an int" in reasons[3]
    assert "non-empty string" in reasons[4] and reasons[5].startswith("duplicate") and reasons[6].startswith("dup")


def test_coco_bad_annotations_are_skipped_and_counted(root, tmp_path, caplog):
    annotations = [
        coco_polygon(1, 1, SQUARE),
        coco_polygon(2, 1, [1, 1, 5, 5]),  # 2 points
        coco_polygon(3, 1, [1, 1, 5, 5, 1, 1]),  # closing copy: still 2 distinct points
        coco_polygon(4, 1, [100, 100, 120, 100, 120, 120]),  # outside the 40 x 30 image
        coco_polygon(5, 1, [-1e300, 0, 5, 0, 5, 5]),  # enormous coordinate
        coco_polygon(6, 1, ["1", 1, 5, 1, 5, 5]),  # a string
        coco_polygon(7, 1, [1, 1, 5, 1, 5, 5, 7]),  # odd length
        coco_polygon(8, 1, [1, 1, 5, 1, 9, 1]),  # zero area
        coco_polygon(9, 42, SQUARE),  # unknown image
        coco_polygon(10, 1, SQUARE, category_id=9),  # unknown category
        {"id": 11, "image_id": 1, "category_id": 1, "segmentation": []},
        {"id": 12, "image_id": 1, "category_id": 1, "segmentation": {"size": [30, 41], "counts": [1200]}},
        {"id": 13, "image_id": 1, "category_id": 1, "segmentation": {"size": [30, 40], "counts": [1000, 5]}},
        {"id": 14, "image_id": 1, "category_id": 1, "segmentation": {"size": [30, 40], "counts": "0~~~~~~"}},
        {"id": 15, "image_id": 1, "category_id": 1, "segmentation": {"size": [30, 40], "counts": [600, -5, 605]}},
        {"id": 17, "image_id": 1, "category_id": 1, "segmentation": {"size": [30, 40], "counts": "abc"}},
        {"id": 16, "image_id": 1, "category_id": 1, "segmentation": [SQUARE], "iscrowd": 2},
        "not an object",
    ]
    path = write_json(tmp_path / "c.json", coco([coco_image(1, "a.png")], annotations))
    with caplog.at_level(logging.WARNING, logger="samples.pbc.readers"):
        records, report = read_coco_instances(path, root, CLASSES)
    assert len(records[0].instances) == 1 and report.instances == 1
    assert len(report.skipped_instances) == len(annotations) - 1
    reasons = [reason for _, reason in report.skipped_instances]
    for k, expected in enumerate(["2 distinct points", "2 distinct points", "outside the 40 x 30 image",
                                  "must be finite", "must be a number", "even length", "zero area",
                                  "not in 'images'", "not in 'categories'", "no segmentation", "RLE size",
                                  "sum to height * width", "not a valid character", "non-negative",
                                  "middle of a number", "iscrowd", "must be an object"]):
        assert expected in reasons[k], (k, reasons[k])
    assert str(path) in caplog.text and "skipped 0 images and 17 instances" in caplog.text


def test_nan_and_infinite_coordinates_are_skipped(root, tmp_path):
    text = ('{"k": {"filename": "a.png", "regions": [{"shape_attributes": {"name": "polygon", '
            '"all_points_x": [1, NaN, 5], "all_points_y": [1, 1, Infinity]}, "region_attributes": {"name": '
            '"platelet"}}]}}')
    records, report = read_via(write_json(tmp_path / "v.json", text), root, CLASSES)
    assert records[0].instances == [] and "must be finite" in report.skipped_instances[0][1]


def test_partly_outside_polygon_is_clipped(root, tmp_path):
    data = coco([coco_image(1, "a.png")], [coco_polygon(1, 1, [-10, -10, 10, -10, 10, 10, -10, 10]),
                                           coco_polygon(2, 1, [30, 15, 50, 15, 30, 35])])
    records, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, CLASSES)
    first, second = records[0].instances
    assert report.clipped == 2
    np.testing.assert_array_equal(first.polygons[0][np.lexsort(first.polygons[0].T)],
                                  [[0, 0], [10, 0], [0, 10], [10, 10]])
    assert (second.polygons[0][:, 0] <= 40).all() and (second.polygons[0][:, 1] <= 30).all()
    mask = rasterize(first, 30, 40)
    assert mask.sum() == 100 and mask[:10, :10].all()
    # the clipped triangle is the exact intersection (area 10 x 15 - 12.5 = 137.5), not the triangle of the
    # clamped vertices (30, 15), (40, 15), (30, 30) of area 75
    assert rasterize(second, 30, 40).sum() == pytest.approx(137.5, abs=5)


def test_via_bad_regions_are_skipped(root, tmp_path):
    regions = [via_region([2, 12, 12], [3, 3, 8]), "x", {"shape_attributes": {"name": "point", "cx": 1, "cy": 1},
                                                        "region_attributes": {"name": "platelet"}},
               {"shape_attributes": {"name": "polygon", "all_points_x": [1, 2, 3]},
                "region_attributes": {"name": "platelet"}},
               {"shape_attributes": {"name": "polygon", "all_points_x": [1, 5, 5], "all_points_y": [1, 1]},
                "region_attributes": {"name": "platelet"}},
               via_region([1, 5, 5], [1, 1, 5], label=""),
               {"shape_attributes": "nope", "region_attributes": {"name": "platelet"}}]
    data = {"k": {"filename": "a.png", "regions": regions}, "j": {"filename": "sub/b.png", "regions": "bad"},
            "i": ["not", "an", "object"]}
    records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES)
    assert len(records) == 1 and len(records[0].instances) == 1
    reasons = [reason for _, reason in report.skipped_instances]
    assert "must be an object" in reasons[0] and "'point' is not a region" in reasons[1]
    assert "must be lists" in reasons[2] and "3 x and 2 y" in reasons[3] and "no class name" in reasons[4]
    assert "shape_attributes must be an object" in reasons[5]
    assert [reason for _, reason in report.skipped_images] == ["regions must be a list or an object, got str",
                                                             "must be an object, got list"]


def test_images_without_instances_are_kept(root, tmp_path):
    data = {"k": {"filename": "a.png", "regions": []}, "j": {"filename": "sub/b.png",
                                                             "regions": [via_region([1, 5, 5], [1, 1, 5])]}}
    records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES)
    assert [len(r.instances) for r in records] == [0, 1] and report.images == 2


def test_ambiguous_basename_is_skipped(root, tmp_path):
    write_image(root / "x" / "same.png")
    write_image(root / "y" / "same.png")
    data = {"k": {"filename": "same.png", "regions": []}}
    records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES, match_basename=True)
    assert records == [] and "matches 2 files" in report.skipped_images[0][1]


def test_many_skips_log_the_first_twenty_as_warnings(root, tmp_path, caplog):
    data = coco([coco_image(1, "a.png")], [coco_polygon(i, 1, [1, 1, 2, 2]) for i in range(30)])
    with caplog.at_level(logging.WARNING, logger="samples.pbc.readers"):
        _, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, CLASSES)
    assert len(report.skipped_instances) == 30
    assert sum("skipped instance" in r.getMessage() for r in caplog.records) == records._LOGGED_SKIPS
    assert "skipped 0 images and 30 instances" in caplog.records[-1].getMessage()


def test_rasterize_empty_instance_and_rle_guard():
    assert not rasterize(Instance("platelet"), 4, 5).any()
    bad = Instance("platelet", rle={"size": [4, 5], "counts": [3, 30]})
    with pytest.raises(ValueError, match="do not sum to 20"):
        rasterize(bad, 4, 5)


# ---------------------------------------------------------------------------------------------------------------
#  Fuzzing: any JSON gives records or a ValueError, never another exception
# ---------------------------------------------------------------------------------------------------------------

KEYS = ["images", "annotations", "categories", "id", "image_id", "category_id", "file_name", "filename", "width",
        "height", "segmentation", "counts", "size", "iscrowd", "name", "regions", "shape_attributes",
        "region_attributes", "all_points_x", "all_points_y", "label", "x", "y", "r", "cx", "cy", "_via_img_metadata"]


def _json_values():
    from hypothesis import strategies as st

    scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True)
               | st.sampled_from(["a.png", "../a.png", "/a.png", "polygon", "rect", "neutrophil", "platelet", "",
                                  "0~", "sub/b.png"]) | st.text(max_size=5))
    return st.recursive(scalars, lambda children: st.lists(children, max_size=5)
                        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), children, max_size=6),
                        max_leaves=40)


_DELETE = object()


def _base_documents():
    """Valid COCO, VIA 1 and VIA 2 documents for the images a.png (40 x 30) and sub/b.png (20 x 10)."""
    mask = np.zeros((30, 40), np.uint8)
    mask[4:20, 6:30] = 1
    compressed = pycocotools.mask.encode(np.asfortranarray(mask))["counts"].decode("ascii")
    coco_doc = coco([coco_image(1, "a.png"), coco_image(2, "sub/b.png", 20, 10)],
                    [coco_polygon(0, 1, SQUARE), coco_polygon(1, 2, [1, 1, 9, 1, 9, 9, 1, 9], category_id=2),
                     {"id": 2, "image_id": 2, "category_id": 2, "iscrowd": 1,
                      "segmentation": {"size": [10, 20], "counts": [50, 30, 120]}},
                     {"id": 3, "image_id": 1, "category_id": 1, "segmentation": {"size": [30, 40],
                                                                                 "counts": compressed}}])
    regions = [via_region([2, 12, 12, 2, 2], [3, 3, 8, 8, 3], key="label"),
               {"shape_attributes": {"name": "rect", "x": 20, "y": 5, "width": 8, "height": 6},
                "region_attributes": {"label": "platelet"}},
               {"shape_attributes": {"name": "circle", "cx": 30, "cy": 20, "r": 4},
                "region_attributes": {"name": "platelet"}}]
    via1 = {"a.png1": {"filename": "a.png", "size": 1, "regions": {str(i): r for i, r in enumerate(regions)}},
            "b": {"filename": "sub/b.png", "regions": {"0": via_region([1, 9, 9], [1, 1, 9])}}}
    via2 = {"_via_img_metadata": {"a": {"filename": "a.png", "regions": regions}}}
    return [coco_doc, via1, via2]


def _paths(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, prefix + (key,))


def _mutated(document, mutations):
    """`document` with each (path, value) applied in turn: value replaces the node, or _DELETE removes it."""
    document = json.loads(json.dumps(document))
    for path, value in mutations:
        if not path:
            document = value if value is not _DELETE else {}
            continue
        try:
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if value is _DELETE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return document


def _fuzz_strategy():
    """Valid COCO / VIA documents with 1-4 nodes replaced by hostile values or deleted, or arbitrary JSON."""
    from hypothesis import strategies as st

    hostile = st.one_of(_json_values(), st.just(_DELETE), st.sampled_from(
        [-1, 0, 1e308, -1e9, 2 ** 64, 1.5, [], {}, "../a.png", "/etc/passwd", "a.png", "sub/b.png", "Zz9!",
         [1, 2], [1, 2, 3, 4], [[1, 1, 2, 2]], [[-100, -100, 100, -100, 100, 100]], {"size": [30, 40]}]))

    def mutate(document):
        paths = list(_paths(document))
        return st.lists(st.tuples(st.sampled_from(paths), hostile), min_size=1, max_size=4).map(
            lambda mutations: _mutated(document, mutations))
    return st.sampled_from(_base_documents()).flatmap(mutate) | _json_values()


def test_fuzzed_annotation_files_never_crash(tmp_path_factory):
    """Any JSON (arbitrary, or COCO / VIA shaped with hostile fields) gives records whose instances rasterise,
    or a ValueError naming the file, never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    root = tmp_path_factory.mktemp("fuzz")
    write_image(root / "a.png")
    write_image(root / "sub" / "b.png", 20, 10)
    path = root / "fuzz.json"

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_fuzz_strategy(), st.sampled_from([read_coco_instances, read_via, read_annotations]))
    def check(data, reader):
        path.write_text(json.dumps(data))
        try:
            records, report = reader(path, root, CLASSES, skip_unknown=True)
        except ValueError as error:
            assert str(path) in str(error) or "file name" in str(error)
            return
        for record in records:
            assert os.path.dirname(record.path).startswith(str(root))
            for instance in record.instances:
                mask = rasterize(instance, record.height, record.width)
                assert mask.shape == (record.height, record.width)

    logging.disable(logging.WARNING)
    try:
        check()
    finally:
        logging.disable(logging.NOTSET)


def test_match_basename_finds_trailing_paths_below_the_root(root, tmp_path):
    write_image(root / "train" / "neutrophil" / "n1.png")
    write_image(root / "val" / "neutrophil" / "n2.png")
    data = {"k": {"filename": "neutrophil/n1.png", "regions": []}, "j": {"filename": "n2.png", "regions": []},
            "i": {"filename": "other/n1.png", "regions": []}}
    records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES, match_basename=True)
    assert [r.path for r in records] == [str(root / "train" / "neutrophil" / "n1.png"),
                                         str(root / "val" / "neutrophil" / "n2.png")]
    assert "does not exist" in report.skipped_images[0][1]


def test_bad_polygon_of_a_multi_polygon_instance_is_dropped_and_counted(root, tmp_path, caplog):
    data = coco([coco_image(1, "a.png")], [{"id": 1, "image_id": 1, "category_id": 1,
                                            "segmentation": [SQUARE, [1, 1, 2, 2]]}])
    with caplog.at_level(logging.WARNING, logger="samples.pbc.readers"):
        records, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, CLASSES)
    assert len(records[0].instances[0].polygons) == 1 and report.skipped_polygons == 1
    assert "dropped 1 bad polygons" in caplog.records[-1].getMessage()


def test_class_names_match_spellings_and_aliases():
    from samples.pbc.readers.classes import _canonical_class
    from samples.pbc.classes import CLASS_NAMES
    for name, expected in [("Neutrophil", "neutrophil"), ("NEUTROPHILS", "neutrophil"), (" Mmy ", "ig"),
                           ("Immature_Granulocytes", "ig"), ("IG", "ig"), ("Thrombocyte", "platelet"),
                           ("Platelets", "platelet"), ("erythroblasts", "erythroblast")]:
        assert _canonical_class(name, CLASS_NAMES, False, "f.json", "item") == expected
    with pytest.raises(ValueError, match="f.json"):
        _canonical_class("red cell", CLASS_NAMES, False, "f.json", "item")
