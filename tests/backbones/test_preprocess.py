"""ImagePreprocess: molded images become exactly what keras.applications' preprocess_input makes of the raw image."""

import keras
import numpy as np
import pytest

from mrcnn.backbones.preprocess import ImagePreprocess, add_preprocess, find_preprocess

MEAN_PIXEL = np.array([123.7, 116.8, 103.9], np.float32)


@pytest.fixture
def raw():
    return np.random.default_rng(0).integers(0, 256, (2, 8, 6, 3)).astype(np.float32)


@pytest.mark.parametrize("mode,reference", [
    ("caffe", keras.applications.resnet.preprocess_input),
    ("caffe", keras.applications.vgg19.preprocess_input),
    ("torch", keras.applications.densenet.preprocess_input),
    ("tf", lambda x: keras.applications.imagenet_utils.preprocess_input(x, mode="tf")),
])
def test_molded_image_becomes_keras_input(mode, reference, raw):
    molded = raw - MEAN_PIXEL
    out = np.asarray(ImagePreprocess(mode, MEAN_PIXEL)(molded))
    np.testing.assert_allclose(out, reference(raw.copy()), rtol=1e-5, atol=1e-4)


def test_caffe_by_hand(raw):
    out = np.asarray(ImagePreprocess("caffe", MEAN_PIXEL)(raw - MEAN_PIXEL))
    expected = raw[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    assert ImagePreprocess("caffe", MEAN_PIXEL).bgr and not ImagePreprocess("torch", MEAN_PIXEL).bgr


def test_config_round_trip_and_serialization(raw, tmp_path):
    layer = ImagePreprocess("torch", MEAN_PIXEL, name="backbone_preprocess")
    again = ImagePreprocess.from_config(layer.get_config())
    assert again.mode == "torch" and again.mean_pixel == pytest.approx(MEAN_PIXEL.tolist())
    image = keras.Input((None, None, 3))
    model = keras.Model(image, layer(image))
    path = str(tmp_path / "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict_on_batch(raw), model.predict_on_batch(raw), rtol=1e-6)
    assert find_preprocess(reloaded).mode == "torch"
    assert find_preprocess(keras.Model(image, image)) is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        ImagePreprocess("bgr", MEAN_PIXEL)
    with pytest.raises(ValueError, match="mean_pixel"):
        ImagePreprocess("caffe", [1.0, 2.0])
    image = keras.Input((8, 8, 3))
    assert add_preprocess(image, None, None) is image
    with pytest.raises(ValueError, match="needs mean_pixel"):
        add_preprocess(image, "caffe", None, "vgg19")
