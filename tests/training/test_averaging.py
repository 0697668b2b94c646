"""Checkpoint averaging: the mean of the float weights, counters from the last file, other models refused; a run's
last stage, as its record gives it, averaged into one file (runs stopped early or extended, other kinds of run,
runs whose batch norm trained, missing epochs refused by name)."""

import json
import os

import keras
import numpy as np
import pytest

from mrcnn.training.averaging import average_run, average_weights_files
from mrcnn.training.checkpoints import report_path
from mrcnn.training.run import TrainingRun, run_folder


def small_model(width=3):
    inputs = keras.Input((4,))
    x = keras.layers.Dense(width, name="dense")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def saved(tmp_path, name, fill, width=3):
    model = small_model(width)
    model.set_weights([np.full(w.shape, fill, w.dtype) for w in model.get_weights()])
    path = str(tmp_path / f"{name}.weights.h5")
    model.save_weights(path)
    return path


def test_mean_of_three_checkpoints_loads_into_the_model(tmp_path):
    paths = [saved(tmp_path, f"e{i}", fill) for i, fill in enumerate([1.0, 2.0, 6.0])]
    out = str(tmp_path / "avg.weights.h5")
    count = average_weights_files(paths, out)
    model = small_model()
    model.load_weights(out)
    assert count == len(model.weights)  # 2 dense kernels, 2 biases, 4 batch-norm arrays
    for weight in model.get_weights():
        np.testing.assert_allclose(weight, 3.0)


def test_one_checkpoint_is_copied_unchanged(tmp_path):
    path = saved(tmp_path, "only", 0.25)
    out = str(tmp_path / "avg.weights.h5")
    average_weights_files([path], out)
    model = small_model()
    model.load_weights(out)
    assert all(np.all(w == 0.25) for w in model.get_weights())


def test_optimizer_state_is_the_last_files_and_may_differ(tmp_path):
    """A compiled model saves its optimizer's variables too; they change with the layers that train."""
    paths = []
    for fill, trainable in [(1.0, False), (3.0, True)]:
        model = small_model()
        model.get_layer("dense").trainable = trainable  # fewer optimizer variables in the first file
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.zeros((2, 4)), np.zeros((2, 2)), verbose=0)
        model.set_weights([np.full(w.shape, fill, w.dtype) for w in model.get_weights()])
        paths.append(str(tmp_path / f"{fill}.weights.h5"))
        model.save_weights(paths[-1])
    out = str(tmp_path / "avg.weights.h5")
    average_weights_files(paths, out)
    model = small_model()
    model.load_weights(out)
    assert all(np.allclose(w, 2.0) for w in model.get_weights())


def test_checkpoints_of_another_model_are_refused_by_name(tmp_path):
    paths = [saved(tmp_path, "narrow", 1.0, width=3), saved(tmp_path, "wide", 1.0, width=5)]
    out = tmp_path / "avg.weights.h5"
    with pytest.raises(ValueError, match=r"narrow\.weights\.h5 does not hold the same weights"):
        average_weights_files(paths, str(out))
    assert not out.exists()


def test_missing_file_and_empty_list(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        average_weights_files([str(tmp_path / "nope.weights.h5")], str(tmp_path / "avg.weights.h5"))
    with pytest.raises(ValueError, match="no checkpoint"):
        average_weights_files([], str(tmp_path / "avg.weights.h5"))


# ---- a training run's last stage ----------------------------------------------------------------------------------

def fake_run(root, epochs, train_bn=False, skip=(), stages=((4, "heads", 0.001), (12, "4+", 0.001),
                                                                 (24, "all", 0.0001))):
    """root/pbc20261205T0000/ with mask_rcnn_pbc_NNNN.weights.h5 whose every weight equals the epoch number, and the
    run's record of `stages` [(planned last epoch, layers, learning rate)] as MaskRCNN.train writes it."""
    run = os.path.join(root, "pbc20261205T0000")
    os.makedirs(run)
    with open(os.path.join(run, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"NAME": "pbc", "TRAIN_BN": train_bn}, f)
    record = TrainingRun(run, "pbc")
    for last, layers, rate in stages:
        record._record_stage(run, last, {"layers": layers, "learning_rate": rate, "optimizer": "SGD"})
        record.epoch = min(last, epochs)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="mrcnn_class_logits")])
    for epoch in range(1, epochs + 1):
        if epoch not in skip:
            model.set_weights([np.full(w.shape, float(epoch), w.dtype) for w in model.get_weights()])
            model.save_weights(os.path.join(run, f"mask_rcnn_pbc_{epoch:04d}.weights.h5"))
    return run, model


def test_default_range_is_the_last_stage_and_the_report_names_the_run(tmp_path):
    run, model = fake_run(str(tmp_path), 24)
    out = str(tmp_path / "out" / "detector.weights.h5")
    report = average_run(os.path.join(run, "mask_rcnn_pbc_0024.weights.h5"), out)
    assert report["epochs"] == [13, 24] and report["checkpoints"] == 12
    model.load_weights(out)
    for weight in model.get_weights():
        np.testing.assert_allclose(weight, 18.5)  # mean of 13..24
    assert report_path(out) == str(tmp_path / "out" / "detector.json")
    with open(report_path(out), encoding="utf-8") as f:
        assert json.load(f)["run"] == run
    assert run_folder(out) == run  # evaluate reads Table 3's losses from the run
    assert run_folder(os.path.join(run, "mask_rcnn_pbc_0024.weights.h5")) == run


