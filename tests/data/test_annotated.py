"""Tests of mrcnn/data/annotated.py: AnnotatedDataset over any COCO / VIA file, with the caller's source and classes."""

import json
import logging

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.annotated import AnnotatedDataset

CELLS = ["nucleus", "red cell"]


def write_image(path, width=30, height=20):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), 128).save(path)
    return path


def rect(x, y, width, height, label):
    return {"shape_attributes": {"name": "rect", "x": x, "y": y, "width": width, "height": height},
            "region_attributes": {"label": label}}


@pytest.fixture
def via_file(tmp_path):
    """images/a.png (30 x 20) with a 10 x 6 nucleus and a 4 x 3 "RBC"; images/b.png listed without regions."""
    root = tmp_path / "images"
    write_image(root / "a.png")
    write_image(root / "b.png")
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"a": {"filename": "a.png", "regions": [rect(5, 5, 10, 6, "Nucleus"),
                                                                       rect(20, 2, 4, 3, "RBC")]},
                                "b": {"filename": "b.png", "regions": []}}))
    return path, root


def test_classes_and_images_of_a_via_file_under_the_callers_source(via_file):
    path, root = via_file
    dataset = AnnotatedDataset(source="cells")
    report = dataset.load_annotations(path, root, CELLS, aliases={"rbc": "red cell"})
    dataset.prepare()
    assert report.format == "via v2" and report.instances == 2
    assert dataset.class_names == ["BG"] + CELLS and dataset.sources == ["", "cells"]
    assert dataset.num_images == 1 and dataset.image_info[0]["id"] == "a.png"
    assert dataset.image_reference(0) == str(root / "a.png")
    assert dataset.load_image(0).shape == (20, 30, 3)
    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (20, 30, 2) and masks.dtype == bool and class_ids.dtype == np.int32
    assert class_ids.tolist() == [1, 2] and masks[5:11, 5:15, 0].all() and masks[..., 0].sum() == 60
    assert masks[2:5, 20:24, 1].all() and masks[..., 1].sum() == 12
    assert dataset.map_source_class_id("cells.2") == 2


def test_keep_empty_and_no_usable_image(via_file, tmp_path):
    path, root = via_file
    keep = AnnotatedDataset()
    keep.load_annotations(path, root, CELLS, aliases={"rbc": "red cell"}, keep_empty=True)
    keep.prepare()
    assert keep.num_images == 2 and keep.sources == ["", "annotations"]
    masks, class_ids = keep.load_mask(1)
    assert masks.shape == (20, 30, 0) and class_ids.shape == (0,)
    empty = tmp_path / "e.json"
    empty.write_text(json.dumps({"b": {"filename": "b.png", "regions": []}}))
    with pytest.raises(ValueError, match="no usable image"):
        AnnotatedDataset().load_annotations(empty, root, CELLS)
    with pytest.raises(ValueError, match="'RBC'"):  # without the alias the name is unknown
        AnnotatedDataset().load_annotations(path, root, CELLS)


@pytest.mark.parametrize("source", ["", "a.b", 3, None])
def test_bad_source(source):
    with pytest.raises(ValueError, match="source must be a non-empty string without a dot"):
        AnnotatedDataset(source)


@pytest.mark.parametrize("class_names", [[], None, "nucleus", ["nucleus", "nucleus"]])
def test_bad_class_names(via_file, class_names):
    with pytest.raises(ValueError, match="class_names must be a non-empty list of distinct names"):
        AnnotatedDataset().load_annotations(*via_file, class_names)


def test_crowd_regions_have_negative_ids(tmp_path):
    root = tmp_path / "images"
    write_image(root / "a.png")
    path = tmp_path / "c.json"
    crowd = {"size": [20, 30], "counts": [20 * 10, 20 * 5, 20 * 15]}  # columns 10..14
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
        "categories": [{"id": 4, "name": "red cell"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 4, "segmentation": crowd, "iscrowd": 1}]}))
    dataset = AnnotatedDataset()
    dataset.load_annotations(path, root, CELLS)
    dataset.prepare()
    masks, class_ids = dataset.load_mask(0)
    assert class_ids.tolist() == [-2] and masks[:, 10:15, 0].all() and masks[..., 0].sum() == 100


def test_verify_skips_images_that_do_not_decode(via_file, caplog):
    path, root = via_file
    good = (root / "a.png").read_bytes()
    (root / "a.png").write_bytes(good[:len(good) - 20])  # the header is intact, the pixel data is cut
    unverified = AnnotatedDataset()
    unverified.load_annotations(path, root, CELLS, aliases={"rbc": "red cell"})
    with pytest.raises(ValueError, match="a.png"):
        unverified.load_image(0)
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="no usable image"):
        AnnotatedDataset().load_annotations(path, root, CELLS, aliases={"rbc": "red cell"}, verify=True)
    assert "does not decode" in caplog.text


def test_load_mask_of_an_image_added_without_annotations(via_file):
    dataset = AnnotatedDataset()
    dataset.add_image("annotations", image_id="x", path=str(via_file[1] / "a.png"))
    dataset.prepare()
    assert dataset.load_image(0).shape == (20, 30, 3)
    with pytest.raises(ValueError, match="has no instance annotations: AnnotatedDataset was loaded without an"):
        dataset.load_mask(0)
