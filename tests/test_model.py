"""MaskRCNN end to end on a tiny config: build, train a step, checkpoints and resume, save/load, detect."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.config import LOSS_NAMES
from mrcnn.data.generator import DataGenerator
from mrcnn.model import MaskRCNN
from mrcnn.weights_io import all_layers, weighted_layers
from samples.shapes.shapes import ShapesDataset
from tests.tiny_config import TinyConfig


@pytest.fixture(scope="module")
def shapes():
    ds = ShapesDataset()
    ds.load_shapes(6, 64, 64, seed=3)
    ds.prepare()
    return ds


@pytest.fixture(scope="module")
def inference_model(tmp_path_factory):
    keras.utils.set_random_seed(1)  # random weights that detect something in the shapes images
    return MaskRCNN("inference", TinyConfig(), str(tmp_path_factory.mktemp("logs")))


def _layer_names(model):
    names = []
    for layer in model.layers:
        names.append(layer.name)
        if isinstance(layer, keras.Model):
            names += _layer_names(layer)
    return names


def test_both_modes_build_with_matterport_names(inference_model, tmp_path):
    training = MaskRCNN("training", TinyConfig(), str(tmp_path))
    for model in (training.keras_model, inference_model.keras_model):
        names = set(_layer_names(model))
        assert {"fpn_c5p5", "fpn_p2", "fpn_p6", "rpn_model", "rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred",
                "ROI", "roi_align_classifier", "mrcnn_class_conv1", "mrcnn_class_bn1", "mrcnn_class_logits",
                "mrcnn_bbox_fc", "roi_align_mask", "mrcnn_mask_conv1", "mrcnn_mask_deconv", "mrcnn_mask"} <= names
        assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Lambda)]
    assert "proposal_targets" in _layer_names(training.keras_model)
    assert "mrcnn_detection" in _layer_names(inference_model.keras_model)
    # Both graphs hold the same weighted layers, so weights move between them by name.
    def shapes_by_layer(model):
        return {name: [tuple(w.shape) for w in layer.weights] for name, layer in weighted_layers(model).items()}
    assert shapes_by_layer(training.keras_model) == shapes_by_layer(inference_model.keras_model)


def test_bad_config_and_mode(tmp_path):
    config = TinyConfig()
    config.IMAGE_MAX_DIM = 100
    with pytest.raises(ValueError, match="divisible by 64"):
        MaskRCNN("training", config, str(tmp_path))
    with pytest.raises(ValueError, match="mode"):
        MaskRCNN("train", TinyConfig(), str(tmp_path))
    config = TinyConfig()
    config.NAME = None
    with pytest.raises(ValueError, match="NAME"):
        MaskRCNN("inference", config, str(tmp_path))


def test_one_training_step_gives_finite_losses(shapes, tmp_path):
    # Random ROIs around the ground truth (USE_RPN_ROIS False) guarantee positive ROIs at random initialisation, so
    # every head gets a gradient; with an untrained RPN the proposals may hold no positive at all.
    config = TinyConfig()
    config.USE_RPN_ROIS = False
    model = MaskRCNN("training", config, str(tmp_path))
    model.keras_model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, clipnorm=5.0))
    batch = DataGenerator(shapes, config, steps=1, seed=0, random_rois=config.POST_NMS_ROIS_TRAINING)[0]
    before = [w.numpy().copy() for w in model.keras_model.trainable_weights]
    logs = model.keras_model.train_on_batch(batch, return_dict=True)
    assert set(logs) == {"loss", *LOSS_NAMES}
    assert all(np.isfinite(v) for v in logs.values())
    assert all(logs[name] > 0 for name in LOSS_NAMES)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.keras_model.trainable_weights)]
    assert all(changed), "every trainable weight should receive a gradient"


def test_losses_are_zero_without_ground_truth(shapes, tmp_path):
    model = MaskRCNN("training", TinyConfig(), str(tmp_path))
    model.keras_model.compile(optimizer=keras.optimizers.SGD(0.0))
    batch = dict(DataGenerator(shapes, model.config, steps=1, seed=0)[0])
    batch["input_gt_class_ids"] = np.zeros_like(batch["input_gt_class_ids"])
    batch["input_gt_boxes"] = np.zeros_like(batch["input_gt_boxes"])
    batch["input_gt_masks"] = np.zeros_like(batch["input_gt_masks"])
    rpn_match = batch["input_rpn_match"].copy()
    rpn_match[rpn_match == 1] = -1
    batch["input_rpn_match"] = rpn_match
    batch["input_rpn_bbox"] = np.zeros_like(batch["input_rpn_bbox"])
    logs = model.keras_model.test_on_batch(batch, return_dict=True)
    assert logs["rpn_bbox_loss"] == 0.0
    assert logs["mrcnn_bbox_loss"] == 0.0
    assert logs["mrcnn_mask_loss"] == 0.0
    assert np.isfinite(logs["mrcnn_class_loss"]) and np.isfinite(logs["rpn_class_loss"])


def test_set_trainable_presets(tmp_path):
    config = TinyConfig()
    config.TRAIN_BN = False
    model = MaskRCNN("training", config, str(tmp_path))
    heads = model.set_trainable(r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)")
    assert "rpn_conv_shared" in heads and "mrcnn_mask" in heads and "fpn_c5p5" in heads
    assert not [n for n in heads if n.startswith("tiny_")]
    assert not [n for n in heads if "bn" in n], "batch norm stays frozen when TRAIN_BN is False"
    everything = model.set_trainable(".*")
    assert "tiny_stem_conv" in everything and "tiny_c3_a_conv" in everything
    assert not [n for n in everything if n.endswith("_bn")]


def _read_scalars(log_dir):
    values = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor) if value.HasField("tensor") else value.simple_value
                values.setdefault(value.tag, {})[event.step] = float(tensor)
    return values


def test_train_checkpoints_tensorboard_and_resume(shapes, tmp_path):
    model = MaskRCNN("training", TinyConfig(), str(tmp_path))
    model.train(shapes, shapes, learning_rate=0.01, epochs=1, layers="all", verbose=0)
    first = model.find_last()
    assert os.path.basename(first) == "mask_rcnn_tinytest_0001.weights.h5"
    run_dir = os.path.dirname(first)
    assert TinyConfig.load(os.path.join(run_dir, "config.json")).to_dict() == TinyConfig().to_dict()

    resumed = MaskRCNN("training", TinyConfig(), str(tmp_path))
    resumed.load_weights(resumed.find_last())
    assert resumed.epoch == 1 and os.path.abspath(resumed.log_dir) == os.path.abspath(run_dir)
    resumed.train(shapes, shapes, learning_rate=0.01, epochs=2, layers="heads", verbose=0)
    assert os.path.basename(resumed.find_last()) == "mask_rcnn_tinytest_0002.weights.h5"

    scalars = _read_scalars(run_dir)
    expected = {"loss", "val_loss", "learning_rate"} | set(LOSS_NAMES) | {f"val_{n}" for n in LOSS_NAMES}
    assert expected <= set(scalars)
    for tag in expected:
        assert sorted(scalars[tag]) == [1, 2], tag
    assert scalars["learning_rate"][1] == pytest.approx(0.01)


def test_train_rejects_bad_datasets_before_training(shapes, tmp_path):
    model = MaskRCNN("training", TinyConfig(), str(tmp_path))
    empty = ShapesDataset()
    empty.prepare()
    with pytest.raises(ValueError, match="no images"):
        model.train(empty, shapes, learning_rate=0.01, epochs=1, layers="all")
    wrong = TinyConfig()
    wrong.NUM_CLASSES = 5
    model = MaskRCNN("training", wrong, str(tmp_path))
    with pytest.raises(ValueError, match="5"):
        model.train(shapes, shapes, learning_rate=0.01, epochs=1, layers="all")
    with pytest.raises(ValueError, match="preset"):
        model.train(shapes, shapes, learning_rate=0.01, epochs=1, layers="(bad")
    assert not os.listdir(tmp_path), "nothing is written before the checks pass"


def test_detect_contract(inference_model, shapes):
    images = [shapes.load_image(i) for i in range(3)]
    results = inference_model.detect(images)
    assert len(results) == 3
    for image, r in zip(images, results):
        n = len(r["class_ids"])
        assert r["rois"].dtype == np.int32 and r["rois"].shape == (n, 4)
        assert r["class_ids"].dtype == np.int32
        assert r["scores"].dtype == np.float32 and r["scores"].shape == (n,)
        assert r["masks"].dtype == bool and r["masks"].shape == image.shape[:2] + (n,)
        assert np.all((r["class_ids"] >= 1) & (r["class_ids"] < 4))
    with pytest.raises(ValueError, match="list"):
        inference_model.detect(images[0])


def test_detect_molded_matches_detect(inference_model, shapes):
    image = shapes.load_image(0)
    molded, metas, _ = inference_model.mold_inputs([image])
    a = inference_model.detect([image])[0]
    b = inference_model.detect_molded(molded, metas)[0]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_save_load_gives_identical_detections(inference_model, shapes, tmp_path):
    path = str(tmp_path / "w.weights.h5")
    inference_model.keras_model.save_weights(path)
    other = MaskRCNN("inference", TinyConfig(), str(tmp_path))
    report = other.load_weights(path)
    assert not report["missing"] and not report["mismatched"]
    image = shapes.load_image(1)
    a, b = inference_model.detect([image])[0], other.detect([image])[0]
    assert len(a["scores"]) > 0
    # oneDNN may order float sums differently in two model instances: scores agree to float32 rounding.
    np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-5)
    for key in ("rois", "class_ids", "masks"):
        np.testing.assert_array_equal(a[key], b[key])


def test_load_weights_exclude_and_strict(inference_model, tmp_path):
    path = str(tmp_path / "w.weights.h5")
    inference_model.keras_model.save_weights(path)
    config = TinyConfig()
    config.NUM_CLASSES = 3
    other = MaskRCNN("inference", config, str(tmp_path))
    with pytest.raises(ValueError, match="mrcnn_"):
        other.load_weights(path)
    report = other.load_weights(path, exclude=["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask"])
    assert set(report["excluded"]) == {"mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask"}
    assert "fpn_c5p5" in report["loaded"] and not report["mismatched"]


def test_pad64_inference_on_images_of_different_sizes(tmp_path):
    config = TinyConfig()
    config.IMAGE_RESIZE_MODE = "pad64"
    config.IMAGE_MIN_DIM = None
    model = MaskRCNN("inference", config, str(tmp_path))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (50, 70, 3), dtype=np.uint8), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)]
    results = model.detect(images)
    assert results[0]["masks"].shape[:2] == (50, 70) and results[1]["masks"].shape[:2] == (64, 64)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(shapes, tmp_path):
    from mrcnn.training.callbacks import NonFiniteLoss

    class Poison(keras.callbacks.Callback):
        """Breaks a weight at the first step of epoch 2."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 0:
                layer = self.model.get_layer("fpn_c5p5")
                kernel, bias = layer.get_weights()
                layer.set_weights([kernel * np.nan, bias])

    model = MaskRCNN("training", TinyConfig(), str(tmp_path))
    with pytest.raises(NonFiniteLoss) as info:
        model.train(shapes, shapes, learning_rate=0.01, epochs=3, layers="all", custom_callbacks=[Poison()],
                    verbose=0)
    message = str(info.value)
    assert "epoch 2, step 1" in message and "mask_rcnn_tinytest_0001.weights.h5" in message
    assert os.path.basename(model.find_last()) == "mask_rcnn_tinytest_0001.weights.h5"
    assert model.epoch == 0, "a failed run does not advance the epoch"


