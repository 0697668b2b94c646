"""pbc.py train --weights imagenet / coco: the file is found or fetched before anything is built, --offline (or
MRCNN_OFFLINE=1) forbids the download, and an unavailable file stops the command with its URL and path."""

import os
import time

import pytest

from mrcnn.backbones import download
from mrcnn.weights import resolve_weights
from samples.pbc import pbc

TINY = ["--preset", "cpu", "--image-size", "64", "--epochs", "1", "--steps-per-epoch", "1"]


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    calls = []

    def fetch(url, path, timeout=None):
        calls.append(url)
        raise Exception(f"URL fetch failure on {url}: None -- [Errno 111] Connection refused")
    monkeypatch.setattr(download, "fetch", fetch)
    return tmp_path / "keras" / "models", calls


@pytest.mark.parametrize("weights, backbone, file", [
    ("coco", "resnet101", "mask_rcnn_coco.h5"),
    ("imagenet", "resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")])
@pytest.mark.parametrize("offline", ["flag", "environment", "online"])
def test_unavailable_weights_stop_train_with_url_and_path(no_cache, tmp_path, monkeypatch, capsys, weights, backbone,
                                                          file, offline):
    folder, calls = no_cache
    argv = ["train", "--dataset", "synthetic", "--weights", weights, "--backbone", backbone,
            "--logs", str(tmp_path / "logs")] + TINY
    if offline == "flag":
        argv.append("--offline")
    elif offline == "environment":
        monkeypatch.setenv(download.OFFLINE_ENV, "1")
    start = time.monotonic()
    with pytest.raises(SystemExit) as info:
        pbc.main(argv)
    message = capsys.readouterr().err  # one line, exit status 2 (mrcnn/cli.py)
    assert time.monotonic() - start < 10 and info.value.code == 2 and "Traceback" not in message
    assert message.startswith(f"pbc.py train: error: --weights {weights}: ")
    assert download.KNOWN_FILES[file].url in message and f"put it at {folder / file}" in message
    assert calls == ([] if offline != "online" else [download.KNOWN_FILES[file].url])
    assert ("downloads are off" in message) == (offline != "online")
    assert not os.path.exists(tmp_path / "logs")  # failed before the model was built


def test_backbone_without_imagenet_weights_is_a_plain_error(no_cache, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        pbc.main(["train", "--dataset", "synthetic", "--weights", "imagenet", "--backbone", "tiny",
                  "--logs", str(tmp_path / "logs")] + TINY)
    assert info.value.code == 2
    assert "--weights imagenet: backbone 'tiny' has no keras.applications ImageNet" in capsys.readouterr().err


def test_cached_weights_file_is_the_one_loaded(no_cache, tmp_path):
    folder, calls = no_cache
    folder.mkdir(parents=True)
    (folder / "mask_rcnn_coco.h5").write_bytes(b"x")
    assert resolve_weights("coco") == str(folder / "mask_rcnn_coco.h5")
    mine = tmp_path / "mine.h5"
    with pytest.raises(FileNotFoundError, match="--weights coco: COCO weights file not found: .*mine.h5"):
        resolve_weights("coco", weights_file=str(mine))
    mine.write_bytes(b"y")
    assert resolve_weights("coco", weights_file=str(mine)) == str(mine)  # --weights-file wins over the cache
    assert resolve_weights("none") is None and calls == []
