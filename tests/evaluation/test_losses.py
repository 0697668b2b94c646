"""Tests for mrcnn/evaluation/losses.py: Table 3 read back from TensorBoard event files written with tf.summary."""

import pytest

tf = pytest.importorskip("tensorflow")

from mrcnn.evaluation import read_losses  # noqa: E402


def _write(log_dir, values, steps):
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for step in steps:
            for tag, value in values.items():
                tf.summary.scalar(tag, value(step), step=step)
    writer.flush()
    writer.close()


TAGS = {"loss": lambda s: 1.0 / s, "val_loss": lambda s: 2.0 / s, "mrcnn_bbox_loss": lambda s: 0.1 * s,
        "mrcnn_class_loss": lambda s: 0.2 * s, "mrcnn_mask_loss": lambda s: 0.3 * s,
        "rpn_class_loss": lambda s: 0.01}


def test_last_epoch_table3(tmp_path):
    _write(tmp_path, TAGS, steps=[1, 2, 3])
    losses = read_losses(str(tmp_path))
    assert losses["last_epoch"] == 3
    assert losses["table3"] == pytest.approx({"total": 1 / 3, "validation": 2 / 3, "box": 0.3, "class": 0.6,
                                              "mask": 0.9})
    assert losses["curves"]["loss"]["steps"] == [1, 2, 3]
    assert losses["curves"]["loss"]["values"] == pytest.approx([1.0, 0.5, 1 / 3])
    assert losses["last"]["rpn_class_loss"] == pytest.approx(0.01)


def test_resumed_run_later_write_wins_and_missing_tags(tmp_path):
    _write(tmp_path, {"loss": lambda s: 5.0}, steps=[1, 2])
    _write(tmp_path, {"loss": lambda s: 7.0}, steps=[2, 3])  # a second event file, written later
    losses = read_losses(str(tmp_path))
    assert losses["curves"]["loss"]["values"] == pytest.approx([5.0, 7.0, 7.0])
    assert losses["table3"]["validation"] is None  # no val_loss logged


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        read_losses(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="no TensorBoard event file"):
        read_losses(str(tmp_path))
    _write(tmp_path, {"accuracy": lambda s: 1.0}, steps=[1])
    with pytest.raises(ValueError, match="no 'loss' scalar"):
        read_losses(str(tmp_path))
