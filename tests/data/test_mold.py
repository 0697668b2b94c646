import numpy as np
import pytest

from mrcnn.data.image_meta import parse_image_meta
from mrcnn.data.mold import mold_image, mold_inputs, unmold_detections, unmold_image


def test_mold_unmold_round_trip(config):
    image = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    molded = mold_image(image, config.MEAN_PIXEL)
    assert molded.dtype == np.float32
    np.testing.assert_allclose(molded[0, 0], image[0, 0] - config.MEAN_PIXEL, rtol=1e-6)
    restored = unmold_image(molded, config.MEAN_PIXEL)
    assert restored.dtype == np.uint8
    np.testing.assert_array_equal(restored, image)


def test_mold_inputs_shapes_and_meta(config):
    images = [np.full((32, 48, 3), 100, np.uint8), np.full((64, 64, 3), 50, np.uint8)]
    molded, metas, windows = mold_inputs(images, config)
    assert molded.shape == (2, 64, 64, 3) and molded.dtype == np.float32
    assert metas.shape == (2, config.IMAGE_META_SIZE) and metas.dtype == np.float32
    # 32x48: min_dim asks x2 (64x96), max_dim caps the long side at 64: scale 4/3 -> 43x64, 10 px pad on top.
    np.testing.assert_array_equal(windows, [[10, 0, 53, 64], [0, 0, 64, 64]])
    meta = parse_image_meta(metas)
    np.testing.assert_array_equal(meta["original_image_shape"], [[32, 48, 3], [64, 64, 3]])
    np.testing.assert_array_equal(meta["image_shape"], [[64, 64, 3], [64, 64, 3]])
    np.testing.assert_allclose(meta["scale"], [4 / 3, 1], rtol=1e-6)
    np.testing.assert_array_equal(meta["window"], windows)
    np.testing.assert_array_equal(meta["active_class_ids"], np.zeros((2, 3)))
    np.testing.assert_allclose(molded[0, 0, 0], -config.MEAN_PIXEL, rtol=1e-6)  # padding
    np.testing.assert_allclose(molded[0, 30, 30], 100 - config.MEAN_PIXEL, rtol=1e-6)


def test_mold_inputs_wrong_channels(config):
    images = [np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 4), np.uint8)]
    with pytest.raises(ValueError, match=r"images\[1\].*\(64, 64, 4\).*IMAGE_CHANNEL_COUNT = 3"):
        mold_inputs(images, config)


def test_mold_inputs_crop_mode_uses_square(config):
    config.IMAGE_RESIZE_MODE = "crop"
    config.IMAGE_MAX_DIM = 128
    molded, metas, windows = mold_inputs([np.zeros((64, 32, 3), np.uint8)], config)
    assert molded.shape == (1, 128, 128, 3)
    np.testing.assert_array_equal(windows, [[0, 32, 128, 96]])


def test_mold_inputs_different_sizes_raise(config):
    config.IMAGE_RESIZE_MODE = "pad64"
    images = [np.zeros((64, 64, 3), np.uint8), np.zeros((64, 128, 3), np.uint8)]
    with pytest.raises(ValueError, match="different sizes"):
        mold_inputs(images, config)


def _unmold_case():
    # Original 32x64 moulds to 64x64 at scale 1 with 16 px of padding on top: window (16, 0, 48, 64).
    image_shape, original_shape, window = (64, 64, 3), (32, 64, 3), np.array([16, 0, 48, 64])
    detections = np.zeros((4, 6), np.float32)
    detections[0] = [20 / 63, 8 / 63, 35 / 63, 39 / 63, 1, 0.9]  # pixels (20, 8, 36, 40) of the molded image
    detections[1] = [30 / 63, 30 / 63, 29 / 63, 40 / 63, 2, 0.8]  # y2 = y1 in pixels: zero area, dropped
    detections[3] = [0.1, 0.1, 0.5, 0.5, 1, 0.7]  # after the zero padding row: ignored
    masks = np.zeros((4, 7, 7, 3), np.float32)
    masks[0, :, :, 1] = 1.0  # class 1 mask of detection 0 is full; its class 2 mask stays empty
    masks[3] = 1.0
    return detections, masks, original_shape, image_shape, window


def test_unmold_detections_hand_case():
    boxes, class_ids, scores, masks = unmold_detections(*_unmold_case())
    np.testing.assert_array_equal(boxes, [[4, 8, 20, 40]])
    assert boxes.dtype == np.int32 and class_ids.dtype == np.int32 and scores.dtype == np.float32
    np.testing.assert_array_equal(class_ids, [1])
    np.testing.assert_allclose(scores, [0.9])
    assert masks.shape == (32, 64, 1) and masks.dtype == bool
    expected = np.zeros((32, 64), bool)
    expected[4:20, 8:40] = True
    np.testing.assert_array_equal(masks[:, :, 0], expected)


def test_unmold_detections_empty():
    detections, masks, original_shape, image_shape, window = _unmold_case()
    boxes, class_ids, scores, full = unmold_detections(np.zeros_like(detections), masks, original_shape,
                                                       image_shape, window)
    assert boxes.shape == (0, 4) and class_ids.shape == (0,) and scores.shape == (0,)
    assert full.shape == (32, 64, 0) and full.dtype == bool
