"""The web app's API through Starlette's test client, with a stub detector: uploads, results, the downloads, and
every kind of bad input (each answered with a message, the server serving on)."""

import base64
import csv
import io
import json
import os
import tempfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason="the web app's extra is not installed (pip install -e .[app])")

from starlette.testclient import TestClient  # noqa: E402

from mrcnn.app import create_app  # noqa: E402
from mrcnn.app.server import STATIC_DIR  # noqa: E402
from mrcnn.app.store import Limits  # noqa: E402
from mrcnn.evaluation.coco_io import to_coco_results  # noqa: E402
from tests.app.helpers import (BASE, CLASS_NAMES, FLAGGED, MEASURED_SCALE, NO_CUTOFF,  # noqa: E402
                               UNKNOWN_SCALE, UNLIKE_PIXEL, ReportingDetector, StubDetector, png_bytes, upload,
                               wait_done)


@pytest.fixture
def make_client():
    clients = []

    def make(model=None, **kwargs):
        kwargs.setdefault("threshold", 0.75)
        client = TestClient(create_app(model or StubDetector(), CLASS_NAMES, **kwargs), base_url=BASE)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _batch(client):
    response = client.post("/api/batches")
    assert response.status_code == 201
    return response.json()["batch"]


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_model_info_states_threshold_floor_and_limits(make_client):
    info = make_client(limits=Limits(max_images=7)).get("/api/model").json()
    assert info["class_names"] == CLASS_NAMES[1:]
    assert info["threshold"] == 0.75 and info["floor"] == pytest.approx(0.3)  # the stub's DETECTION_MIN_CONFIDENCE
    assert info["limits"]["max_images"] == 7 and info["limits"]["max_bytes"] == 20 * 1024 * 1024
    # a threshold below what the model returns is raised to the floor: the page cannot show what it never gets
    assert make_client(threshold=0.1).get("/api/model").json()["threshold"] == pytest.approx(0.3)


def test_upload_detect_results_and_downloads(make_client):
    client = make_client()
    batch = _batch(client)
    data = png_bytes()
    first = upload(client, batch, "smear.png", data)
    assert first.status_code == 202
    assert first.json()["image"]["name"] == "smear.png" and first.json()["image"]["status"] in ("queued", "done")
    second = upload(client, batch, "smear.png", png_bytes(seed=1, fmt="JPEG"))
    assert second.json()["image"]["name"] == "smear.png (2)"  # unique within the batch: it is the COCO image id
    images = wait_done(client, batch)
    assert [(i["name"], i["status"], i["cells"], i["width"], i["height"]) for i in images] == [
        ("smear.png", "done", 3, 48, 40), ("smear.png (2)", "done", 3, 48, 40)]

    detail = client.get(f"/api/batches/{batch}/images/1").json()
    assert [(c["class_name"], round(c["score"], 2)) for c in detail["cells"]] == [
        ("neutrophil", 0.92), ("lymphocyte", 0.81), ("neutrophil", 0.55)]
    assert "scale" not in detail and "unlike_training" not in detail  # a model without `reports` adds nothing
    stub_result = StubDetector().detect([np.array(Image.open(io.BytesIO(data)).convert("RGB"))])[0]
    for i, cell in enumerate(detail["cells"]):
        assert cell["box"] == stub_result["rois"][i].tolist()
        assert cell["area"] == int(stub_result["masks"][..., i].sum())
        png = Image.open(io.BytesIO(base64.b64decode(cell["mask"]["png"].split(",", 1)[1])))
        alpha = np.array(png)[..., 1] > 0
        x, y = cell["mask"]["x"], cell["mask"]["y"]
        placed = np.zeros(stub_result["masks"].shape[:2], dtype=bool)
        placed[y:y + alpha.shape[0], x:x + alpha.shape[1]] = alpha
        assert np.array_equal(placed, stub_result["masks"][..., i])  # the page draws exactly the model's mask
    shown = client.get(f"/api/batches/{batch}/images/1/image")
    assert shown.headers["content-type"] == "image/png"
    assert np.array_equal(np.array(Image.open(io.BytesIO(shown.content))), np.array(Image.open(io.BytesIO(data))))

    # counts.csv: pbc.py detect's header; the threshold (default the page's 0.75) filters the cells
    assert _rows(client.get(f"/api/batches/{batch}/counts.csv").text) == [
        ["image", "neutrophil", "lymphocyte", "platelet", "total"],
        ["smear.png", "1", "1", "0", "2"], ["smear.png (2)", "1", "1", "0", "2"]]
    low = client.get(f"/api/batches/{batch}/counts.csv", params={"min_score": 0.5})
    assert low.headers["content-disposition"] == 'attachment; filename="counts.csv"'
    assert _rows(low.text)[1] == ["smear.png", "2", "1", "0", "3"]
    # results.json: the COCO records of to_coco_results, image_id = the name shown
    results = json.loads(client.get(f"/api/batches/{batch}/results.json", params={"min_score": 0.5}).text)
    assert results[:3] == json.loads(json.dumps(to_coco_results([stub_result], ["smear.png"])))
    assert len(results) == 6 and {r["image_id"] for r in results} == {"smear.png", "smear.png (2)"}
    strict = json.loads(client.get(f"/api/batches/{batch}/results.json", params={"min_score": 0.9}).text)
    assert [r["score"] for r in strict] == [pytest.approx(0.92)] * 2


