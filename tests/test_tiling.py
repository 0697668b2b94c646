"""Tiled detection and detection at another scale (mrcnn/tiling.py), with a fake model that sees painted cells.

The fake model "detects" every cell painted in a tile in one of PALETTE's colours (each pixel goes to the nearest
colour, so resized edges stay sharp within half a pixel), clipped at the tile edge as a real model sees a cut cell.
"""

import math

import numpy as np
import pytest

from mrcnn.tiling import detect_at_scale, detect_tiled, merge_tiles, tile_starts

BACKGROUND = (240, 230, 220)
# colour -> (class id, score); the background maps to nothing
PALETTE = {(200, 30, 30): (1, 0.9), (30, 200, 30): (2, 0.8), (30, 30, 200): (3, 0.7), (200, 200, 30): (1, 0.6),
           (30, 200, 200): (2, 0.5)}
COLOURS = list(PALETTE)


class FakeConfig:
    IMAGE_RESIZE_MODE = "square"
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    IMAGE_MIN_SCALE = 0
    BATCH_SIZE = 2


class PaintedCellModel:
    config = FakeConfig()

    def __init__(self):
        self.calls = []

    def detect(self, images):
        self.calls.append([image.shape for image in images])
        palette = np.array([BACKGROUND] + COLOURS, np.float32)
        results = []
        for image in images:
            nearest = np.argmin(((image[:, :, None, :].astype(np.float32) - palette) ** 2).sum(-1), axis=-1)
            rois, class_ids, scores, masks = [], [], [], []
            for k, colour in enumerate(COLOURS, start=1):
                mask = nearest == k
                if not mask.any():
                    continue
                ys, xs = np.nonzero(mask)
                rois.append([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])
                class_ids.append(PALETTE[colour][0])
                scores.append(PALETTE[colour][1])
                masks.append(mask)
            h, w = image.shape[:2]
            results.append({"rois": np.array(rois, np.int32).reshape(-1, 4),
                            "class_ids": np.array(class_ids, np.int32), "scores": np.array(scores, np.float32),
                            "masks": np.stack(masks, -1) if masks else np.zeros((h, w, 0), bool)})
        return results


def disc(shape, cy, cx, r):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def paint(shape, cells):
    """uint8 [H, W, 3] image and its bool [H, W] masks, one per (mask, palette index) in `cells`."""
    image = np.empty(shape + (3,), np.uint8)
    image[:] = BACKGROUND
    for mask, k in cells:
        image[mask] = COLOURS[k]
    return image


def box_of(mask):
    ys, xs = np.nonzero(mask)
    return [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]


def test_tile_starts_cover_the_length_with_the_overlap():
    # 100 px, tiles of 64 sharing >= 32: ceil((100 - 32) / 32) = 3 tiles, the last ending at 100
    assert tile_starts(100, 64, 32) == [0, 18, 36]
    assert tile_starts(64, 64, 32) == [0] and tile_starts(10, 64, 0) == [0]
    assert tile_starts(128, 64, 0) == [0, 64]
    for length, tile, overlap in [(1000, 192, 96), (193, 192, 0), (500, 64, 40)]:
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + tile == length
        assert all(a + tile - b >= overlap for a, b in zip(starts, starts[1:]))
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(100, 64, 64)


def test_a_cell_cut_by_a_tile_border_is_counted_once_whole():
    # tiles at x = 0, 18 and 36: the disc spans x 52..72, cut by the first tile's right edge (x = 64), whole in the
    # other two
    shape = (64, 100)
    cell = disc(shape, 30, 62, 10)
    model = PaintedCellModel()
    result = detect_tiled(model, paint(shape, [(cell, 0)]), overlap=32)
    assert model.calls == [[(64, 64, 3)] * 2, [(64, 64, 3)]]  # batches of BATCH_SIZE tiles
    assert result["rois"].tolist() == [box_of(cell)]
    assert result["class_ids"].tolist() == [1] and result["scores"].tolist() == [pytest.approx(0.9)]
    np.testing.assert_array_equal(result["masks"][:, :, 0], cell)


