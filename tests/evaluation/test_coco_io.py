"""Tests for mrcnn/evaluation/coco_io.py: COCO ground truth and results in and out, and evaluate_coco_files."""

import json

import numpy as np
import pytest

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
