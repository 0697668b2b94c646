"""Pretraining a backbone as a classifier: batches, schedule, learning a separable set, the file a detector loads,
resume, and bad input."""

import json
import os

import numpy as np
import pytest

from mrcnn.model import MaskRCNN
from mrcnn.training import checkpoints
from mrcnn.training.pretrain import (PREFIX, ClassifierBatches, learning_rate_schedule, mold_images,
                                     pretrain_backbone, run_name)
from mrcnn.weights_io import read_weights, weighted_layers
from tests.tiny_config import TinyConfig

CLASSES = ["disc", "bar", "ring"]


def toy_set(per_class, seed):
    """uint8 [3 * per_class, 64, 64, 3] noisy images of a dark disc, bar or ring of random size and place (one shape
    per class: separable by shape, not by colour statistics), and their labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    images, labels = [], []
    for label in range(3):
        for _ in range(per_class):
            cy, cx, r = rng.uniform(24, 40), rng.uniform(24, 40), rng.uniform(10, 16)
            d = np.hypot(yy - cy, xx - cx)
            shape = {0: d < r, 1: (np.abs(yy - cy) < r) & (np.abs(xx - cx) < r / 3),
                     2: (d < r) & (d > 0.6 * r)}[label]
            image = rng.normal(200, 12, (64, 64, 3))
            image[shape] -= (120, 140, 60)
            images.append(np.clip(image, 0, 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels)


def test_batches_are_a_function_of_seed_epoch_and_index():
    images, labels = toy_set(5, 0)
    batches = ClassifierBatches(images, labels, 3, 4, TinyConfig.MEAN_PIXEL, seed=7)
    assert len(batches) == 4  # 15 images: 4 + 4 + 4 + 3
    x, y = batches[0]
    assert x.shape == (4, 64, 64, 3) and x.dtype == np.float32 and y.shape == (4, 3)
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)
    assert batches[3][0].shape[0] == 3
    again = ClassifierBatches(images, labels, 3, 4, TinyConfig.MEAN_PIXEL, seed=7)
    np.testing.assert_array_equal(again[0][0], x)
    seen = np.concatenate([np.argmax(batches[i][1], axis=1) for i in range(len(batches))])
    assert sorted(seen) == sorted(labels)  # one epoch visits every image once
    batches.on_epoch_end()
    assert not np.array_equal(batches[0][0], x)  # a fresh order next epoch
    unshuffled = ClassifierBatches(images, labels, 3, 4, TinyConfig.MEAN_PIXEL, shuffle=False)
    np.testing.assert_allclose(unshuffled[0][0], images[:4] - TinyConfig.MEAN_PIXEL, atol=1e-4)
    with pytest.raises(ValueError, match="same positive number"):
        ClassifierBatches(images, labels[:3], 3, 4, TinyConfig.MEAN_PIXEL)


def test_learning_rate_warms_up_then_follows_a_cosine_to_zero():
    schedule = learning_rate_schedule(0.01, 200)  # warm-up over 10 steps, then a cosine over 190
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(5)) == pytest.approx(0.005)
    assert float(schedule(10)) == pytest.approx(0.01)
    assert float(schedule(10 + 95)) == pytest.approx(0.005, rel=1e-4)  # half way down the cosine
    assert float(schedule(200)) == pytest.approx(0.0, abs=1e-9)


def test_mold_images_resizes_like_the_detector():
    config = TinyConfig()
    images = [np.full((90, 120, 3), 255, np.uint8), np.zeros((64, 64, 3), np.uint8)]
    out = mold_images(images, config)
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.uint8
    assert (out[0, 8:56] == 255).all() and (out[0, :8] == 0).all()  # 120 -> 64 wide, 90 -> 48 high, padded


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny backbone pretrained for 10 epochs (90 steps) on the toy set."""
    logs = str(tmp_path_factory.mktemp("logs"))
    config = TinyConfig()
    report = pretrain_backbone(config, toy_set(24, 1), toy_set(6, 2), CLASSES, logs, epochs=10, batch_size=8,
                               learning_rate=0.005, seed=3, verbose=0)
    return config, logs, report


def test_learns_a_separable_set_and_reports_it(pretrained):
    _, _, report = pretrained
    assert report["val_accuracy"] >= 0.9
    assert set(report["val_recall"]) == set(CLASSES)
    with open(report["report"], encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["val_accuracy"] == report["val_accuracy"] and saved["train_images"] == 72
    assert saved["val_images"] == 18 and saved["backbone"] == "tiny" and saved["epochs"] == 10


def test_writes_checkpoints_and_a_backbone_file_the_detector_loads_by_name(pretrained):
    config, logs, report = pretrained
    run = report["log_dir"]
    assert os.path.basename(run).startswith(run_name(config))
    assert checkpoints.find_last(logs, run_name(config), prefix=PREFIX) == os.path.join(
        run, f"{PREFIX}_pretrain_tiny_0010.weights.h5")
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(run))
    saved = read_weights(report["weights"])
    assert len(saved) == report["layers"] and not [n for n in saved if n.startswith("pretrain_")]

    detector = MaskRCNN("training", config, logs)
    loaded = detector.load_weights(report["weights"], by_name=True)
    assert sorted(loaded["loaded"]) == sorted(saved)  # every layer of the file, matched by name
    assert loaded["missing"] and not loaded["mismatched"] and not loaded["unused"]
    assert detector.epoch == 0  # a backbone file is not a checkpoint to resume
    layers = weighted_layers(detector.keras_model)
    for name, arrays in saved.items():
        for variable, array in zip(layers[name].weights, arrays):
            np.testing.assert_array_equal(np.asarray(variable), array)


def test_resume_continues_at_the_next_epoch_with_the_optimizer_state(pretrained, tmp_path):
    config, logs, report = pretrained
    last = checkpoints.find_last(logs, run_name(config), prefix=PREFIX)
    out = str(tmp_path / "continued.weights.h5")
    resumed = pretrain_backbone(config, toy_set(24, 1), toy_set(6, 2), CLASSES, logs, epochs=11, batch_size=8,
                                learning_rate=0.005, seed=3, resume_from=last, out=out, verbose=0)
    assert resumed["log_dir"] == report["log_dir"] and resumed["epochs"] == 11
    state = checkpoints.optimizer_state_path(report["log_dir"], run_name(config), 11, prefix=PREFIX)
    from mrcnn.training.optimizer_state import read_optimizer_state
    assert read_optimizer_state(state)["iterations"] == 11 * 9  # 72 images in batches of 8: 9 steps an epoch
    assert os.path.isfile(out) and os.path.isfile(str(tmp_path / "continued.json"))


def test_bad_input(tmp_path):
    config = TinyConfig()
    train, val = toy_set(2, 0), toy_set(1, 1)
    one_class = (train[0][:2], train[1][:2])
    with pytest.raises(ValueError, match="at least 2 classes"):
        pretrain_backbone(config, one_class, val, CLASSES, str(tmp_path), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"labels must be in 0..2"):
        pretrain_backbone(config, (train[0], train[1] + 1), val, CLASSES, str(tmp_path), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="val images"):
        pretrain_backbone(config, train, (val[0][:0], val[1][:0]), CLASSES, str(tmp_path), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        pretrain_backbone(config, train, val, CLASSES, str(tmp_path), epochs=1, out="x.h5", verbose=0)
    with pytest.raises(ValueError, match="not a pretraining checkpoint"):
        pretrain_backbone(config, train, val, CLASSES, str(tmp_path), epochs=1, verbose=0,
                          resume_from=str(tmp_path / "mask_rcnn_pbc_0001.weights.h5"))
