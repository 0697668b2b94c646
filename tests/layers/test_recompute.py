"""RecomputeModel: the sub-model's function and gradients, its activations recomputed, batch norm moved once."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers.batch_norm import use_fused_batch_norm
from mrcnn.layers.recompute import RecomputeModel
from mrcnn.weights_io import all_layers


def _block():
    """conv -> batch norm -> relu, plus a residual: the shape of a backbone block."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(3, 3, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn", momentum=0.5)(x)
    x = keras.layers.Activation("relu", name="r")(x)
    model = keras.Model(inputs, keras.layers.Add(name="add")([inputs, x]), name="block")
    use_fused_batch_norm(model)
    return model


def _outer(block):
    inputs = keras.Input((6, 6, 3))
    x = RecomputeModel(block, name="recompute_block")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(2, 1, name="head")(x))


def _step(fn, variables, x):
    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            loss = tf.reduce_sum(y * y * tf.range(1.0, 1.0 + y.shape[-1]))
        return y, tape.gradient(loss, [x] + variables)
    y, grads = run(x)
    return y.numpy(), [g.numpy() for g in grads]


def test_same_outputs_gradients_and_one_statistics_update():
    block = _block()
    outer = _outer(block)
    recompute, head = outer.layers[1], outer.get_layer("head")
    x = tf.constant(np.random.default_rng(0).normal(2.0, 1.0, (4, 6, 6, 3)), tf.float32)
    variables = block.trainable_variables + head.trainable_variables
    bn = block.get_layer("bn")
    start = [v.numpy().copy() for v in (bn.moving_mean, bn.moving_variance)]

    y1, g1 = _step(lambda v: head(block(v, training=True)), variables, x)
    moved = [v.numpy().copy() for v in (bn.moving_mean, bn.moving_variance)]
    for v, s in zip((bn.moving_mean, bn.moving_variance), start):
        v.assign(s)
    y2, g2 = _step(lambda v: outer(v, training=True), variables, x)

    np.testing.assert_allclose(y2, y1, rtol=1e-5, atol=1e-5)
    assert len(g1) == len(g2) == 1 + len(variables)
    for a, b in zip(g1, g2):  # d/dx, then kernels, biases, gamma, beta (the conv bias before BN: ~0 either way)
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max() + 1e-5)
    # momentum 0.5: moved exactly once, as without recomputation (twice would be 0.75 of the way)
    for a, b in zip(moved, (bn.moving_mean.numpy(), bn.moving_variance.numpy())):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert not np.allclose(moved[0], start[0])
    assert isinstance(recompute, RecomputeModel)


def test_the_backward_pass_really_recomputes():
    """The gradient graph holds a second forward convolution of the block: 2 Conv2D forward ops, not 1."""
    block = _block()
    outer = _outer(block)

    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(outer(x, training=True))
        return tape.gradient(loss, block.trainable_variables)
    graph = run.get_concrete_function(tf.TensorSpec((2, 6, 6, 3), tf.float32)).graph

    def count(graph_def, op):
        nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
        return sum(node.op == op for node in nodes)
    graph_def = graph.as_graph_def()
    assert count(graph_def, "Conv2D") == 2 + 1  # the block's conv twice, the head's once


def test_inference_just_calls_the_sub_model():
    block = _block()
    outer = _outer(block)
    x = tf.ones((1, 6, 6, 3))
    np.testing.assert_allclose(outer.layers[1](x, training=False).numpy(), block(x, training=False).numpy())


def test_layers_are_reachable_and_it_reloads_safely(tmp_path):
    outer = _outer(_block())
    assert {"recompute_block", "block", "c1", "bn", "head"} <= {layer.name for layer in all_layers(outer)}
    path = str(tmp_path / "m.keras")
    outer.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded.layers[1], RecomputeModel)
    x = np.ones((1, 6, 6, 3), np.float32)
    np.testing.assert_allclose(reloaded.predict_on_batch(x), outer.predict_on_batch(x), rtol=1e-5)


def test_refuses_bad_sub_models():
    with pytest.raises(TypeError, match="must be a keras.Model"):
        RecomputeModel(keras.layers.Dense(2))
    inputs = keras.Input((4,))
    two = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    with pytest.raises(ValueError, match="one input and one output"):
        RecomputeModel(two)