def test_whole_model_save_and_safe_load_give_identical_detections(inference_model, shapes, tmp_path):
    from mrcnn.model import load_model

    # The layers keep their dtype policies (the default "auto" may be mixed_bfloat16 on this CPU).
    path = inference_model.save(str(tmp_path / "auto"))
    assert path == str(tmp_path / "auto.keras")
    assert sorted(os.listdir(tmp_path)) == ["auto.config.json", "auto.keras"]
    loaded = load_model(path)
    assert loaded.mode == "inference" and loaded.config.to_dict() == inference_model.config.to_dict()
    assert os.path.abspath(loaded.model_dir) == str(tmp_path)
    policies = lambda model: [(layer.name, layer.dtype_policy.name) for layer in all_layers(model)]  # noqa: E731
    assert policies(loaded.keras_model) == policies(inference_model.keras_model)

    # Detections compared in float32, where two instances of one graph compute the same numbers.
    config = TinyConfig()
    config.DTYPE_POLICY = "float32"
    keras.utils.set_random_seed(1)  # random weights that detect something in these images
    model = MaskRCNN("inference", config, str(tmp_path))
    loaded = load_model(model.save(str(tmp_path / "float32.keras")))
    images = [shapes.load_image(i) for i in range(3)]
    for a, b in zip(model.detect(images), loaded.detect(images)):
        assert len(a["scores"]) > 0
        np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-5)
        for key in ("rois", "class_ids", "masks"):
            np.testing.assert_array_equal(a[key], b[key])


