import numpy as np
import keras
import pytest

from mrcnn.heads.mask import fpn_mask_head


def _head_model(rois=3):
    pooled = keras.Input(shape=(rois, 6, 6, 8), name="pooled")
    return keras.Model(pooled, fpn_mask_head(pooled, num_classes=4))


def test_shapes_names_and_weight_shapes():
    model = _head_model()
    expected = ["pooled", "mrcnn_mask_merge_rois", "mrcnn_mask_deconv", "mrcnn_mask"]
    for i in range(1, 5):
        expected += [f"mrcnn_mask_conv{i}", f"mrcnn_mask_bn{i}", f"mrcnn_mask_relu{i}"]
    assert sorted(layer.name for layer in model.layers) == sorted(expected)
    assert model.get_layer("mrcnn_mask_conv1").kernel.shape == (3, 3, 8, 256)
    assert model.get_layer("mrcnn_mask_conv4").kernel.shape == (3, 3, 256, 256)
    deconv = model.get_layer("mrcnn_mask_deconv")
    assert type(deconv) is keras.layers.Conv2DTranspose and deconv.strides == (2, 2)
    assert deconv.kernel.shape == (2, 2, 256, 256)
    assert model.get_layer("mrcnn_mask").kernel.shape == (1, 1, 256, 4)
    # Matterport's layout under Matterport's name: the layer holding the weights outputs [B, R, 2 S, 2 S, NC].
    assert tuple(model.get_layer("mrcnn_mask").output.shape) == (None, 3, 12, 12, 4)
    for i in range(1, 5):
        assert type(model.get_layer(f"mrcnn_mask_bn{i}")) is keras.layers.BatchNormalization
    pooled = np.random.default_rng(0).normal(size=(2, 3, 6, 6, 8)).astype("float32")
    masks = model.predict(pooled, verbose=0)
    assert masks.shape == (2, 3, 12, 12, 4)
    assert np.all((masks > 0) & (masks < 1))


def test_rois_are_independent_and_unknown_roi_count():
    model = _head_model(rois=None)
    pooled = np.random.default_rng(1).normal(size=(1, 4, 6, 6, 8)).astype("float32")
    masks = model.predict(pooled, verbose=0)
    assert masks.shape == (1, 4, 12, 12, 4)
    single = model.predict(pooled[:, 2:3], verbose=0)
    np.testing.assert_allclose(single[0, 0], masks[0, 2], rtol=1e-4, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        fpn_mask_head(keras.Input(shape=(3, 6, 6, 8)), num_classes=0)
    with pytest.raises(ValueError, match="pooled"):
        fpn_mask_head(keras.Input(shape=(6, 6, 8)), num_classes=4)
