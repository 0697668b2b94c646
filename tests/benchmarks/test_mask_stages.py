"""benchmarks/mask_stages.py: the mirrored mask head (flip2, flip4) and the grown box, checked by hand."""

import numpy as np
import pytest
from scipy import ndimage

from benchmarks.mask_stages import FLIPS, MIRRORS, grow, mirrored_soft

SIDE, MASK = 16, 5  # molded side, mask side


class SamplingHead:
    """A mask head whose class-1 channel is the molded image itself, sampled bilinearly on the head's grid: the box's
    first and last cells on its edges, normalized coordinates times (SIDE - 1) in pixels (utils.norm_boxes)."""

    def soft(self, image, normalized, inputs):
        molded = inputs[0][0, ..., 0]
        out = np.zeros((len(normalized), MASK, MASK, 2), np.float32)
        for n, (y1, x1, y2, x2) in enumerate(normalized):
            ys = (y1 + (y2 - y1) * np.arange(MASK) / (MASK - 1)) * (SIDE - 1)
            xs = (x1 + (x2 - x1) * np.arange(MASK) / (MASK - 1)) * (SIDE - 1)
            grid = np.meshgrid(ys, xs, indexing="ij")
            out[n, ..., 1] = ndimage.map_coordinates(molded, grid, order=1)
        return out


def inputs():
    molded = np.random.default_rng(0).random((1, SIDE, SIDE, 1)).astype(np.float32)  # no symmetry at all
    return molded, np.zeros((1, 20), np.float32), np.array([[0, 0, SIDE, SIDE]])


@pytest.mark.parametrize("mirror", MIRRORS)
def test_mirrored_heads_see_the_same_points(mirror):
    # Sampling the mirrored image on the mirrored box and mirroring back reads the very same pixels, so with a head
    # that only samples, every mirrored view equals the head's own mask, for each of several boxes.
    head, given = SamplingHead(), inputs()
    boxes = np.array([[0.1, 0.25, 0.8, 0.7], [0.0, 0.5, 0.4, 1.0]], np.float32)
    own = head.soft(None, boxes, given)
    mirrored = mirrored_soft(head, given, boxes, mirror)
    np.testing.assert_allclose(mirrored, own, atol=1e-6)
    assert mirrored.shape == (2, MASK, MASK, 2)


def test_flip_settings():
    assert FLIPS == {"flip2": ((False, True),), "flip4": ((False, True), (True, False), (True, True))}


def test_a_left_right_mirror_reads_the_other_side():
    # A single left-right view of a box on the image's left half, before mirroring back, reads the right half.
    head, given = SamplingHead(), inputs()
    molded = given[0]
    molded[...] = 0
    molded[0, :, SIDE // 2:] = 1  # right half bright
    box = np.array([0.0, 0.0, 1.0, 0.4], np.float32)  # the left 40 %
    assert head.soft(None, box[None], given)[0, ..., 1].max() == 0
    mirrored = np.array([0.0, 0.6, 1.0, 1.0], np.float32)
    flipped = (np.ascontiguousarray(molded[:, :, ::-1]),) + given[1:]
    np.testing.assert_allclose(head.soft(None, mirrored[None], flipped)[0, ..., 1], 0)
    np.testing.assert_allclose(mirrored_soft(head, given, box[None], (False, True))[0, ..., 1], 0)


def test_grow_about_the_centre_and_clip():
    np.testing.assert_allclose(grow([10, 20, 30, 60], 1.1, (100, 100)), [9, 18, 31, 62])
    np.testing.assert_allclose(grow([0, 0, 10, 10], 1.2, (10, 10)), [0, 0, 10, 10])
