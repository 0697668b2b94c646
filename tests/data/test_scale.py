"""The red-cell scale estimate (mrcnn/data/scale.py): fields of known scale, refusals, the factor, real smears.

`disc_field` draws a smear whose red cells have a known diameter: slightly elliptical translucent discs with a pale
centre, dropped at random but never overlapping by more than 10 %, cut by the border, with a white cell, platelets and
pixel noise, in a PBC-like cream or a BCCD-like lilac stain.
"""

import glob
import importlib.util
import json
import math
import os

import cv2
import numpy as np
import pytest

from mrcnn.data.scale import (RED_CELL_DIAMETER_UM, ScaleEstimate, estimate_red_cell_diameter,
                              pixel_size_from_diameter, rescale_factor, training_diameter_px)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "..", "shared", "data")
STAINS = {"cream": ((250, 227, 203), (0.86, 0.70, 0.82)), "lilac": ((225, 228, 235), (0.80, 0.68, 0.86))}


def disc_field(shape, diameter, seed=0, stain="cream", red_cells=40, white_cell=True, platelets=5):
    """uint8 [H, W, 3] smear with up to `red_cells` red cells whose long axis is `diameter` pixels, dropped at random
    (no two overlapping by more than 10 %)."""
    rng = np.random.default_rng(seed)
    background, rim = STAINS[stain]
    image = np.ones(shape + (3,), np.float32) * np.array(background, np.float32)
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float32)
    radius = diameter / 2.0
    centres = np.zeros((0, 2))
    for _ in range(red_cells * 30):
        if len(centres) == red_cells:
            break
        centre = rng.uniform(-0.3 * radius, 0.3 * radius, 2) + rng.uniform(0, 1, 2) * shape
        if not len(centres) or np.hypot(*(centres - centre).T).min() >= 1.8 * radius:  # at most 10 % overlap
            centres = np.vstack([centres, centre])
    for cy, cx in centres:
        angle, squash = rng.uniform(0, math.pi), rng.uniform(0.88, 1.0)  # long axis = diameter
        y1, x1 = max(0, int(cy - radius - 2)), max(0, int(cx - radius - 2))
        y2, x2 = min(shape[0], int(cy + radius + 3)), min(shape[1], int(cx + radius + 3))
        if y2 <= y1 or x2 <= x1:
            continue
        wy, wx = yy[y1:y2, x1:x2], xx[y1:y2, x1:x2]
        u = ((wx - cx) * math.cos(angle) + (wy - cy) * math.sin(angle)) / radius
        v = ((wy - cy) * math.cos(angle) - (wx - cx) * math.sin(angle)) / (radius * squash)
        rho = np.hypot(u, v)
        inside = np.clip((1.0 - rho) * radius + 0.5, 0.0, 1.0)[..., None]
        colour = np.array(rim, np.float32) + (1.0 - np.array(rim, np.float32)) * 0.6 * (rho < 0.4)[..., None]
        image[y1:y2, x1:x2] *= 1.0 - inside * (1.0 - colour)
    if white_cell:
        cy, cx = shape[0] / 2, shape[1] / 2
        image[np.hypot(yy - cy, xx - cx) <= 0.9 * diameter] = (190, 170, 215)
        image[np.hypot(yy - cy - 0.1 * diameter, xx - cx) <= 0.55 * diameter] = (90, 40, 140)
    for _ in range(platelets):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        image[np.hypot(yy - cy, xx - cx) <= max(1.5, 0.1 * diameter)] = (110, 50, 150)
    image += rng.normal(0.0, 2.0, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("diameter", [20, 40, 80])
@pytest.mark.parametrize("stain", ["cream", "lilac"])
def test_fields_of_known_scale_are_measured_within_ten_percent(diameter, stain):
    shape = (round(7.5 * diameter), round(10 * diameter))  # the same field at three magnifications
    estimate = estimate_red_cell_diameter(disc_field(shape, diameter, seed=diameter, stain=stain))
    assert estimate.diameter_px == pytest.approx(diameter, rel=0.10), estimate
    assert estimate.cells >= 10 and estimate.reason == "" and estimate.confident
    assert estimate.pixel_size_um == pytest.approx(RED_CELL_DIAMETER_UM / estimate.diameter_px)


def test_a_large_field_of_small_cells_is_measured_at_a_finer_level():
    # 1536 x 2048 with 24-px red cells: 4.5 px at the first level (384 px), where touching cells merge
    estimate = estimate_red_cell_diameter(disc_field((1536, 2048), 24, seed=5, red_cells=2500, platelets=40))
    assert estimate.diameter_px == pytest.approx(24, rel=0.10) and estimate.confident, estimate


def test_the_repository_smears_resized_by_half_one_and_two_keep_their_scale():
    from samples.pbc.classes import CLASS_NAMES
    from samples.pbc.synthetic import random_spec, render_smear
    rng = np.random.default_rng(0)
    errors = {0.5: [], 1.0: [], 2.0: []}
    for i in range(8):
        spec = random_spec(rng, 256, CLASS_NAMES[i], red_cells=(14, 22))
        image = render_smear(spec)
        truth = float(np.median([2 * max(red["radii"]) for red in spec["red_cells"]]))  # long axes at 256 px
        for zoom in errors:
            side = round(256 * zoom)
            scaled = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
            estimate = estimate_red_cell_diameter(scaled)
            if estimate.diameter_px is not None:
                errors[zoom].append(estimate.diameter_px / (truth * zoom) - 1)
    for zoom, values in errors.items():
        assert len(values) >= 7, zoom
        # The generator drops red cells anywhere, so pairs overlap deeply and some merge into one long region:
        # single images reach +25 % (benchmarks/scale_estimate.py, synthetic); the median stays within 10 %.
        assert abs(np.median(values)) <= 0.10 and max(np.abs(values)) <= 0.30, (zoom, values)


def test_few_red_cells_or_none_give_no_diameter_and_a_reason():
    few = estimate_red_cell_diameter(disc_field((200, 260), 40, red_cells=2, white_cell=True, platelets=0))
    assert few.diameter_px is None and few.cells < 3 and "too few red cells" in few.reason
    assert few.pixel_size_um is None and math.isnan(few.spread)
    blank = estimate_red_cell_diameter(np.full((100, 120, 3), 230, np.uint8))
    assert blank.diameter_px is None and blank.cells == 0 and "no contrast" in blank.reason
    only_white_cell = estimate_red_cell_diameter(disc_field((120, 120), 40, red_cells=0, platelets=0))
    assert only_white_cell.diameter_px is None
    relaxed = estimate_red_cell_diameter(disc_field((200, 260), 40, red_cells=6, white_cell=False), min_cells=1)
    assert relaxed.diameter_px == pytest.approx(40, rel=0.15)


def test_red_cells_of_several_sizes_disagree():
    # four strips of red cells 28, 33, 38 and 44 px across, side by side: spread about 0.14 for any seed
    mixed = np.concatenate([disc_field((300, 100), d, seed=i, white_cell=False, platelets=0, red_cells=30)
                            for i, d in enumerate([28, 33, 38, 44])], axis=1)
    estimate = estimate_red_cell_diameter(mixed)
    assert 28 <= estimate.diameter_px <= 44 and 0.10 < estimate.spread <= 0.2 and estimate.cells > 40
    refused = estimate_red_cell_diameter(mixed, max_spread=0.1)
    assert refused.diameter_px is None and "disagree" in refused.reason and refused.spread == estimate.spread
    assert not refused.confident


def test_bad_images_and_arguments_are_refused():
    field = disc_field((100, 100), 20)
    for bad in (field.astype(np.float32), field[:, :, 0], field[:, :, :2], field[:10]):
        with pytest.raises(ValueError, match="image"):
            estimate_red_cell_diameter(bad)
    with pytest.raises(ValueError, match="min_cells"):
        estimate_red_cell_diameter(field, min_cells=0)
    with pytest.raises(ValueError, match="max_spread"):
        estimate_red_cell_diameter(field, max_spread=-0.1)
    with pytest.raises(ValueError, match="work_size"):
        estimate_red_cell_diameter(field, work_size=10)
    for bad in (0, -3.0, math.nan, math.inf, None):
        with pytest.raises(ValueError, match="diameter_px"):
            pixel_size_from_diameter(bad)


def test_pixel_size_and_rescale_factor_by_hand():
    assert pixel_size_from_diameter(75.0) == pytest.approx(0.1)
    # the image at 0.2 µm/px shows red cells 37.5 px across; the model wants 42: enlarge by 42 / 37.5
    factor, estimate = rescale_factor(pixel_size=0.2, target_diameter_px=42.0)
    assert factor == pytest.approx(42.0 / 37.5) and estimate is None
    factor, _ = rescale_factor(pixel_size=0.2, target_pixel_size=0.1)
    assert factor == pytest.approx(2.0)
    field = disc_field((300, 400), 40)
    factor, estimate = rescale_factor(field, target_diameter_px=20.0)
    assert factor == pytest.approx(20.0 / estimate.diameter_px) and factor == pytest.approx(0.5, rel=0.1)
    factor, estimate = rescale_factor(np.full((64, 64, 3), 200, np.uint8), target_diameter_px=20.0)
    assert factor is None and estimate.diameter_px is None
    with pytest.raises(ValueError, match="exactly one"):
        rescale_factor(field, target_diameter_px=20.0, target_pixel_size=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        rescale_factor(field)
    with pytest.raises(ValueError, match="pixel_size"):
        rescale_factor(field, target_diameter_px=20.0, pixel_size=-1)
    with pytest.raises(ValueError, match="give an image"):
        rescale_factor(target_diameter_px=20.0)


def test_training_diameter_follows_the_square_resize():
    # 360 x 363 crops resized to 192: the long side 363 -> 192
    assert training_diameter_px(80.0, (360, 363), 192) == pytest.approx(80.0 * 192 / 363)
    assert training_diameter_px(80.0, (363, 360), 512) == pytest.approx(80.0 * 512 / 363)
    with pytest.raises(ValueError, match="image_size"):
        training_diameter_px(80.0, (360, 363), 0)
    with pytest.raises(ValueError, match="native_shape"):
        training_diameter_px(80.0, (0, 363), 192)


def test_estimate_record_is_json_able():
    record = ScaleEstimate(75.0, 12, 0.05).to_dict()
    assert json.loads(json.dumps(record)) == {"red_cell_diameter_px": 75.0, "pixel_size_um": 0.1, "red_cells": 12,
                                              "spread": 0.05, "confident": True, "reason": ""}
    assert not ScaleEstimate(75.0, 4, 0.05).confident and not ScaleEstimate(75.0, 12, 0.2).confident
    assert ScaleEstimate(None, 1, math.nan, "too few").to_dict()["spread"] is None


def _benchmark():
    spec = importlib.util.spec_from_file_location("scale_bench", os.path.join(REPO, "benchmarks", "scale_estimate.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_real_bccd_fields_against_their_red_cell_boxes():
    folder = os.path.join(DATA, "other_labs", "bccd")
    if not os.path.isdir(folder):
        pytest.skip(f"BCCD fields not found at {folder} (a fresh clone has no ../shared/data)")
    bench = _benchmark()
    errors = [estimate_red_cell_diameter(bench.read_rgb(path)).diameter_px / reference - 1
              for path, reference in bench.labelled_images(folder)[:12]]
    # all 150 (benchmark): median |error| 9 %, 90th percentile 14 %, none beyond 25 %; the estimate reads ~8 % below
    # the annotators' boxes (which include the blurred edge)
    assert max(np.abs(errors)) <= 0.25 and abs(np.median(errors)) <= 0.15, errors


def test_real_pbc_crops_agree_and_white_cell_crops_are_refused():
    pbc = sorted(glob.glob(os.path.join(DATA, "pbc", "train", "*", "*.jpg")))[::300]
    wbc = sorted(glob.glob(os.path.join(DATA, "wbc_masks", "*.bmp")))[:8]
    if not pbc or not wbc:
        pytest.skip(f"PBC or wbc_masks images not found under {DATA} (a fresh clone has no ../shared/data)")
    from samples.pbc.scale import PBC_RED_CELL_DIAMETER_PX
    bench = _benchmark()
    found = [estimate_red_cell_diameter(bench.read_rgb(p)).diameter_px for p in pbc]
    found = np.array([d for d in found if d is not None])
    # all 2400 (benchmark): 4.5 % median spread around the constant, 90th percentile 14 %
    assert len(found) >= 7 and abs(np.median(found) / PBC_RED_CELL_DIAMETER_PX - 1) <= 0.10, found
    # their red cells are faint ghosts: no estimate rather than the white cell's size
    assert all(estimate_red_cell_diameter(bench.read_rgb(p)).diameter_px is None for p in wbc)
