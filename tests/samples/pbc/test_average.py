"""`pbc.py average`: the last stage of a run averaged into one file that evaluate scores with the run's losses;
runs whose batch norm trained, missing epochs and bad ranges refused by name."""

import glob
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from samples.pbc import pbc
from mrcnn.training.checkpoints import report_path
from samples.pbc.average import average_run, last_stage_start, run_folder
from tests.samples.pbc.test_pretrain_cli import TINY, make_folder

PBC_PY = os.path.join(os.path.dirname(__file__), "..", "..", "..", "samples", "pbc", "pbc.py")


def fake_run(root, epochs, train_bn=False, skip=()):
    """root/pbc20261205T0000/ with mask_rcnn_pbc_NNNN.weights.h5 whose every weight equals the epoch number."""
    run = os.path.join(root, "pbc20261205T0000")
    os.makedirs(run)
    with open(os.path.join(run, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"NAME": "pbc", "TRAIN_BN": train_bn}, f)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="mrcnn_class_logits")])
    for epoch in range(1, epochs + 1):
        if epoch not in skip:
            model.set_weights([np.full(w.shape, float(epoch), w.dtype) for w in model.get_weights()])
            model.save_weights(os.path.join(run, f"mask_rcnn_pbc_{epoch:04d}.weights.h5"))
    return run, model


def test_last_stage_of_the_pretrained_plan():
    assert last_stage_start(24) == 13  # heads 1-4, 4+ 5-12, all 13-24
    assert last_stage_start(240) == 121  # the paper's 240 epochs: all layers from 121
    assert last_stage_start(1) == 1


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


def test_command_line_without_a_run_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, PBC_PY, "average", "--logs", str(tmp_path / "none"), "--out",
                           str(tmp_path / "a.weights.h5")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "pbc.py average: error: --weights last: no log folder" in done.stderr


@pytest.mark.slow
def test_average_a_real_run_then_evaluate_it_with_the_runs_losses(tmp_path, capsys):
    data, logs = str(tmp_path / "pbc"), str(tmp_path / "logs")
    annotations = make_folder(data)
    backbone = str(tmp_path / "backbone.weights.h5")
    assert pbc.main(["pretrain", "--dataset", data, "--epochs", "1", "--batch-size", "8", "--logs", logs,
                     "--out", backbone] + TINY) == 0
    assert pbc.main(["train", "--dataset", data, "--annotations", annotations, "--weights", backbone,
                     "--epochs", "3", "--steps-per-epoch", "1", "--validation-steps", "1", "--images-per-gpu", "2",
                     "--gpu-count", "1", "--logs", logs, "--seed", "0"] + TINY) == 0
    out = str(tmp_path / "detector.weights.h5")
    capsys.readouterr()
    assert pbc.main(["average", "--logs", logs, "--from-epoch", "2", "--out", out]) == 0
    assert f"averaged epochs 2-3 of {glob.glob(os.path.join(logs, 'pbc2*'))[0]}" in capsys.readouterr().out
    assert pbc.main(["evaluate", "--dataset", data, "--annotations", annotations, "--weights", out, "--logs", logs,
                     "--out", str(tmp_path / "eval")] + TINY) == 0
    with open(str(tmp_path / "eval" / "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    assert metrics["losses"]["last_epoch"] == 3  # Table 3 from the run the averaged file came from
    assert metrics["meta"]["source"]["weights"] == out
