"""mrcnn/data/colour.py: LAB statistics, matching them to a reference, and grey images."""

import cv2
import numpy as np
import pytest

from mrcnn.data.colour import (BackgroundBalancer, ColourNormalizer, background_colour, balance_background, grey_rgb,
                               lab_statistics, match_lab_statistics)


def _lab(image):
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)


def test_lab_statistics_is_the_mean_of_each_images_statistics():
    rng = np.random.default_rng(0)
    images = [rng.integers(60, 200, (12, 10, 3), dtype=np.uint8) for _ in range(3)]
    mean, std = lab_statistics(images)
    np.testing.assert_allclose(mean, np.mean([_lab(i).mean(0) for i in images], axis=0))
    np.testing.assert_allclose(std, np.mean([_lab(i).std(0) for i in images], axis=0))
    with pytest.raises(ValueError, match="at least one image"):
        lab_statistics([])


def test_matched_image_has_the_reference_statistics():
    rng = np.random.default_rng(1)
    image = rng.integers(80, 180, (40, 40, 3), dtype=np.uint8)
    mean, std = np.array([150.0, 135.0, 125.0]), np.array([20.0, 6.0, 9.0])
    out = match_lab_statistics(image, mean, std)
    assert out.shape == image.shape and out.dtype == np.uint8
    lab = _lab(out)  # within the rounding of two 8-bit colour conversions
    np.testing.assert_allclose(lab.mean(0), mean, atol=2.0)
    np.testing.assert_allclose(lab.std(0), std, rtol=0.15)


def test_a_blank_image_is_shifted_not_stretched_and_bad_input_refused():
    blank = np.full((8, 8, 3), 128, np.uint8)
    out = match_lab_statistics(blank, [200.0, 128.0, 128.0], [30.0, 5.0, 5.0])
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 1  # still one colour, now lighter
    assert int(out[0, 0].mean()) > 128
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\]"):
        match_lab_statistics(np.zeros((8, 8), np.uint8), [0, 0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="3 positive standard deviations"):
        ColourNormalizer([200, 128, 128], [10, 0, 5])


def test_grey_rgb_is_the_luma_in_every_channel():
    pixel = np.array([[[200, 100, 50]]], np.uint8)
    assert grey_rgb(pixel).tolist() == [[[124, 124, 124]]]  # 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2
    image = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = grey_rgb(image)
    assert out.shape == image.shape and np.array_equal(out[..., 0], out[..., 2])
    np.testing.assert_array_equal(grey_rgb(out), out)  # grey stays grey
    with pytest.raises(ValueError, match="uint8"):
        grey_rgb(image.astype(np.float32))


def _smear(background, cell, size=20):
    """A [size, size] image of `background` with a dark square `cell` filling its middle half."""
    image = np.empty((size, size, 3), np.uint8)
    image[:] = background
    image[size // 4:3 * size // 4, size // 4:3 * size // 4] = cell
    return image


def test_background_colour_is_the_median_of_the_brightest_quarter():
    image = _smear((240, 230, 120), (90, 40, 100))  # 75 % background, 25 % cell
    assert background_colour(image).tolist() == [240.0, 230.0, 120.0]
    image[0, :5] = (255, 255, 255)  # a few bright specks do not move the median
    assert background_colour(image).tolist() == [240.0, 230.0, 120.0]


def test_balance_background_takes_the_background_to_the_target_and_scales_the_cell_alike():
    image = _smear((240, 230, 120), (90, 40, 100))
    out = balance_background(image, (250, 230, 200))
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert out[0, 0].tolist() == [250, 230, 200]
    # the cell: gains 250/240, 1, 200/120 -> 93.75, 40, 166.7, rounded
    assert out[10, 10].tolist() == [94, 40, 167]
    np.testing.assert_array_equal(BackgroundBalancer((250, 230, 200))(image), out)


def test_balance_background_clips_and_leaves_a_black_background_channel_and_refuses_bad_input():
    image = _smear((200, 0, 100), (250, 0, 10))
    out = balance_background(image, (250, 230, 200))
    assert out[0, 0].tolist() == [250, 0, 200]  # no gain for a channel that is black in the background
    assert out[10, 10].tolist() == [255, 0, 20]  # 250 * 1.25 clipped to 255
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\]"):
        balance_background(np.zeros((4, 4), np.uint8), (1, 1, 1))
    with pytest.raises(ValueError, match=r"3 values in \(0, 255\]"):
        BackgroundBalancer((250, 0, 200))
