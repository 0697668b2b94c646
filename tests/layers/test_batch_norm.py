"""BatchNorm: keras.layers.BatchNormalization's function, statistics and gradients, trained through the fused kernel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers.batch_norm import BatchNorm, use_fused_batch_norm
from mrcnn.model import MaskRCNN
from mrcnn.weights_io import all_layers
from tests.tiny_config import TinyConfig


def _pair(shape, **kwargs):
    """A Keras BatchNormalization and a BatchNorm with the same non-trivial weights."""
    plain, fused = keras.layers.BatchNormalization(**kwargs), BatchNorm(**kwargs)
    plain.build(shape)
    fused.build(shape)
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 2.0, w.shape).astype("float32") if "variance" in w.path
               else rng.normal(1.0, 0.3, w.shape).astype("float32") for w in plain.weights]
    plain.set_weights(weights)
    fused.set_weights(weights)
    return plain, fused


def _forward_backward(layer, x, training, graph):
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.range(1.0, 1.0 + y.shape[-1]))
        return y, tape.gradient(loss, [x] + layer.trainable_weights)
    y, grads = (tf.function(run) if graph else run)(x)
    return y.numpy(), [g.numpy() for g in grads], [w.numpy() for w in layer.non_trainable_weights]


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("shape", [(2, 6, 5, 4), (40, 1, 1, 8)], ids=["maps", "crops-1x1"])
def test_same_outputs_gradients_and_statistics_as_keras(graph, training, shape):
    x = tf.constant(np.random.default_rng(1).normal(3.0, 2.0, shape), tf.float32)
    plain, fused = _pair(x.shape, momentum=0.9)
    (y1, g1, s1), (y2, g2, s2) = (_forward_backward(layer, x, training, graph) for layer in (plain, fused))
    np.testing.assert_allclose(y2, y1, atol=2e-5)
    for a, b in zip(g1, g2):  # d/dx, d/dgamma, d/dbeta
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    for a, b in zip(s1, s2):  # moving mean / variance: moved in training, untouched in inference
        np.testing.assert_allclose(b, a, rtol=1e-5)


def test_hand_computed_training_step():
    """Channel 0 holds 1, 2, 3, 4: mean 2.5, biased variance 1.25, so y = (v - 2.5) / sqrt(1.25); the moving
    statistics move halfway (momentum 0.5) from 0 and 1 towards 2.5 and 1.25 (not the unbiased 5/3)."""
    x = tf.reshape(tf.constant([1.0, 2.0, 3.0, 4.0]), (1, 2, 2, 1))
    layer = BatchNorm(momentum=0.5, epsilon=1e-12)
    y = layer(x, training=True).numpy().ravel()
    np.testing.assert_allclose(y, (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), [1.25], rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), [0.5 + 0.5 * 1.25], rtol=1e-6)


def test_training_trajectory_matches_keras_over_30_steps():
    """A conv net trained 30 SGD steps in graph mode with either layer: the same losses and weights."""
    def train(bn_class):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((10, 10, 3))
        x = inputs
        for _ in range(3):
            x = keras.layers.Conv2D(16, 3, padding="same")(x)
            x = bn_class(momentum=0.9)(x)
            x = keras.layers.Activation("relu")(x)
        model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(x))
        optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
        rng = np.random.default_rng(1)
        images = tf.constant(rng.normal(1.0, 3.0, (8, 10, 10, 3)), tf.float32)
        targets = tf.constant(rng.normal(size=(8, 10, 10, 2)), tf.float32)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(images, training=True) - targets))
            optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
            return loss
        losses = [float(step()) for _ in range(30)]
        return np.array(losses), [w.numpy() for w in model.weights], model(images, training=False).numpy()

    (l1, w1, p1), (l2, w2, p2) = train(keras.layers.BatchNormalization), train(BatchNorm)
    assert l1[-1] < 0.8 * l1[0]  # it learned something
    np.testing.assert_allclose(l2, l1, rtol=1e-4)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(p2, p1, atol=1e-3)


def test_bfloat16_activations_keep_float32_statistics():
    x = tf.constant(np.random.default_rng(2).normal(0.0, 1.0, (2, 4, 4, 3)), tf.float32)
    plain, _ = _pair(x.shape)
    fused = BatchNorm(dtype="mixed_bfloat16")
    fused.build(x.shape)
    fused.set_weights(plain.get_weights())
    y = fused(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16 and fused.moving_mean.dtype == "float32" and fused.gamma.dtype == "float32"
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), plain(x, training=True).numpy(), atol=0.05)
    np.testing.assert_allclose(fused.moving_mean.numpy(), plain.moving_mean.numpy(), atol=1e-3)


def test_empty_batch_leaves_the_statistics_alone():
    layer = BatchNorm()
    layer.build((None, 3, 3, 2))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_sum(y)
        return y, tape.gradient(loss, layer.trainable_weights)
    y, grads = step(tf.zeros((0, 3, 3, 2)))
    assert y.shape == (0, 3, 3, 2)
    for g in grads:
        np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(layer.moving_mean.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(layer.moving_variance.numpy(), [1.0, 1.0])


def test_unfusable_inputs_run_keras_code():
    x = tf.constant(np.random.default_rng(3).normal(0.0, 1.0, (5, 3)), tf.float32)  # rank 2
    plain, fused = _pair(x.shape)
    np.testing.assert_allclose(fused(x, training=True).numpy(), plain(x, training=True).numpy(), atol=1e-6)
    x4 = tf.ones((1, 2, 2, 3))
    channels_first = BatchNorm(axis=1)
    channels_first.build(x4.shape)
    assert not channels_first._fusable(x4, None)
    assert channels_first(x4, training=True).shape == x4.shape


def test_model_switches_every_batch_norm_and_reloads_safely(tmp_path):
    model = MaskRCNN("inference", TinyConfig(), str(tmp_path))
    norms = [layer for layer in all_layers(model.keras_model) if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is BatchNorm for layer in norms)
    assert use_fused_batch_norm(model.keras_model) == 0  # nothing left to switch
    path = str(tmp_path / "m.keras")
    model.keras_model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert {layer.name for layer in all_layers(reloaded) if type(layer) is BatchNorm} == {n.name for n in norms}
    assert BatchNorm.from_config(norms[0].get_config()).get_config() == norms[0].get_config()


def test_frozen_batch_norm_stays_frozen(tmp_path):
    config = TinyConfig()
    config.TRAIN_BN = False
    model = MaskRCNN("training", config, str(tmp_path))
    norms = [layer for layer in all_layers(model.keras_model) if isinstance(layer, BatchNorm)]
    assert norms and not any(layer.trainable for layer in norms)
    layer = norms[0]
    before = layer.moving_mean.numpy().copy()
    shape = (1,) + tuple(int(d) for d in layer.input.shape[1:3]) + (int(layer.input.shape[-1]),)
    layer(tf.random.normal(shape) + 5.0, training=True)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), before)


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_inference_kernel_normalizes_with_the_moving_statistics_as_keras(dtype):
    """The fused kernel with the moving statistics: y = (x - mean) / sqrt(var + eps) * gamma + beta, as Keras."""
    x = tf.constant(np.random.default_rng(4).normal(1.0, 2.0, (3, 5, 4, 6)), tf.float32)
    plain, _ = _pair(x.shape)
    fused = BatchNorm(dtype=dtype)
    fused.build(x.shape)
    fused.set_weights(plain.get_weights())
    fused.inference_kernel = True
    gamma, beta, mean, var = (w.numpy() for w in plain.weights)
    expected = (x.numpy() - mean) / np.sqrt(var + plain.epsilon) * gamma + beta
    inputs = x if dtype == "float32" else tf.cast(x, tf.bfloat16)
    for training in (False, None):
        y = tf.function(lambda v: fused(v, training=training))(inputs)
        assert y.dtype == inputs.dtype
        np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), expected, rtol=0.02 if dtype != "float32" else 1e-5,
                                   atol=0.05 if dtype != "float32" else 1e-5)
    np.testing.assert_allclose(fused(tf.cast(x, fused.compute_dtype), training=True).numpy().mean(), beta.mean(),
                               atol=0.05)  # training still normalizes with the batch statistics
    assert fused(tf.zeros((0, 5, 4, 6), fused.compute_dtype), training=False).shape == (0, 5, 4, 6)


def test_only_the_inference_model_uses_the_inference_kernel(tmp_path):
    inference = MaskRCNN("inference", TinyConfig(), str(tmp_path))
    training = MaskRCNN("training", TinyConfig(), str(tmp_path))
    norms = {mode: [layer for layer in all_layers(model.keras_model) if isinstance(layer, BatchNorm)]
             for mode, model in (("inference", inference), ("training", training))}
    assert norms["inference"] and all(layer.inference_kernel for layer in norms["inference"])
    assert norms["training"] and not any(layer.inference_kernel for layer in norms["training"])
