"""Tests for mrcnn/evaluation/coco_io.py: COCO ground truth (read by the annotation reader) and results in and out,
and evaluate_coco_files."""

import json
import logging

import numpy as np
import pytest

from mrcnn.data.annotations import parse_coco_instances, rasterize
from mrcnn.evaluation import coco_io, evaluate_coco_files


def _polygon_gt():
    """Two images, categories with ids 7 and 3 (not 1..K), polygon and RLE segmentations, one crowd region."""
    square = [[2.0, 2.0, 12.0, 2.0, 12.0, 12.0, 2.0, 12.0]]
    triangle = [[20.0, 5.0, 35.0, 5.0, 27.0, 20.0]]
    crowd = np.zeros((30, 40), dtype=bool)
    crowd[20:28, 2:20] = True
    return {
        "images": [{"id": 5, "height": 30, "width": 40, "file_name": "b.png"},
                   {"id": 2, "height": 30, "width": 40, "file_name": "a.png"}],
        "categories": [{"id": 7, "name": "platelet"}, {"id": 3, "name": "basophil"}],
        "annotations": [
            {"id": 1, "image_id": 2, "category_id": 3, "segmentation": square, "bbox": [2, 2, 10, 10],
             "area": 100, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 7, "segmentation": triangle, "bbox": [20, 5, 15, 15],
             "area": 112.5, "iscrowd": 0},
            {"id": 3, "image_id": 5, "category_id": 3, "segmentation": square, "bbox": [2, 2, 10, 10],
             "area": 100, "iscrowd": 0},
            {"id": 4, "image_id": 5, "category_id": 3, "segmentation": coco_io.encode_mask(crowd),
             "bbox": [2, 20, 18, 8], "area": 144, "iscrowd": 1},
        ],
    }


def test_load_coco_gt_orders_and_maps():
    gt = coco_io.load_coco_gt(_polygon_gt(), image_dir="/images")
    assert gt["image_ids"] == [2, 5]
    assert gt["class_names"] == ["BG", "basophil", "platelet"]  # ascending category id: 3, 7
    assert gt["category_map"] == {1: 3, 2: 7}
    first = gt["records"][0]
    assert first["class_ids"].tolist() == [1, 2] and first["path"] == "/images/a.png"
    assert first["masks"].shape == (30, 40, 2)
    assert first["masks"][..., 0].sum() == 100  # the 10x10 polygon square, rasterised as pycocotools does
    np.testing.assert_allclose(first["boxes"][0], [2, 2, 12, 12])
    assert gt["records"][1]["iscrowd"].tolist() == [False, True]


def test_results_round_trip(ev):
    gt = coco_io.load_coco_gt(_polygon_gt())
    masks = gt["records"][0]["masks"]
    pred = ev.pred([masks[..., 1], masks[..., 0]], [2, 1], [0.8, 0.7], shape=(30, 40))
    empty = ev.pred([], [], [], shape=(30, 40))
    results = coco_io.to_coco_results([pred, empty], gt["image_ids"], gt["category_map"])
    assert [r["category_id"] for r in results] == [7, 3]
    assert isinstance(results[0]["segmentation"]["counts"], str)
    json.dumps(results)  # JSON-ready
    back = coco_io.load_coco_results(results, gt)
    np.testing.assert_array_equal(back[0]["masks"], pred["masks"])
    assert back[0]["class_ids"].tolist() == [2, 1] and back[1]["masks"].shape == (30, 40, 0)
    np.testing.assert_allclose(back[0]["rois"], pred["rois"])


def test_results_errors():
    gt = coco_io.load_coco_gt(_polygon_gt())
    with pytest.raises(ValueError, match="image_id 99"):
        coco_io.load_coco_results([{"image_id": 99, "category_id": 3, "score": 1, "bbox": [0, 0, 1, 1]}], gt)
    with pytest.raises(ValueError, match="category_id 4"):
        coco_io.load_coco_results([{"image_id": 2, "category_id": 4, "score": 1, "bbox": [0, 0, 1, 1]}], gt)
    with pytest.raises(ValueError, match="score"):
        coco_io.load_coco_results([{"image_id": 2, "category_id": 3, "bbox": [0, 0, 1, 1]}], gt)
    with pytest.raises(ValueError, match="not a COCO instances file"):
        coco_io.load_coco_gt({"images": []})
    with pytest.raises(FileNotFoundError):
        coco_io.load_coco_gt("/nonexistent/instances.json")


def test_box_only_results_give_box_metrics_only(tmp_path):
    gt_dict = _polygon_gt()
    results = [{"image_id": 2, "category_id": 3, "bbox": [2, 2, 10, 10], "score": 0.9},
               {"image_id": 5, "category_id": 3, "bbox": [2, 2, 10, 10], "score": 0.8}]
    metrics = evaluate_coco_files(gt_dict, results, check_with_pycocotools=True)
    assert set(metrics["detection"]["variants"]) == {"coco_bbox"}
    assert metrics["semantic"] is None and metrics["objects"] is None and metrics["meta"]["masks"] is False
    assert metrics["detection"]["pycocotools"]["bbox"]["max_abs_difference"] < 1e-9
    # Image 2: the triangle (112.5 px) outweighs the square (100 px), so its truth is platelet.
    assert metrics["classification"]["confusion_matrix"] == [[1, 0, 0], [1, 0, 0]]


