"""Tests of mrcnn/data/annotations/via.py: VIA v1 / v2 / MakeSense files, their shapes and label keys, bad regions."""

import pytest

from mrcnn.data.annotations import rasterize, read_via
from tests.data.annotations.builders import CLASSES, via_region, write_json


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


def test_via_without_any_class_name_raises_naming_label_key(root, tmp_path):
    data = {"k": {"filename": "a.png", "regions": [via_region([2, 12, 12], [3, 3, 8], key="species")]}}
    with pytest.raises(ValueError, match="label_key"):
        read_via(write_json(tmp_path / "v.json", data), root, CLASSES)
    records, _ = read_via(write_json(tmp_path / "v.json", data), root, CLASSES,
                          label_key="species")
    assert records[0].instances[0].class_name == "neutrophil"


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
