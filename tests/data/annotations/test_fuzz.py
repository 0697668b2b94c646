"""Fuzzing the readers of mrcnn/data/annotations/: any JSON gives records whose instances rasterise, or a ValueError
naming the file, never another exception."""

import copy
import json
import logging
import os

import numpy as np
import pycocotools.mask

from mrcnn.data.annotations import rasterize, read_annotations, read_coco_instances, read_via
from tests.data.annotations.builders import CLASSES, SQUARE, coco, coco_image, coco_polygon, via_region, write_image


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
            document = copy.deepcopy(value) if value is not _DELETE else {}
            continue
        try:
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if value is _DELETE:
                del parent[path[-1]]
            else:  # a copy: sampled values are shared objects, and a later path may lead into this one
                parent[path[-1]] = copy.deepcopy(value)
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


def test_fuzzed_ground_truth_never_crashes_the_evaluation_reader(tmp_path):
    """mrcnn.evaluation.load_coco_gt reads with parse_coco_instances (no image root, boxes kept): any JSON file
    gives a ground truth whose masks match its instances, or a ValueError naming the file, never another
    exception."""
    from hypothesis import HealthCheck, given, settings

    from mrcnn.evaluation.coco_io import load_coco_gt

    path = tmp_path / "gt.json"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_fuzz_strategy())
    def check(data):
        path.write_text(json.dumps(data))
        try:
            gt = load_coco_gt(str(path))
        except ValueError as error:
            assert str(path) in str(error)
            return
        for record in gt["records"]:
            count = record["class_ids"].shape[0]
            assert record["coco_bbox"].shape == (count, 4) and record["iscrowd"].shape == (count,)
            if record["masks"] is not None:
                assert record["masks"].shape == (record["height"], record["width"], count)

    logging.disable(logging.WARNING)
    try:
        check()
    finally:
        logging.disable(logging.NOTSET)
