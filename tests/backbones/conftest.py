import keras
import pytest

from mrcnn import backbones

MEAN_PIXEL = [123.7, 116.8, 103.9]


@pytest.fixture(scope="session")
def backbone_model():
    """`get(name) -> (keras.Model(image, [C2..C5]), [C2..C5])` for a 64x64 input, built once per session."""
    cache = {}

    def get(name):
        if name not in cache:
            image = keras.Input((64, 64, 3))
            features = backbones.get_backbone(name).features(image, mean_pixel=MEAN_PIXEL)
            cache[name] = (keras.Model(image, features), features)
        return cache[name]
    return get
