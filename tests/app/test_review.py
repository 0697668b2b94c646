"""The technologist's review (mrcnn/app/review.py) and its API: each decision, its record, the counts before and
after, and every bad request answered with what would be valid."""

import threading
import types

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the web app's extra is not installed (pip install -e .[app])")

from starlette.testclient import TestClient  # noqa: E402

from mrcnn.app import create_app, review  # noqa: E402
from mrcnn.app.drawn import ellipse_mask  # noqa: E402
from tests.app.helpers import BASE, CLASS_NAMES, StubDetector, png_bytes, upload, wait_done  # noqa: E402


def _entry(*cells):
    """An image with cells (class name, score, same_cell_as), as the store keeps them."""
    entry = types.SimpleNamespace(name="a.png", id="1", width=40, height=30, changes=[], cells=[])
    for name, score, owner in cells:
        entry.cells.append({"class_id": CLASS_NAMES.index(name), "class_name": name, "score": score,
                            "same_cell_as": owner, "review": None})
    return entry


def test_each_decision_sets_the_label_and_records_the_change():
    entry = _entry(("neutrophil", 0.92, None), ("lymphocyte", 0.81, None), ("platelet", 0.6, 1))
    change = review.decide(entry, 0, {"decision": "accept"}, CLASS_NAMES)
    assert (change["what"], change["from"], change["to"], change["cell"]) == ("accept", "neutrophil", "neutrophil", 0)
    assert entry.cells[0]["review"]["status"] == "accepted" and not review.changed(entry.cells[0])
    review.decide(entry, 1, {"decision": "class", "class_name": "neutrophil"}, CLASS_NAMES)
    assert review.label(entry.cells[1]) == "neutrophil" and entry.cells[1]["review"]["status"] == "reclassified"
    review.decide(entry, 1, {"decision": "accept"}, CLASS_NAMES)  # confirms the class given, stays a change
    assert review.label(entry.cells[1]) == "neutrophil" and review.changed(entry.cells[1])
    review.decide(entry, 0, {"decision": "not_cell"}, CLASS_NAMES)
    assert review.label(entry.cells[0]) == "not a cell"
    change = review.decide(entry, 0, {"decision": "undo"}, CLASS_NAMES)
    assert (change["from"], change["to"]) == ("not a cell", "neutrophil") and entry.cells[0]["review"] is None
    review.decide(entry, 0, {"decision": "unidentified"}, CLASS_NAMES)
    assert [(c["what"], c["from"], c["to"]) for c in entry.changes] == [
        ("accept", "neutrophil", "neutrophil"), ("class", "lymphocyte", "neutrophil"),
        ("accept", "neutrophil", "neutrophil"), ("not_cell", "neutrophil", "not a cell"),
        ("undo", "not a cell", "neutrophil"), ("unidentified", "neutrophil", "unidentified")]
    assert all(c["at"].endswith("+00:00") for c in entry.changes)


def test_bad_decisions_name_what_is_valid():
    entry = _entry(("neutrophil", 0.92, None), ("platelet", 0.6, 0))
    for body, status, message in (
            ([1, 2], 400, "the review must be a JSON object"),
            ({"decision": "maybe"}, 400, "decision must be one of accept, class, not_cell, unidentified, undo"),
            ({"decision": "class", "class_name": "BG"}, 400, "class_name must be one of neutrophil, lymphocyte, "
                                                              "platelet, got 'BG'"),
            ({"decision": "class"}, 400, "class_name must be one of"),
    ):
        with pytest.raises(review.ReviewError, match=message) as info:
            review.decide(entry, 0, body, CLASS_NAMES)
        assert info.value.status == status
    with pytest.raises(review.ReviewError, match="has no cell 2") as info:
        review.decide(entry, 2, {"decision": "accept"}, CLASS_NAMES)
    assert info.value.status == 404
    with pytest.raises(review.ReviewError, match="another class of cell 0") as info:
        review.decide(entry, 1, {"decision": "accept"}, CLASS_NAMES)
    assert info.value.status == 409 and entry.changes == [] and entry.cells[0]["review"] is None


