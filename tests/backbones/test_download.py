"""Pretrained weights for connected users: the Keras cache first, else a download with a checked hash.

No test touches the network: `download.fetch` (the one function that would) is replaced, or given a file:// URL,
which keras.utils.get_file copies through urllib like any other.
"""

import hashlib
import importlib
import inspect
import os
import socket
import time

import keras
import pytest

from mrcnn.backbones import download, pretrained
from mrcnn.backbones.download import KNOWN_FILES, KnownFile, WeightsUnavailableError, cached_or_download

RESNET50 = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache; downloads allowed unless a test says otherwise."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    return tmp_path / "keras" / "models"


@pytest.fixture
def fetches(monkeypatch):
    """Records download.fetch calls; `fetches.action(url, path)` says what the fake download does (default:
    fail the test: no fetch expected)."""
    calls = []

    def refuse(url, path):
        raise AssertionError(f"unexpected download of {url}")

    def fake(url, path, timeout=None):
        calls.append((url, path))
        return fake.action(url, path)
    fake.action = refuse
    fake.calls = calls
    monkeypatch.setattr(download, "fetch", fake)
    return fake


def known_with_content(monkeypatch, name, content, algorithm="md5"):
    """Make KNOWN_FILES[name] publish the hash of `content` (the real hashes are of files we cannot make)."""
    known = KnownFile(name, KNOWN_FILES[name].url, hashlib.new(algorithm, content).hexdigest())
    monkeypatch.setitem(KNOWN_FILES, name, known)
    return known


def test_cached_file_is_used_without_fetch(keras_home, fetches):
    keras_home.mkdir(parents=True)
    (keras_home / RESNET50).write_bytes(b"placed by hand: not hashed")
    (keras_home / "mask_rcnn_coco.h5").write_bytes(b"v1.0 file")
    assert pretrained.imagenet_weights_path("resnet50", offline=False) == str(keras_home / RESNET50)
    assert pretrained.coco_weights_path(offline=False) == str(keras_home / "mask_rcnn_coco.h5")
    assert fetches.calls == []


def test_missing_file_is_downloaded_verified_and_renamed_into_place(keras_home, fetches, monkeypatch):
    known = known_with_content(monkeypatch, RESNET50, b"resnet50 weights")

    def write(url, path):
        with open(path, "wb") as f:
            f.write(b"resnet50 weights")
        return path
    fetches.action = write
    path = pretrained.imagenet_weights_path("resnet50", offline=False)
    assert path == str(keras_home / RESNET50)
    assert open(path, "rb").read() == b"resnet50 weights"
    (url, partial), = fetches.calls
    assert url == known.url == ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + RESNET50)
    assert partial == f"{path}.{os.getpid()}.part" and os.listdir(keras_home) == [RESNET50]
    assert pretrained.imagenet_weights_path("resnet50", offline=False) == path and len(fetches.calls) == 1


def test_failed_download_names_the_url_and_the_path(keras_home, fetches):
    def fail(url, path):
        with open(path, "wb") as f:
            f.write(b"half a fi")
        raise Exception(f"URL fetch failure on {url}: None -- [Errno -3] Temporary failure in name resolution")
    fetches.action = fail
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        pretrained.coco_weights_path(offline=False)
    message = str(info.value)
    assert time.monotonic() - start < 5
    assert download.COCO_WEIGHTS_URL in message and "name resolution" in message
    assert f"put it at {keras_home / 'mask_rcnn_coco.h5'}" in message and "--weights-file PATH" in message
    assert os.listdir(keras_home) == []  # the partial file is gone
    assert isinstance(info.value, FileNotFoundError)


def test_hash_mismatch_is_refused_and_the_file_removed(keras_home, fetches):
    def write_wrong(url, path):
        with open(path, "wb") as f:
            f.write(b"an HTML error page, not weights")
        return path
    fetches.action = write_wrong
    with pytest.raises(WeightsUnavailableError) as info:
        pretrained.imagenet_weights_path("densenet121", offline=False)
    message = str(info.value)
    known = KNOWN_FILES["densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"]
    wrong = hashlib.md5(b"an HTML error page, not weights").hexdigest()
    assert f"has md5 {wrong}, not the published {known.file_hash}" in message and "31 bytes" in message
    assert known.url in message and str(keras_home / known.name) in message
    assert os.listdir(keras_home) == []


