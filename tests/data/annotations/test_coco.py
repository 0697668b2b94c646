"""Tests of mrcnn/data/annotations/coco.py: COCO instances files (polygons, RLE, MakeSense), bad structure, bad
image entries and bad annotations."""

import logging

import numpy as np
import pycocotools.mask
import pytest

from mrcnn.data.annotations import parse_coco_instances, rasterize, read_coco_instances
from tests.data.annotations.builders import CLASSES, SQUARE, coco, coco_image, coco_polygon, write_image, write_json


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
    with caplog.at_level(logging.WARNING, logger="mrcnn.data.annotations"):
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


def test_bad_polygon_of_a_multi_polygon_instance_is_dropped_and_counted(root, tmp_path, caplog):
    data = coco([coco_image(1, "a.png")], [{"id": 1, "image_id": 1, "category_id": 1,
                                            "segmentation": [SQUARE, [1, 1, 2, 2]]}])
    with caplog.at_level(logging.WARNING, logger="mrcnn.data.annotations"):
        records, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, CLASSES)
    assert len(records[0].instances[0].polygons) == 1 and report.skipped_polygons == 1
    assert "dropped 1 bad polygons" in caplog.records[-1].getMessage()


def test_parse_without_an_image_root_opens_no_file(opened):
    """How mrcnn.evaluation reads a ground truth: sizes from the document, no path, nothing opened."""
    data = coco([coco_image(1, "nowhere/a.png"), coco_image("x", "../b.png", 20, 10), {"id": 3, "width": 8,
                                                                                        "height": 6}],
                [coco_polygon(0, 1, SQUARE), coco_polygon(1, "x", [0, 0, 30, 0, 30, 5], category_id=2)])
    records, report = parse_coco_instances(data, "gt.json")
    assert opened == [] and report.format == "coco" and report.clipped == 1  # x up to 30 in a 20-wide image
    assert [(r.path, r.file_name, r.width, r.height, r.image_id) for r in records] == [
        (None, "nowhere/a.png", 40, 30, 1), (None, "../b.png", 20, 10, "x"), (None, None, 8, 6, 3)]
    assert [i.category_id for r in records for i in r.instances] == [1, 2]
    assert records[0].instances[0].bbox is None  # boxes=False: the file's bbox is not kept
    with pytest.raises(ValueError, match="gt.json is not COCO instances JSON"):
        parse_coco_instances([], "gt.json")


def test_parse_with_boxes_keeps_the_files_boxes_and_box_only_annotations():
    annotations = [dict(coco_polygon(0, 1, SQUARE), bbox=[2, 3, 10, 5]),
                   {"id": 1, "image_id": 1, "category_id": 2, "bbox": [20.5, 4, 6, 7.25], "iscrowd": 1},
                   {"id": 2, "image_id": 1, "category_id": 2, "segmentation": [], "bbox": [1, 1, 0, 0]},
                   dict(coco_polygon(3, 1, SQUARE), bbox=[2, 3, 10]),
                   {"id": 4, "image_id": 1, "category_id": 2, "segmentation": "abc", "bbox": [1, 1, 2, 2]},
                   {"id": 5, "image_id": 1, "category_id": 2}]
    records, report = parse_coco_instances(coco([coco_image(1, "a.png")], annotations), "gt.json", boxes=True)
    first, box, empty_box = records[0].instances
    assert first.bbox == [2.0, 3.0, 10.0, 5.0] and len(first.polygons) == 1 and first.category_id == 1
    assert box.iscrowd and box.bbox == [20.5, 4.0, 6.0, 7.25] and not box.polygons and box.rle is None
    assert empty_box.bbox == [1.0, 1.0, 0.0, 0.0] and not empty_box.polygons
    reasons = [reason for _, reason in report.skipped_instances]
    assert "bbox must be a list [x, y, width, height]" in reasons[0]
    assert "no segmentation (polygons or RLE, or none and a bbox), got 'abc'" in reasons[1]
    assert "no segmentation (polygons or RLE, or none and a bbox), got None" in reasons[2]
    _, report = parse_coco_instances(coco([coco_image(1, "a.png")], annotations[1:2]), "gt.json")
    assert "no segmentation (polygons or RLE), got None" in report.skipped_instances[0][1]  # boxes=False
