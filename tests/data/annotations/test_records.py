"""Tests of mrcnn/data/annotations/records.py: the ReadReport's log of skipped items."""

import logging

from mrcnn.data.annotations import read_coco_instances, records
from tests.data.annotations.builders import CLASSES, coco, coco_image, coco_polygon, write_json


def test_many_skips_log_the_first_twenty_as_warnings(root, tmp_path, caplog):
    data = coco([coco_image(1, "a.png")], [coco_polygon(i, 1, [1, 1, 2, 2]) for i in range(30)])
    with caplog.at_level(logging.WARNING, logger="mrcnn.data.annotations"):
        _, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, CLASSES)
    assert len(report.skipped_instances) == 30
    assert sum("skipped instance" in r.getMessage() for r in caplog.records) == records._LOGGED_SKIPS
    assert "skipped 0 images and 30 instances" in caplog.records[-1].getMessage()
