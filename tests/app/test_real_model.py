"""The web app end to end with a real MaskRCNN (the tiny test model, seeded weights), and `pbc.py serve`'s wiring:
the model it builds, its card and its evaluation."""

import io
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason="the web app's extra is not installed (pip install -e .[app])")

from starlette.testclient import TestClient  # noqa: E402

from mrcnn.app import create_app  # noqa: E402
from mrcnn.model import MaskRCNN  # noqa: E402
from tests.app.helpers import BASE, png_bytes, upload, wait_done  # noqa: E402
from tests.tiny_config import TinyConfig  # noqa: E402

NAMES = ["BG", "a", "b", "c"]  # TinyConfig.NUM_CLASSES = 4


class OneImageConfig(TinyConfig):
    IMAGES_PER_GPU = 1  # the app detects one image at a time; detect_files then runs the same batches


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import keras
    keras.utils.set_random_seed(1)  # seeded weights: every image gets DETECTION_MAX_INSTANCES (8) detections
    return MaskRCNN("inference", OneImageConfig(), str(tmp_path_factory.mktemp("logs")))  # floor 0


def test_real_model_through_the_api_equals_pbc_detect(model, tmp_path):
    from mrcnn.streaming import detect_files
    names = ["one.png", "two.png"]
    with TestClient(create_app(model, NAMES, threshold=0.5), base_url=BASE) as client:
        batch = client.post("/api/batches").json()["batch"]
        for i, name in enumerate(names):
            data = png_bytes(height=60 + 8 * i, width=72 - 6 * i, seed=10 + i)
            (tmp_path / name).write_bytes(data)
            assert upload(client, batch, name, data).status_code == 202
        images = wait_done(client, batch)
        assert [(i["status"], i["cells"]) for i in images] == [("done", 8), ("done", 8)]
        cells = client.get(f"/api/batches/{batch}/images/2").json()["cells"]
        assert all(c["mask"] is None or c["mask"]["png"].startswith("data:image/png;base64,") for c in cells)
        served = client.get(f"/api/batches/{batch}/results.json", params={"min_score": 0}).text
        counts = client.get(f"/api/batches/{batch}/counts.csv", params={"min_score": 0}).text
        # a cell drawn by hand: its mask is the model's mask head on the box, as masks_for_boxes gives it
        added = client.post(f"/api/batches/{batch}/images/2/cells", json={"box": [10, 10, 40, 42], "class_name": "b"})
        drawn = added.json()["cell"]
    from mrcnn.app.drawn import MIN_FILL, ellipse_mask
    from mrcnn.app.masks import cell_mask
    image = np.array(Image.open(io.BytesIO((tmp_path / "two.png").read_bytes())).convert("RGB"))
    expected = model.masks_for_boxes(image, [[10, 10, 40, 42]], [2])[..., 0]
    fill = expected.sum() / ellipse_mask(68, 66, (10, 10, 40, 42)).sum()
    assert added.status_code == 201 and drawn["mask_from"] == "model" and fill >= MIN_FILL, fill
    assert np.array_equal(cell_mask(drawn, 68, 66), expected)
    out = tmp_path / "detect"
    detect_files(model, [str(tmp_path / n) for n in names], str(out), NAMES, overlays=False)
    assert served == (out / "results.json").read_text()  # the same records, image ids and RLE, byte for byte
    assert [row.split(",")[1:] for row in counts.splitlines()] == \
        [row.split(",")[1:] for row in (out / "counts.csv").read_text().splitlines()]


class ObjectScoreConfig(OneImageConfig):
    DETECTION_SCORE = "object"  # the PBC sample's scoring
    DETECTION_NMS_ACROSS_CLASSES = True


@pytest.mark.parametrize("scoring", ["class", "object"])
def test_filtering_at_a_threshold_equals_detecting_at_it(model, scoring):
    """The page's slider filters the floor model's cells; the model built at that threshold finds the same ones
    (NMS, per class or across classes, never lets a weaker box remove a stronger one, and the best D are kept), so
    no re-run is needed."""
    if scoring == "object":
        floor_model = MaskRCNN("inference", ObjectScoreConfig(), model.model_dir)
        floor_model.keras_model.set_weights(model.keras_model.get_weights())
        logits = floor_model.keras_model.get_layer("mrcnn_class_logits")
        logits.kernel.assign(logits.kernel * 0.05)  # P(background) spread out instead of all ~0: scores below 1.0
        model = floor_model
    with TestClient(create_app(model, NAMES), base_url=BASE) as client:
        batch = client.post("/api/batches").json()["batch"]
        upload(client, batch, "x.png", png_bytes(height=64, width=64, seed=4))
        wait_done(client, batch)
        cells = client.get(f"/api/batches/{batch}/images/1").json()["cells"]
    threshold = float(np.median([c["score"] for c in cells]))
    config = type(model.config)()
    config.DETECTION_MIN_CONFIDENCE = threshold
    strict = MaskRCNN("inference", config, model.model_dir)
    strict.keras_model.set_weights(model.keras_model.get_weights())
    image = np.array(Image.open(io.BytesIO(png_bytes(height=64, width=64, seed=4))).convert("RGB"))
    result = strict.detect([image])[0]
    kept = [c for c in cells if c["score"] >= threshold]
    assert 0 < len(kept) < len(cells)
    # the same cells; equal scores (random weights saturate at 1.0) may come in another order
    assert sorted((c["box"], c["class_id"], c["score"]) for c in kept) == sorted(
        (box, class_id, float(score)) for box, class_id, score in
        zip(result["rois"].tolist(), result["class_ids"].tolist(), result["scores"]))


