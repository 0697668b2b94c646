"""Batches on disk (mrcnn/app/store.py with mrcnn/app/disk.py): a restart, other clients' batches and a closed tab
lose nothing; an image still waiting when the server stopped comes back failed with the reason."""

import json
import os
import threading

import pytest

pytest.importorskip("starlette", reason="the web app's extra is not installed (pip install -e .[app])")

from starlette.testclient import TestClient  # noqa: E402

from mrcnn.app import create_app  # noqa: E402
from mrcnn.app.store import STOPPED, Limits  # noqa: E402
from tests.app.helpers import BASE, CLASS_NAMES, StubDetector, png_bytes, upload, wait_done  # noqa: E402


def _client(work, model=None, **kwargs):
    client = TestClient(create_app(model or StubDetector(), CLASS_NAMES, threshold=0.75, work_dir=str(work),
                                   **kwargs), base_url=BASE)
    client.__enter__()
    return client


def _snapshot(client, batch):
    """Everything the page and the downloads read of a batch."""
    images = client.get(f"/api/batches/{batch}").json()["images"]
    details = [client.get(f"/api/batches/{batch}/images/{i['id']}").json() for i in images]
    shown = [client.get(f"/api/batches/{batch}/images/{i['id']}/image").content for i in images]
    return (images, details, shown, client.get(f"/api/batches/{batch}/counts.csv").text,
            client.get(f"/api/batches/{batch}/results.json").text)


def test_a_restart_loses_nothing_and_the_batch_is_listed(tmp_path):
    client = _client(tmp_path)
    batch = client.post("/api/batches").json()["batch"]
    upload(client, batch, "b.png", png_bytes(seed=1), order=2)
    upload(client, batch, "a.jpg", png_bytes(fmt="JPEG"), order=1)
    upload(client, batch, "bad.png", b"nope")
    wait_done(client, batch)
    empty = client.post("/api/batches").json()["batch"]  # a batch without images is not listed
    before = _snapshot(client, batch)
    client.__exit__(None, None, None)

    client = _client(tmp_path)
    assert _snapshot(client, batch) == before
    (listed,) = client.get("/api/batches").json()["batches"]
    assert (listed["id"], listed["images"], listed["done"], listed["names"], listed["changes"]) == (
        batch, 2, 2, ["a.jpg", "b.png"], 0)
    assert upload(client, empty, "c.png", png_bytes()).status_code == 202  # the empty batch takes uploads still
    assert [i["name"] for i in wait_done(client, empty)] == ["c.png"]
    assert [b["id"] for b in client.get("/api/batches").json()["batches"]] == [empty, batch]  # newest first
    client.__exit__(None, None, None)


def test_images_still_waiting_when_the_server_stops_come_back_failed(tmp_path):
    client = _client(tmp_path, StubDetector(delay=0.4))
    batch = client.post("/api/batches").json()["batch"]
    for i in range(3):
        assert upload(client, batch, f"{i}.png", png_bytes(seed=i)).status_code == 202
    client.__exit__(None, None, None)  # while the first is detected
    client = _client(tmp_path)
    images = client.get(f"/api/batches/{batch}").json()["images"]
    assert [i["status"] for i in images][1:] == ["failed", "failed"]
    assert images[2]["error"] == STOPPED
    assert client.get(f"/api/batches/{batch}/images/3/image").status_code == 200  # its picture is kept
    client.__exit__(None, None, None)


def test_other_clients_batches_never_drop_one_that_is_in_use(tmp_path):
    """The issue's case: four other uploads used to make a technologist's downloads 404."""
    client = _client(tmp_path, limits=Limits(max_batches=2))
    mine = client.post("/api/batches").json()["batch"]
    upload(client, mine, "mine.png", png_bytes())
    wait_done(client, mine)
    errors = []

    def other_client(n):
        try:
            batch = client.post("/api/batches").json()["batch"]
            for i in range(2):
                response = upload(client, batch, f"{n}-{i}.png", png_bytes(seed=n))
                while response.status_code == 503:
                    response = upload(client, batch, f"{n}-{i}.png", png_bytes(seed=n))
            wait_done(client, batch)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
    threads = [threading.Thread(target=other_client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    listed = client.get("/api/batches").json()["batches"]
    assert len(listed) == 7 and sorted(b["images"] for b in listed) == [1] + [2] * 6
    assert client.get(f"/api/batches/{mine}/counts.csv").text.splitlines()[1] == "mine.png,1,1,0,2"
    client.__exit__(None, None, None)


def test_a_damaged_batch_file_is_named_and_the_others_are_listed(tmp_path):
    client = _client(tmp_path)
    good, bad = (client.post("/api/batches").json()["batch"] for _ in range(2))
    for batch in (good, bad):
        upload(client, batch, "x.png", png_bytes())
        wait_done(client, batch)
    client.__exit__(None, None, None)
    (tmp_path / "batches" / bad / "batch.json").write_text('{"images": [')
    client = _client(tmp_path)
    assert [b["id"] for b in client.get("/api/batches").json()["batches"]] == [good]
    response = client.get(f"/api/batches/{bad}")
    assert response.status_code == 500 and "batch.json is not valid JSON" in response.json()["error"]
    meta = json.loads((tmp_path / "batches" / good / "batch.json").read_text())
    assert [i["name"] for i in meta["images"]] == ["x.png"] and os.listdir(tmp_path / "uploads") == []
    client.__exit__(None, None, None)
