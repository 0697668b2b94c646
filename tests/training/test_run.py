"""TrainingRun: finding runs by checkpoint, the record of stages (merged, truncated on a resume from an earlier
epoch), the one training loop (checkpoints, record, config, resume with the optimizer state, NaN guard)."""

import json
import os
import re

import keras
import numpy as np
import pytest

from mrcnn.training.callbacks import NonFiniteLoss
from mrcnn.training.run import RECORD, TrainingRun, run_folder


def test_from_checkpoint_knows_the_kind_name_and_epoch(tmp_path):
    run = TrainingRun.from_checkpoint(str(tmp_path / "pbc20261201T0000" / "mask_rcnn_pbc_0012.weights.h5"))
    assert (run.kind, run.name, run.epoch) == ("mask_rcnn", "pbc", 12)
    assert run.log_dir == str(tmp_path / "pbc20261201T0000")
    pretrain = TrainingRun.from_checkpoint("x/classifier_pretrain_small_0003.weights.h5")
    assert (pretrain.kind, pretrain.name, pretrain.epoch, pretrain.prefix) == ("classifier", "pretrain_small", 3,
                                                                              "classifier")
    assert TrainingRun.from_checkpoint("x/classifier_pretrain_small_0003.weights.h5", kind="mask_rcnn") is None
    for other in ("backbone_small.weights.h5", "mask_rcnn_coco.h5", "x/mask_rcnn_pbc_0003.optimizer.h5"):
        assert TrainingRun.from_checkpoint(other) is None
    with pytest.raises(ValueError, match="valid kinds"):
        TrainingRun(str(tmp_path), "pbc", kind="detector")


def test_last_and_saved_epochs(tmp_path):
    old, new = tmp_path / "pbc20261201T0000", tmp_path / "pbc20261202T0000"
    for folder, epochs in ((old, (1, 2, 3)), (new, (1, 2))):
        folder.mkdir()
        for epoch in epochs:
            (folder / f"mask_rcnn_pbc_{epoch:04d}.weights.h5").write_bytes(b"")
    (new / "mask_rcnn_pbc_0002.optimizer.h5").write_bytes(b"")
    run = TrainingRun.last(str(tmp_path), "PBC")
    assert (run.log_dir, run.epoch) == (str(new), 2)
    assert run.checkpoint_path() == str(new / "mask_rcnn_pbc_0002.weights.h5")
    assert run.saved_epochs() == [1, 2]
    with pytest.raises(FileNotFoundError, match="no checkpoint classifier_pbc_NNNN.weights.h5 in any run folder"):
        TrainingRun.last(str(tmp_path), "pbc", kind="classifier")


def record(run, *stages):
    """Record (last epoch, settings) stages one after another, as consecutive fit calls would."""
    for last, settings in stages:
        run._record_stage(run.log_dir, last, settings)
        run.epoch = last
    return run.stages()


def test_stages_merge_when_settings_go_on_and_are_redone_after_an_earlier_resume(tmp_path):
    run = TrainingRun(str(tmp_path), "pbc")
    os.makedirs(run.log_dir, exist_ok=True)
    heads, all_layers = {"layers": "heads", "learning_rate": 0.001}, {"layers": "all", "learning_rate": 0.0001}
    stages = record(run, (4, heads), (8, all_layers), (10, all_layers))
    assert [(s["first_epoch"], s["last_epoch"], s["layers"]) for s in stages] == [(1, 4, "heads"), (5, 10, "all")]
    assert run.stage_of(7) == {"first_epoch": 5, "last_epoch": 10, "layers": "all", "learning_rate": 0.0001}
    # resumed from epoch 6's checkpoint with another rate: epochs 7-10 are trained again, as a stage of their own
    run.epoch = 6
    stages = record(run, (12, {"layers": "all", "learning_rate": 0.00001}))
    assert [(s["first_epoch"], s["last_epoch"], s["learning_rate"]) for s in stages] == \
        [(1, 4, 0.001), (5, 6, 0.0001), (7, 12, 0.00001)]
    # resumed from epoch 2 with the heads' settings: the heads stage goes on, everything after it is dropped
    run.epoch = 2
    assert [(s["first_epoch"], s["last_epoch"]) for s in record(run, (4, heads))] == [(1, 4)]
    with pytest.raises(ValueError, match="no recorded stage trained epoch 9"):
        run.stage_of(9)


