"""Config.DTYPE_POLICY: resolving "auto", the scoped global policy, and which layers stay float32."""

import keras
import numpy as np
import pytest

from mrcnn import precision
from mrcnn.data.generator import DataGenerator
from mrcnn.model import MaskRCNN
from mrcnn.weights_io import all_layers
from samples.shapes.shapes import ShapesDataset
from tests.tiny_config import TinyConfig

# Layers whose outputs are boxes, deltas, logits or probabilities: float32 under every policy.
FLOAT32_LAYERS = {"rpn_class_raw", "rpn_bbox_pred", "rpn_class", "rpn_bbox", "ROI",
                  "roi_align_classifier", "roi_align_mask", "mrcnn_class_logits", "mrcnn_class", "mrcnn_bbox_fc",
                  "mrcnn_bbox", "mrcnn_mask"}


@pytest.fixture
def machine(monkeypatch):
    """Pretend hardware: set("flags") and ("gpus") for auto_policy, with its cache cleared around the test."""
    fake = {"flags": set(), "gpus": []}
    monkeypatch.setattr(precision, "_cpu_flags", lambda: fake["flags"])
    monkeypatch.setattr(precision, "_gpu_capabilities", lambda: fake["gpus"])
    precision.auto_policy.cache_clear()
    yield fake
    precision.auto_policy.cache_clear()


@pytest.mark.parametrize("flags, gpus, expected", [
    ({"avx512f", "avx512_bf16"}, [], "mixed_bfloat16"),
    ({"amx_bf16"}, [], "mixed_bfloat16"),
    ({"avx2", "avx512f"}, [], "float32"),
    (set(), [(8, 0), (9, 0)], "mixed_bfloat16"),
    ({"avx512_bf16"}, [(8, 6), (7, 0)], "mixed_float16"),  # the slowest GPU decides; the CPU does not matter
    (set(), [(6, 1)], "float32"),
])
def test_auto_policy_follows_the_hardware(machine, flags, gpus, expected):
    machine["flags"], machine["gpus"] = flags, gpus
    assert precision.resolve_policy("auto") == expected


def test_explicit_policies_and_bad_names(machine):
    machine["flags"] = {"avx512_bf16"}
    for name in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert precision.resolve_policy(name) == name
    with pytest.raises(ValueError, match="DTYPE_POLICY.*valid values"):
        precision.resolve_policy("bfloat16")
    config = TinyConfig()
    config.DTYPE_POLICY = "half"
    with pytest.raises(ValueError, match="Config.DTYPE_POLICY = 'half'"):
        config.validate()


def test_scope_restores_the_global_policy_even_on_error():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with precision.dtype_policy_scope("mixed_bfloat16") as policy:
            assert policy == "mixed_bfloat16"
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == before


def _config(policy, **fields):
    config = TinyConfig()
    config.DTYPE_POLICY = policy
    for key, value in fields.items():
        setattr(config, key, value)
    return config


