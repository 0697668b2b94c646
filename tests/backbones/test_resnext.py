"""ResNeXt-50: the grouped convolution equals keras' Conv2D(groups=...), and the backbone's shape and size."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.backbones.resnext import GroupedConv2D, build_resnext50


@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "valid"), (2, "same")])
def test_grouped_conv_equals_keras_grouped_conv(strides, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 8, 8)).astype(np.float32)
    ours = GroupedConv2D(12, 3, groups=4, strides=strides, padding=padding, use_bias=True)
    keras_conv = keras.layers.Conv2D(12, 3, strides=strides, padding=padding, groups=4)
    keras_conv.build(x.shape)
    ours.build(x.shape)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in keras_conv.weights] == [(3, 3, 2, 12),
                                                                                                      (12,)]
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in keras_conv.weights]
    keras_conv.set_weights(weights)
    ours.set_weights(weights)
    expected = np.asarray(keras_conv(x))
    got = np.asarray(ours(x))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert ours.compute_output_shape(x.shape) == expected.shape


def test_grouped_conv_by_hand_group_independence():
    # Output group g depends on input group g only: perturbing input group 1 changes output group 1 alone.
    layer = GroupedConv2D(4, 1, groups=2)
    x = np.ones((1, 2, 2, 4), np.float32)
    a = np.asarray(layer(x))
    x2 = x.copy()
    x2[..., 2:] += 1.0
    b = np.asarray(layer(x2))
    np.testing.assert_array_equal(a[..., :2], b[..., :2])
    assert not np.allclose(a[..., 2:], b[..., 2:])


def test_grouped_conv_gradients_and_config():
    layer = GroupedConv2D(8, 3, groups=4, strides=2, padding="same", name="g")
    x = tf.random.normal((1, 8, 8, 8))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grad = tape.gradient(loss, layer.kernel)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0
    again = GroupedConv2D.from_config(layer.get_config())
    assert (again.filters, again.kernel_size, again.groups, again.strides, again.padding) == (8, (3, 3), 4, (2, 2),
                                                                                             "same")


def test_grouped_conv_bad_arguments():
    with pytest.raises(ValueError, match="multiple of groups"):
        GroupedConv2D(10, 3, groups=4)
    with pytest.raises(ValueError, match="input channels"):
        GroupedConv2D(8, 3, groups=4)(keras.Input((8, 8, 6)))
    with pytest.raises(ValueError, match="padding"):
        GroupedConv2D(8, 3, groups=4, padding="full")


def test_resnext50_size_and_strides():
    image = keras.Input((64, 64, 3))
    features = build_resnext50(image)
    model = keras.Model(image, features)
    assert [tuple(f.shape[1:]) for f in features] == [(16, 16, 256), (8, 8, 512), (4, 4, 1024), (2, 2, 2048)]
    # torchvision's resnext50_32x4d: 25,028,904 parameters, minus its 2,049,000-parameter classifier, plus the
    # 68,224 batch-norm moving statistics that Keras counts and torchvision keeps as buffers.
    assert model.count_params() == 25_028_904 - 2_049_000 + 68_224
    assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert model.get_layer("conv3_block1_2_conv").kernel.shape == (3, 3, 256 // 32, 256)


def test_small_resnext_weights_and_model_round_trip(tmp_path):
    image = keras.Input((32, 32, 3))
    model = keras.Model(image, build_resnext50(image, blocks=(1, 1, 1, 1), widths=(8, 8, 16, 16), groups=4))
    x = np.random.default_rng(2).standard_normal((1, 32, 32, 3)).astype(np.float32)
    expected = [np.asarray(c) for c in model(x)]
    path = str(tmp_path / "r.weights.h5")
    model.save_weights(path)
    image2 = keras.Input((32, 32, 3))
    other = keras.Model(image2, build_resnext50(image2, blocks=(1, 1, 1, 1), widths=(8, 8, 16, 16), groups=4))
    other.load_weights(path)
    for a, b in zip(other(x), expected):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-5)
    saved = str(tmp_path / "r.keras")
    model.save(saved)
    reloaded = keras.saving.load_model(saved, safe_mode=True)
    for a, b in zip(reloaded(x), expected):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-5)
