"""The web app's work folder: every batch on disk, written atomically, so that nothing the page shows is lost.

Layout of the work folder (`serve --work DIR`; default: `default_work_dir()`):
    batches/<batch id>/batch.json           the batch: id, created, its images (name, place in the page's list,
                                            status, size, error, seconds, what the detector reported)
    batches/<batch id>/<image id>.json      one finished image: its cells (class, score, box, area, mask PNG,
                                            alternatives, the technologist's review) and COCO result records, and
                                            the changes made to its cells (what, from -> to, when)
    batches/<batch id>/<image id>.png|.jpg  the image as the page shows it
    uploads/                                each upload for the moment it is decoded (mrcnn/app/uploads.py)

Every JSON file is written whole to a temporary file beside it, flushed to the disk and renamed over the old one
(os.replace is atomic on POSIX and Windows): a crash mid-write leaves the previous version, so at most the change
being written is lost. A change to a cell rewrites that image's file only. Nothing is ever deleted by the app: a
batch stays until its folder is removed by hand.
"""

import json
import os
import re
import secrets

WORK_DIR_ENV = "MRCNN_WORK_DIR"  # overrides the default work folder (the command line's --work overrides both)
BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # secrets.token_urlsafe's alphabet: never a path part like ".."
IMAGE_ID = re.compile(r"^[0-9]{1,6}$")


def default_work_dir():
    """The work folder when none is given: $MRCNN_WORK_DIR, else the user's data folder (platformdirs'
    user_data_dir("mrcnn")/work when platformdirs is installed, else ~/.local/share/mrcnn/work)."""
    if os.environ.get(WORK_DIR_ENV):
        return os.path.abspath(os.path.expanduser(os.environ[WORK_DIR_ENV]))
    try:
        import platformdirs
        base = platformdirs.user_data_dir("mrcnn", appauthor=False)
    except ImportError:
        base = os.path.join(os.path.expanduser("~"), ".local", "share", "mrcnn")
    return os.path.join(base, "work")


def prepare_work_dir(path):
    """Create the work folder (mode 0700) with its batches/ and uploads/ folders; returns its absolute path.
    ValueError naming the folder when it cannot be created or written to."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    try:
        for sub in ("", "batches", "uploads"):
            os.makedirs(os.path.join(path, sub), mode=0o700, exist_ok=True)
        probe = os.path.join(path, f".write-test-{secrets.token_hex(4)}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as error:
        raise ValueError(f"the work folder {path} cannot be used ({error.strerror or error}); give a folder this user "
                         "can write to with --work DIR") from None
    return path


def write_atomic(path, data):
    """Write bytes (or str, as UTF-8) to `path` through a temporary file and os.replace (module notes)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    temporary = f"{path}.tmp-{secrets.token_hex(4)}"
    try:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_json(path, value):
    write_atomic(path, json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def read_json(path):
    """The JSON value of `path`; ValueError naming the file when it is not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); the batch cannot be read") from None


class BatchFolder:
    """Where one batch lives: batches/<id>/ under the work folder."""

    def __init__(self, work_dir, batch_id):
        if not BATCH_ID.match(str(batch_id)):
            raise KeyError(batch_id)
        self.path = os.path.join(work_dir, "batches", batch_id)

    def exists(self):
        return os.path.isfile(self.meta_path())

    def create(self):
        os.makedirs(self.path, mode=0o700, exist_ok=True)

    def meta_path(self):
        return os.path.join(self.path, "batch.json")

    def image_path(self, image_id):
        return os.path.join(self.path, f"{_image_id(image_id)}.json")

    def display_path(self, image_id, media_type):
        return os.path.join(self.path, f"{_image_id(image_id)}.{'jpg' if media_type == 'image/jpeg' else 'png'}")


def _image_id(image_id):
    if not IMAGE_ID.match(str(image_id)):
        raise KeyError(image_id)
    return str(image_id)


def batch_ids(work_dir):
    """The ids of the batches in the work folder (those with a batch.json)."""
    root = os.path.join(work_dir, "batches")
    if not os.path.isdir(root):
        return []
    return [name for name in os.listdir(root)
            if BATCH_ID.match(name) and os.path.isfile(os.path.join(root, name, "batch.json"))]
