"""FusedBatchNormalization: the same function, statistics and gradients as keras.layers.BatchNormalization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers.batch_norm import FusedBatchNormalization, use_fused_batch_norm
from mrcnn.model import MaskRCNN
from mrcnn.weights_io import all_layers
from tests.tiny_config import TinyConfig


def _pair(shape, **kwargs):
    """A keras BN and a fused BN with the same (non-trivial) weights."""
    plain, fused = keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)
    plain.build(shape)
    fused.build(shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(1.0, 0.2, w.shape).astype("float32") if "variance" not in w.path
               else rng.uniform(0.5, 2.0, w.shape).astype("float32") for w in plain.weights]
    plain.set_weights(weights)
    fused.set_weights(weights)
    return plain, fused


@pytest.mark.parametrize("training", [True, False])
def test_same_outputs_statistics_and_gradients_as_keras(training):
    x = tf.constant(np.random.default_rng(1).normal(3.0, 2.0, (2, 6, 5, 4)), tf.float32)
    plain, fused = _pair(x.shape, momentum=0.9)
    results = []
    for layer in (plain, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.range(1.0, 5.0))
        grads = tape.gradient(loss, [x] + layer.trainable_weights)
        results.append((y.numpy(), [g.numpy() for g in grads], [w.numpy() for w in layer.non_trainable_weights]))
    (y1, g1, s1), (y2, g2, s2) = results
    np.testing.assert_allclose(y1, y2, atol=1e-5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    for a, b in zip(s1, s2):  # moving mean / variance: moved in training, untouched otherwise
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_hand_computed_training_statistics():
    """Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased variance 1.25): normalized to (v - 2.5) / sqrt(1.25 + eps)."""
    x = tf.reshape(tf.constant([1.0, 2.0, 3.0, 4.0]), (1, 2, 2, 1))
    layer = FusedBatchNormalization(momentum=0.5, epsilon=0.0)
    y = layer(x, training=True).numpy().ravel()
    np.testing.assert_allclose(y, (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), [0.5 * 0 + 0.5 * 2.5])
    np.testing.assert_allclose(layer.moving_variance.numpy(), [0.5 * 1 + 0.5 * 1.25])


def test_bfloat16_input_keeps_float32_statistics():
    policy = keras.config.dtype_policy().name
    x = tf.constant(np.random.default_rng(2).normal(0.0, 1.0, (2, 4, 4, 3)), tf.float32)
    plain, _ = _pair(x.shape)
    fused = FusedBatchNormalization(dtype="mixed_bfloat16")
    fused.build(x.shape)
    fused.set_weights(plain.get_weights())
    y = fused(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16 and fused.moving_mean.dtype == "float32"
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), plain(x, training=True).numpy(), atol=0.05)
    assert keras.config.dtype_policy().name == policy


def test_unfusable_inputs_fall_back_to_keras():
    x = tf.constant(np.random.default_rng(3).normal(0.0, 1.0, (5, 3)), tf.float32)  # rank 2
    plain, fused = _pair(x.shape)
    np.testing.assert_allclose(fused(x, training=True).numpy(), plain(x, training=True).numpy(), atol=1e-6)
    x4 = tf.ones((1, 2, 2, 3))
    channels_first = FusedBatchNormalization(axis=1)
    channels_first.build(x4.shape)
    assert not channels_first._fusable(x4, None)
    assert channels_first(x4, training=True).shape == x4.shape


def test_model_uses_it_everywhere_and_reloads_safely(tmp_path):
    model = MaskRCNN("inference", TinyConfig(), str(tmp_path))
    norms = [layer for layer in all_layers(model.keras_model)
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is FusedBatchNormalization for layer in norms)
    assert use_fused_batch_norm(model.keras_model) == 0  # nothing left to switch
    path = str(tmp_path / "m.keras")
    model.keras_model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert any(type(layer) is FusedBatchNormalization for layer in all_layers(reloaded))


def test_frozen_batch_norm_stays_frozen(tmp_path):
    config = TinyConfig()
    config.TRAIN_BN = False
    model = MaskRCNN("training", config, str(tmp_path))
    norms = [layer for layer in all_layers(model.keras_model) if isinstance(layer, FusedBatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)
    layer = norms[0]
    before = layer.moving_mean.numpy().copy()
    shape = (1,) + tuple(int(d) for d in layer.input.shape[1:3]) + (int(layer.input.shape[-1]),)
    layer(tf.random.normal(shape) + 5.0, training=True)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), before)