def test_coco_hash_is_sha256(keras_home, fetches):
    def write_wrong(url, path):
        open(path, "wb").close()
        return path
    fetches.action = write_wrong
    with pytest.raises(WeightsUnavailableError, match="has sha256 e3b0c44298fc1c149afbf4c8996fb924"):
        pretrained.coco_weights_path(offline=False)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_offline_without_cache_errors_without_fetching(keras_home, fetches, monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv(download.OFFLINE_ENV, "1")
    offline = True if how == "argument" else None
    with pytest.raises(WeightsUnavailableError) as info:
        pretrained.imagenet_weights_path("vgg19", offline=offline)
    message = str(info.value)
    known = KNOWN_FILES["vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"]
    assert "downloads are off (--offline or MRCNN_OFFLINE=1)" in message
    assert known.url in message and f"put it at {keras_home / known.name}" in message
    with pytest.raises(WeightsUnavailableError, match="mask_rcnn_coco.h5"):
        pretrained.coco_weights_path(offline=offline)
    assert fetches.calls == []


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), (" on ", True),
                                             ("0", False), ("", False), ("no", False)])
def test_offline_environment_values(monkeypatch, value, expected):
    monkeypatch.setenv(download.OFFLINE_ENV, value)
    assert download.offline_requested() is expected
    assert download.offline_requested(False) is False and download.offline_requested(True) is True


def test_backbone_without_known_url_is_not_downloaded(keras_home, fetches):
    with pytest.raises(ValueError, match="resnext50"):
        pretrained.imagenet_weights_path("resnext50", offline=False)
    assert fetches.calls == []


def test_fetch_calls_get_file_with_a_socket_timeout(tmp_path, monkeypatch):
    seen = {}

    def fake_get_file(fname, origin, cache_subdir, force_download):
        seen.update(fname=fname, origin=origin, cache_subdir=cache_subdir, force=force_download,
                    timeout=socket.getdefaulttimeout())
        raise Exception("URL fetch failure")
    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    before = socket.getdefaulttimeout()
    with pytest.raises(Exception, match="URL fetch failure"):
        download.fetch("https://example.invalid/w.h5", str(tmp_path / "w.h5.part"), timeout=3)
    assert seen == {"fname": "w.h5.part", "origin": "https://example.invalid/w.h5", "cache_subdir": str(tmp_path),
                    "force": True, "timeout": 3}
    assert socket.getdefaulttimeout() == before


def test_real_get_file_over_a_file_url(tmp_path, monkeypatch, keras_home):
    """The real fetch (keras.utils.get_file, urllib) end to end, from a file:// URL: no network."""
    source = tmp_path / "published.h5"
    source.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 40)
    name = "mask_rcnn_coco.h5"
    good = KnownFile(name, source.as_uri(), hashlib.sha256(source.read_bytes()).hexdigest())
    monkeypatch.setitem(KNOWN_FILES, name, good)
    path = cached_or_download(name, offline=False)
    assert path == str(keras_home / name) and open(path, "rb").read() == source.read_bytes()

    os.remove(path)
    monkeypatch.setitem(KNOWN_FILES, name, KnownFile(name, (tmp_path / "gone.h5").as_uri(), good.file_hash))
    with pytest.raises(WeightsUnavailableError, match=f"could not download {(tmp_path / 'gone.h5').as_uri()}"):
        cached_or_download(name, offline=False)
    assert os.listdir(keras_home) == []


def test_known_files_are_keras_applications_own():
    """URLs and md5 hashes as keras.applications itself downloads them (read from the installed Keras' source, a
    private module: if Keras moves it, this test needs the new place, not new values)."""
    resnet = importlib.import_module("keras.src.applications.resnet")
    for name in ("resnet50", "resnet101", "resnet152"):
        known = KNOWN_FILES[f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"]
        assert known.url == resnet.BASE_WEIGHTS_PATH + known.name
        assert known.file_hash == resnet.WEIGHTS_HASHES[name][1]
    vgg19 = importlib.import_module("keras.src.applications.vgg19")
    densenet = importlib.import_module("keras.src.applications.densenet")
    for module, name, url in ((vgg19, "vgg19", vgg19.WEIGHTS_PATH_NO_TOP),
                              (densenet, "densenet121", densenet.DENSENET121_WEIGHT_PATH_NO_TOP),
                              (densenet, "densenet169", densenet.DENSENET169_WEIGHT_PATH_NO_TOP)):
        known = KNOWN_FILES[f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"]
        assert known.url == url
        source = inspect.getsource(module)
        after_name = source[source.rindex(f'"{known.name}"'):][:300]  # its get_file call (last mention)
        assert f'file_hash="{known.file_hash}"' in after_name


def test_every_backbone_with_imagenet_weights_has_a_known_file():
    from mrcnn import backbones
    for name in ("resnet50", "resnet101", "resnet152", "vgg19", "densenet121", "densenet169"):
        assert backbones.get_backbone(name).imagenet_weights in KNOWN_FILES, name
    assert backbones.get_backbone("resnext50").imagenet_weights is None
    assert KNOWN_FILES["mask_rcnn_coco.h5"].url == (
        "https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5")
