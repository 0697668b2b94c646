import sys

import numpy as np
import pytest

from mrcnn.data.augment import apply_augmentation, import_imgaug

imgaug = import_imgaug()
iaa = imgaug.augmenters
A = pytest.importorskip("albumentations")


def _sample():
    image = np.full((32, 32, 3), 100, np.uint8)
    image[4:12, 2:10] = 200
    mask = np.zeros((32, 32, 2), bool)
    mask[4:12, 2:10, 0] = True
    mask[20:30, 20:24, 1] = True
    return image, mask


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_import_imgaug_restores_sctypes_only_when_missing(monkeypatch):
    assert hasattr(np, "sctypes") and np.float32 in np.sctypes["float"]
    assert hasattr(imgaug.augmenters, "Fliplr")
    sentinel = {"float": [np.float64]}
    monkeypatch.setattr(np, "sctypes", sentinel, raising=False)
    import_imgaug()
    assert np.sctypes is sentinel


def test_import_imgaug_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "imgaug", None)
    with pytest.raises(ImportError, match="pip install imgaug"):
        import_imgaug()


@pytest.mark.parametrize("make", [lambda: iaa.Fliplr(1.0), lambda: A.HorizontalFlip(p=1.0),
                                  lambda: A.Compose([A.HorizontalFlip(p=1.0)])])
def test_geometric_moves_masks_with_the_image(make):
    image, mask = _sample()
    out_image, out_mask = apply_augmentation(make(), image, mask, _rng())
    np.testing.assert_array_equal(out_image, image[:, ::-1])
    np.testing.assert_array_equal(out_mask, mask[:, ::-1])
    assert out_mask.dtype == bool


@pytest.mark.parametrize("make", [
    lambda: iaa.Multiply(0.5), lambda: iaa.GaussianBlur(sigma=2.0),
    lambda: A.RandomBrightnessContrast(brightness_limit=(0.3, 0.3), contrast_limit=(0.0, 0.0), p=1.0),
])
def test_photometric_leaves_masks_alone(make):
    image, mask = _sample()
    out_image, out_mask = apply_augmentation(make(), image, mask, _rng())
    assert not np.array_equal(out_image, image)
    np.testing.assert_array_equal(out_mask, mask)


def test_imgaug_sequence_flips_masks_but_does_not_darken_them():
    image, mask = _sample()
    out_image, out_mask = apply_augmentation(iaa.Sequential([iaa.Fliplr(1.0), iaa.Multiply(0.5)]), image, mask,
                                             _rng())
    np.testing.assert_array_equal(out_image, (image[:, ::-1] * 0.5).astype(np.uint8))
    np.testing.assert_array_equal(out_mask, mask[:, ::-1])


@pytest.mark.parametrize("make", [lambda: iaa.Affine(rotate=(-40, 40)),
                                  lambda: A.Affine(rotate=(-40, 40), p=1.0)])
def test_seeded_by_rng_and_augmenter_untouched(make):
    augmentation = make()
    image, mask = _sample()
    first = apply_augmentation(augmentation, image, mask, _rng(3))
    apply_augmentation(augmentation, image, mask, _rng(4))
    again = apply_augmentation(augmentation, image, mask, _rng(3))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    outputs = {apply_augmentation(augmentation, image, mask, _rng(s))[0].tobytes() for s in range(5)}
    assert len(outputs) > 1
    # Rotation moves image and masks together: the rotated bright rectangle and its mask coincide (up to the
    # interpolated border pixels).
    bright, moved = first[0][:, :, 0] > 150, first[1][:, :, 0]
    assert moved.sum() > 40 and np.sum(bright & moved) / np.sum(bright | moved) > 0.8


@pytest.mark.parametrize("make", [lambda: iaa.Fliplr(1.0), lambda: A.HorizontalFlip(p=1.0)])
def test_no_instances(make):
    image, _ = _sample()
    out_image, out_mask = apply_augmentation(make(), image, np.zeros((32, 32, 0), bool), _rng())
    assert out_mask.shape == (32, 32, 0)
    np.testing.assert_array_equal(out_image, image[:, ::-1])


def test_callable_and_shape_checks():
    image, mask = _sample()

    def swap(image, mask, rng):
        return image[::-1], mask[::-1]

    out_image, out_mask = apply_augmentation(swap, image, mask, _rng())
    np.testing.assert_array_equal(out_mask, mask[::-1])
    with pytest.raises(ValueError, match="changed the shapes"):
        apply_augmentation(lambda i, m, r: (i[:16], m[:16]), image, mask, _rng())
    with pytest.raises(ValueError, match="changed the shapes"):
        apply_augmentation(iaa.Resize(16), image, mask, _rng())
    with pytest.raises(TypeError, match="augmentation must be"):
        apply_augmentation(42, image, mask, _rng())
    assert apply_augmentation(None, image, mask, _rng())[0] is image
