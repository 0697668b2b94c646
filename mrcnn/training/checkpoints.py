"""Where a run writes: the log folder, checkpoint names, finding the last checkpoint, and atomic saves.

Layout (Matterport's, with Keras 3's weights suffix):

    <model_dir>/<name><YYYYmmddTHHMM>/mask_rcnn_<name>_<epoch:04d>.weights.h5
    <model_dir>/<name><YYYYmmddTHHMM>/config.json

Every checkpoint is written to a hidden temporary file in the same folder and renamed into place, so a run killed
while saving never leaves a half-written checkpoint under a checkpoint's name.
"""

import datetime
import os
import re

CHECKPOINT_PATTERN = re.compile(r"^mask_rcnn_(?P<name>.+)_(?P<epoch>\d{4})\.weights\.h5$")
RUN_DIR_PATTERN = re.compile(r"^(?P<name>.+)(?P<stamp>\d{8}T\d{4})$")


def new_log_dir(model_dir, name, now=None):
    """A new run folder `<model_dir>/<name><YYYYmmddTHHMM>` (not created)."""
    now = now or datetime.datetime.now()
    return os.path.join(model_dir, f"{name.lower()}{now:%Y%m%dT%H%M}")


def checkpoint_path(log_dir, name, epoch):
    """Path of the checkpoint saved at the end of `epoch` (1-based)."""
    return os.path.join(log_dir, f"mask_rcnn_{name.lower()}_{epoch:04d}.weights.h5")


def parse_checkpoint(path):
    """(log_dir, epoch) when `path` is named like one of our checkpoints, else None."""
    match = CHECKPOINT_PATTERN.match(os.path.basename(path))
    if not match:
        return None
    return os.path.dirname(os.path.abspath(path)), int(match.group("epoch"))


def find_last(model_dir, name):
    """Path of the last checkpoint of the newest run of `name` in `model_dir`.

    Raises FileNotFoundError saying what was searched when there is none.
    """
    name = name.lower()
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"no log folder {model_dir!r}: nothing has been trained there yet")
    runs = sorted(d for d in os.listdir(model_dir)
                  if d.startswith(name) and RUN_DIR_PATTERN.match(d) and os.path.isdir(os.path.join(model_dir, d)))
    if not runs:
        raise FileNotFoundError(f"no run folder '{name}YYYYmmddTHHMM' in {model_dir!r}")
    # Newest run with a checkpoint: an interrupted run may have none yet.
    for run in reversed(runs):
        run_dir = os.path.join(model_dir, run)
        checkpoints = sorted(f for f in os.listdir(run_dir) if CHECKPOINT_PATTERN.match(f))
        if checkpoints:
            return os.path.join(run_dir, checkpoints[-1])
    raise FileNotFoundError(f"no checkpoint mask_rcnn_{name}_NNNN.weights.h5 in any run folder of {model_dir!r} "
                            f"({', '.join(runs)})")


def save_weights_atomic(keras_model, path):
    """Save `keras_model`'s weights to `path` through a temporary file and an atomic rename."""
    folder, base = os.path.split(path)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{base}")
    try:
        keras_model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path, text):
    """Write `text` to `path` through a temporary file and an atomic rename."""
    folder, base = os.path.split(path)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{base}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