def test_a_run_stopped_inside_its_last_stage_averages_that_stage_so_far(tmp_path):
    # Planned for 24 epochs (all layers from 13), stopped after epoch 20: the stage is still 13-24, not the last
    # stage of a 20-epoch plan (11-20), which would take in three epochs of the 4+ stage.
    run, _ = fake_run(str(tmp_path), 20)
    report = average_run(os.path.join(run, "mask_rcnn_pbc_0020.weights.h5"), str(tmp_path / "a.weights.h5"))
    assert report["epochs"] == [13, 20]


def test_a_run_extended_past_its_plan_keeps_one_last_stage(tmp_path):
    # 24 epochs, then `train --epochs 30 --weights last`: the same layers and rate go on, so 13-30 is one stage.
    run, _ = fake_run(str(tmp_path), 30, stages=((4, "heads", 0.001), (12, "4+", 0.001), (24, "all", 0.0001),
                                                 (30, "all", 0.0001)))
    assert TrainingRun(run, "pbc").stages()[-1] == {"first_epoch": 13, "last_epoch": 30, "layers": "all",
                                                    "learning_rate": 0.0001, "optimizer": "SGD"}
    report = average_run(os.path.join(run, "mask_rcnn_pbc_0030.weights.h5"), str(tmp_path / "a.weights.h5"))
    assert report["epochs"] == [13, 30]
    # ... and extended with another rate, the new epochs are a stage of their own
    other = tmp_path / "other"
    run, _ = fake_run(str(other), 30, stages=((24, "all", 0.001), (30, "all", 0.0001)))
    report = average_run(os.path.join(run, "mask_rcnn_pbc_0030.weights.h5"), str(tmp_path / "b.weights.h5"))
    assert report["epochs"] == [25, 30]


def test_a_checkpoint_of_another_kind_of_run_is_refused(tmp_path):
    run = tmp_path / "pretrain_small20261205T0000"
    run.mkdir()
    checkpoint = run / "classifier_pretrain_small_0003.weights.h5"
    checkpoint.write_bytes(b"")
    with pytest.raises(ValueError, match="a checkpoint of a classifier run"):
        average_run(str(checkpoint), str(tmp_path / "a.weights.h5"))


def test_a_run_without_a_record_needs_from_epoch(tmp_path):
    run, _ = fake_run(str(tmp_path), 4, stages=())
    final = os.path.join(run, "mask_rcnn_pbc_0004.weights.h5")
    with pytest.raises(ValueError, match=r"run\.json does not exist"):
        average_run(final, str(tmp_path / "a.weights.h5"))
    assert average_run(final, str(tmp_path / "a.weights.h5"), from_epoch=2)["epochs"] == [2, 4]


def test_from_epoch_and_its_bounds(tmp_path):
    run, model = fake_run(str(tmp_path), 4)
    final = os.path.join(run, "mask_rcnn_pbc_0004.weights.h5")
    out = str(tmp_path / "avg.weights.h5")
    assert average_run(final, out, from_epoch=3)["epochs"] == [3, 4]
    model.load_weights(out)
    np.testing.assert_allclose(model.get_weights()[0], 3.5)
    for bad in (0, 5):
        with pytest.raises(ValueError, match=f"--from-epoch {bad}: must be between 1 and the checkpoint's epoch 4"):
            average_run(final, out, from_epoch=bad)


@pytest.mark.parametrize("train_bn", [True, None])
def test_a_run_whose_batch_norm_trained_is_refused(tmp_path, train_bn):
    run, _ = fake_run(str(tmp_path), 2, train_bn=train_bn)
    with pytest.raises(ValueError, match=f"config.json: TRAIN_BN is {train_bn}"):
        average_run(os.path.join(run, "mask_rcnn_pbc_0002.weights.h5"), str(tmp_path / "a.weights.h5"))


def test_a_config_that_is_not_json_is_named(tmp_path):
    run, _ = fake_run(str(tmp_path), 2)
    with open(os.path.join(run, "config.json"), "w", encoding="utf-8") as f:
        f.write("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        average_run(os.path.join(run, "mask_rcnn_pbc_0002.weights.h5"), str(tmp_path / "a.weights.h5"))


def test_missing_epochs_and_foreign_files_are_named(tmp_path):
    run, _ = fake_run(str(tmp_path), 24, skip=(15, 16))
    out = tmp_path / "a.weights.h5"
    with pytest.raises(FileNotFoundError, match=r"no checkpoint of epoch\(s\) 15, 16 to average"):
        average_run(os.path.join(run, "mask_rcnn_pbc_0024.weights.h5"), str(out))
    assert not out.exists()
    with pytest.raises(ValueError, match="not a training checkpoint"):
        average_run(str(tmp_path / "backbone.weights.h5"), str(out))
