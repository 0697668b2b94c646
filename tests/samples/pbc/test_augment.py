"""SmearAugmentation: masks follow the geometry, the colour matrix equals the four steps, bad settings refused."""

import numpy as np
import pytest

from mrcnn.data.augment import apply_augmentation
from samples.pbc.augment import SmearAugmentation, _zoom

GEOMETRY_ONLY = dict(scale=0, channel_gain=0, brightness=0, contrast=0, saturation=0)


def _marked(height=16, width=16):
    """An image whose pixels are all different (value = index) and a mask marking one pixel."""
    image = np.arange(height * width * 3, dtype=np.int64).reshape(height, width, 3) % 251
    image = image.astype(np.uint8)
    mask = np.zeros((height, width, 1), bool)
    mask[2, 5, 0] = True
    return image, mask


def test_geometry_draws_all_eight_symmetries_and_masks_follow():
    image, mask = _marked()
    augment = SmearAugmentation(**GEOMETRY_ONLY)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        out, out_mask = augment(image, mask, rng)
        assert out.shape == image.shape and out.dtype == np.uint8 and out_mask.shape == mask.shape
        assert sorted(out.ravel()) == sorted(image.ravel())  # a permutation of the pixels
        y, x = np.argwhere(out_mask[:, :, 0])[0]
        np.testing.assert_array_equal(out[y, x], image[2, 5])  # the marked pixel moved with its mask
        seen.add(out.tobytes())
    assert len(seen) == 8


def test_non_square_images_keep_their_shape():
    image, mask = _marked(12, 20)
    augment = SmearAugmentation(**GEOMETRY_ONLY)
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(100):
        out, out_mask = augment(image, mask, rng)
        assert out.shape == (12, 20, 3) and out_mask.shape == (12, 20, 1)
        seen.add(out.tobytes())
    assert len(seen) == 4  # identity, 180 degrees, and the two flips


def test_colour_is_the_four_steps_in_one_matrix():
    image = np.random.default_rng(2).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    gains, brightness, contrast, saturation = np.array([1.04, 0.97, 1.01]), 1.06, 0.92, 1.09
    # Step by step, as the module docstring states them.
    x = image.astype(np.float64) * gains * brightness
    mean = x.mean()
    x = (x - mean) * contrast + mean
    grey = x.mean(axis=-1, keepdims=True)
    expected = np.clip(np.rint((x - grey) * saturation + grey), 0, 255)

    class Draws:  # hands out the chosen factors in the order _colour draws them
        values = [gains - 1, brightness - 1, contrast - 1, saturation - 1]

        def uniform(self, low, high, size=None):
            return self.values.pop(0)

    out = SmearAugmentation()._colour(image, Draws())
    assert np.abs(out.astype(np.float64) - expected).max() <= 1  # rounding of the 3x4 matrix's float32 product


def test_zoom_in_crops_and_zoom_out_reflects_with_empty_mask_border():
    image = np.zeros((20, 20, 3), np.uint8)
    image[:, :10] = 200
    mask = np.ones((20, 20, 1), bool)
    rng = np.random.default_rng(3)
    out, out_mask = _zoom(image, mask, 2.0, rng)  # a 10x10 window enlarged to 20x20
    assert out.shape == (20, 20, 3) and out_mask.all()
    out, out_mask = _zoom(image, mask, 0.5, rng)  # shrunk to 10x10, somewhere in the frame
    assert out_mask.sum() == 100
    ys, xs = np.nonzero(out_mask[:, :, 0])
    assert ys.max() - ys.min() == 9 and xs.max() - xs.min() == 9
    assert (out[~out_mask[:, :, 0]] != 0).any()  # the border is the image's reflection, not black
    empty = np.zeros((20, 20, 0), bool)
    for zoom in (0.8, 1.25):
        assert _zoom(image, empty, zoom, rng)[1].shape == (20, 20, 0)


def test_same_rng_same_result_and_works_through_apply_augmentation():
    image = np.random.default_rng(4).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    mask = np.zeros((32, 32, 2), bool)
    mask[4:12, 4:12, 0] = mask[20:28, 16:30, 1] = True
    augment = SmearAugmentation(scale=0.3)
    first = apply_augmentation(augment, image, mask, np.random.default_rng(5))
    second = apply_augmentation(augment, image, mask, np.random.default_rng(5))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[1].shape == mask.shape and first[1].any(axis=(0, 1)).all()


@pytest.mark.parametrize("field, value", [("scale", -0.1), ("brightness", 1.0), ("contrast", float("nan")),
                                          ("saturation", "0.1"), ("channel_gain", True)])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        SmearAugmentation(**{field: value})


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="same H, W"):
        SmearAugmentation()(np.zeros((8, 8, 3), np.uint8), np.zeros((4, 8, 1), bool), np.random.default_rng())


def test_stain_jitter_is_the_identity_without_jitter_and_moves_the_stains():
    from samples.pbc.augment import _jitter_stains
    rng = np.random.default_rng(0)
    image = rng.integers(20, 250, (24, 24, 3), dtype=np.uint8)
    assert np.array_equal(_jitter_stains(image, np.ones(3), np.zeros(3)), image)
    darker = _jitter_stains(image, np.array([1.3, 1.3, 1.0]), np.zeros(3))  # more of both dyes: less light through
    assert darker.astype(int).sum() < image.astype(int).sum()


def test_labs_preset_changes_colours_and_keeps_shapes():
    from samples.pbc.augment import augmentation
    image, mask = _marked(32, 32)
    out, out_mask = augmentation("labs")(image, mask, np.random.default_rng(3))
    assert out.shape == image.shape and out.dtype == np.uint8 and out_mask.shape == mask.shape
    with pytest.raises(ValueError, match="valid presets are"):
        augmentation("gpu")
    with pytest.raises(ValueError, match="blur"):
        SmearAugmentation(blur=(2.0, 1.0))


def test_grey_turns_some_images_grey_and_keeps_the_others():
    from mrcnn.data.colour import grey_rgb
    image, mask = _marked(16, 16)
    never = SmearAugmentation(**GEOMETRY_ONLY)
    always = SmearAugmentation(**GEOMETRY_ONLY, grey=1.0)
    for seed in range(4):
        kept = never(image, mask, np.random.default_rng(seed))[0]
        greyed = always(image, mask, np.random.default_rng(seed))[0]
        assert not np.array_equal(kept[..., 0], kept[..., 1])
        np.testing.assert_array_equal(greyed, grey_rgb(kept))  # the same geometry, then grey
    half = SmearAugmentation(**GEOMETRY_ONLY, grey=0.5)
    grey = [np.array_equal(*half(image, mask, np.random.default_rng(seed))[0][..., :2].transpose(2, 0, 1))
            for seed in range(200)]
    assert 70 < sum(grey) < 130
    with pytest.raises(ValueError, match="grey"):
        SmearAugmentation(grey=1.5)


def test_grey_preset_is_pbc_with_half_the_images_grey_and_offered_by_the_command_lines():
    from samples.pbc.augment import PRESETS, augmentation
    import argparse
    from samples.pbc import pretrain, train
    grey, pbc = augmentation("grey"), augmentation("pbc")
    assert grey.grey == 0.5 and pbc.grey == 0.0
    assert repr(grey).replace("grey=0.5", "grey=0.0") == repr(pbc)  # nothing else differs
    for module in (pretrain, train):
        sub = argparse.ArgumentParser().add_subparsers()
        module.add_parser(sub)
        parser = next(iter(sub.choices.values()))
        choices = next(a.choices for a in parser._actions if a.dest == "augmentation")
        assert sorted(choices) == sorted(PRESETS)
