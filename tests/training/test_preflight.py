import collections
import errno
import os
import shutil

import keras
import pytest

from mrcnn.training import preflight

Usage = collections.namedtuple("Usage", "total used free")


def small_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


def test_checkpoint_bytes_counts_weights_and_optimizer_state():
    model = small_model()
    weights = (3 * 4 + 4 + 4 * 2 + 2) * 4  # float32
    assert preflight.checkpoint_bytes(model) == int(weights * 1.05) + 2 ** 20  # optimizer not built yet
    model.optimizer.build(model.trainable_variables)
    state = weights + 8  # one momentum per weight, the int64 iteration count; the learning rate is not saved
    assert preflight.checkpoint_bytes(model) == int((weights + state) * 1.05) + 2 ** 20


def test_check_creates_the_folder_and_leaves_nothing(tmp_path):
    folder = tmp_path / "logs" / "run"
    preflight.check_log_dir(str(folder), 1000)
    assert folder.is_dir() and os.listdir(folder) == []


def test_full_disk_is_reported_with_free_and_needed_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10 ** 9, 10 ** 9 - 5000, 5000))
    with pytest.raises(OSError) as info:
        preflight.check_log_dir(str(tmp_path), 3 * 2 ** 20)
    assert info.value.errno == errno.ENOSPC
    message = str(info.value)
    assert str(tmp_path) in message and "5000 bytes" in message and "3.0 MiB (3145728 bytes)" in message
    assert "free some space" in message
    preflight.check_log_dir(str(tmp_path), 4000)  # enough room: no error


def test_folder_that_cannot_be_created_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="cannot write to the log folder") as info:
        preflight.check_log_dir(str(blocker / "run"), 1000)
    assert str(blocker / "run") in str(info.value) and "model_dir" in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user "
                                                                    "(root writes through chmod)")
def test_read_only_folder_is_a_permission_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="cannot write to the log folder"):
            preflight.check_log_dir(str(folder), 1000)
    finally:
        folder.chmod(0o700)


def test_failed_probe_write_is_reported_and_cleaned_up(tmp_path, monkeypatch):
    """What an unwritable or full folder looks like to a process that may create files (e.g. root on a full disk,
    a quota): the probe write itself fails."""
    real_fsync = os.fsync

    def failing_fsync(fd):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Disk quota exceeded") as info:
        preflight.check_log_dir(str(tmp_path), 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert info.value.errno == errno.EDQUOT and str(tmp_path) in str(info.value)
    assert os.listdir(tmp_path) == [], "the probe file is removed"


def test_access_denied_stays_a_permission_error(tmp_path, monkeypatch):
    """Runs as root too (where chmod does not block): a denied makedirs surfaces as PermissionError naming the
    folder."""
    def denied(path, exist_ok=False):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(os, "makedirs", denied)
    with pytest.raises(PermissionError, match="cannot write to the log folder") as info:
        preflight.check_log_dir(str(tmp_path / "run"), 1000)
    assert str(tmp_path / "run") in str(info.value) and "make it writable" in str(info.value)
