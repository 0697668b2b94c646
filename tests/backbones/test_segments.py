"""Config.RECOMPUTE_BACKBONE: the backbone cut at its blocks, the same function and gradients, the same weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.backbones import backbone_features
from mrcnn.backbones.segments import recomputed_features, segment_models
from mrcnn.backbones.tiny import build_tiny
from mrcnn.data.generator import DataGenerator
from mrcnn.layers.batch_norm import use_fused_batch_norm
from mrcnn.layers.recompute import RecomputeModel
from mrcnn.model import MaskRCNN, build_optimizer
from mrcnn.training.optimizer_state import build_optimizer_variables
from mrcnn.weights_io import all_layers
from samples.shapes.train_shapes import make_datasets
from tests.tiny_config import TinyConfig


def test_resnet50_is_cut_after_the_stem_and_every_block():
    segments, taps = segment_models(
        lambda x: backbone_features("resnet50", x, mean_pixel=[123.7, 116.8, 103.9]), (64, 64, 3))
    names = [name for name, _ in segments]
    assert names[0] == "pool1_pool" and len(names) == 1 + 3 + 4 + 6 + 3
    assert [names[i] for i in taps] == ["conv2_block3_out", "conv3_block4_out", "conv4_block6_out",
                                        "conv5_block3_out"]
    assert sum(segment.count_params() for _, segment in segments) == 23587712  # all of ResNet50, once


def test_a_backbone_without_block_names_is_cut_at_its_taps():
    segments, taps = segment_models(build_tiny, (32, 32, 3))
    assert [name for name, _ in segments] == [f"tiny_c{s}_add" for s in (2, 3, 4, 5)] and taps == [0, 1, 2, 3]


def test_same_features_gradients_and_statistics_as_the_plain_backbone():
    keras.utils.set_random_seed(1)
    plain_in, cut_in = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    plain = keras.Model(plain_in, build_tiny(plain_in))
    cut = keras.Model(cut_in, recomputed_features(build_tiny, cut_in))
    for model in (plain, cut):
        use_fused_batch_norm(model)
    layers = {layer.name: layer for layer in all_layers(cut)}
    for layer in plain.layers:
        if layer.weights:
            layers[layer.name].set_weights(layer.get_weights())
    assert sum(isinstance(layer, RecomputeModel) for layer in all_layers(cut)) == 4
    x = tf.constant(np.random.default_rng(2).normal(0.0, 50.0, (2, 32, 32, 3)), tf.float32)

    def step(model):
        @tf.function
        def run(x):
            with tf.GradientTape() as tape:
                features = model(x, training=True)
                loss = tf.add_n([tf.reduce_sum(f * f) * (i + 1) for i, f in enumerate(features)])
            return features, tape.gradient(loss, model.trainable_variables)
        features, grads = run(x)
        stats = {v.path: v.numpy() for v in model.non_trainable_variables}
        return [f.numpy() for f in features], {v.path: g.numpy() for v, g in zip(model.trainable_variables, grads)}, \
            stats
    f1, g1, s1 = step(plain)
    f2, g2, s2 = step(cut)
    for a, b in zip(f1, f2):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    assert g1.keys() == g2.keys() and s1.keys() == s2.keys()
    for key in g1:
        np.testing.assert_allclose(g2[key], g1[key], rtol=2e-3, atol=2e-3 * np.abs(g1[key]).max() + 1e-6)
    for key in s1:
        np.testing.assert_allclose(s2[key], s1[key], rtol=1e-4, atol=1e-5)


def _config(recompute):
    config = TinyConfig()
    config.RECOMPUTE_BACKBONE = recompute
    return config


def test_training_step_and_weight_files_as_without_recomputation(tmp_path):
    plain = MaskRCNN("training", _config(False), str(tmp_path))
    cut = MaskRCNN("training", _config(True), str(tmp_path))
    path = str(tmp_path / "plain.weights.h5")
    plain.keras_model.save_weights(path)
    report = cut.load_weights(path)  # by layer name: the same layers, nested in the segments
    assert not report["missing"] and not report["mismatched"]
    config = _config(True)
    cut.keras_model.compile(optimizer=build_optimizer(config, 0.01))
    build_optimizer_variables(cut.keras_model)
    train_set, _ = make_datasets(train_count=4, val_count=1, size=64)
    batch = DataGenerator(train_set, config, steps=1, seed=0)[0]
    layers = {layer.name: layer for layer in all_layers(cut.keras_model)}
    conv, norm = layers["tiny_stem_conv"], layers["tiny_c2_a_bn"]
    before, mean_before = conv.get_weights()[0].copy(), norm.moving_mean.numpy().copy()
    logs = cut.keras_model.train_on_batch(batch, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and logs["rpn_class_loss"] > 0
    assert not np.allclose(conv.get_weights()[0], before)  # the first segment's weights learn
    assert not np.allclose(norm.moving_mean.numpy(), mean_before)  # (moved once: see the test above)


def test_inference_model_with_the_switch_is_the_plain_one(tmp_path):
    plain = MaskRCNN("inference", _config(False), str(tmp_path))
    cut = MaskRCNN("inference", _config(True), str(tmp_path))
    path = str(tmp_path / "plain.weights.h5")
    plain.keras_model.save_weights(path)
    cut.load_weights(path)
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    molded, metas, _ = plain.mold_inputs([image])
    a, b = plain._run(molded, metas), cut._run(molded, metas)
    np.testing.assert_allclose(b["rpn_class"], a["rpn_class"], rtol=1e-4, atol=1e-5)


def test_config_refuses_a_non_bool():
    config = TinyConfig()
    config.RECOMPUTE_BACKBONE = 1
    with pytest.raises(ValueError, match="RECOMPUTE_BACKBONE"):
        config.validate()
