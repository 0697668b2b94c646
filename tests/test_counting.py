"""One cell, one count (mrcnn/counting.py): hand-made masks and the threshold property."""

import numpy as np
import pytest

from mrcnn.counting import SAME_CELL_IOU, cell_counts, same_cell


def _disc(shape, cy, cx, r):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _square(shape, y1, x1, y2, x2):
    mask = np.zeros(shape, bool)
    mask[y1:y2, x1:x2] = True
    return mask


def test_three_classes_on_one_cell_are_one_cell_with_two_alternatives():
    shape = (40, 40)
    # the monocyte of the issue: ig 0.72, monocyte 0.69, neutrophil 0.56 on nearly the same pixels
    masks = np.stack([_disc(shape, 20, 20, 10), _disc(shape, 20, 21, 10), _disc(shape, 21, 20, 9)], axis=-1)
    owner = same_cell(masks, [0.72, 0.69, 0.56])
    assert owner.tolist() == [-1, 0, 0]
    assert cell_counts([3, 5, 6], owner, num_classes=9) == [0, 0, 1, 0, 0, 0, 0, 0]


def test_iou_by_hand_at_the_cut_off():
    shape = (10, 20)
    a = _square(shape, 0, 0, 10, 10)              # 100 px
    b = _square(shape, 0, 4, 10, 14)              # 100 px, 60 shared: IoU 60 / 140 = 0.43 -> two cells
    c = _square(shape, 0, 2, 10, 12)              # 80 shared with a: IoU 80 / 120 = 0.67 -> one cell
    assert same_cell(np.stack([a, b], -1), [0.9, 0.8]).tolist() == [-1, -1]
    assert same_cell(np.stack([a, c], -1), [0.9, 0.8]).tolist() == [-1, 0]
    assert same_cell(np.stack([a, b], -1), [0.9, 0.8], iou=0.4).tolist() == [-1, 0]
    assert SAME_CELL_IOU == 0.5


def test_touching_cells_stay_two_and_order_is_by_score_not_position():
    shape = (30, 50)
    left, right = _disc(shape, 15, 14, 10), _disc(shape, 15, 34, 10)  # touching at one column
    assert same_cell(np.stack([left, right], -1), [0.8, 0.9]).tolist() == [-1, -1]
    inner = _disc(shape, 15, 14, 9)
    # the higher score is the cell, wherever it sits in the list
    assert same_cell(np.stack([inner, left], -1), [0.6, 0.9]).tolist() == [1, -1]


def test_an_alternative_joins_only_a_cell_not_another_alternative():
    shape = (10, 30)
    a, b, c = _square(shape, 0, 0, 10, 10), _square(shape, 0, 3, 10, 13), _square(shape, 0, 6, 10, 16)
    # b overlaps a (IoU 70 / 130 = 0.54): b is a's alternative; c overlaps b (0.54) but a only 40 / 160 = 0.25
    assert same_cell(np.stack([a, b, c], -1), [0.9, 0.8, 0.7]).tolist() == [-1, 0, -1]


def test_decisions_hold_at_every_threshold():
    """The cells at a threshold t are the cells among the detections scoring >= t (the page's slider)."""
    rng = np.random.default_rng(0)
    shape = (64, 64)
    masks = np.stack([_disc(shape, *rng.integers(10, 54, 2), rng.integers(4, 12)) for _ in range(25)], -1)
    scores = rng.uniform(0, 1, 25)
    owner = same_cell(masks, scores)
    assert (owner >= 0).any() and (owner < 0).sum() > 1
    assert all(scores[owner[j]] > scores[j] for j in np.flatnonzero(owner >= 0))
    for t in (0.2, 0.5, 0.8):
        keep = np.flatnonzero(scores >= t)
        alone = same_cell(masks[..., keep], scores[keep])
        assert np.array_equal(alone < 0, owner[keep] < 0)


def test_no_detections_empty_masks_and_bad_input():
    assert same_cell(np.zeros((8, 8, 0), bool), []).tolist() == []
    assert cell_counts([], [], num_classes=3) == [0, 0]
    empty = np.zeros((8, 8, 2), bool)
    assert same_cell(empty, [0.9, 0.8]).tolist() == [-1, -1]  # nothing shared: two (empty) cells
    with pytest.raises(ValueError, match=r"masks \(8, 8, 2\) and scores \(3,\) disagree"):
        same_cell(empty, [0.9, 0.8, 0.7])
    with pytest.raises(ValueError, match="must be"):
        same_cell(np.zeros((8, 8), bool), [0.9])
