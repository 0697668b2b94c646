import datetime
import os

import keras
import numpy as np
import pytest

from mrcnn.training import checkpoints


def test_names_and_parse(tmp_path):
    log_dir = checkpoints.new_log_dir(str(tmp_path), "PBC", now=datetime.datetime(2026, 11, 23, 9, 5))
    assert os.path.basename(log_dir) == "pbc20261123T0905"
    path = checkpoints.checkpoint_path(log_dir, "pbc", 12)
    assert os.path.basename(path) == "mask_rcnn_pbc_0012.weights.h5"
    assert checkpoints.parse_checkpoint(path) == (os.path.abspath(log_dir), 12)
    assert checkpoints.parse_checkpoint("mask_rcnn_coco.h5") is None


def test_find_last_picks_newest_run_with_a_checkpoint(tmp_path):
    old = tmp_path / "pbc20261101T1000"
    new = tmp_path / "pbc20261102T1000"
    empty = tmp_path / "pbc20261103T1000"
    for d in (old, new, empty):
        d.mkdir()
    for name in ("mask_rcnn_pbc_0001.weights.h5", "mask_rcnn_pbc_0002.weights.h5"):
        (old / name).write_bytes(b"x")
    (new / "mask_rcnn_pbc_0001.weights.h5").write_bytes(b"x")
    (new / ".tmp-1-mask_rcnn_pbc_0002.weights.h5").write_bytes(b"x")
    (tmp_path / "other20261104T1000").mkdir()
    assert checkpoints.find_last(str(tmp_path), "pbc") == str(new / "mask_rcnn_pbc_0001.weights.h5")


def test_find_last_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no log folder"):
        checkpoints.find_last(str(tmp_path / "missing"), "pbc")
    with pytest.raises(FileNotFoundError, match="no run folder"):
        checkpoints.find_last(str(tmp_path), "pbc")
    (tmp_path / "pbc20261101T1000").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoints.find_last(str(tmp_path), "pbc")


def test_atomic_save_leaves_no_temporary(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    path = str(tmp_path / "mask_rcnn_x_0001.weights.h5")
    checkpoints.save_weights_atomic(model, path)
    assert os.listdir(tmp_path) == ["mask_rcnn_x_0001.weights.h5"]
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    other.load_weights(path)
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])


def test_atomic_save_failure_keeps_old_file(tmp_path):
    path = tmp_path / "mask_rcnn_x_0001.weights.h5"
    path.write_bytes(b"old")

    class Broken:
        def save_weights(self, p):
            with open(p, "wb") as f:
                f.write(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        checkpoints.save_weights_atomic(Broken(), str(path))
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["mask_rcnn_x_0001.weights.h5"]


def test_optimizer_state_files_are_not_checkpoints(tmp_path):
    run = tmp_path / "pbc20261101T1000"
    run.mkdir()
    (run / "mask_rcnn_pbc_0001.weights.h5").write_bytes(b"x")
    state = checkpoints.optimizer_state_path(str(run), "PBC", 2)
    assert os.path.basename(state) == "mask_rcnn_pbc_0002.optimizer.h5"
    open(state, "wb").close()
    assert checkpoints.parse_checkpoint(state) is None
    assert checkpoints.OPTIMIZER_STATE_PATTERN.match(os.path.basename(state))
    assert checkpoints.find_last(str(tmp_path), "pbc") == str(run / "mask_rcnn_pbc_0001.weights.h5")


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name in (f".tmp-{dead.pid}-mask_rcnn_x_0003.weights.h5", f".tmp-{os.getpid()}-config.json",
                 f".tmp-{os.getppid()}-mask_rcnn_x_0003.optimizer.h5", "mask_rcnn_x_0002.weights.h5"):
        (tmp_path / name).write_bytes(b"x")
    removed = checkpoints.remove_stale_temporaries(str(tmp_path))
    assert removed == sorted([f".tmp-{dead.pid}-mask_rcnn_x_0003.weights.h5", f".tmp-{os.getpid()}-config.json"])
    # The parent process is alive: its save may be in progress.
    assert sorted(os.listdir(tmp_path)) == sorted([f".tmp-{os.getppid()}-mask_rcnn_x_0003.optimizer.h5",
                                                  "mask_rcnn_x_0002.weights.h5"])
    assert checkpoints.remove_stale_temporaries(str(tmp_path / "missing")) == []


def test_prune_keeps_recent_optimizer_states_and_every_weights_file(tmp_path):
    names = [f"mask_rcnn_x_{e:04d}.{kind}.h5" for e in (1, 2, 3) for kind in ("weights", "optimizer")]
    names.append("mask_rcnn_other_0001.optimizer.h5")
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert checkpoints.prune_optimizer_states(str(tmp_path), "X", 2) == ["mask_rcnn_x_0001.optimizer.h5"]
    assert sorted(os.listdir(tmp_path)) == sorted(set(names) - {"mask_rcnn_x_0001.optimizer.h5"})


def test_write_text_atomic_replaces_whole_files(tmp_path):
    path = tmp_path / "config.json"
    checkpoints.write_text_atomic(str(path), "first")
    checkpoints.write_text_atomic(str(path), "second")
    assert path.read_text() == "second" and os.listdir(tmp_path) == ["config.json"]


def test_read_run_config(tmp_path):
    assert checkpoints.read_run_config(str(tmp_path)) is None  # a run folder without config.json
    (tmp_path / "config.json").write_text('{"TRAIN_BN": false, "NAME": "pbc"}', encoding="utf-8")
    assert checkpoints.read_run_config(str(tmp_path)) == {"TRAIN_BN": False, "NAME": "pbc"}
    (tmp_path / "config.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        checkpoints.read_run_config(str(tmp_path))
    (tmp_path / "config.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"config\.json: holds list"):
        checkpoints.read_run_config(str(tmp_path))


def test_report_path_beside_weights():
    assert checkpoints.report_path("out/backbone.weights.h5") == "out/backbone.json"
    assert checkpoints.report_path("out/model.h5") == "out/model.json"