def test_training_model_saves_and_loads_with_its_loss_settings(tmp_path):
    from mrcnn.model import load_model
    from mrcnn.training.trainer import MaskRCNNTrainer

    config = TinyConfig()
    config.WEIGHT_DECAY = 0.001
    model = MaskRCNN("training", config, str(tmp_path))
    loaded = load_model(model.save(str(tmp_path / "train.keras")))
    assert loaded.mode == "training" and isinstance(loaded.keras_model, MaskRCNNTrainer)
    assert loaded.keras_model.weight_decay == 0.001
    for a, b in zip(model.keras_model.weights, loaded.keras_model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _keras_file_with(layer, tmp_path, name):
    """A .keras file of a small model holding `layer`, with a valid TinyConfig JSON beside it."""
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layer(keras.layers.Dense(2)(inputs)))
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    TinyConfig().save(str(tmp_path / f"{name}.config.json"))
    return path


def test_load_model_refuses_files_that_would_run_code(tmp_path):
    import zipfile

    from mrcnn.model import load_model

    marker = tmp_path / "executed"

    def side_effect(x):
        marker.write_text("ran")
        return x

    # A lambda expression is saved as Python bytecode: safe_mode refuses to load it.
    with pytest.raises(ValueError, match="safe_mode"):
        load_model(_keras_file_with(keras.layers.Lambda(lambda x: x * 2), tmp_path, "lambda"))
    # A named function is saved by name only and is not looked up anywhere.
    path = _keras_file_with(keras.layers.Lambda(side_effect), tmp_path, "function")
    marker.unlink()
    with pytest.raises(TypeError, match="side_effect"):
        load_model(path)
    assert not marker.exists(), "the function never ran"

    class Unregistered(keras.layers.Layer):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="Unregistered"):
        load_model(_keras_file_with(Unregistered(), tmp_path, "custom"))

    # A config naming an arbitrary module's callable is not imported.
    hostile = str(tmp_path / "hostile.keras")
    with zipfile.ZipFile(_keras_file_with(keras.layers.Identity(), tmp_path, "identity")) as source, \
            zipfile.ZipFile(hostile, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                text = data.decode().replace('"module": "keras.layers", "class_name": "Identity"',
                                             '"module": "os", "class_name": "system"')
                assert text != data.decode()
                data = text.encode()
            target.writestr(item, data)
    TinyConfig().save(str(tmp_path / "hostile.config.json"))
    with pytest.raises(TypeError, match="system"):
        load_model(hostile)


def test_load_model_refuses_bad_config_json(inference_model, tmp_path):
    import json

    from mrcnn.model import load_model

    path = inference_model.save(str(tmp_path / "m.keras"))
    config_path = tmp_path / "m.config.json"
    values = json.loads(config_path.read_text())
    config_path.write_text(json.dumps(dict(values, EVAL_HOOK="__import__('os')")))
    with pytest.raises(ValueError, match="unknown config field.*EVAL_HOOK"):
        load_model(path)
    config_path.write_text(json.dumps(dict(values, NUM_CLASSES="4")))
    with pytest.raises(ValueError, match="NUM_CLASSES = '4'"):
        load_model(path)
    config_path.write_text(json.dumps(dict(values, NUM_CLASSES=7)))
    with pytest.raises(ValueError, match="does not hold the inference graph"):
        load_model(path)
    config_path.write_text("{not json")
    with pytest.raises(ValueError, match="not a valid config JSON"):
        load_model(path)
    os.remove(config_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_model(path)


def test_full_log_disk_is_reported_before_the_first_epoch(shapes, tmp_path, monkeypatch):
    import collections
    import errno
    import shutil

    started = []

    class Started(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            started.append(True)

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 6, 10 ** 6 - 1000, 1000))
    model = MaskRCNN("training", TinyConfig(), str(tmp_path))
    with pytest.raises(OSError) as info:
        model.train(shapes, shapes, learning_rate=0.01, epochs=1, layers="all", custom_callbacks=[Started()],
                    verbose=0)
    assert info.value.errno == errno.ENOSPC and model.log_dir in str(info.value) and "1000 bytes" in str(info.value)
    assert not started, "fit never started"
    assert os.listdir(model.log_dir) == [], "nothing but the (removed) probe was written"
