"""`pbc.py adapt` on a tiny folder: a new weights file whose backbone batch-norm statistics moved, a report beside
it naming where it came from, and the adapted file usable by detect; bad input named."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from mrcnn.weights_io import read_weights
from samples.pbc import pbc
from samples.pbc.config import make_config
from samples.pbc.synthetic import random_spec, render_smear

TINY = ["--backbone", "tiny", "--preset", "cpu", "--image-size", "64"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(a tiny model's weights file, a folder of 10 smears of 'another lab': tinted blue)."""
    from mrcnn.model import MaskRCNN
    root = tmp_path_factory.mktemp("lab")
    config = make_config(inference=True, preset="cpu", backbone="tiny", image_size=64)
    weights = str(root / "tiny.weights.h5")
    MaskRCNN("inference", config, str(root)).keras_model.save_weights(weights)
    folder = root / "smears"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        image = render_smear(random_spec(rng, 96, "lymphocyte")).astype(int)
        image[..., 2] = np.minimum(image[..., 2] + 40, 255)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"smear{i}.png")
    return weights, str(folder)


def test_adapt_writes_the_adapted_weights_and_a_report(lab, tmp_path, capsys):
    weights, folder = lab
    out = str(tmp_path / "adapted" / "lab.weights.h5")
    assert pbc.main(["adapt", "--images", folder, "--weights", weights, "--out", out, "--pixel-size", "off"]
                    + TINY) == 0
    printed = capsys.readouterr().out
    assert f"weights: {out}" in printed and "batch-norm layers" in printed
    report = json.load(open(os.path.join(tmp_path, "adapted", "lab.json")))
    assert report["adapted_from"] == weights and report["files"] == 10 and report["layers"] > 0
    assert report["inputs"] == 10 and report["images"] == [folder]
    before, after = read_weights(weights), read_weights(out)
    moved = [name for name in before if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))]
    assert moved and all(name.startswith("tiny_") and name.endswith("bn") for name in moved)
    detect_out = str(tmp_path / "detect")
    assert pbc.main(["detect", "--images", folder, "--weights", out, "--out", detect_out, "--no-overlays",
                     "--min-confidence", "0"] + TINY) == 0
    header = open(os.path.join(detect_out, "counts.csv")).readline().strip().split(",")
    assert header[-6:] == ["pixel_size_um", "red_cell_px", "scale_factor", "scale_source", "unlike_training",
                           "unlike_score"]


def test_adapt_bad_input(lab, tmp_path, capsys):
    weights, folder = lab
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit):
        pbc.main(["adapt", "--images", str(empty), "--weights", weights, "--out", str(tmp_path / "a.weights.h5")]
                 + TINY)
    assert "--images" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pbc.main(["adapt", "--images", folder, "--weights", weights, "--out", str(tmp_path / "a.h5")] + TINY)
    assert "must end in .weights.h5" in capsys.readouterr().err
