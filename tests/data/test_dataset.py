"""Dataset (Matterport's API, mrcnn/data/dataset.py; importable as mrcnn.utils.Dataset): classes and images of
several sources, lookups, errors, and load_image through the hardened reader."""

import logging

import numpy as np
import pytest
from PIL import Image

from mrcnn import utils


def make_dataset():
    dataset = utils.Dataset()
    dataset.add_class("cells", 1, "neutrophil, segmented")
    dataset.add_class("cells", 2, "lymphocyte")
    dataset.add_class("cells", 2, "renamed duplicate")  # skipped silently, like Matterport
    dataset.add_class("coco", 12, "person")
    dataset.add_image("cells", "a.png", "/data/a.png", width=10, height=8)
    dataset.add_image("coco", 42, "/data/b.jpg")
    return dataset


def test_dataset_prepare_and_lookups():
    dataset = make_dataset()
    assert len(dataset.image_ids) == 0  # before prepare
    dataset.prepare()
    assert dataset.num_classes == 4
    np.testing.assert_array_equal(dataset.class_ids, [0, 1, 2, 3])
    assert dataset.class_names == ["BG", "neutrophil", "lymphocyte", "person"]
    assert dataset.num_images == 2
    np.testing.assert_array_equal(dataset.image_ids, [0, 1])
    assert dataset.class_from_source_map == {".0": 0, "cells.1": 1, "cells.2": 2, "coco.12": 3}
    assert dataset.image_from_source_map == {"cells.a.png": 0, "coco.42": 1}
    assert dataset.sources == ["", "cells", "coco"]
    assert dataset.source_class_ids == {"": [0], "cells": [0, 1, 2], "coco": [0, 3]}
    assert dataset.map_source_class_id("coco.12") == 3
    assert dataset.get_source_class_id(2, "cells") == 2
    assert dataset.get_source_class_id(3, "coco") == 12
    assert dataset.image_info[0]["width"] == 10 and dataset.image_info[0]["id"] == "a.png"
    assert dataset.source_image_link(1) == "/data/b.jpg"
    assert dataset.image_reference(0) == ""


def test_dataset_errors():
    dataset = make_dataset()
    with pytest.raises(ValueError, match="prepare"):
        dataset.map_source_class_id("coco.12")
    dataset.prepare()
    with pytest.raises(ValueError, match="coco.13"):
        dataset.map_source_class_id("coco.13")
    with pytest.raises(ValueError, match="cells"):
        dataset.get_source_class_id(3, "cells")
    with pytest.raises(ValueError, match="class_id"):
        dataset.get_source_class_id(9, "cells")
    with pytest.raises(ValueError, match="dot"):
        dataset.add_class("my.source", 1, "x")
    with pytest.raises(ValueError, match="image_id"):
        dataset.load_image(5)


def test_dataset_prepare_with_no_images():
    dataset = utils.Dataset()
    dataset.prepare()
    assert dataset.num_images == 0 and len(dataset.image_ids) == 0
    assert dataset.class_names == ["BG"] and dataset.num_classes == 1


def test_dataset_base_load_mask_warns_once(caplog):
    class NoMasks(utils.Dataset):
        pass

    dataset = NoMasks()
    with caplog.at_level(logging.WARNING, logger="mrcnn.utils"):
        mask, class_ids = dataset.load_mask(0)
        dataset.load_mask(1)
    assert mask.shape == (0, 0, 0)
    assert class_ids.shape == (0,) and class_ids.dtype == np.int32
    assert caplog.text.count("does not override load_mask") == 1


def load_one(path):
    dataset = utils.Dataset()
    dataset.add_image("test", 0, str(path))
    dataset.prepare()
    return dataset.load_image(0)


def test_load_image_rgb_grayscale_rgba(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(load_one(tmp_path / "rgb.png"), rgb)

    gray = np.arange(35, dtype=np.uint8).reshape(5, 7) * 7
    Image.fromarray(gray).save(tmp_path / "gray.png")
    image = load_one(tmp_path / "gray.png")
    assert image.shape == (5, 7, 3) and image.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(image[..., c], gray)

    rgba = np.concatenate([rgb, np.full((5, 7, 1), 17, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(load_one(tmp_path / "rgba.png"), rgb)

    palette = Image.fromarray(rgb).convert("P")
    palette.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(load_one(tmp_path / "palette.png"), np.array(palette.convert("RGB")))


def test_load_image_16_bit_is_scaled(tmp_path):
    values = np.array([[0, 257, 257 * 100], [65535, 32768, 1000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = load_one(tmp_path / "deep.png")
    assert image.dtype == np.uint8 and image.shape == (2, 3, 3)
    # high byte kept, as PIL does for 16-bit RGB: no wrap-around (65535 -> 255, not 255 -> 255, 256 -> 0)
    np.testing.assert_array_equal(image[..., 0], [[0, 1, 100], [255, 128, 3]])


def test_load_image_undecodable_and_missing(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match="broken.png"):
        load_one(bad)
    with pytest.raises(ValueError, match="missing.jpg"):
        load_one(tmp_path / "missing.jpg")


def test_load_image_16_bit_rgb_tiff_and_float_and_out_of_range(tmp_path):
    import skimage.io

    rgb16 = (np.arange(24).reshape(2, 4, 3) * 2000).astype(np.uint16)
    skimage.io.imsave(tmp_path / "rgb16.tif", rgb16, check_contrast=False)
    np.testing.assert_array_equal(load_one(tmp_path / "rgb16.tif"), (rgb16 >> 8).astype(np.uint8))

    Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)).save(tmp_path / "float.tif")
    np.testing.assert_array_equal(load_one(tmp_path / "float.tif")[..., 1], [[0, 128], [255, 64]])

    Image.fromarray(np.array([[0, 100000]], dtype=np.int32)).save(tmp_path / "wide.tif")
    with pytest.raises(ValueError, match="wide.tif"):
        load_one(tmp_path / "wide.tif")