def _add(entry, body):
    box, name = review.new_cell(entry, body, CLASS_NAMES)
    return review.add_cell(entry, box, name, ellipse_mask(entry.height, entry.width, box), "ellipse", CLASS_NAMES)


def test_an_added_cell_keeps_its_box_and_mask_and_counts_as_verified_only():
    entry = _entry(("neutrophil", 0.92, None))
    index, change = _add(entry, {"box": [10, 30, 2, 20], "class_name": "platelet"})
    cell = entry.cells[index]
    assert index == 1 and cell["box"] == [2, 20, 10, 30] and cell["score"] is None and cell["source"] == "added"
    assert (change["what"], change["from"], change["to"]) == ("add", "none", "platelet")
    mask = ellipse_mask(30, 40, (2, 20, 10, 30))
    assert cell["area"] == int(mask.sum()) and cell["mask_from"] == "ellipse"
    assert mask[6, 25] and not mask[2, 20] and not mask[:2].any()
    assert ellipse_mask(5, 5, (0, 0, 5, 5)).sum() == 21  # a 5 x 5 box: the disc of radius 2.5
    counts = review.differential([entry], 0.75, CLASS_NAMES)
    assert (counts["pre"], counts["verified"], counts["changed"]) == ([1, 0, 0], [1, 0, 1], 1)
    assert review.new_cell(entry, {"box": [25, 35, 60, 90], "class_name": "lymphocyte"}, CLASS_NAMES) == (
        (25, 35, 30, 40), "lymphocyte")  # clipped to the 40 x 30 image
    for body, message in (({"box": [1, 2, 3]}, "box must be"), ({"box": [1, 2, 3, "x"]}, "box must be"),
                          ({"box": [0, 0, 1, 9], "class_name": "platelet"}, "less than 2 x 2"),
                          ({"box": [0, 0, 9, 9], "class_name": "monocyte"}, "class_name must be one of"),
                          ("box", "a new cell must be a JSON object")):
        with pytest.raises(review.ReviewError, match=message):
            review.new_cell(entry, body, CLASS_NAMES)
    assert len(entry.cells) == 2 and len(entry.changes) == 1


def test_the_differential_before_and_after_by_hand():
    entry = _entry(("neutrophil", 0.92, None), ("lymphocyte", 0.81, None), ("neutrophil", 0.55, None),
                   ("platelet", 0.5, 0), ("lymphocyte", 0.78, None))
    empty = review.differential([], 0.75, CLASS_NAMES)
    assert empty == {"pre": [0, 0, 0], "verified": [0, 0, 0], "unidentified": 0, "not_cell": 0, "cells": 0,
                     "reviewed": 0, "changed": 0}
    assert review.differential([entry], 0.75, CLASS_NAMES)["pre"] == [1, 2, 0]
    review.decide(entry, 1, {"decision": "class", "class_name": "neutrophil"}, CLASS_NAMES)
    review.decide(entry, 4, {"decision": "not_cell"}, CLASS_NAMES)
    review.decide(entry, 2, {"decision": "unidentified"}, CLASS_NAMES)  # below 0.75, reviewed: counted
    review.decide(entry, 0, {"decision": "accept"}, CLASS_NAMES)
    counts = review.differential([entry], 0.75, CLASS_NAMES)
    assert counts == {"pre": [1, 2, 0], "verified": [2, 0, 0], "unidentified": 1, "not_cell": 1, "cells": 4,
                      "reviewed": 4, "changed": 3}
    assert review.differential([entry], 0.95, CLASS_NAMES)["pre"] == [0, 0, 0]  # the reviewed cells stay
    assert review.differential([entry], 0.95, CLASS_NAMES)["verified"] == [2, 0, 0]


