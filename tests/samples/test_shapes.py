"""Tests for samples/shapes/shapes.py: determinism, masks, occlusion and colours."""

import numpy as np
import pytest

from samples.shapes.shapes import SHAPE_CLASSES, ShapesDataset

HEIGHT, WIDTH = 64, 80


def _dataset(count=12, seed=7, height=HEIGHT, width=WIDTH):
    dataset = ShapesDataset()
    dataset.load_shapes(count, height, width, seed=seed)
    dataset.prepare()
    return dataset


def _all(dataset):
    return [(dataset.load_image(i), *dataset.load_mask(i)) for i in dataset.image_ids]


def test_same_seed_same_images_and_masks():
    first, second = _dataset(seed=3), _dataset(seed=3)
    for (img_a, mask_a, ids_a), (img_b, mask_b, ids_b) in zip(_all(first), _all(second)):
        np.testing.assert_array_equal(img_a, img_b)
        np.testing.assert_array_equal(mask_a, mask_b)
        np.testing.assert_array_equal(ids_a, ids_b)
    # Regenerating from the stored specification gives the same arrays every call.
    np.testing.assert_array_equal(first.load_image(0), first.load_image(0))
    assert first.image_reference(0) == second.image_reference(0)


def test_different_seeds_differ():
    a, b = _dataset(seed=1), _dataset(seed=2)
    refs_a = [a.image_reference(i) for i in a.image_ids]
    assert refs_a != [b.image_reference(i) for i in b.image_ids]
    assert any(not np.array_equal(a.load_image(i), b.load_image(i)) for i in a.image_ids)


def test_dataset_registration():
    dataset = _dataset(count=5)
    assert dataset.num_images == 5
    assert dataset.class_names == ["BG", "square", "circle", "triangle"]
    for i in dataset.image_ids:
        info = dataset.image_info[i]
        assert info["source"] == "shapes" and info["id"] == i
        assert (info["height"], info["width"]) == (HEIGHT, WIDTH)
        assert 1 <= len(info["shapes"]) <= 4
    # A second call appends with fresh ids and does not duplicate the classes.
    dataset.load_shapes(2, HEIGHT, WIDTH, seed=0)
    dataset.prepare()
    assert dataset.num_images == 7 and dataset.num_classes == 4
    assert [info["id"] for info in dataset.image_info] == list(range(7))


def test_masks_classes_and_occlusion():
    dataset = _dataset(count=30, seed=11)
    multi_shape_seen = False
    for image, masks, class_ids in _all(dataset):
        n = masks.shape[-1]
        assert image.dtype == np.uint8 and image.shape == (HEIGHT, WIDTH, 3)
        assert masks.dtype == bool and masks.shape[:2] == (HEIGHT, WIDTH)
        assert class_ids.dtype == np.int32 and class_ids.shape == (n,)
        assert n >= 1
        assert set(class_ids.tolist()) <= {1, 2, 3}
        assert np.all(masks.reshape(-1, n).sum(axis=0) > 0)  # no empty instance
        assert masks.sum(axis=-1).max() <= 1  # no pixel in two masks
        multi_shape_seen |= masks.shape[-1] > 1
    assert multi_shape_seen  # the check above was exercised on multi-shape images


def test_image_under_mask_has_shape_colour_and_background_elsewhere():
    dataset = _dataset(count=20, seed=5)
    for i in dataset.image_ids:
        info = dataset.image_info[i]
        image, (masks, class_ids) = dataset.load_image(i), dataset.load_mask(i)
        # Masks keep the drawing order of the specifications (minus hidden shapes): match each
        # mask to the next specification of its class whose full drawing contains it.
        specs = iter(info["shapes"])
        for k in range(masks.shape[-1]):
            spec = next(s for s in specs
                        if SHAPE_CLASSES[s[0]] == class_ids[k] and _covers(s, masks[:, :, k]))
            assert np.all(image[masks[:, :, k]] == np.array(spec[1], dtype=np.uint8))
        background = ~masks.any(axis=-1)
        assert np.all(image[background] == np.array(info["bg_color"], dtype=np.uint8))


def _covers(spec, mask):
    """True when the mask lies inside the unoccluded drawing of this specification."""
    full = ShapesDataset.draw_shape(np.zeros(mask.shape, np.uint8), spec[0], spec[2], 1)
    return bool(np.all(full[mask] == 1))


def test_fully_occluded_shape_is_dropped():
    dataset = ShapesDataset()
    dataset.add_class("shapes", 1, "square")
    dataset.add_image("shapes", image_id=0, path=None, height=32, width=32, bg_color=(0, 0, 0),
                      shapes=[("circle", (10, 20, 30), (16, 16, 4)),
                              ("square", (200, 100, 50), (16, 16, 10))])
    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (32, 32, 1)
    np.testing.assert_array_equal(class_ids, [1])
    np.testing.assert_array_equal(np.argwhere(masks[:, :, 0]).min(0), [6, 6])
    np.testing.assert_array_equal(np.argwhere(masks[:, :, 0]).max(0), [26, 26])
    image = dataset.load_image(0)
    assert np.all(image[masks[:, :, 0]] == [200, 100, 50])


def test_partial_occlusion_hand_made():
    dataset = ShapesDataset()
    dataset.add_image("shapes", image_id=0, path=None, height=20, width=20, bg_color=(1, 2, 3),
                      shapes=[("square", (9, 9, 9), (5, 5, 3)),
                              ("square", (7, 7, 7), (9, 9, 3))])
    masks, class_ids = dataset.load_mask(0)
    np.testing.assert_array_equal(class_ids, [1, 1])
    # cv2 squares include both corners: (x - s .. x + s) inclusive = 7 pixels a side.
    assert masks[:, :, 1].sum() == 49
    assert masks[:, :, 0].sum() == 49 - 9  # pixels 6..8 x 6..8 lie under the later square
    assert not masks[6:9, 6:9, 0].any() and masks[6:9, 6:9, 1].all()
    assert masks[2:9, 2:9, 0].sum() == 40


def test_bad_arguments():
    dataset = ShapesDataset()
    with pytest.raises(ValueError, match="height and width must be >= 16"):
        dataset.load_shapes(1, 8, 64)
    with pytest.raises(ValueError, match="count must be >= 0"):
        dataset.load_shapes(-1, 64, 64)
    with pytest.raises(TypeError, match="height must be an int"):
        dataset.load_shapes(1, 64.0, 64)
    with pytest.raises(ValueError, match="shape must be one of"):
        ShapesDataset.draw_shape(np.zeros([4, 4], np.uint8), "hexagon", (1, 1, 1), 1)
