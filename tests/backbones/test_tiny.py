"""The tiny, small and small_gn backbones: shapes, normalization layers and names."""

import keras
import numpy as np
import pytest

from mrcnn.backbones.tiny import GROUPS, build_small, build_small_gn, build_tiny


def _model(build, side=64):
    image = keras.Input((side, side, 3))
    return keras.Model(image, build(image))


def test_small_gn_is_small_with_group_norm():
    small, small_gn = _model(build_small), _model(build_small_gn)
    assert [tuple(o.shape) for o in small.outputs] == [tuple(o.shape) for o in small_gn.outputs] == [
        (None, 16, 16, 32), (None, 8, 8, 64), (None, 4, 4, 128), (None, 2, 2, 256)]
    kinds = {type(layer).__name__ for layer in small_gn.layers}
    assert "GroupNormalization" in kinds and "BatchNormalization" not in kinds
    assert all(layer.groups == GROUPS for layer in small_gn.layers if isinstance(layer, keras.layers.GroupNormalization))
    # the same convolutions; each norm layer keeps gamma and beta, and batch norm also its two moving statistics
    norms = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in small.layers)
    channels = sum(layer.gamma.shape[0] for layer in small.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert norms == 9 and small.count_params() - small_gn.count_params() == 2 * channels
    assert all(layer.name.startswith("small_gn_") for layer in small_gn.layers[1:])


def test_group_norm_treats_each_image_alone():
    """Unlike batch norm in training, one image's features do not depend on the other images of its batch."""
    model = _model(build_small_gn, side=32)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    together = model(images, training=True)[0]
    alone = model(images[:1], training=True)[0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(together[0]), keras.ops.convert_to_numpy(alone[0]),
                               atol=1e-5)


def test_bad_norm_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"norm='layer'; valid: \('batch', 'group'\)"):
        _model(lambda image: build_tiny(image, norm="layer"))
