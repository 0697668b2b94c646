"""Pasting soft masks where the mask head looked (mrcnn/data/paste.py), on cases computed by hand."""

import numpy as np
import pytest

from mrcnn.data.paste import axis_weights, paste_masks

# A 10 x 10 image moulded at scale 1 into a 10 x 10 input: pixel y's centre is molded y, normalized y / 9.
SAME = dict(window=(0, 0, 10, 10), molded_shape=(10, 10), original_shape=(10, 10))


def test_cells_on_pixel_centres_paste_exactly():
    # Box normalized (2/9 .. 6/9): 5 cells on molded pixels 2, 3, 4, 5, 6; each pixel reads exactly one cell.
    rng = np.random.default_rng(0)
    mask = (rng.random((5, 5)) > 0.5).astype(np.float32)
    box = np.array([[2, 2, 6, 6]]) / 9
    full = paste_masks(mask[None], box, **SAME)[..., 0]
    np.testing.assert_array_equal(full[2:7, 2:7], mask > 0)
    full[2:7, 2:7] = False
    assert not full.any()


def test_a_full_mask_fills_its_box_exactly():
    # The image at half scale: original pixel y has molded centre (y + 0.5) / 2 - 0.5. The box's molded pixels
    # 2..6 (centres 1.5..6.5 at their edges) hold original pixels 4..13: y = 3 (centre 1.25) reads nothing, y = 4
    # (1.75, before cell 0's centre) reads cell 0, y = 13 (6.25) cell 4, y = 14 (6.75) nothing.
    full = paste_masks(np.ones((1, 5, 5)), np.array([[2, 2, 6, 6]]) / 9, window=(0, 0, 10, 10),
                       molded_shape=(10, 10), original_shape=(20, 20))[..., 0]
    rows, cols = np.nonzero(full)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 13, 4, 13)
    assert full.sum() == 100


def test_window_offset_and_bilinear_reading():
    # A 4 x 2 image padded to 8 x 2 (window rows 2..6): pixel y has molded centre y + 2. Box rows 2/7 .. 5/7 puts
    # cells 0..3 on molded 2..5, i.e. image rows 0..3; a mask whose rows are 0, 0.4, 0.6, 1 pastes rows 2 and 3 at
    # threshold 0.5, and rows 1, 2, 3 at threshold 0.4. Its one column spans the width.
    mask = np.array([[0.0], [0.4], [0.6], [1.0]])
    box = np.array([[2 / 7, 0, 5 / 7, 1]])
    common = dict(window=(2, 0, 6, 2), molded_shape=(8, 2), original_shape=(4, 2))
    assert paste_masks(mask[None], box, **common)[:, 0, 0].tolist() == [False, False, True, True]
    assert paste_masks(mask[None], box, threshold=0.4, **common)[:, 0, 0].tolist() == [False, True, True, True]


def test_axis_weights_by_hand():
    # Scale 1, cells 0..2 on pixels 1..3 of 5: pixel 0 reads cell -1 (nothing), 4 reads cell 3 (nothing).
    first, weights = axis_weights(1 / 4, 3 / 4, 0, 5, 5, 5, 3)
    assert first == 1
    np.testing.assert_allclose(weights, np.eye(3))
    # A box outside the image: no pixel reads it.
    first, weights = axis_weights(2.0, 3.0, 0, 5, 5, 5, 3)
    assert weights.shape == (0, 3)


def test_empty_and_degenerate_boxes():
    assert paste_masks(np.zeros((0, 28, 28)), np.zeros((0, 4)), **SAME).shape == (10, 10, 0)
    flat = paste_masks(np.ones((2, 4, 4)), np.array([[0.5, 0.1, 0.5, 0.4], [0.1, 0.3, 0.4, 0.3]]), **SAME)
    assert not flat.any()  # zero height, zero width


def test_masks_and_boxes_must_agree():
    with pytest.raises(ValueError, match=r"masks must be \[N, h, w\] with N = len\(boxes\) = 2"):
        paste_masks(np.ones((3, 4, 4)), np.zeros((2, 4)), **SAME)


def test_matches_the_shrink_free_reading_of_a_disc():
    # A disc sampled on the head's grid pastes back as the same disc (IoU > 0.97) at 3x the molded resolution,
    # where Matterport's resize onto the rounded box lost about half a cell on every side.
    from mrcnn import utils
    side, cells = 60, 28
    yy, xx = np.mgrid[0:3 * side, 0:3 * side]
    truth = (yy - 89.5) ** 2 + (xx - 89.5) ** 2 <= 60 ** 2  # a disc in the original image, 3x the molded one
    # its box in molded pixels (pixel centres): original 29.5 .. 149.5 -> molded (y + 0.5) / 3 - 0.5
    lo, hi = (29.5 + 0.5) / 3 - 0.5, (149.5 + 0.5) / 3 - 0.5
    grid = lo + np.arange(cells) * (hi - lo) / (cells - 1)  # molded centres of the cells
    gy, gx = np.meshgrid((grid + 0.5) * 3 - 0.5, (grid + 0.5) * 3 - 0.5, indexing="ij")
    soft = np.clip(60.5 - np.hypot(gy - 89.5, gx - 89.5), 0, 1)  # 1 inside, 0 outside, linear across the edge
    box = np.array([[lo, lo, hi, hi]]) / (side - 1)
    pasted = paste_masks(soft[None], box, window=(0, 0, side, side), molded_shape=(side, side),
                         original_shape=(3 * side, 3 * side))[..., 0]
    assert utils.compute_overlaps_masks(pasted[..., None], truth[..., None])[0, 0] > 0.97
