"""`pbc.py export` and `pbc.py detect --model`: the exported model writes what the weights write; bad input."""

import csv
import json
import os
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from samples.pbc import pbc
from samples.pbc.config import make_config

TINY = ["--backbone", "tiny", "--preset", "cpu", "--image-size", "64"]


@pytest.fixture(scope="module", autouse=True)
def float32():
    """The cpu preset computes in bfloat16 on a CPU that has it ("auto"); in float32 the two runs agree closely
    enough to be compared cell by cell (in bfloat16 a cell of random weights may move by a few pixels)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("mrcnn.precision.auto_policy", lambda: "float32")
        yield


@pytest.fixture(scope="module")
def weights(float32, tmp_path_factory):
    from mrcnn.model import MaskRCNN
    folder = tmp_path_factory.mktemp("weights")
    keras.utils.set_random_seed(2)
    config = make_config(inference=True, preset="cpu", backbone="tiny", image_size=64)
    path = str(folder / "tiny.weights.h5")
    MaskRCNN("inference", config, str(folder)).keras_model.save_weights(path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i, shape in enumerate([(70, 90), (64, 64)]):
        Image.fromarray(rng.integers(0, 255, shape + (3,), dtype=np.uint8)).save(folder / f"smear{i}.png")
    return str(folder)


def _outputs(folder):
    with open(os.path.join(folder, "counts.csv"), encoding="utf-8") as f:
        counts = list(csv.reader(f))
    with open(os.path.join(folder, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    overlays = sorted(name for name in os.listdir(folder) if name.endswith("_overlay.png"))
    return counts, results, overlays


@pytest.mark.slow
def test_export_then_detect_model_writes_what_detect_weights_writes(weights, images, tmp_path, capsys):
    export = str(tmp_path / "export")
    assert pbc.main(["export", "--weights", weights, "--format", "savedmodel", "--out", export,
                     "--min-confidence", "0"] + TINY) == 0
    assert "next: pbc.py detect --model" in capsys.readouterr().out
    with open(os.path.join(export, "export.json"), encoding="utf-8") as f:
        assert json.load(f)["class_names"][:2] == ["BG", "basophil"]
    keras_out, export_out = str(tmp_path / "keras"), str(tmp_path / "exported")
    assert pbc.main(["detect", "--images", images, "--weights", weights, "--out", keras_out, "--min-confidence", "0",
                     "--pixel-size", "off"] + TINY) == 0
    assert pbc.main(["detect", "--images", images, "--model", export, "--out", export_out, "--pixel-size", "off"]) == 0
    (keras_counts, keras_results, keras_overlays), (counts, results, overlays) = _outputs(keras_out), _outputs(export_out)
    assert overlays == keras_overlays == ["smear0_overlay.png", "smear1_overlay.png"]
    assert counts[0] == keras_counts[0]  # the same columns, the flag's included
    total = counts[0].index("total")
    assert [row[:total + 1] for row in counts] == [row[:total + 1] for row in keras_counts]
    assert [row[-2:] for row in counts[1:]] == [["", ""]] * 2  # no "unlike the training images" flag from an export
    assert len(results) == len(keras_results) > 0
    # cells of equal scores (1 - P(background) rounds to 1.0 for a confident cell) come in either order: each of
    # detect's cells must have its own counterpart in the export's
    unmatched = list(results)
    for expected in keras_results:
        match = next((got for got in unmatched if (got["image_id"], got["category_id"]) == (expected["image_id"],
                      expected["category_id"]) and np.abs(np.subtract(got["bbox"], expected["bbox"])).max() <= 1
                      and abs(got["score"] - expected["score"]) < 1e-3), None)
        assert match is not None, expected
        unmatched.remove(match)


def test_bad_input_is_one_line(weights, images, tmp_path, monkeypatch, capsys):
    def error(argv):
        with pytest.raises(SystemExit) as info:
            pbc.main(argv)
        assert info.value.code == 2
        return capsys.readouterr().err.strip().splitlines()[-1]

    missing = str(tmp_path / "nothing")
    assert "export.json does not exist" in error(["detect", "--images", images, "--model", missing, "--out",
                                                   str(tmp_path / "out")])
    assert "keeps the threshold it was exported with" in error(
        ["detect", "--images", images, "--model", missing, "--out", str(tmp_path / "out"), "--min-confidence", "0.5"])
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if it were not installed
    line = error(["export", "--weights", weights, "--format", "onnx", "--out", str(tmp_path / "onnx")] + TINY)
    assert "'tf2onnx'" in line and "pip install -e .[export]" in line
    with pytest.raises(SystemExit) as info:
        pbc.main(["export", "--weights", weights, "--format", "tflite", "--out", str(tmp_path / "x")])
    assert info.value.code == 2 and "invalid choice: 'tflite'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pbc.main(["detect", "--images", images, "--weights", weights, "--model", missing, "--out", missing])
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_model_runs_the_page_on_an_exported_model(weights, tmp_path, monkeypatch, capsys):
    pytest.importorskip("starlette", reason="the web app's extra is not installed (pip install -e .[app])")
    import uvicorn
    from starlette.testclient import TestClient

    from tests.app.helpers import BASE, png_bytes, upload, wait_done
    export = str(tmp_path / "export")
    assert pbc.main(["export", "--weights", weights, "--format", "litert", "--out", export, "--min-confidence",
                     "0.05"] + TINY) == 0
    captured = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: captured.update(app=app, **kwargs))
    assert pbc.main(["serve", "--model", export, "--work", str(tmp_path / "work"), "--pixel-size", "off"]) == 0
    service = captured["app"].state.service
    assert type(service.model.model).__name__ == "ExportedModel" and service.model.model.format == "litert"
    assert (service.floor, service.threshold) == (0.05, 0.75)  # the export's threshold; the paper's to start
    card = service.card
    assert card["title"] == "PBC Mask R-CNN (litert export)" and card["weights"] == weights
    with TestClient(captured["app"], base_url=BASE) as client:
        batch = client.post("/api/batches").json()["batch"]
        upload(client, batch, "a.png", png_bytes(height=70, width=90))
        assert wait_done(client, batch)[0]["status"] == "done"
        added = client.post(f"/api/batches/{batch}/images/1/cells", json={"box": [10, 10, 30, 40],
                                                                          "class_name": "lymphocyte"})
        assert added.json()["cell"]["mask_from"] == "ellipse"  # an export has no mask head to run on a box

    def error(argv):
        with pytest.raises(SystemExit) as info:
            pbc.main(argv)
        assert info.value.code == 2
        return capsys.readouterr().err.strip().splitlines()[-1]
    assert "export again with pbc.py export --min-confidence 0.01" in error(
        ["serve", "--model", export, "--floor", "0.01", "--work", str(tmp_path / "work")])
    assert "has no cells below 0.05" in error(
        ["serve", "--model", export, "--min-confidence", "0.02", "--work", str(tmp_path / "work")])
    assert "not allowed with argument" in error(["serve", "--model", export, "--weights", weights])