def test_mixed_model_keeps_boxes_and_logits_float32(tmp_path):
    model = MaskRCNN("inference", _config("mixed_bfloat16", IMAGES_PER_GPU=1), str(tmp_path))
    assert keras.config.dtype_policy().name == "float32"  # building did not leak the policy
    layers = {layer.name: layer for layer in all_layers(model.keras_model)}
    for name in FLOAT32_LAYERS:
        assert layers[name].compute_dtype == "float32", name
    for name in ("fpn_p2", "rpn_conv_shared", "mrcnn_class_conv1", "mrcnn_mask_conv1", "tiny_stem_conv"):
        assert layers[name].compute_dtype == "bfloat16", name
        # Inference keeps them in the compute dtype (store_weights_in_compute_dtype), batch norm's in float32.
        assert {w.dtype for w in layers[name].weights} == {"bfloat16"}, name
    assert {w.dtype for w in layers["tiny_stem_bn"].weights} == {"float32"}
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    molded, metas, _ = model.mold_inputs([image])
    raw = model._run(molded, metas)
    for key in ("detections", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask", "rpn_rois", "rpn_class", "rpn_bbox"):
        assert raw[key].dtype == np.float32, key


def test_mixed_and_float32_models_agree_to_bfloat16_rounding(tmp_path):
    """Same weights in both precisions: the RPN's scores differ by bfloat16 rounding only, the detections' boxes
    by well under a pixel where both keep the same proposals."""
    exact = MaskRCNN("inference", _config("float32", IMAGES_PER_GPU=1), str(tmp_path))
    mixed = MaskRCNN("inference", _config("mixed_bfloat16", IMAGES_PER_GPU=1), str(tmp_path))
    mixed.keras_model.set_weights(exact.keras_model.get_weights())
    image = np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)
    molded, metas, _ = exact.mold_inputs([image])
    a, b = exact._run(molded, metas), mixed._run(molded, metas)
    # bfloat16 keeps 8 significant bits (relative rounding 2**-9 per operation): a few 1e-3 of the outputs' range
    # after a dozen layers. Random weights give large logits, so the probabilities are compared on average.
    scale = np.abs(a["rpn_bbox"]).max()
    assert np.abs(a["rpn_bbox"] - b["rpn_bbox"]).max() < 0.02 * scale
    assert np.abs(a["rpn_class"] - b["rpn_class"]).mean() < 0.005
    assert not np.array_equal(a["rpn_bbox"], b["rpn_bbox"])  # the mixed model did compute in 16 bits


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_training_step_is_finite_and_keeps_float32_weights(tmp_path, policy):
    config = _config(policy)
    shapes = ShapesDataset()
    shapes.load_shapes(4, 64, 64, seed=5)
    shapes.prepare()
    model = MaskRCNN("training", config, str(tmp_path))
    from mrcnn.model import build_optimizer
    model.keras_model.compile(optimizer=build_optimizer(config, 0.01))
    before = [w.copy() for w in model.keras_model.get_weights()]
    logs = model.keras_model.train_on_batch(DataGenerator(shapes, config, steps=1, seed=0)[0], return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert {w.dtype for w in model.keras_model.trainable_weights} == {"float32"}
    after = model.keras_model.get_weights()
    assert any(not np.array_equal(x, y) for x, y in zip(before, after))


def test_mixed_weights_round_trip_to_bfloat16_rounding(tmp_path):
    """A saved mixed-precision inference model (16-bit layers' weights written as bfloat16) reloads bit for bit,
    also into a training model's float32 variables; its outputs agree with the original
    to bfloat16 rounding (oneDNN may sum in another order in another instance, and bfloat16 amplifies that)."""
    config = _config("mixed_bfloat16", IMAGES_PER_GPU=1)
    first = MaskRCNN("inference", config, str(tmp_path))
    path = str(tmp_path / "w.weights.h5")
    first.keras_model.save_weights(path)
    second = MaskRCNN("inference", config, str(tmp_path))
    second.load_weights(path)
    for a, b in zip(first.keras_model.get_weights(), second.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    trainer = MaskRCNN("training", config, str(tmp_path))
    trainer.load_weights(path)
    stored = {w.path: np.asarray(w.numpy(), np.float32) for w in first.keras_model.weights}
    assert {w.dtype for w in trainer.keras_model.weights} == {"float32"}
    matched = [w for w in trainer.keras_model.weights if w.path in stored]
    assert len(matched) == len(stored)
    for w in matched:
        np.testing.assert_array_equal(w.numpy(), stored[w.path], err_msg=w.path)
    image = np.random.default_rng(2).integers(0, 255, (64, 64, 3), np.uint8)
    molded, metas, _ = first.mold_inputs([image])
    a, b = first._run(molded, metas), second._run(molded, metas)
    assert np.abs(a["rpn_bbox"] - b["rpn_bbox"]).max() <= 0.02 * np.abs(a["rpn_bbox"]).max()


def _small_mixed_model(policy="mixed_bfloat16"):
    with precision.dtype_policy_scope(policy):
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.TimeDistributed(keras.layers.Dense(5, name="dense"), name="td")(x)
        outputs = keras.layers.Dense(2, dtype="float32", name="logits")(x)
        return keras.Model(inputs, outputs)


def test_store_weights_in_compute_dtype_keeps_outputs_names_and_order():
    keras.utils.set_random_seed(3)
    model = _small_mixed_model()
    model.get_layer("bn").moving_mean.assign(np.full(4, 0.123456789, np.float32))
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 3)).astype(np.float32)
    before = np.asarray(model(x))
    paths = [w.path for w in model.weights]
    old_kernel = model.get_layer("conv").kernel
    # conv kernel + bias, dense kernel + bias inside TimeDistributed; not bn (statistics), not the float32 logits
    assert precision.store_weights_in_compute_dtype(model) == 4
    np.testing.assert_array_equal(np.asarray(model(x)), before)  # the very same cast, made once
    assert [w.path for w in model.weights] == paths
    dtypes = {w.path: w.dtype for w in model.weights}
    assert dtypes["conv/kernel"] == dtypes["td/dense/bias"] == "bfloat16"
    assert {dtypes[p] for p in paths if p.startswith(("bn/", "logits/"))} == {"float32"}
    assert model.get_layer("bn").moving_mean.numpy()[0] == np.float32(0.123456789)  # not rounded to 8 bits
    assert model.get_layer("conv").kernel is not old_kernel
    assert all(w is not old_kernel for w in model.weights)
    assert model.get_layer("conv").dtype_policy.name == "bfloat16"
    # float32 arrays assigned later are rounded as the layer's cast rounds them
    values = [np.full(w.shape, 1.0 + 2.0 ** -12, np.float32) for w in model.get_layer("conv").weights]
    model.get_layer("conv").set_weights(values)
    assert float(model.get_layer("conv").kernel.numpy().ravel()[0]) == 1.0
    assert precision.store_weights_in_compute_dtype(model) == 0  # nothing left to do


def test_store_weights_in_compute_dtype_leaves_float32_models_alone():
    model = _small_mixed_model("float32")
    assert precision.store_weights_in_compute_dtype(model) == 0
    assert {w.dtype for w in model.weights} == {"float32"}


def test_mixed_inference_model_detects_like_its_float32_stored_self(tmp_path, monkeypatch):
    """The inference model stores 16-bit weights; with the weights of a training model (float32 file) it gives
    exactly what the same model built with float32-stored weights gives."""
    import mrcnn.model

    config = _config("mixed_bfloat16", IMAGES_PER_GPU=1)
    trained = MaskRCNN("training", config, str(tmp_path))
    path = str(tmp_path / "trained.weights.h5")
    trained.keras_model.save_weights(path)
    model = MaskRCNN("inference", config, str(tmp_path))
    model.load_weights(path)
    monkeypatch.setattr(mrcnn.model, "store_weights_in_compute_dtype", lambda keras_model: 0)
    reference = MaskRCNN("inference", config, str(tmp_path))  # the same build, weights left in float32
    reference.load_weights(path)
    assert "bfloat16" in {w.dtype for w in model.keras_model.weights}
    assert {w.dtype for w in reference.keras_model.weights} == {"float32"}
    image = np.random.default_rng(4).integers(0, 255, (64, 64, 3), np.uint8)
    molded, metas, _ = model.mold_inputs([image])
    ours, theirs = model._run(molded, metas), reference._run(molded, metas)
    for key in ("detections", "mrcnn_mask", "rpn_rois"):
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
