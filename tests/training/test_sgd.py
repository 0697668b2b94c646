"""mrcnn.training.sgd.SGD: Keras' SGD update, each variable's update one fused kernel, clipping folded into it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.training.sgd import SGD

SHAPES = [(3, 4), (4,), (2, 2, 3, 5)]


def _variables(seed=0):
    rng = np.random.default_rng(seed)
    return [keras.Variable(rng.normal(size=shape).astype(np.float32), name=f"w{i}") for i, shape in
            enumerate(SHAPES)]


def _gradients(step, scale):
    rng = np.random.default_rng(100 + step)
    return [tf.constant(scale * rng.normal(size=shape).astype(np.float32)) for shape in SHAPES]


def _train(optimizer, steps=4, scale=1.0):
    variables = _variables()
    optimizer.build(variables)

    @tf.function
    def apply(gradients):
        optimizer.apply(gradients, variables)

    for step in range(steps):
        apply(_gradients(step, scale))
    return [v.numpy() for v in variables], [m.numpy() for m in optimizer.momentums]


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("clipnorm, scale", [
    (None, 1.0),
    (100.0, 1.0),   # never reached: the update must equal the unclipped one exactly
    (0.5, 1.0),     # every gradient clipped
    (2.0, 0.6),     # some clipped, some not
])
def test_same_update_as_keras_sgd(nesterov, clipnorm, scale):
    kwargs = dict(learning_rate=0.05, momentum=0.9, nesterov=nesterov, clipnorm=clipnorm)
    ours_w, ours_m = _train(SGD(**kwargs), scale=scale)
    keras_w, keras_m = _train(keras.optimizers.SGD(**kwargs), scale=scale)
    for a, b in zip(ours_w + ours_m, keras_w + keras_m):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)


def test_update_by_hand_with_clipping():
    """One step from zero momentum: m = -lr * g * clip / |g| when |g| > clip, w += m."""
    w = keras.Variable(np.array([1.0, 2.0], np.float32))
    optimizer = SGD(learning_rate=0.1, momentum=0.9, clipnorm=1.0)
    optimizer.build([w])
    optimizer.apply([tf.constant([3.0, 4.0])], [w])  # norm 5: clipped to [0.6, 0.8]
    np.testing.assert_allclose(optimizer.momentums[0].numpy(), [-0.06, -0.08], rtol=1e-6)
    np.testing.assert_allclose(w.numpy(), [0.94, 1.92], rtol=1e-6)
    optimizer.apply([tf.constant([0.3, 0.4])], [w])  # norm 0.5: not clipped; m = 0.9 m - 0.1 g
    np.testing.assert_allclose(optimizer.momentums[0].numpy(), [-0.084, -0.112], rtol=1e-6)
    np.testing.assert_allclose(w.numpy(), [0.856, 1.808], rtol=1e-6)


def test_zero_gradient_and_no_momentum():
    w = keras.Variable(np.array([1.0, -1.0], np.float32))
    optimizer = SGD(learning_rate=0.1, momentum=0.9, clipnorm=1.0)
    optimizer.build([w])
    optimizer.apply([tf.zeros(2)], [w])  # norm 0: no division by zero
    np.testing.assert_array_equal(w.numpy(), [1.0, -1.0])
    plain = SGD(learning_rate=0.5)  # no momentum: Keras' own update, w -= lr * g
    v = keras.Variable(np.array([1.0], np.float32))
    plain.build([v])
    plain.apply([tf.constant([1.0])], [v])
    np.testing.assert_allclose(v.numpy(), [0.5])


def test_the_update_is_one_fused_kernel_per_variable():
    variables = _variables()
    optimizer = SGD(learning_rate=0.05, momentum=0.9, clipnorm=5.0)
    optimizer.build(variables)
    graph = tf.function(lambda g: optimizer.apply(g, variables)).get_concrete_function(
        [tf.TensorSpec(s, tf.float32) for s in SHAPES]).graph
    operations = graph.get_operations()
    types = [op.type for op in operations]
    assert types.count("ResourceApplyKerasMomentum") == len(SHAPES)
    assert types.count("AssignVariableOp") == 1  # the iteration count; no other write
    # no temporaries the size of a variable: the norm is one L2Loss reduction, every other result is a scalar
    assert types.count("L2Loss") == len(SHAPES) and "Square" not in types
    for op in operations:
        if op.type not in ("Placeholder", "Identity", "IdentityN", "ReadVariableOp"):
            assert all(t.shape.rank == 0 for t in op.outputs), (op.type, op.name)


@pytest.mark.parametrize("clipnorm", [None, 0.5])
def test_sparse_gradients(clipnorm):
    """IndexedSlices (row 2 gathered twice): Keras' sparse update without clipping; with clipping, the update of the
    dense gradient clipped by its whole norm (Keras would take the norm of the slices, duplicates apart)."""
    results = []
    for cls, dense in ((SGD, False), (keras.optimizers.SGD, clipnorm is not None)):
        table = keras.Variable(np.arange(12, dtype=np.float32).reshape(4, 3))
        optimizer = cls(learning_rate=0.1, momentum=0.9, clipnorm=clipnorm)
        optimizer.build([table])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(table.value, [0, 2, 2]))
        gradient = tape.gradient(loss, table.value)
        assert isinstance(gradient, tf.IndexedSlices)
        optimizer.apply([tf.convert_to_tensor(gradient) if dense else gradient], [table])
        results.append(table.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
    if clipnorm:  # |g| = sqrt(3 * 1 + 3 * 4): row 0 moves by 0.1 * 0.5 / sqrt(15)
        np.testing.assert_allclose(results[0][0], np.arange(3) - 0.05 / np.sqrt(15), rtol=1e-6)


def test_config_round_trip_and_name():
    kwargs = dict(learning_rate=0.02, momentum=0.9, clipnorm=5.0, nesterov=True, name="sgd")
    optimizer = SGD(**kwargs)
    config = optimizer.get_config()
    assert config == keras.optimizers.SGD(**kwargs).get_config()
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is SGD and again.get_config() == config
    assert type(optimizer).__name__ == "SGD"  # optimizer state files name the class (optimizer_state.py)
    assert optimizer.clips_summed_gradients
    assert not SGD(learning_rate=0.1, momentum=0.9, global_clipnorm=1.0).clips_summed_gradients