# ---- pbc.py serve ---------------------------------------------------------------------------------------------------

TINY = ["--backbone", "tiny", "--preset", "cpu", "--image-size", "64"]


@pytest.fixture(scope="module")
def pbc_run(tmp_path_factory):
    """A run folder with a checkpoint of the PBC tiny model and an evaluation (metrics.json) beside it."""
    from mrcnn.evaluation import evaluate_predictions
    from samples.pbc.config import make_config
    from samples.pbc.classes import CLASS_NAMES
    logs = tmp_path_factory.mktemp("pbc_logs")
    run = logs / "pbc20260101T0000"
    run.mkdir()
    weights = run / "mask_rcnn_pbc_0003.weights.h5"
    model = MaskRCNN("inference", make_config(inference=True, preset="cpu", backbone="tiny", image_size=64), str(logs))
    model.keras_model.save_weights(str(weights))
    mask = np.zeros((32, 32, 1), dtype=bool)
    mask[4:20, 6:22] = True
    gt = {"class_ids": np.array([7]), "masks": mask}
    pred = {"rois": np.array([[4, 6, 20, 22]]), "class_ids": np.array([7]), "scores": np.array([0.9]), "masks": mask}
    metrics = evaluate_predictions([gt], [pred], ["BG"] + CLASS_NAMES, coco=False, semantic_metrics=False,
                                   object_metrics=False, source={"backbone": "tiny", "weights": str(weights),
                                                                 "dataset": "synthetic", "subset": "val"})
    (run / "metrics.json").write_text(json.dumps(metrics))
    return logs, weights


def test_pbc_serve_builds_detects_model_floor_and_card(pbc_run, monkeypatch, tmp_path):
    import uvicorn

    from samples.pbc import pbc
    from samples.pbc.classes import CLASS_NAMES
    logs, weights = pbc_run
    captured = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: captured.update(app=app, **kwargs))
    monkeypatch.setenv("MRCNN_WORK_DIR", str(tmp_path / "default work"))  # the user's data folder in real use
    assert pbc.main(["serve", "--weights", "last", "--logs", str(logs), "--port", "8123"] + TINY) == 0
    assert captured["host"] == "127.0.0.1" and captured["port"] == 8123
    service = captured["app"].state.service
    assert service.work_dir == str(tmp_path / "default work") and not service.temporary
    assert service.model.config.DETECTION_MIN_CONFIDENCE == 0.05  # the floor; the paper's 0.75 is the slider's start
    assert service.model.config.BACKBONE == "tiny" and service.model.config.IMAGE_MAX_DIM == 64
    with TestClient(captured["app"], base_url=BASE) as client:
        info = client.get("/api/model").json()
    assert info["class_names"] == CLASS_NAMES and info["threshold"] == 0.75 and info["floor"] == 0.05
    card = info["card"]
    assert (card["backbone"], card["image_size"], card["epoch"]) == ("tiny", "64 x 64 px", 3)
    assert card["weights"] == str(weights)
    assert card["score"].startswith("how sure the model is that a cell is there") and card["one_per_object"]
    evaluation = card["evaluation"]
    assert evaluation["same_weights"] is True and evaluation["images"] == 1 and evaluation["dataset"] == "synthetic"
    assert evaluation["detection"]["mAP@0.5"] == pytest.approx(1.0)
    assert {row["class"] for row in evaluation["per_class"]} == set(CLASS_NAMES)
    assert info["differential"]["classes"] == ["basophil", "eosinophil", "ig", "lymphocyte", "monocyte", "neutrophil"]

    monkeypatch.chdir(logs)
    assert pbc.main(["serve", "--weights", str(weights), "--min-confidence", "0.5", "--floor", "0.2",
                     "--eval", str(weights.parent), "--work", str(tmp_path / "lab")] + TINY) == 0
    assert captured["app"].state.service.work_dir == str(tmp_path / "lab")
    assert captured["app"].state.service.threshold == 0.5
    assert captured["app"].state.service.model.config.DETECTION_MIN_CONFIDENCE == 0.2


def test_pbc_serve_reports_bad_options(tmp_path, capsys, monkeypatch):
    from samples.pbc import pbc
    monkeypatch.setenv("MRCNN_WORK_DIR", str(tmp_path / "work"))
    (tmp_path / "a file").write_text("x")
    with pytest.raises(SystemExit) as info:
        pbc.main(["serve", "--help"])
    assert info.value.code == 0 and "usage: pbc.py serve" in capsys.readouterr().out
    for argv, expected in ((["--eval", str(tmp_path)], "no metrics.json"), (["--logs", str(tmp_path)], "Train first"),
                           (["--work", str(tmp_path / "a file")], "cannot be used")):
        with pytest.raises(SystemExit) as info:  # one line on stderr, exit status 2 (mrcnn/cli.py)
            pbc.main(["serve"] + argv + TINY)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("pbc.py serve: error:") and expected in err and "Traceback" not in err