def test_polygon_ground_truth_agrees_with_pycocotools(tmp_path, ev):
    gt_dict = _polygon_gt()
    gt = coco_io.load_coco_gt(gt_dict)
    rng = np.random.default_rng(3)
    preds = []
    for record in gt["records"]:
        masks = [np.roll(record["masks"][..., i], int(rng.integers(-2, 3)), axis=1)
                 for i in range(record["masks"].shape[-1])]
        preds.append(ev.pred(masks, record["class_ids"], rng.random(len(masks)) * 0.5 + 0.4, shape=(30, 40)))
    gt_path, res_path = tmp_path / "gt.json", tmp_path / "results.json"
    gt_path.write_text(json.dumps(gt_dict))
    res_path.write_text(json.dumps(coco_io.to_coco_results(preds, gt["image_ids"], gt["category_map"])))
    metrics = evaluate_coco_files(str(gt_path), str(res_path), check_with_pycocotools=True)
    for iou_type in ("bbox", "segm"):
        assert metrics["detection"]["pycocotools"][iou_type]["max_abs_difference"] < 1e-3, iou_type
    assert metrics["meta"]["source"]["gt"] == str(gt_path)


def test_to_coco_gt_round_trip(perfect_case):
    gts, _, names = perfect_case
    data = coco_io.to_coco_gt(gts, names, image_ids=[10, 20], category_ids=[5, 6])
    back = coco_io.load_coco_gt(data)
    assert back["class_names"] == names and back["image_ids"] == [10, 20]
    for original, loaded in zip(gts, back["records"]):
        np.testing.assert_array_equal(original["masks"], loaded["masks"])
        assert original["class_ids"].tolist() == loaded["class_ids"].tolist()


def test_ground_truth_goes_through_the_annotation_reader():
    """One parser: what the readers clip, validate and decode for training is what is scored."""
    data = _polygon_gt()
    data["annotations"][1]["segmentation"] = [[30.0, 15.0, 50.0, 15.0, 30.0, 35.0]]  # partly outside 40 x 30
    data["annotations"][1]["bbox"] = [30.0, 15.0, 10.0, 15.0]  # MakeSense writes the polygon's extent: kept
    data["images"][1].pop("file_name")
    gt = coco_io.load_coco_gt(data, image_dir="/images")
    first = gt["records"][0]
    assert first["file_name"] is None and "path" not in first
    # hand-computed (tests/data/annotations/test_geometry.py): the clipped triangle has the 135 centres of
    # columns 30..39, rows 15..29 with c + r <= 63
    rows, cols = np.indices((30, 40))
    np.testing.assert_array_equal(first["masks"][..., 1], (cols >= 30) & (rows >= 15) & (cols + rows <= 63))
    np.testing.assert_allclose(first["coco_bbox"][1], [30, 15, 10, 15])
    np.testing.assert_allclose(first["boxes"][1], [15, 30, 30, 40])
    records, _ = parse_coco_instances(data, "gt", boxes=True)
    by_id = {record.image_id: record for record in records}
    for image_id, record in zip(gt["image_ids"], gt["records"]):
        for k, instance in enumerate(by_id[image_id].instances):
            np.testing.assert_array_equal(record["masks"][..., k], rasterize(instance, 30, 40))


def test_box_only_ground_truth_has_no_masks(caplog):
    data = _polygon_gt()
    for annotation in data["annotations"]:
        annotation.pop("segmentation")
    data["annotations"][0]["segmentation"] = []  # empty: no segmentation either
    with caplog.at_level(logging.WARNING):
        gt = coco_io.load_coco_gt(data)
    assert "mask metrics will be skipped" in caplog.text
    assert all(record["masks"] is None for record in gt["records"])
    np.testing.assert_allclose(gt["records"][0]["coco_bbox"], [[2, 2, 10, 10], [20, 5, 15, 15]])
    assert gt["records"][1]["iscrowd"].tolist() == [False, True] and gt["records"][0]["class_ids"].tolist() == [1, 2]
    # a file with masks for some annotations only: those give their box when the file has none
    data = _polygon_gt()
    data["annotations"][0].pop("bbox")
    data["annotations"][1].pop("segmentation")
    gt = coco_io.load_coco_gt(data)
    assert gt["records"][0]["masks"] is None
    np.testing.assert_allclose(gt["records"][0]["coco_bbox"], [[2, 2, 10, 10], [20, 5, 15, 15]])


@pytest.mark.parametrize("change, message", [
    (lambda d: d["annotations"][0].update(image_id=9), r"annotations\[0\] \(id 1\): image_id 9 is not in 'images'"),
    (lambda d: d["annotations"][0].update(category_id=4), "category_id 4 is not in 'categories'"),
    (lambda d: d["annotations"][0].update(segmentation=[[1, 1, 5, 5]]), "2 distinct points"),
    (lambda d: d["annotations"][0].update(segmentation=[[2, 2, 12, 2, 12, 12], [1, 1]]), "dropped 1 bad polygons"),
    (lambda d: d["annotations"][3].update(segmentation={"size": [30, 40], "counts": [5]}), "sum to height"),
    (lambda d: d["annotations"][0].update(bbox=[2, 2, -10, 10]), "bbox width and height must be >= 0"),
    (lambda d: d["annotations"][0].pop("bbox") and d["annotations"][0].pop("segmentation"), "and a bbox"),
    (lambda d: d["images"][0].update(width="40"), "width must be a positive integer"),
    (lambda d: d["images"][0].update(id=2), "duplicate image"),
    (lambda d: [x.update(image_id="b") for x in d["annotations"][2:]] and d["images"][0].update(id="b"),
     "image ids must be all ints or all strings"),
    (lambda d: d["categories"].append({"id": 3, "name": "x"}), "category id 3 appears twice"),
])
def test_ground_truth_that_cannot_be_read_whole_is_an_error(change, message):
    """What the annotation readers skip for training is an error when scoring: part of a ground truth scored as if
    it were whole would give other figures."""
    data = _polygon_gt()
    change(data)
    with pytest.raises(ValueError, match=message):
        coco_io.load_coco_gt(data)
