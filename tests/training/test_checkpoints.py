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