def test_cells_inside_one_tile_or_the_overlap_are_unchanged_and_single():
    shape = (100, 100)
    # tiles start at 0, 18 and 36 on both axes
    cells = [(disc(shape, 15, 15, 8), 0),  # whole in the top-left tile only, cut by the others' edges
             (disc(shape, 50, 50, 6), 1),  # whole in all nine tiles
             (disc(shape, 85, 20, 9), 2),  # whole in two bottom tiles
             (disc(shape, 20, 60, 7), 3)]  # cut by the top-left tile's right edge, whole in the two others
    result = detect_tiled(PaintedCellModel(), paint(shape, cells), overlap=32)
    assert len(result["class_ids"]) == 4
    assert result["scores"].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])  # sorted by score
    for i, (mask, k) in enumerate(cells):
        assert result["rois"][i].tolist() == box_of(mask)
        np.testing.assert_array_equal(result["masks"][:, :, i], mask)


def test_a_cell_larger_than_the_overlap_is_united_from_its_cut_views():
    # overlap 28: tiles at x = 0 and 36 share 36..64; a disc of radius 20 at x = 50 is whole in neither tile
    shape = (64, 100)
    cell = disc(shape, 32, 50, 20)
    result = detect_tiled(PaintedCellModel(), paint(shape, [(cell, 1)]), overlap=28)
    assert result["rois"].tolist() == [box_of(cell)]
    np.testing.assert_array_equal(result["masks"][:, :, 0], cell)


def test_neighbouring_cells_in_different_tiles_stay_apart():
    shape = (64, 100)
    left, right = disc(shape, 32, 30, 10), disc(shape, 32, 51, 10)  # 1 px gap, both in the overlap 36..64 partly
    result = detect_tiled(PaintedCellModel(), paint(shape, [(left, 0), (right, 1)]), overlap=32)
    assert sorted(map(tuple, result["rois"].tolist())) == sorted([tuple(box_of(left)), tuple(box_of(right))])


def test_no_detections_give_empty_arrays_of_the_right_types():
    result = detect_tiled(PaintedCellModel(), paint((90, 130), []))
    assert result["rois"].shape == (0, 4) and result["rois"].dtype == np.int32
    assert result["class_ids"].shape == (0,) and result["class_ids"].dtype == np.int32
    assert result["scores"].shape == (0,) and result["scores"].dtype == np.float32
    assert result["masks"].shape == (90, 130, 0) and result["masks"].dtype == bool
    assert merge_tiles([]) == []


def test_an_image_smaller_than_a_tile_is_padded_not_rescaled():
    shape = (40, 50)
    cell = disc(shape, 20, 38, 9)
    model = PaintedCellModel()
    result = detect_tiled(model, paint(shape, [(cell, 2)]))
    assert model.calls == [[(64, 64, 3)]]
    assert result["masks"].shape == (40, 50, 1)
    assert result["rois"].tolist() == [box_of(cell)]
    # one row of tiles (x = 0, 29, 57, 86) along the long side, padded across the short one: a cell cut by tile
    # edges still counts once
    shape = (40, 150)
    cell = disc(shape, 20, 64, 12)
    model = PaintedCellModel()
    result = detect_tiled(model, paint(shape, [(cell, 2)]), overlap=32)
    assert model.calls == [[(64, 64, 3)] * 2] * 2
    assert result["rois"].tolist() == [box_of(cell)] and result["masks"].shape == (40, 150, 1)


def test_a_cell_cut_by_the_image_edge_is_kept_as_seen():
    shape = (64, 150)
    cell = disc(shape, 5, 100, 12)  # cut by the top of the image, not by a tile
    result = detect_tiled(PaintedCellModel(), paint(shape, [(cell, 0)]), overlap=20)
    assert result["rois"].tolist() == [box_of(cell)]