def test_a_record_of_another_kind_or_format_is_named(tmp_path):
    run = TrainingRun(str(tmp_path), "pbc")
    with pytest.raises(ValueError, match="run.json does not exist"):
        run.stage_of(1)
    (tmp_path / RECORD).write_text(json.dumps({"format": "mrcnn-training-run", "kind": "classifier", "stages": []}))
    with pytest.raises(ValueError, match="a classifier run, not a mask_rcnn run"):
        run.stages()
    (tmp_path / RECORD).write_text("[1, 2]")
    with pytest.raises(ValueError, match="run.json: holds list, not the JSON object of a training run.s record"):
        run.record()
    (tmp_path / RECORD).write_text("{oops")
    with pytest.raises(ValueError, match="not valid JSON"):
        run.record()


def test_run_folder_of_checkpoints_and_averaged_files(tmp_path):
    run = tmp_path / "pbc20261201T0000"
    run.mkdir()
    assert run_folder(str(run / "mask_rcnn_pbc_0003.weights.h5")) == str(run)
    (tmp_path / "avg.json").write_text(json.dumps({"run": str(run)}))
    assert run_folder(str(tmp_path / "avg.weights.h5")) == str(run)
    (tmp_path / "gone.json").write_text(json.dumps({"run": str(tmp_path / "deleted")}))
    assert run_folder(str(tmp_path / "gone.weights.h5")) == str(tmp_path)


class Config:
    """What fit writes as config.json."""

    def to_json(self):
        return json.dumps({"NAME": "toy"})


def toy_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense")], name="toy")
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


def toy_data(bad=False):
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    y = np.array([[np.nan], [1.0]] if bad else [[1.0], [2.0]], np.float32)
    return x, y


def fit(run, model, epochs, bad=False):
    return run.fit(model, Batches(*toy_data(bad)), epochs, 1, stage={"layers": "all", "learning_rate": 0.1},
                   config=Config(), verbose=0)


class Batches(keras.utils.PyDataset):
    """The same batch every step."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return 1

    def __getitem__(self, index):
        return self.x, self.y


def test_fit_checkpoints_records_and_resumes_with_the_optimizer_state(tmp_path):
    run = TrainingRun.new(str(tmp_path), "toy")
    model = toy_model()
    fit(run, model, 2)
    assert run.epoch == 2 and run.saved_epochs() == [1, 2]
    assert os.path.isfile(run.optimizer_state_path(2))
    assert json.load(open(os.path.join(run.log_dir, "config.json"))) == {"NAME": "toy"}
    assert run.stages() == [{"first_epoch": 1, "last_epoch": 2, "layers": "all", "learning_rate": 0.1}]

    resumed = TrainingRun.from_checkpoint(run.checkpoint_path(2))
    again = toy_model()
    again.load_weights(run.checkpoint_path(2))
    assert fit(resumed, again, 2) is None  # nothing past epoch 2 asked
    history = fit(resumed, again, 3)
    assert history.epoch == [2] and resumed.saved_epochs() == [1, 2, 3]
    assert resumed.stages() == [{"first_epoch": 1, "last_epoch": 3, "layers": "all", "learning_rate": 0.1}]
    assert int(again.optimizer.iterations.numpy()) == 3  # the state of epoch 2 restored, then one step


def test_a_non_finite_loss_names_the_last_good_checkpoint(tmp_path):
    run = TrainingRun.new(str(tmp_path), "toy")
    model = toy_model()
    with pytest.raises(NonFiniteLoss, match=r"no epoch finished"):
        fit(run, model, 1, bad=True)
    run = TrainingRun.new(str(tmp_path / "second"), "toy")
    fit(run, model := toy_model(), 1)
    with pytest.raises(NonFiniteLoss, match=re.escape(run.checkpoint_path(1))):
        fit(run, model, 2, bad=True)
    assert run.epoch == 1 and run.saved_epochs() == [1]
