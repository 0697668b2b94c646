"""Tests of mrcnn/data/annotations/masks.py: the one decoder of COCO segmentations (pycocotools), every form of
segmentation, pixel centres on an edge, and rasterize's guards."""

import numpy as np
import pycocotools.mask
import pytest
from pycocotools.coco import COCO

from mrcnn.data.annotations import Instance, decode_rles, rasterize, segmentation_rle


def _mask(segmentation, height, width):
    return decode_rles([segmentation_rle(segmentation, height, width)], height, width)[..., 0]


def test_centres_on_an_edge_and_vertices_between_grid_points():
    """Hand-computed, pixel (r, c) with centre (c + 0.5, r + 0.5). pycocotools moves each vertex to its grid of
    1/5 pixel (5x -> floor(5x + 0.5)) and sets the pixels whose centre is inside; the centres that lie on a slanted
    edge below are out. The exact centre-in-polygon fill the readers used before (skimage) kept the vertices where
    they were and set the centres on an edge: 10, 16 and 15 pixels for the first three."""
    rows, cols = np.indices((6, 6))
    # x + y < 4: centres with c + r <= 2 (6 pixels); the 4 with c + r == 3 lie on the hypotenuse: out
    triangle = _mask([[0, 0, 4, 0, 0, 4]], 6, 6)
    np.testing.assert_array_equal(triangle, cols + rows <= 2)
    # corners on pixel centres move to 0.6 and 3.6: centres 1.5, 2.5 and 3.5 are inside, 0.5 is not (3 x 3)
    square = _mask([[0.5, 0.5, 3.5, 0.5, 3.5, 3.5, 0.5, 3.5]], 6, 6)
    np.testing.assert_array_equal(square, (rows >= 1) & (rows <= 3) & (cols >= 1) & (cols <= 3))
    # y < x left of x = 5: the diagonal's centres (r == c) are out; 0 + 1 + 2 + 3 + 4 = 10 pixels
    upper = _mask([[0, 0, 5, 0, 5, 5]], 6, 6)
    np.testing.assert_array_equal(upper, (rows < cols) & (cols <= 4))
    # integer corners, no centre on an edge: x 2..12, y 3..8 -> rows 3..7, columns 2..11 (both fills agree)
    rect = _mask([[2, 3, 12, 3, 12, 8, 2, 8]], 30, 40)
    assert rect.sum() == 50 and rect[3:8, 2:12].all()


def test_every_form_of_a_segmentation_gives_the_same_mask():
    flat = [[1.0, 1.0, 9.5, 1.0, 9.5, 6.25, 1.0, 6.25], [12, 2, 15, 2, 15, 5]]
    expected = _mask(flat, 10, 16)
    rows, cols = np.indices((10, 16))
    # the rectangle: 9.5 -> 9.6 and 6.25 -> 6.2 on the 1/5 grid, so columns 1..9, rows 1..5; the triangle
    # 2 < y < x - 10, x < 15: (x, y) = (13.5, 2.5), (14.5, 2.5), (14.5, 3.5) (centres on y = x - 10 are out)
    np.testing.assert_array_equal(expected, ((rows >= 1) & (rows <= 5) & (cols >= 1) & (cols <= 9))
                                  | ((rows >= 2) & (cols <= 14) & (rows + 0.5 < cols + 0.5 - 10)))
    assert expected.sum() == 45 + 3
    as_arrays = [np.reshape(p, (-1, 2)) for p in flat]
    np.testing.assert_array_equal(_mask(as_arrays, 10, 16), expected)
    compressed = pycocotools.mask.encode(np.asfortranarray(expected.astype(np.uint8)))
    np.testing.assert_array_equal(_mask(compressed, 10, 16), expected)  # counts as bytes
    np.testing.assert_array_equal(_mask(dict(compressed, counts=compressed["counts"].decode()), 10, 16), expected)
    column_major = expected.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], column_major, [1 - column_major[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    np.testing.assert_array_equal(_mask({"size": [10, 16], "counts": counts}, 10, 16), expected)


def test_the_decoder_is_pycocotools_own():
    """Random polygons and an RLE give the masks of pycocotools' COCO.annToMask (what COCOeval scores)."""
    rng = np.random.default_rng(0)
    annotations = []
    for k in range(20):
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 9))))
        radii = rng.uniform(2, 12, angles.size)
        polygon = np.stack([25 + radii * np.cos(angles), 20 + radii * np.sin(angles)], axis=1)
        annotations.append({"id": k + 1, "image_id": 1, "category_id": 1, "segmentation": [polygon.ravel().tolist()]})
    coco = COCO()
    coco.dataset = {"images": [{"id": 1, "height": 40, "width": 50}], "annotations": annotations,
                    "categories": [{"id": 1, "name": "cell"}]}
    coco.createIndex()
    for annotation in annotations:
        np.testing.assert_array_equal(_mask(annotation["segmentation"], 40, 50),
                                      coco.annToMask(annotation).astype(bool))


def test_decode_rles_of_no_mask_and_errors():
    assert decode_rles([], 4, 5).shape == (4, 5, 0)
    with pytest.raises(ValueError, match="annotation 7: empty polygon list"):
        segmentation_rle([], 4, 5, "annotation 7")
    with pytest.raises(ValueError, match="'segmentation' must be polygons or an RLE dict"):
        segmentation_rle({"size": [4, 5]}, 4, 5)
    with pytest.raises(ValueError, match="got str"):
        segmentation_rle("1 2 3", 4, 5)


def test_rasterize_empty_instance_and_rle_guard():
    assert not rasterize(Instance("platelet"), 4, 5).any()
    bad = Instance("platelet", rle={"size": [4, 5], "counts": [3, 30]})
    with pytest.raises(ValueError, match="do not sum to 20"):
        rasterize(bad, 4, 5)
    good = Instance("platelet", rle={"size": [4, 5], "counts": [6, 3, 11]}, source="annotations[3]")
    mask = rasterize(good, 4, 5)
    assert mask.sum() == 3 and mask[2:4, 1].all() and mask[0, 2]  # column-major: pixels 6, 7, 8
    with pytest.raises(ValueError, match=r"annotations\[3\]: RLE size \[4, 5\] is not"):
        rasterize(good, 5, 4)
