"""The verified downloads (mrcnn/app/exports.py, mrcnn/app/report.py) after a review through the API: the numbers
worked out by hand from the stub's cells, the COCO corrections read back by the project's own COCO reader."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason="the web app's extra is not installed (pip install -e .[app])")

from starlette.testclient import TestClient  # noqa: E402

from mrcnn.app import create_app  # noqa: E402
from mrcnn.app.drawn import ellipse_mask  # noqa: E402
from mrcnn.data.annotations import parse_coco_instances, rasterize  # noqa: E402
from tests.app.helpers import BASE, CLASS_NAMES, StubDetector, png_bytes, upload, wait_done  # noqa: E402

WHITE = {"classes": ["neutrophil", "lymphocyte"], "label": "white cells"}


@pytest.fixture
def reviewed(tmp_path):
    """Two images of the stub's cells (at 0.75: a neutrophil 0.92 and a lymphocyte 0.81 each; a neutrophil 0.55
    below), reviewed: one.png accepted + lymphocyte -> platelet; two.png neutrophil not a cell, a lymphocyte added."""
    with TestClient(create_app(StubDetector(), CLASS_NAMES, threshold=0.75, differential=WHITE,
                               work_dir=str(tmp_path), card={"title": "stub", "classes": CLASS_NAMES[1:]}),
                    base_url=BASE) as client:
        batch = client.post("/api/batches").json()["batch"]
        for order, name in enumerate(("one.png", "two.png")):
            upload(client, batch, name, png_bytes(seed=order), order=order)
        wait_done(client, batch)
        for image, cell, body in (("1", 0, {"decision": "accept"}),
                                  ("1", 1, {"decision": "class", "class_name": "platelet"}),
                                  ("2", 0, {"decision": "not_cell"})):
            assert client.post(f"/api/batches/{batch}/images/{image}/cells/{cell}/review", json=body).status_code == 200
        assert client.post(f"/api/batches/{batch}/images/2/cells",
                           json={"box": [22, 24, 36, 44], "class_name": "lymphocyte"}).status_code == 201
        yield client, batch


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_differential_csv_has_pre_classified_and_verified_columns(reviewed):
    client, batch = reviewed
    response = client.get(f"/api/batches/{batch}/differential.csv")
    assert response.headers["content-disposition"] == 'attachment; filename="differential.csv"'
    # pre-classified: neutrophil 2, lymphocyte 2 (white cells 4); verified: neutrophil 1, lymphocyte 1 + 1 added,
    # platelet 1 (white cells 3, platelet 1 per 3 white cells = 33.3 per 100)
    assert _rows(response.text) == [
        ["class", "pre_classified", "pre_classified_percent", "verified", "verified_percent", "percent_of"],
        ["neutrophil", "2", "50.0", "1", "33.3", "white cells"],
        ["lymphocyte", "2", "50.0", "2", "66.7", "white cells"],
        ["white cells", "4", "100.0", "3", "100.0", ""],
        ["platelet", "0", "0.0", "1", "33.3", "per 100 white cells"],
        ["unidentified", "", "", "0", "0.0", "per 100 white cells"],
        ["all cells", "4", "", "4", "", ""],
        ["cells verified", "", "", "4", "", ""], ["cells changed", "", "", "3", "", ""],
        ["not a cell", "", "", "1", "", ""], ["images", "", "", "2", "", ""]]
    # at 0.5 the two 0.55 neutrophils join both counts; the reviewed cells stay as they are
    low = _rows(client.get(f"/api/batches/{batch}/differential.csv", params={"min_score": 0.5}).text)
    assert low[1] == ["neutrophil", "4", "66.7", "3", "60.0", "white cells"]


def test_changes_csv_lists_every_change_in_order(reviewed):
    client, batch = reviewed
    rows = _rows(client.get(f"/api/batches/{batch}/changes.csv").text)
    assert rows[0] == ["image", "image_id", "cell", "what", "from", "to", "at"]
    assert [row[:6] for row in rows[1:]] == [
        ["one.png", "1", "0", "accept", "neutrophil", "neutrophil"],
        ["one.png", "1", "1", "class", "lymphocyte", "platelet"],
        ["two.png", "2", "0", "not_cell", "neutrophil", "not a cell"],
        ["two.png", "2", "3", "add", "none", "lymphocyte"]]


def test_corrections_are_coco_instances_the_project_reads(reviewed):
    client, batch = reviewed
    data = json.loads(client.get(f"/api/batches/{batch}/corrections.json").text)
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in data["images"]] == [
        (1, "one.png", 48, 40), (2, "two.png", 48, 40)]
    assert [(a["image_id"], a["category_id"], a["verification"]["status"]) for a in data["annotations"]] == [
        (1, 1, "accepted"), (1, 3, "reclassified"), (2, 2, "pending"), (2, 2, "added")]
    assert data["info"]["model"] == {"title": "stub"} and len(data["changes"]) == 4
    records, report = parse_coco_instances(data, "corrections.json", class_names=CLASS_NAMES[1:])
    assert [[i.class_name for i in r.instances] for r in records] == [["neutrophil", "platelet"],
                                                                      ["lymphocyte", "lymphocyte"]]
    stub = StubDetector().detect([np.zeros((40, 48, 3), np.uint8)])[0]["masks"]
    masks = [rasterize(instance, 40, 48) for record in records for instance in record.instances]
    for got, expected in zip(masks, (stub[..., 0], stub[..., 1], stub[..., 1],
                                     ellipse_mask(40, 48, (22, 24, 36, 44)))):
        assert np.array_equal(got, expected)  # the model's masks as detected, the added cell's ellipse
    assert [a["area"] for a in data["annotations"]] == [int(m.sum()) for m in masks]


def test_the_report_is_an_a4_png(reviewed):
    client, batch = reviewed
    response = client.get(f"/api/batches/{batch}/report.png")
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (827, 1169)
    pixels = np.asarray(image.convert("RGB"))
    assert (pixels < 250).any(axis=-1).mean() > 0.05  # text, a table and a gallery, not a blank page


def test_an_empty_batch_exports_zeros_and_an_empty_report(tmp_path):
    with TestClient(create_app(StubDetector(), CLASS_NAMES, work_dir=str(tmp_path)), base_url=BASE) as client:
        batch = client.post("/api/batches").json()["batch"]
        rows = _rows(client.get(f"/api/batches/{batch}/differential.csv").text)
        assert rows[1] == ["neutrophil", "0", "", "0", "", "all cells"] and rows[-1] == ["images", "", "", "0", "", ""]
        data = json.loads(client.get(f"/api/batches/{batch}/corrections.json").text)
        assert (data["images"], data["annotations"], len(data["categories"])) == ([], [], 3)
        assert _rows(client.get(f"/api/batches/{batch}/changes.csv").text) == [
            ["image", "image_id", "cell", "what", "from", "to", "at"]]
        assert Image.open(io.BytesIO(client.get(f"/api/batches/{batch}/report.png").content)).size == (827, 1169)
        assert client.get(f"/api/batches/{batch}/report.png", params={"min_score": "x"}).status_code == 400


class NoCellsDetector(StubDetector):
    """A model that finds nothing."""

    def detect(self, images):
        return [{"rois": np.zeros((0, 4), np.int32), "class_ids": np.zeros(0, np.int32),
                 "scores": np.zeros(0, np.float32), "masks": np.zeros(images[0].shape[:2] + (0,), bool)}]


def test_an_image_without_cells_exports_its_image_only(tmp_path):
    with TestClient(create_app(NoCellsDetector(), CLASS_NAMES, work_dir=str(tmp_path)), base_url=BASE) as client:
        batch = client.post("/api/batches").json()["batch"]
        upload(client, batch, "empty.png", png_bytes())
        wait_done(client, batch)
        response = client.post(f"/api/batches/{batch}/images/1/cells/0/review", json={"decision": "accept"})
        assert response.status_code == 404 and "empty.png has no cell 0 (it has 0" in response.json()["error"]
        rows = _rows(client.get(f"/api/batches/{batch}/differential.csv").text)
        assert rows[-4:] == [["cells verified", "", "", "0", "", ""], ["cells changed", "", "", "0", "", ""],
                             ["not a cell", "", "", "0", "", ""], ["images", "", "", "1", "", ""]]
        data = json.loads(client.get(f"/api/batches/{batch}/corrections.json").text)
        assert [i["file_name"] for i in data["images"]] == ["empty.png"] and data["annotations"] == []
        records, _ = parse_coco_instances(data, "corrections.json")
        assert [r.instances for r in records] == [[]]  # a verified image without cells: an empty one to train on
        assert Image.open(io.BytesIO(client.get(f"/api/batches/{batch}/report.png").content)).size == (827, 1169)
