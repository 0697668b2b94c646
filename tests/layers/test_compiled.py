"""XLA for the trunk: CompiledModel computes what its sub-model computes, and Config.JIT_COMPILE changes nothing else."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.data.generator import DataGenerator
from mrcnn.layers.compiled import CompiledModel
from mrcnn.model import MaskRCNN, build_optimizer
from mrcnn.weights_io import all_layers
from samples.shapes.train_shapes import make_datasets
from tests.tiny_config import TinyConfig


def _small_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, [x, keras.layers.Conv2D(2, 1, name="c2")(x)], name="trunk")


def _outer(sub):
    inputs = keras.Input((8, 8, 3))
    a, b = CompiledModel(sub, name="xla_trunk")(inputs)
    return keras.Model(inputs, [a, keras.layers.Dense(3, name="d")(b)])


def test_same_outputs_and_gradients_as_the_sub_model():
    sub = _small_model()
    outer = _outer(sub)
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 8, 8, 3)), tf.float32)
    direct = sub(x, training=False)
    compiled = outer.layers[1](x, training=False)
    for a, b in zip(direct, compiled):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-5)

    def grads(fn):
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_sum(y * y) for y in fn(x)])
        return [g.numpy() for g in tape.gradient(loss, sub.trainable_variables)]
    mean_before = sub.get_layer("bn").moving_mean.numpy().copy()
    g_direct = grads(lambda v: sub(v, training=True))
    moved_direct = sub.get_layer("bn").moving_mean.numpy().copy()
    sub.get_layer("bn").moving_mean.assign(mean_before)
    g_compiled = grads(lambda v: outer.layers[1](v, training=True))
    for a, b in zip(g_direct, g_compiled):  # (the conv bias before batch norm has a zero gradient, up to rounding)
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max() + 5e-5)
    # batch norm's moving statistics are updated inside the compiled function too
    np.testing.assert_allclose(sub.get_layer("bn").moving_mean.numpy(), moved_direct, rtol=1e-5, atol=1e-7)


def test_layers_are_reachable_and_it_reloads_safely(tmp_path):
    outer = _outer(_small_model())
    names = [layer.name for layer in all_layers(outer)]
    assert {"xla_trunk", "trunk", "c1", "bn", "c2", "d"} <= set(names)
    path = str(tmp_path / "m.keras")
    outer.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded.layers[1], CompiledModel) and reloaded.layers[1].use_xla
    x = np.ones((1, 8, 8, 3), np.float32)
    np.testing.assert_allclose(reloaded.predict_on_batch(x)[1], outer.predict_on_batch(x)[1], rtol=1e-5)


def test_xla_stays_on_when_op_determinism_is_enabled():
    """keras.Model's own `jit_compile` setter turns itself off under op determinism; the layer's switch must not.
    In a subprocess: TensorFlow has no public way to switch determinism off again."""
    code = ("import keras, tensorflow as tf; tf.config.experimental.enable_op_determinism(); "
            "from mrcnn.layers.compiled import CompiledModel; i = keras.Input((4,)); "
            "print(CompiledModel(keras.Model(i, keras.layers.Dense(2)(i))).use_xla)")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_refuses_what_is_not_a_model():
    with pytest.raises(TypeError, match="must be a keras.Model"):
        CompiledModel(keras.layers.Dense(2))


def test_config_refuses_a_non_bool():
    config = TinyConfig()
    config.JIT_COMPILE = "yes"
    with pytest.raises(ValueError, match="JIT_COMPILE"):
        config.validate()


def _jit_config():
    config = TinyConfig()
    config.JIT_COMPILE = True
    return config


def test_inference_matches_the_model_without_xla(tmp_path):
    plain = MaskRCNN("inference", TinyConfig(), str(tmp_path))
    jit = MaskRCNN("inference", _jit_config(), str(tmp_path))
    path = str(tmp_path / "plain.weights.h5")
    plain.keras_model.save_weights(path)
    report = jit.load_weights(path)  # by layer name, strict: the same layers, nested or not
    assert not report["missing"] and not report["mismatched"]
    assert any(isinstance(layer, CompiledModel) for layer in all_layers(jit.keras_model))
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    molded, metas, _ = plain.mold_inputs([image])
    a, b = plain._run(molded, metas), jit._run(molded, metas)
    for key in ("rpn_class", "rpn_bbox"):  # the trunk's outputs, before any data-dependent selection
        np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-4)


def test_training_step_updates_the_compiled_trunk(tmp_path):
    config = _jit_config()
    model = MaskRCNN("training", config, str(tmp_path))
    model.keras_model.compile(optimizer=build_optimizer(config, 0.01))
    train_set, _ = make_datasets(train_count=4, val_count=1, size=64)
    batch = DataGenerator(train_set, config, steps=1, seed=0)[0]
    conv = next(layer for layer in all_layers(model.keras_model) if layer.name == "fpn_p2")
    norm = next(layer for layer in all_layers(model.keras_model) if layer.name == "tiny_c2_a_bn")
    before, mean_before = conv.get_weights()[0].copy(), norm.moving_mean.numpy().copy()
    logs = model.keras_model.train_on_batch(batch, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and logs["rpn_class_loss"] > 0
    assert not np.allclose(conv.get_weights()[0], before)
    assert not np.allclose(norm.moving_mean.numpy(), mean_before)
