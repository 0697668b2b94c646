import numpy as np
import pytest

from mrcnn.data.image_meta import parse_image_meta
from mrcnn.data.loader import check_dataset, load_image_gt


def test_load_image_gt_shapes_and_meta(config, toy_dataset):
    image, meta, class_ids, bbox, mask = load_image_gt(toy_dataset, config, 2)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert meta.shape == (config.IMAGE_META_SIZE,) and meta.dtype == np.float32
    np.testing.assert_array_equal(class_ids, [1, 1, 2])
    assert class_ids.dtype == np.int32 and bbox.dtype == np.int32
    np.testing.assert_array_equal(bbox[:2], [[40, 4, 60, 20], [10, 10, 20, 20]])
    assert mask.shape == (14, 14, 3) and mask.dtype == bool
    assert mask[:, :, 0].all()  # a rectangle fills its own box
    parsed = parse_image_meta(meta)
    assert parsed["image_id"] == 2
    np.testing.assert_array_equal(parsed["original_image_shape"], [64, 64, 3])
    np.testing.assert_array_equal(parsed["window"], [0, 0, 64, 64])
    np.testing.assert_array_equal(parsed["active_class_ids"], [1, 1, 1])


def test_load_image_gt_resizes_and_full_masks(config, make_toy_dataset):
    config.USE_MINI_MASK = False
    dataset = make_toy_dataset([[(1, 4, 8, 12, 16)]], height=32, width=32)
    image, meta, class_ids, bbox, mask = load_image_gt(dataset, config, 0)
    assert image.shape == (64, 64, 3)
    np.testing.assert_array_equal(bbox, [[8, 16, 24, 32]])  # scale 2
    assert mask.shape == (64, 64, 1) and mask[:, :, 0].sum() == 16 * 16
    assert parse_image_meta(meta)["scale"] == pytest.approx(2.0)


def test_crop_mode_is_reproducible_per_rng(config, make_toy_dataset):
    config.IMAGE_RESIZE_MODE = "crop"
    config.IMAGE_MIN_DIM = 64
    config.IMAGE_MAX_DIM = 128
    dataset = make_toy_dataset([[(1, 4, 4, 40, 40), (2, 50, 70, 90, 110)]], height=96, width=128)
    results = [load_image_gt(dataset, config, 0, rng=np.random.default_rng(s)) for s in (1, 1, 2, 3, 4)]
    assert results[0][0].shape == (64, 64, 3)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][3], results[1][3])
    assert len({r[0].tobytes() for r in results}) > 1


def test_instances_emptied_by_augmentation_are_dropped(config, toy_dataset):
    def erase_first(image, mask, rng):
        mask = mask.copy()
        mask[:, :, 0] = False
        return image, mask

    _, _, class_ids, bbox, mask = load_image_gt(toy_dataset, config, 0, augmentation=erase_first)
    np.testing.assert_array_equal(class_ids, [2])
    assert bbox.shape == (1, 4) and mask.shape == (14, 14, 1)


def test_image_without_instances(config, make_toy_dataset):
    dataset = make_toy_dataset([[]], mask_fn=lambda i, m, c: (np.empty([0, 0, 0]), np.empty([0], np.int32)))
    image, meta, class_ids, bbox, mask = load_image_gt(dataset, config, 0)
    assert class_ids.shape == (0,) and bbox.shape == (0, 4) and mask.shape == (14, 14, 0)


def test_crowd_ids_are_allowed(config, make_toy_dataset):
    dataset = make_toy_dataset([[(-1, 4, 4, 20, 20), (2, 30, 30, 50, 50)]])
    np.testing.assert_array_equal(load_image_gt(dataset, config, 0)[2], [-1, 2])


BAD_MASKS = {
    "count mismatch": (lambda i, m, c: (m, c[:1]), r"2 masks .* but 1 class ids"),
    "wrong size": (lambda i, m, c: (m[:32], c), r"height x width 32 x 64 but the image is 64 x 64"),
    "class too large": (lambda i, m, c: (m, np.array([1, 3])), r"class ids \[3\] are invalid.*1\.\.2"),
    "class zero": (lambda i, m, c: (m, np.array([0, 1])), r"class ids \[0\] are invalid"),
    "crowd too large": (lambda i, m, c: (m, np.array([-7, 1])), r"class ids \[-7\] are invalid"),
    "non-numeric": (lambda i, m, c: (m.astype(object), c), r"masks of dtype object"),
    "string class ids": (lambda i, m, c: (m, np.array(["a", "b"])), r"class_ids of shape"),
    "2-d mask": (lambda i, m, c: (m[:, :, 0], c), r"shape \(64, 64\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_MASKS))
def test_bad_masks_raise_naming_the_image(config, case, make_toy_dataset):
    mask_fn, message = BAD_MASKS[case]
    dataset = make_toy_dataset([[(1, 4, 4, 20, 20), (2, 30, 30, 50, 50)]], mask_fn=mask_fn)
    with pytest.raises(ValueError, match=message) as info:
        load_image_gt(dataset, config, 0)
    assert "toy://0" in str(info.value)


@pytest.mark.parametrize("image_fn, shape", [
    (lambda i, image: image[:, :, 0], r"\(64, 64\)"),
    (lambda i, image: np.concatenate([image, image[:, :, :1]], axis=-1), r"\(64, 64, 4\)"),
])
def test_bad_channel_count_raises(config, image_fn, shape, make_toy_dataset):
    dataset = make_toy_dataset([[(1, 4, 4, 20, 20)]], image_fn=image_fn)
    with pytest.raises(ValueError, match=shape + r".*IMAGE_CHANNEL_COUNT = 3") as info:
        load_image_gt(dataset, config, 0)
    assert "toy://0" in str(info.value)


def test_error_names_the_path_without_a_reference(config, make_toy_dataset):
    dataset = make_toy_dataset([], mask_fn=lambda i, m, c: (m, c[:0]), prepare=False)
    dataset.add_toy_image([(1, 4, 4, 20, 20)], path="/data/cells/a.png")
    dataset.image_reference = lambda image_id: ""
    dataset.prepare()
    with pytest.raises(ValueError, match="/data/cells/a.png"):
        load_image_gt(dataset, config, 0)


def test_check_dataset(config, toy_dataset, make_toy_dataset):
    check_dataset(toy_dataset, config)
    with pytest.raises(ValueError, match="not prepared.*prepare"):
        check_dataset(make_toy_dataset([[]], prepare=False), config)
    with pytest.raises(ValueError, match="val dataset .* has no images"):
        check_dataset(make_toy_dataset([]), config, name="val")
    other = type(config)()
    other.NUM_CLASSES = 5
    with pytest.raises(ValueError, match=r"has 3 classes.*NUM_CLASSES = 5"):
        check_dataset(toy_dataset, other)
    bad = make_toy_dataset([[(1, 4, 4, 20, 20)]], mask_fn=lambda i, m, c: (m, np.array([9])))
    with pytest.raises(ValueError, match=r"toy://0.*class ids \[9\]"):
        check_dataset(bad, config)