def test_downloads_are_pbc_detect_files(make_client, tmp_path):
    """At the floor, the downloads hold what detect_files (pbc.py detect) writes for the same images."""
    from mrcnn.streaming import detect_files
    client = make_client()
    batch = _batch(client)
    names = ["a.png", "b.png"]
    for i, name in enumerate(names):
        data = png_bytes(height=36 + i, seed=i)
        (tmp_path / name).write_bytes(data)
        upload(client, batch, name, data)
    wait_done(client, batch)
    out = tmp_path / "detect"
    detect_files(StubDetector(), [str(tmp_path / n) for n in names], str(out), CLASS_NAMES, overlays=False)
    assert client.get(f"/api/batches/{batch}/results.json", params={"min_score": 0}).text == \
        (out / "results.json").read_text()
    detected = _rows((out / "counts.csv").read_text())
    served = _rows(client.get(f"/api/batches/{batch}/counts.csv", params={"min_score": 0}).text)
    assert served[0] == detected[0]
    assert [row[1:] for row in served[1:]] == [row[1:] for row in detected[1:]]
    assert [row[0] for row in served[1:]] == names and [os.path.basename(r[0]) for r in detected[1:]] == names


def test_reported_scale_and_flag_are_served_and_in_counts_csv(make_client, tmp_path):
    """A detector that reports each image's scale and "unlike the training images" flag: the image JSON carries
    them as they came, and counts.csv has pbc.py detect's extra columns with the same values as detect writes."""
    from mrcnn.streaming import detect_files
    client = make_client(ReportingDetector())
    batch = _batch(client)
    files = {"odd.png": png_bytes(seed=5, first_pixel=UNLIKE_PIXEL), "plain.png": png_bytes(seed=6)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        upload(client, batch, name, data)
    wait_done(client, batch)
    odd, plain = (client.get(f"/api/batches/{batch}/images/{i}").json() for i in ("1", "2"))
    assert (odd["scale"], odd["unlike_training"]) == (MEASURED_SCALE, FLAGGED)
    assert (plain["scale"], plain["unlike_training"]) == (UNKNOWN_SCALE, NO_CUTOFF)
    assert len(odd["cells"]) == 3

    served = _rows(client.get(f"/api/batches/{batch}/counts.csv").text)
    assert served == [
        ["image", "neutrophil", "lymphocyte", "platelet", "total", "pixel_size_um", "red_cell_px", "scale_factor",
         "scale_source", "unlike_training", "unlike_score"],
        ["odd.png", "1", "1", "0", "2", "0.094", "79.8", "0.53", "red cells", "True", "3.2"],
        ["plain.png", "1", "1", "0", "2", "", "", "", "none", "", "1.7"]]
    out = tmp_path / "detect"
    detect_files(ReportingDetector(), [str(tmp_path / n) for n in files], str(out), CLASS_NAMES, overlays=False)
    detected = _rows((out / "counts.csv").read_text())
    at_floor = _rows(client.get(f"/api/batches/{batch}/counts.csv", params={"min_score": 0}).text)
    assert at_floor[0] == detected[0] and [r[1:] for r in at_floor[1:]] == [r[1:] for r in detected[1:]]
    # the COCO results are the cells only, as before
    results = json.loads(client.get(f"/api/batches/{batch}/results.json").text)
    assert {tuple(sorted(r)) for r in results} == {("bbox", "category_id", "image_id", "score", "segmentation")}


def test_bad_files_get_a_message_and_the_server_goes_on(make_client):
    client = make_client(limits=Limits(max_bytes=50_000, max_pixels=4000))
    batch = _batch(client)
    cases = [
        ("notes.txt", b"these are not pixels", 400, "notes.txt is not an image this page can read"),
        ("empty.png", b"", 400, "empty.png is empty (0 bytes)"),
        ("cut.png", png_bytes()[:200], 400, "cut.png could not be decoded: the file is truncated or damaged"),
        ("cut.jpg", png_bytes(fmt="JPEG")[:-800], 400, "cut.jpg could not be decoded"),
        ("head.jpg", png_bytes(fmt="JPEG")[:300], 400, "head.jpg is not an image this page can read (JPEG, PNG, TIFF, "
                                                         "BMP, WebP or GIF), or it is damaged"),
        ("wide.png", png_bytes(height=50, width=90), 413, "wide.png is 90 x 50 pixels (0.0045 megapixels); an image "
                                                          "may have at most 0.004 megapixels"),
        ("big.bmp", b"BM" + bytes(60_000), 413, "big.bmp is 59 KB; an image may be at most 49 KB"),
    ]
    for name, data, status, message in cases:
        response = upload(client, batch, name, data)
        assert response.status_code == status, (name, response.text)
        assert response.json()["error"].startswith(message), response.json()
    detail = upload(client, batch, "cut.png", png_bytes()[:200]).json()["detail"]
    assert "truncated" in detail and "upload-" not in detail  # the reader's words, without the private path
    # a body sent in chunks without a length is refused as it passes the limit
    chunks = (b"\x00" * 10_000 for _ in range(10))
    response = upload(client, batch, "stream.png", chunks)
    assert response.status_code == 413 and "larger than" in response.json()["error"]
    assert upload(client, batch, "fine.png", png_bytes(height=40, width=40)).status_code == 202
    assert [i["name"] for i in wait_done(client, batch)] == ["fine.png"]  # refused files leave no entry


def test_a_failing_detection_fails_that_image_only(make_client):
    client = make_client()
    batch = _batch(client)
    upload(client, batch, "bad.png", png_bytes(first_pixel=(13, 13, 13)))
    upload(client, batch, "good.png", png_bytes(seed=3))
    bad, good = wait_done(client, batch)
    assert bad["status"] == "failed" and bad["error"] == "detection failed: RuntimeError: the stub fails on this image"
    assert good["status"] == "done" and good["cells"] == 3
    failed = client.get(f"/api/batches/{batch}/images/{bad['id']}").json()
    assert failed["cells"] == [] and failed["error"].startswith("detection failed")
    assert _rows(client.get(f"/api/batches/{batch}/counts.csv").text)[1:] == [["good.png", "1", "1", "0", "2"]]


def test_200_files_at_once_stop_at_the_batch_limit(make_client):
    client = make_client()
    batch = _batch(client)
    data = png_bytes(height=8, width=8)
    answers = []
    for i in range(200):
        response = upload(client, batch, f"f{i}.png", data)
        while response.status_code == 503:  # the model is busy: the page retries the same way
            assert "busy" in response.json()["error"]
            wait_done(client, batch)
            response = upload(client, batch, f"f{i}.png", data)
        answers.append(response)
    assert [r.status_code for r in answers] == [202] * 100 + [413] * 100
    assert answers[100].json()["error"] == ("f100.png was not added: a batch holds at most 100 images; download this "
                                            "batch's results and start a new batch for more")
    assert len(wait_done(client, batch)) == 100
    assert client.get("/api/model").status_code == 200
    assert upload(client, _batch(client), "next.png", data).status_code == 202  # a new batch takes more


def test_queue_is_bounded_and_the_server_answers_while_the_model_works(make_client):
    client = make_client(StubDetector(delay=0.3), limits=Limits(max_pending=2))
    batch = _batch(client)
    codes = [upload(client, batch, f"{i}.png", png_bytes(seed=i)).status_code for i in range(5)]
    assert codes[:3] == [202, 202, 202] and 503 in codes[3:]  # one detecting + two waiting
    status = client.get(f"/api/batches/{batch}").json()["images"]  # answered while the model is busy
    assert [i["status"] for i in status].count("done") < len(status)
    assert any(i.get("position", 0) >= 1 for i in status if i["status"] == "queued")


def test_other_origins_and_hosts_are_refused(make_client):
    client = make_client()
    batch = _batch(client)
    data = png_bytes()
    evil = upload(client, batch, "x.png", data, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "another web page (http://evil.example)" in evil.json()["error"]
    assert client.post("/api/batches", headers={"Origin": "null"}).status_code == 403
    assert upload(client, batch, "x.png", data, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    rebound = client.get("/api/model", headers={"Host": "attacker.example:8000"})
    assert rebound.status_code == 400 and "not to attacker.example:8000" in rebound.json()["error"]
    assert upload(client, batch, "x.png", data, headers={"Origin": BASE}).status_code == 202
    assert client.get("/api/model", headers={"Host": "localhost:8000"}).status_code == 200
    assert [i["name"] for i in wait_done(client, batch)] == ["x.png"]


def test_nothing_is_written_outside_the_app_folder(make_client, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(work)
    client = make_client()
    batch = _batch(client)
    names = ["../../escape.png", "/etc/passwd", "..\\win.png", "a/b/c.png", "\x00nul.png", ""]
    for name in names:
        assert upload(client, batch, name, png_bytes()).status_code == 202
    upload(client, batch, "bad.txt", b"not an image")
    images = wait_done(client, batch)
    assert [i["name"] for i in images] == ["escape.png", "passwd", "win.png", "c.png", "nul.png", "image"]
    assert os.listdir(work) == []
    (app_dir,) = os.listdir(temp)  # the app's own work folder: uploads/ empty between uploads, the batch's files
    assert app_dir.startswith("mrcnn-app-") and sorted(os.listdir(temp / app_dir)) == ["batches", "uploads"]
    assert os.listdir(temp / app_dir / "uploads") == []
    assert sorted(os.listdir(temp / app_dir / "batches" / batch)) == sorted(
        ["batch.json"] + [f"{i}{suffix}" for i in range(1, 7) for suffix in (".json", ".png")])
    client.__exit__(None, None, None)  # shutting down removes it
    assert os.listdir(temp) == []


def test_unknown_batches_images_and_parameters(make_client):
    client = make_client(limits=Limits(max_batches=2))
    first = _batch(client)
    for missing in ("nope", "a..b", "A" * 16):  # not an id of ours, no such folder
        response = client.get(f"/api/batches/{missing}")
        assert response.status_code == 404 and "start a new batch" in response.json()["error"], missing
    assert client.get(f"/api/batches/{first}/images/9").status_code == 404
    for bad in ("abc", "2", "-0.1", "nan"):
        response = client.get(f"/api/batches/{first}/counts.csv", params={"min_score": bad})
        assert response.status_code == 400 and "min_score" in response.json()["error"]
    _batch(client), _batch(client)
    assert client.get(f"/api/batches/{first}").status_code == 200  # past max_batches in memory, still there
    assert client.get("/no/such/page").json() == {"error": "nothing at /no/such/page", "detail": None}
    assert client.put("/api/batches").status_code == 405


def test_the_page_loads_nothing_from_elsewhere(make_client):
    client = make_client()
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    for name in os.listdir(STATIC_DIR):
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        assert "://" not in text.replace("http://www.w3.org/2000/svg", ""), name  # no address but this server's
        assert client.get(f"/static/{name}").status_code == 200


class OneCellThreeClassesDetector(StubDetector):
    """The issue's monocyte: three detections of different classes on nearly the same pixels, and a cell apart."""

    def detect(self, images):
        out = []
        for image in images:
            masks = np.zeros(image.shape[:2] + (4,), dtype=bool)
            for i, (y1, x1, y2, x2) in enumerate([(4, 4, 24, 24), (4, 5, 24, 25), (5, 4, 23, 24), (26, 30, 38, 44)]):
                masks[y1:y2, x1:x2, i] = True
            out.append({"rois": np.array([[4, 4, 24, 24], [4, 5, 24, 25], [5, 4, 23, 24], [26, 30, 38, 44]], np.int32),
                        "class_ids": np.array([1, 2, 3, 2], np.int32),
                        "scores": np.array([0.72, 0.69, 0.56, 0.9], np.float32), "masks": masks})
        return out


def test_one_cell_is_counted_once_and_its_other_classes_are_its_alternatives(make_client, tmp_path):
    from mrcnn.streaming import detect_files
    client = make_client(OneCellThreeClassesDetector())
    batch = _batch(client)
    upload(client, batch, "mo.png", png_bytes(seed=2))
    wait_done(client, batch)
    cells = client.get(f"/api/batches/{batch}/images/1").json()["cells"]
    assert [cell["same_cell_as"] for cell in cells] == [None, 0, 0, None]
    assert cells[0]["alternatives"] == [{"class_name": CLASS_NAMES[2], "score": pytest.approx(0.69)},
                                        {"class_name": CLASS_NAMES[3], "score": pytest.approx(0.56)}]
    assert cells[3]["alternatives"] == []
    for min_score, counted in ((0.0, ["1", "1", "0", "2"]), (0.7, ["1", "1", "0", "2"]), (0.8, ["0", "1", "0", "1"])):
        served = _rows(client.get(f"/api/batches/{batch}/counts.csv", params={"min_score": min_score}).text)
        assert served[1][1:] == counted, min_score
    # pbc.py detect's counts.csv counts the same way; results.json keeps all four detections
    (tmp_path / "mo.png").write_bytes(png_bytes(seed=2))
    detect_files(OneCellThreeClassesDetector(), [str(tmp_path / "mo.png")], str(tmp_path / "out"), CLASS_NAMES,
                 overlays=False)
    assert _rows((tmp_path / "out" / "counts.csv").read_text())[1][1:] == ["1", "1", "0", "2"]
    assert len(json.loads((tmp_path / "out" / "results.json").read_text())) == 4


def test_an_image_past_pils_own_limit_gets_the_too_many_pixels_message(make_client):
    from tests.data.test_image_io import _png_header
    client = make_client()
    batch = _batch(client)
    for width, height, megapixels in ((20000, 10000, "200"), (5000, 4000, "20")):  # past PIL's 179 MP, and below
        response = upload(client, batch, "giant.png", _png_header(width, height))
        assert response.status_code == 413, response.text
        assert response.json()["error"] == (f"giant.png is {width} x {height} pixels ({megapixels} megapixels); an "
                                            "image may have at most 16 megapixels")


def test_the_accepted_formats_are_stated_with_gif(make_client):
    client = make_client()
    assert client.get("/api/model").json()["formats"] == "JPEG, PNG, TIFF, BMP, WebP or GIF"
    batch = _batch(client)
    assert upload(client, batch, "a.gif", png_bytes(fmt="GIF")).status_code == 202
    assert wait_done(client, batch)[0]["status"] == "done"


def test_downloads_follow_the_pages_order_not_the_arrival_order(make_client):
    client = make_client()
    batch = _batch(client)
    for name, order in (("third.png", 7), ("first.png", 2), ("unordered.png", None), ("second.png", 5)):
        assert upload(client, batch, name, png_bytes(), order=order).status_code == 202
    wait_done(client, batch)
    rows = _rows(client.get(f"/api/batches/{batch}/counts.csv").text)
    assert [row[0] for row in rows[1:]] == ["first.png", "second.png", "third.png", "unordered.png"]
    results = json.loads(client.get(f"/api/batches/{batch}/results.json").text)
    assert [r["image_id"] for r in results][::2] == ["first.png", "second.png", "third.png", "unordered.png"]
    for bad in ("-1", "x", "1.5", "9999999999"):
        response = upload(client, batch, "b.png", png_bytes(), order=bad)
        assert response.status_code == 400 and response.json()["error"].startswith("order must be a whole number")


def test_the_card_names_the_dataset_not_its_path():
    from mrcnn.app.card import dataset_name
    assert dataset_name("../shared/data/pbc") == "pbc"
    assert dataset_name("../shared/data/pbc/") == "pbc"
    assert dataset_name("C:\\data\\raabin") == "raabin"
    assert dataset_name("synthetic") == "synthetic"
    assert dataset_name("..") == ".." and dataset_name(None) is None and dataset_name("") == ""
