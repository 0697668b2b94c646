"""ScaledDetector: images brought to the training scale (from their red cells or a pixel size), fitted into one input
when within FIT_TOLERANCE, the scale reported per image, and written by detect_files as counts.csv columns."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.scale import RED_CELL_DIAMETER_UM
from mrcnn.detector import FIT_TOLERANCE, ScaledDetector
from mrcnn.streaming import detect_files
from tests.data.test_scale import disc_field


class SizeConfig:
    IMAGE_RESIZE_MODE = "square"
    IMAGE_MIN_DIM = IMAGE_MAX_DIM = 64
    IMAGE_MIN_SCALE = 0
    BATCH_SIZE = 1
    NUM_CLASSES = 2
    RED_CELL_DIAMETER = 10.0


class SizeModel:
    """Records the image sizes it is given; finds one 'cell': the whole image's box."""

    def __init__(self, red_cell_diameter=10.0):
        self.config = SizeConfig()
        self.config.RED_CELL_DIAMETER = red_cell_diameter
        self.seen = []

    def detect(self, images):
        out = []
        for image in images:
            h, w = image.shape[:2]
            self.seen.append((h, w))
            out.append({"rois": np.array([[0, 0, h, w]], np.int32), "class_ids": np.array([1], np.int32),
                        "scores": np.array([0.9], np.float32), "masks": np.ones((h, w, 1), bool)})
        return out


def test_a_model_without_a_training_scale_detects_as_it_comes():
    model = SizeModel(red_cell_diameter=None)
    result = ScaledDetector(model).detect([np.zeros((50, 80, 3), np.uint8)])[0]
    assert model.seen == [(50, 80)]
    assert result["scale"]["source"] == "none" and result["scale"]["factor"] is None
    assert "RED_CELL_DIAMETER" in result["scale"]["reason"]


def test_a_given_pixel_size_sets_the_factor_by_hand():
    model = SizeModel(red_cell_diameter=10.0)
    # 0.375 µm per pixel: red cells are 7.5 / 0.375 = 20 px, the model knows them at 10 px: factor 0.5
    image = np.zeros((128, 100, 3), np.uint8)
    result = ScaledDetector(model, pixel_size=0.375).detect([image])[0]
    assert result["scale"] == {"source": "pixel size", "factor": 0.5, "pixel_size_um": 0.375,
                               "red_cell_diameter_px": 20.0, "red_cells": None, "confident": True, "reason": None}
    assert model.seen == [(64, 64)]  # 64 x 50 after scaling, padded to the input, not resized again
    assert result["masks"].shape[:2] == (128, 100)  # back in the image's own pixels


def test_an_image_just_above_the_input_is_fitted_into_one_tile():
    model = SizeModel(red_cell_diameter=10.0)
    pixel_size = RED_CELL_DIAMETER_UM / 20.0  # factor 0.5: the 140-px side becomes 70 px <= 64 * 1.1, fitted to 64
    result = ScaledDetector(model, pixel_size=pixel_size).detect([np.zeros((140, 90, 3), np.uint8)])[0]
    assert 140 * 0.5 <= 64 * (1 + FIT_TOLERANCE) and model.seen == [(64, 64)]
    assert result["scale"]["factor"] == pytest.approx(64 / 140, abs=1e-5)
    far = SizeModel(red_cell_diameter=10.0)  # 200 px at 0.5 is 100 px: beyond the tolerance, tiled
    ScaledDetector(far, pixel_size=pixel_size).detect([np.zeros((200, 90, 3), np.uint8)])
    assert len(far.seen) > 1 and set(far.seen) == {(64, 64)}


def test_red_cells_measured_on_the_image_give_the_factor():
    field = disc_field((300, 300), 24.0, seed=3)
    model = SizeModel(red_cell_diameter=12.0)
    result = ScaledDetector(model).detect([field])[0]
    scale = result["scale"]
    assert scale["source"] == "red cells" and scale["red_cell_diameter_px"] == pytest.approx(24, rel=0.1)
    assert scale["factor"] == pytest.approx(12.0 / scale["red_cell_diameter_px"], abs=1e-4)
    assert json.loads(json.dumps(scale)) == scale
    plain = ScaledDetector(SizeModel(red_cell_diameter=12.0), rescale=False).detect([field])[0]
    assert plain["scale"]["factor"] is None and plain["scale"]["red_cell_diameter_px"] == scale["red_cell_diameter_px"]


def test_an_image_without_red_cells_falls_back_and_says_why():
    model = SizeModel(red_cell_diameter=12.0)
    result = ScaledDetector(model).detect([np.full((90, 90, 3), 230, np.uint8)])[0]
    assert model.seen == [(90, 90)] and result["scale"]["source"] == "none" and result["scale"]["reason"]


def test_bad_pixel_size():
    for bad in (0, -1, "0.1", True):
        with pytest.raises(ValueError, match="pixel_size"):
            ScaledDetector(SizeModel(), pixel_size=bad)


def test_detect_files_writes_the_scale_per_image(tmp_path):
    Image.fromarray(disc_field((200, 200), 20.0, seed=1)).save(tmp_path / "field.png")
    Image.fromarray(np.full((60, 60, 3), 230, np.uint8)).save(tmp_path / "blank.png")
    detector = ScaledDetector(SizeModel(red_cell_diameter=10.0))
    detect_files(detector, [str(tmp_path / "field.png"), str(tmp_path / "blank.png")], str(tmp_path / "out"),
                 ["BG", "cell"], overlays=False)
    rows = list(csv.reader(open(tmp_path / "out" / "counts.csv")))
    assert rows[0] == ["image", "cell", "total", "pixel_size_um", "red_cell_px", "scale_factor", "scale_source"]
    field, blank = rows[1], rows[2]
    assert field[-1] == "red cells" and float(field[3]) == pytest.approx(7.5 / float(field[4]), rel=1e-3)
    assert blank[-1] == "none" and blank[3:6] == ["", "", ""]
    journal = [json.loads(line) for line in open(tmp_path / "out" / "results.jsonl")]
    assert journal[0]["scale"]["source"] == "red cells" and journal[1]["scale"]["reason"]


def test_calibrate_pools_the_sets_red_cells_for_every_image():
    model = SizeModel(red_cell_diameter=12.0)
    detector = ScaledDetector(model)
    fields = [disc_field((240, 240), diameter, seed=seed) for seed, diameter in enumerate((23.0, 24.0, 25.0))]
    pooled = detector.calibrate(fields + [np.full((60, 60, 3), 230, np.uint8)])
    assert pooled["images"] == 4 and pooled["measured"] == 3 and pooled["diameter_px"] == pytest.approx(24, rel=0.1)
    blank = detector.detect([np.full((90, 90, 3), 230, np.uint8)])[0]["scale"]  # no red cells of its own
    assert blank["source"] == "red cells" and blank["pooled_diameter_px"] == pooled["diameter_px"]
    assert blank["factor"] == pytest.approx(12.0 / pooled["diameter_px"], abs=1e-4)
    assert blank["red_cell_diameter_px"] is None and blank["reason"]  # its own estimate, reported as it is
    nothing = ScaledDetector(SizeModel())
    assert nothing.calibrate([np.full((60, 60, 3), 230, np.uint8)])["diameter_px"] is None
    assert nothing.pooled is None
    assert ScaledDetector(SizeModel(), pixel_size=0.1).calibrate(fields) is None
