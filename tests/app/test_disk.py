"""The work folder (mrcnn/app/disk.py): where it is, atomic writes, ids that can never be paths."""

import json
import os

import pytest

from mrcnn.app import disk


def test_default_work_dir_is_the_users_data_folder_unless_the_environment_says(monkeypatch, tmp_path):
    monkeypatch.delenv(disk.WORK_DIR_ENV, raising=False)
    default = disk.default_work_dir()
    assert default.endswith(os.path.join("mrcnn", "work")) and os.path.isabs(default)
    monkeypatch.setenv(disk.WORK_DIR_ENV, str(tmp_path / "lab"))
    assert disk.default_work_dir() == str(tmp_path / "lab")


def test_prepare_work_dir_creates_its_folders_or_names_the_problem(tmp_path):
    path = disk.prepare_work_dir(tmp_path / "a" / "work")
    assert sorted(os.listdir(path)) == ["batches", "uploads"]
    assert os.stat(path).st_mode & 0o777 == 0o700
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=f"the work folder {tmp_path / 'file'} cannot be used .*--work DIR"):
        disk.prepare_work_dir(tmp_path / "file")


def test_write_atomic_leaves_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "batch.json"
    disk.write_json(str(path), {"n": 1})
    assert json.loads(path.read_text()) == {"n": 1}

    def crash(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(disk.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        disk.write_json(str(path), {"n": 2})
    assert json.loads(path.read_text()) == {"n": 1} and os.listdir(tmp_path) == ["batch.json"]  # no temporary left


def test_read_json_names_a_damaged_file(tmp_path):
    (tmp_path / "batch.json").write_text('{"id": ')
    with pytest.raises(ValueError, match="batch.json is not valid JSON"):
        disk.read_json(str(tmp_path / "batch.json"))


def test_ids_are_never_paths(tmp_path):
    for bad in ("..", "a/b", "short", "x" * 65, "a..b/../c", ""):
        with pytest.raises(KeyError):
            disk.BatchFolder(str(tmp_path), bad)
    folder = disk.BatchFolder(str(tmp_path), "abcdefgh12")
    assert folder.image_path("12") == os.path.join(str(tmp_path), "batches", "abcdefgh12", "12.json")
    assert folder.display_path("3", "image/jpeg").endswith("3.jpg")
    for bad in ("../1", "1.json", "", "1234567"):
        with pytest.raises(KeyError):
            folder.image_path(bad)
    assert disk.batch_ids(str(tmp_path)) == []
    folder.create()
    assert disk.batch_ids(str(tmp_path)) == []  # no batch.json yet
    disk.write_json(folder.meta_path(), {})
    assert disk.batch_ids(str(tmp_path)) == ["abcdefgh12"]
