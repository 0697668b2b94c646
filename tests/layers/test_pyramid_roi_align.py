import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.data.image_meta import compose_image_meta
from mrcnn.layers.roi_align import PyramidROIAlign

NUM_CLASSES = 3
CHANNELS = 2


def meta(side):
    return compose_image_meta(0, (side, side, 3), (side, side, 3), (0, 0, side, side), 1.0, [1] * NUM_CLASSES)


def pyramid(batch, side):
    """P2..P5 for an image of `side` pixels; the value of every cell is 10 * level + image index."""
    maps = []
    for level in range(2, 6):
        s = side // 2 ** level
        value = 10.0 * level + np.arange(batch, dtype=np.float32)[:, None, None, None]
        maps.append(np.broadcast_to(value, (batch, s, s, CHANNELS)).astype(np.float32))
    return maps


def square(pixels, side, offset=0.05):
    s = pixels / side
    return [offset, offset, offset + s, offset + s]


def test_levels_from_meta_and_order_preserved():
    side = 512
    boxes = np.zeros((2, 4, 4), np.float32)
    # Level 4 + round(log2(box side in pixels / 224)): 224 px -> 4, 112 -> 3, 448 -> 5, 56 -> 2.
    boxes[0] = [square(224, side), square(112, side), square(448, side), square(56, side)]
    boxes[1] = [square(448, side), square(224, side), [0, 0, 0, 0], square(112, side)]
    metas = np.stack([meta(side), meta(side)])
    out = PyramidROIAlign((3, 3))([tf.constant(boxes), tf.constant(metas)] + pyramid(2, side)).numpy()
    assert out.shape == (2, 4, 3, 3, CHANNELS)
    expected = np.array([[40, 30, 50, 20], [51, 41, 21, 31]], np.float32)
    np.testing.assert_allclose(out, np.broadcast_to(expected[:, :, None, None, None], out.shape), atol=1e-5)


def test_image_area_comes_from_meta():
    # A box of 0.4375 of the image side is 112 px (level 3) in a 256 image and 224 px (level 4) in a 512 image.
    box = np.array([[[0.1, 0.1, 0.5375, 0.5375]]], np.float32)
    for side, value in ((256, 30.0), (512, 40.0)):
        out = PyramidROIAlign((2, 2))([tf.constant(box), tf.constant(meta(side)[None])] + pyramid(1, 512))
        np.testing.assert_allclose(out.numpy(), value)


def test_bad_pool_shape():
    with pytest.raises(ValueError, match="pool_shape"):
        PyramidROIAlign((7,))


def test_functional_model_dynamic_batch_save_and_load(tmp_path):
    side = 128
    boxes_in = keras.Input((5, 4))
    meta_in = keras.Input((len(meta(side)),))
    maps_in = [keras.Input((side // 2 ** level, side // 2 ** level, CHANNELS)) for level in range(2, 6)]
    layer = PyramidROIAlign((7, 7), name="roi_align_classifier")
    out = layer([boxes_in, meta_in] + maps_in)
    assert tuple(out.shape) == (None, 5, 7, 7, CHANNELS)
    model = keras.Model([boxes_in, meta_in] + maps_in, out)

    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 0.5, size=(2, 5, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(0.05, 0.5, size=(2, 5, 2))], -1).astype(np.float32)
    boxes[1, 4] = 0  # padding
    maps = [rng.normal(size=m.shape).astype(np.float32) for m in pyramid(2, side)]
    data = [boxes, np.stack([meta(side)] * 2)] + maps
    expected = model.predict(data, verbose=0)
    assert expected.shape == (2, 5, 7, 7, CHANNELS) and np.all(np.isfinite(expected))

    path = tmp_path / "roi_align.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"PyramidROIAlign": PyramidROIAlign}, safe_mode=True)
    assert loaded.get_layer("roi_align_classifier").get_config() == layer.get_config()
    assert not loaded.get_layer("roi_align_classifier").supports_jit
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, atol=1e-6)