def test_non_square_field_counts_each_cell_once():
    rng = np.random.default_rng(3)
    shape = (70, 260)
    cells, centres = [], []
    while len(cells) < 5:  # 5 discs of radius 6..10, 2 px apart at least, anywhere (cut by tiles or not)
        cy, cx, r = rng.uniform(10, 60), rng.uniform(10, 250), rng.uniform(6, 10)
        if all(math.dist((cy, cx), c[:2]) > r + c[2] + 2 for c in centres):
            centres.append((cy, cx, r))
            cells.append((disc(shape, cy, cx, r), len(cells)))
    result = detect_tiled(PaintedCellModel(), paint(shape, cells), overlap=24, full_masks=False)
    assert "masks" not in result and len(result["mask_crops"]) == 5
    by_colour = {PALETTE[COLOURS[k]]: (box_of(mask), mask) for mask, k in cells}
    for box, class_id, score, crop in zip(result["rois"], result["class_ids"], result["scores"],
                                          result["mask_crops"]):
        expected_box, mask = by_colour[(int(class_id), round(float(score), 2))]
        assert box.tolist() == expected_box
        np.testing.assert_array_equal(crop, mask[box[0]:box[2], box[1]:box[3]])


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_detect_at_scale_maps_boxes_back_within_a_pixel(factor):
    shape = (96, 130)
    cells = []
    for k, (y1, x1, y2, x2) in enumerate([(10, 12, 30, 40), (50, 70, 80, 98), (60, 2, 90, 24), (4, 100, 26, 128)]):
        mask = np.zeros(shape, bool)
        mask[y1:y2, x1:x2] = True
        cells.append((mask, k))
    model = PaintedCellModel()
    result = detect_at_scale(model, paint(shape, cells), factor, overlap=24)
    assert len({s for call in model.calls for s in call}) == 1  # every tile at the model's size
    assert result["masks"].shape == (96, 130, 4)
    order = np.argsort(-np.array([PALETTE[COLOURS[k]][1] for _, k in cells]))
    for i, j in enumerate(order):
        expected = np.array(box_of(cells[j][0]))
        assert np.abs(result["rois"][i] - expected).max() <= 1, (result["rois"][i], expected)
        overlap = (result["masks"][:, :, i] & cells[j][0]).sum() / (result["masks"][:, :, i] | cells[j][0]).sum()
        assert overlap > 0.9


def test_detect_at_scale_factor_one_is_detect_tiled():
    shape = (80, 80)
    image = paint(shape, [(disc(shape, 40, 40, 12), 0)])
    a, b = detect_at_scale(PaintedCellModel(), image, 1.0), detect_tiled(PaintedCellModel(), image)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


class ResizedModel(PaintedCellModel):
    """PaintedCellModel with detect_resized, which records its calls and finds one cell, given in the original's
    pixels: rows 10-30, columns 20-40."""

    def detect_resized(self, images, shapes):
        self.resized_calls = [(image.shape, tuple(shape)) for image, shape in zip(images, shapes)]
        out = []
        for shape in shapes:
            masks = np.zeros(tuple(shape[:2]) + (1,), bool)
            masks[10:30, 20:40] = True
            out.append({"rois": np.array([[10, 20, 30, 40]], np.int32), "class_ids": np.array([1], np.int32),
                        "scores": np.array([0.9], np.float32), "masks": masks})
        return out


@pytest.mark.parametrize("full_masks", [True, False])
def test_detect_at_scale_filling_one_input_lets_the_model_paste_at_the_images_resolution(full_masks):
    # 96 x 130 at 64 / 130 becomes 47 x 64: one input, filled. A model with detect_resized gets that image and the
    # original's shape, and its results come back as they are (in the original's pixels, not through 47 x 64).
    shape = (96, 130)
    mask = disc(shape, 48, 60, 20)
    model = ResizedModel()
    result = detect_at_scale(model, paint(shape, [(mask, 0)]), 64 / 130, full_masks=full_masks)
    assert model.resized_calls == [((47, 64, 3), (96, 130, 3))] and model.calls == []
    assert result["rois"].tolist() == [[10, 20, 30, 40]]
    if full_masks:
        assert result["masks"].shape == (96, 130, 1) and result["masks"].sum() == 400
    else:
        assert result["mask_crops"][0].shape == (20, 20) and result["mask_crops"][0].all()
    # an image that does not fill the input (padded to it) goes through detect_tiled
    detect_at_scale(model, paint(shape, [(mask, 0)]), 0.4)
    assert model.calls == [[(64, 64, 3)]]