# ---- the API ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def served(tmp_path):
    client = TestClient(create_app(StubDetector(), CLASS_NAMES, threshold=0.75, work_dir=str(tmp_path)),
                        base_url=BASE)
    with client:
        batch = client.post("/api/batches").json()["batch"]
        upload(client, batch, "a.png", png_bytes())
        wait_done(client, batch)
        yield client, batch, tmp_path


def _review(client, batch, cell, body, image="1"):
    return client.post(f"/api/batches/{batch}/images/{image}/cells/{cell}/review", json=body)


def test_review_and_add_through_the_api_are_kept_on_disk(served):
    client, batch, work = served
    response = _review(client, batch, 1, {"decision": "class", "class_name": "platelet"})
    assert response.status_code == 200
    assert response.json()["cell"]["review"]["class_name"] == "platelet"
    assert response.json()["change"]["from"] == "lymphocyte"
    added = client.post(f"/api/batches/{batch}/images/1/cells", json={"box": [20, 20, 30, 30],
                                                                      "class_name": "neutrophil"})
    assert added.status_code == 201 and added.json()["index"] == 3
    assert added.json()["cell"]["mask"]["png"].startswith("data:image/png;base64,")
    assert added.json()["cell"]["mask_from"] == "ellipse"  # the stub has no mask head to run on a box
    cells = client.get(f"/api/batches/{batch}/images/1").json()["cells"]
    assert [review.label(c) for c in cells] == ["neutrophil", "platelet", "neutrophil", "neutrophil"]
    # the model's output is unchanged by the review: results.json and counts.csv are detect's files
    assert client.get(f"/api/batches/{batch}/counts.csv").text.splitlines()[1] == "a.png,1,1,0,2"
    assert len(client.get(f"/api/batches/{batch}/results.json").json()) == 2
    assert client.get("/api/batches").json()["batches"][0]["changes"] == 2
    client.__exit__(None, None, None)
    with TestClient(create_app(StubDetector(), CLASS_NAMES, work_dir=str(work)), base_url=BASE) as again:
        assert again.get(f"/api/batches/{batch}/images/1").json()["cells"] == cells


def test_bad_review_requests_are_answered_and_change_nothing(served):
    client, batch, _ = served
    url = f"/api/batches/{batch}/images/1/cells/0/review"
    for content, message in ((b"{not json", "the request body must be JSON"), (b"\xff\xfe", "must be JSON"),
                             (b'"accept"', "must be a JSON object")):
        response = client.post(url, content=content)
        assert response.status_code == 400 and message in response.json()["error"]
    assert _review(client, batch, 0, {"decision": "class", "class_name": "eosinophil"}).status_code == 400
    assert _review(client, batch, 9, {"decision": "accept"}).status_code == 404
    assert _review(client, batch, "x", {"decision": "accept"}).status_code == 404
    assert _review(client, batch, 0, {"decision": "accept"}, image="7").status_code == 404
    assert client.post(url, content=b"{" + b" " * 70_000 + b"}").status_code == 413
    assert client.post(url, json={"decision": "accept"}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert all(c["review"] is None for c in client.get(f"/api/batches/{batch}/images/1").json()["cells"])


def test_a_failed_image_has_nothing_to_review(served):
    client, batch, _ = served
    upload(client, batch, "bad.png", png_bytes(first_pixel=(13, 13, 13)))
    wait_done(client, batch)
    response = _review(client, batch, 0, {"decision": "accept"}, image="2")
    assert response.status_code == 409 and "bad.png has no cells to review: it is failed" in response.json()["error"]


def test_concurrent_clients_reviewing_one_batch_lose_no_change(served):
    client, batch, work = served
    answers = []

    def reviewer(n):
        for i in range(5):
            answers.append(_review(client, batch, (n + i) % 3 if (n + i) % 3 != 2 else 0,
                                   {"decision": "class", "class_name": CLASS_NAMES[1 + (n + i) % 3]}).status_code)
    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200] * 20
    import json
    saved = json.loads((work / "batches" / batch / "1.json").read_text())
    assert len(saved["changes"]) == 20 and np.all([c["review"] is not None for c in saved["cells"][:2]])
