"""Pretrained weight files of known origin: taken from the Keras cache, else downloaded once and checked.

`--weights imagenet` and `--weights coco` name a file, not a path. `cached_or_download(name)` finds that file in the
Keras cache, `$KERAS_HOME/models/` or `~/.keras/models/` (where keras.applications keeps its downloads), and returns
its path without touching the network. Only when the file is missing does it download it, with
`keras.utils.get_file` (urllib, a progress bar), from the address in KNOWN_FILES:

- keras.applications' ImageNet weights without the top: the URLs and md5 hashes that keras.applications itself
  uses (keras/src/applications/resnet.py, densenet.py, vgg19.py; tests/backbones/test_download.py compares them
  with the installed Keras).
- Matterport's COCO Mask R-CNN, `mask_rcnn_coco.h5` of the v2.0 release. Matterport publishes no hash for it (its
  own `utils.download_trained_weights` checks none); the sha256 below is the one recorded for this release asset
  by Guild AI's package of Mask R-CNN (github.com/guildai/packages, matterport/mask-rcnn/guild.yml), whose resource
  download verifies it. It could not be checked against the file where this was written (no network there). Should
  the asset not match it, the download is refused and the error says where to put a copy fetched by hand, which
  is then used as it is.

The download goes to a temporary name beside the target (one per process) and is renamed into place only after its
hash matched, so an interrupted or corrupt download never sits in the cache under the real name; a file whose hash
does not match is deleted. A file found in the cache is used as it is (it may be one you placed by hand, e.g. the
v1.0 COCO file), and is not hashed.

Offline: `offline=True`, or the environment variable MRCNN_OFFLINE set to 1 / true / yes / on (`pbc.py train
--offline` sets the former), forbids the download. Offline, on a failed download (no network, a refused or
stalled connection: every socket operation times out after TIMEOUT_SECONDS) and on a hash mismatch the error,
WeightsUnavailableError, names the URL and the exact path to place the file at.
"""

import dataclasses
import hashlib
import logging
import os
import socket

log = logging.getLogger(__name__)

OFFLINE_ENV = "MRCNN_OFFLINE"
TIMEOUT_SECONDS = 15
KERAS_APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
COCO_WEIGHTS_FILE = "mask_rcnn_coco.h5"
COCO_WEIGHTS_URL = "https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5"


@dataclasses.dataclass(frozen=True)
class KnownFile:
    """A weights file that may be downloaded.

    Attributes:
        name: its file name in the Keras cache folder.
        url: where it is downloaded from.
        file_hash: its published hash, hex digits: 32 for md5, 64 for sha256.
    """

    name: str
    url: str
    file_hash: str

    @property
    def algorithm(self):
        return {32: "md5", 64: "sha256"}[len(self.file_hash)]


def _imagenet(folder, backbone, md5):
    name = f"{backbone}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return KnownFile(name, f"{KERAS_APPLICATIONS_URL}{folder}/{name}", md5)


KNOWN_FILES = {known.name: known for known in (
    _imagenet("resnet", "resnet50", "4d473c1dd8becc155b73f8504c6f6626"),
    _imagenet("resnet", "resnet101", "88cf7a10940856eca736dc7b7e228a21"),
    _imagenet("resnet", "resnet152", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    _imagenet("vgg19", "vgg19", "253f8cb515780f3b799900260a226db6"),
    _imagenet("densenet", "densenet121", "30ee3e1110167f948a6b9946edeeb738"),
    _imagenet("densenet", "densenet169", "b8c4d4c20dd625c148057b9ff1c1176b"),
    KnownFile(COCO_WEIGHTS_FILE, COCO_WEIGHTS_URL, "ab8f779d74d790abe4fcf3f60ab368129df5ee866262c439c6bae5af13afaf56"),
)}


class WeightsUnavailableError(FileNotFoundError):
    """A weights file is not in the cache and could not be downloaded (offline, a network failure, or a download
    whose hash did not match). The message names the URL and the path to put the file at."""


def keras_models_dir():
    """The folder where keras.applications caches weights: `$KERAS_HOME/models` or `~/.keras/models`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def offline_requested(offline=None):
    """`offline` when given (True / False), else whether MRCNN_OFFLINE is set to 1, true, yes or on."""
    if offline is not None:
        return bool(offline)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def fetch(url, path, timeout=TIMEOUT_SECONDS):
    """Download `url` to `path` with keras.utils.get_file (its progress bar), every socket operation limited to
    `timeout` seconds. The one function here that uses the network; tests replace it."""
    import keras  # here, so that the module's names (the URLs) can be read without loading Keras

    folder, name = os.path.split(os.path.abspath(path))
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # urllib's urlretrieve, inside get_file, takes no timeout of its own
    try:
        return keras.utils.get_file(fname=name, origin=url, cache_subdir=folder, force_download=True)
    finally:
        socket.setdefaulttimeout(previous)


def hash_of(path, algorithm):
    """Hex digest of the file at `path` ("md5" or "sha256")."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _place_it(known, path):
    return (f"download {known.url} yourself and put it at {path}, or pass its location with --weights-file PATH, "
            f"or train from scratch (--weights none)")


def cached_or_download(name, offline=None, folder=None):
    """Path of the known weights file `name` (a key of KNOWN_FILES) in the Keras cache (or `folder`), downloaded
    there first when it is missing and downloads are allowed (see the module docstring).

    Raises WeightsUnavailableError naming the URL and the target path when the file is missing and offline, the
    download failed, or the downloaded file's hash is not the published one (the file is then deleted);
    KeyError for a name outside KNOWN_FILES.
    """
    known = KNOWN_FILES[name]
    folder = os.path.abspath(folder or keras_models_dir())
    path = os.path.join(folder, known.name)
    if os.path.isfile(path):
        return path
    if offline_requested(offline):
        raise WeightsUnavailableError(
            f"{known.name} is not in {folder}/ and downloads are off (--offline or {OFFLINE_ENV}=1): "
            + _place_it(known, path))
    partial = f"{path}.{os.getpid()}.part"
    log.info("%s is not in %s/: downloading %s", known.name, folder, known.url)
    try:
        os.makedirs(folder, exist_ok=True)
        fetch(known.url, partial)
    except Exception as e:  # urllib wrapped by get_file, OSError, socket timeouts: all mean "no file"
        _remove(partial)
        raise WeightsUnavailableError(f"could not download {known.url} ({e}): " + _place_it(known, path)) from e
    if not os.path.isfile(partial):
        raise WeightsUnavailableError(f"downloading {known.url} wrote no file: " + _place_it(known, path))
    got = hash_of(partial, known.algorithm)
    if got != known.file_hash:
        size = os.path.getsize(partial)
        _remove(partial)
        raise WeightsUnavailableError(
            f"the file downloaded from {known.url} ({size:,} bytes) has {known.algorithm} {got}, not the published "
            f"{known.file_hash}; it was deleted. Try again, or " + _place_it(known, path))
    os.replace(partial, path)
    log.info("downloaded %s (%s verified)", path, known.algorithm)
    return path


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
