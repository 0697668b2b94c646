"""benchmarks/drawn_cells.py: the page's mask for a drawn cell scored against the annotation, by hand."""


import numpy as np
import pytest

from benchmarks.drawn_cells import drawn_box, score_cells
from mrcnn.app.drawn import ellipse_mask


class BoxHead:
    """masks_for_boxes: the whole box ("box") or its middle 4 x 4 pixels ("nucleus")."""

    reports = ()

    def __init__(self, shape):
        self.shape = shape

    def masks_for_boxes(self, image, boxes, class_ids):
        (y1, x1, y2, x2), = boxes
        mask = np.zeros(image.shape[:2] + (1,), bool)
        if self.shape == "box":
            mask[y1:y2, x1:x2] = True
        else:
            cy, cx = (y1 + y2) // 2, (x1 + x2) // 2
            mask[cy - 2:cy + 2, cx - 2:cx + 2] = True
        return mask


def test_drawn_boxes_tight_and_grown():
    truth = np.zeros((40, 40), bool)
    truth[10:30, 12:32] = True
    assert drawn_box(truth, 1.0) == (10, 12, 30, 32)
    assert drawn_box(truth, 1.1) == (9, 11, 31, 33)  # 22 x 22 about the same centre


@pytest.mark.parametrize("shape, kept", [("box", True), ("nucleus", False)])
def test_the_page_keeps_the_head_when_it_fills_the_box(shape, kept):
    truth = ellipse_mask(40, 40, (10, 10, 30, 30))  # a round cell: the ellipse of its own box is exact
    image = np.zeros((40, 40, 3), np.uint8)
    rows = score_cells(BoxHead(shape), [(image, [(truth, 1)])])
    tight = rows[0]
    assert (tight["box"], tight["kept"], tight["ellipse"]) == ("tight", kept, 1.0)
    expected_head = truth.sum() / 400 if shape == "box" else 16 / truth.sum()
    assert tight["head"] == pytest.approx(expected_head)
    assert tight["page"] == (tight["head"] if kept else 1.0)
    assert [r["box"] for r in rows] == ["tight", "1.1x"]