def test_bad_arguments_are_refused():
    model, image = PaintedCellModel(), paint((80, 80), [])
    with pytest.raises(ValueError, match="overlap"):
        detect_tiled(model, image, overlap=64)
    with pytest.raises(ValueError, match="tile_size 32"):
        detect_tiled(model, image, tile_size=32)  # the model would enlarge a 32-px tile to 64
    with pytest.raises(ValueError, match="same_cell"):
        detect_tiled(model, image, same_cell=0.0)
    with pytest.raises(ValueError, match="image"):
        detect_tiled(model, image[:, :, 0])
    for factor in (0, -1.0, math.nan, math.inf, True):
        with pytest.raises(ValueError, match="factor"):
            detect_at_scale(model, image, factor)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras

    from mrcnn.model import MaskRCNN
    from tests.tiny_config import TinyConfig
    keras.utils.set_random_seed(1)  # random weights that detect something (DETECTION_MIN_CONFIDENCE 0)
    return MaskRCNN("inference", TinyConfig(), str(tmp_path_factory.mktemp("logs")))


def test_real_tiny_model_one_tile_equals_detect_and_a_field_gives_consistent_arrays(tiny_model):
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    direct, tiled = tiny_model.detect([tile])[0], detect_tiled(tiny_model, tile)
    order = np.argsort(-direct["scores"], kind="stable")
    np.testing.assert_array_equal(tiled["rois"], direct["rois"][order])
    np.testing.assert_array_equal(tiled["masks"], direct["masks"][:, :, order])
    field = rng.integers(0, 256, (100, 150, 3), dtype=np.uint8)
    result = detect_at_scale(tiny_model, field, 1.5)
    n = len(result["class_ids"])
    assert n > 0 and result["rois"].shape == (n, 4) and result["masks"].shape == (100, 150, n)
    assert (result["rois"][:, :2] >= 0).all() and (result["rois"][:, 2] <= 100).all()
    assert (result["rois"][:, 3] <= 150).all()
    for i, (y1, x1, y2, x2) in enumerate(result["rois"]):
        outside = result["masks"][:, :, i].copy()
        outside[y1:y2, x1:x2] = False
        assert not outside.any()


def test_real_tiny_model_detect_resized_maps_to_the_original(tiny_model):
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    same = tiny_model.detect_resized([small], [small.shape])[0]
    direct = tiny_model.detect([small])[0]
    for key in direct:
        np.testing.assert_array_equal(same[key], direct[key])
    # the same detections on an original twice as large: boxes doubled (within the rounding), masks at 128 x 96,
    # each covering about four times the pixels
    twice = tiny_model.detect_resized([small], [(128, 96, 3)])[0]
    assert twice["masks"].shape == (128, 96, len(direct["class_ids"])) and len(direct["class_ids"]) > 0
    np.testing.assert_array_equal(twice["class_ids"], direct["class_ids"])
    assert np.abs(twice["rois"] - 2 * direct["rois"]).max() <= 2
    areas, doubled = direct["masks"].sum(axis=(0, 1)), twice["masks"].sum(axis=(0, 1))
    big = areas >= 100  # large enough for the ratio to be near 4
    assert big.any() and np.all(np.abs(doubled[big] / areas[big] - 4) < 0.6)
    with pytest.raises(ValueError, match="2 images but 1 shapes"):
        tiny_model.detect_resized([small, small], [small.shape])
