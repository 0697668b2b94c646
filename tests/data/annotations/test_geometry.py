"""Tests of mrcnn/data/annotations/geometry.py: coordinates and clipping to the image."""

import numpy as np

from mrcnn.data.annotations import rasterize, read_coco_instances, read_via
from tests.data.annotations.builders import CLASSES, coco, coco_image, coco_polygon, write_json


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
    # clamped vertices (30, 15), (40, 15), (30, 30) of area 75: of the 150 pixel centres of columns 30..39, rows
    # 15..29, those with c + r >= 64 are not inside x + y < 65 (15 of them, 5 of which lie on the edge: out)
    mask = rasterize(second, 30, 40)
    rows, cols = np.indices((30, 40))
    np.testing.assert_array_equal(mask, (cols >= 30) & (rows >= 15) & (cols + rows <= 63))
    assert mask.sum() == 135
