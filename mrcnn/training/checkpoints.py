"""Where a run writes: the log folder, checkpoint names, finding the last checkpoint, and atomic saves.

Layout (Matterport's, with Keras 3's weights suffix):

    <model_dir>/<name><YYYYmmddTHHMM>/mask_rcnn_<name>_<epoch:04d>.weights.h5
    <model_dir>/<name><YYYYmmddTHHMM>/mask_rcnn_<name>_<epoch:04d>.optimizer.h5   (optimizer state, latest two)
    <model_dir>/<name><YYYYmmddTHHMM>/config.json                                      (read_run_config)
    <model_dir>/<name><YYYYmmddTHHMM>/run.json          (the record of stages: mrcnn/training/run.py, TrainingRun)

Other kinds of run (a backbone pretrained as a classifier, mrcnn/training/pretrain.py) use the same layout with
another file prefix than "mask_rcnn" (`prefix=`), so that their checkpoints are never mistaken for Mask R-CNN's.

Every file is written to a hidden temporary `.tmp-<pid>-<name>` in the same folder, flushed to disk and renamed into
place, so a run killed while saving never leaves a half-written file under a checkpoint's name; the temporaries of
dead processes are removed when a run starts in the folder. The optimizer state of an epoch is saved before its
weights, so the newest weights checkpoint (what find_last returns) always has its optimizer state beside it, even
when the run was killed between the two saves (the states of the last two epochs are kept).
"""

import datetime
import json
import logging
import os
import re

log = logging.getLogger(__name__)

PREFIX = "mask_rcnn"
TEMPORARY_PATTERN = re.compile(r"^\.tmp-(?P<pid>\d+)-")
RUN_DIR_PATTERN = re.compile(r"^(?P<name>.+)(?P<stamp>\d{8}T\d{4})$")


def checkpoint_pattern(prefix=PREFIX, suffix="weights"):
    """The regex of `<prefix>_<name>_<epoch:04d>.<suffix>.h5` file names (groups `name` and `epoch`)."""
    return re.compile(rf"^{re.escape(prefix)}_(?P<name>.+)_(?P<epoch>\d{{4}})\.{re.escape(suffix)}\.h5$")


CHECKPOINT_PATTERN = checkpoint_pattern()
OPTIMIZER_STATE_PATTERN = checkpoint_pattern(suffix="optimizer")


def new_log_dir(model_dir, name, now=None):
    """A new run folder `<model_dir>/<name><YYYYmmddTHHMM>` (not created)."""
    now = now or datetime.datetime.now()
    return os.path.join(model_dir, f"{name.lower()}{now:%Y%m%dT%H%M}")


def checkpoint_path(log_dir, name, epoch, prefix=PREFIX):
    """Path of the checkpoint saved at the end of `epoch` (1-based)."""
    return os.path.join(log_dir, f"{prefix}_{name.lower()}_{epoch:04d}.weights.h5")


def optimizer_state_path(log_dir, name, epoch, prefix=PREFIX):
    """Path of the optimizer state saved at the end of `epoch` (beside its weights checkpoint)."""
    return os.path.join(log_dir, f"{prefix}_{name.lower()}_{epoch:04d}.optimizer.h5")


def parse_checkpoint(path, prefix=PREFIX):
    """(log_dir, epoch) when `path` is named like one of our `<prefix>_...` checkpoints, else None."""
    match = checkpoint_pattern(prefix).match(os.path.basename(path))
    if not match:
        return None
    return os.path.dirname(os.path.abspath(path)), int(match.group("epoch"))


def find_last(model_dir, name, prefix=PREFIX):
    """Path of the last `<prefix>_<name>_NNNN.weights.h5` checkpoint of the newest run of `name` in `model_dir`.

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
        pattern = checkpoint_pattern(prefix)
        checkpoints = sorted(f for f in os.listdir(run_dir) if pattern.match(f))
        if checkpoints:
            return os.path.join(run_dir, checkpoints[-1])
    raise FileNotFoundError(f"no checkpoint {prefix}_{name}_NNNN.weights.h5 in any run folder of {model_dir!r} "
                            f"({', '.join(runs)})")


def read_run_config(run_dir):
    """The values a run saved in `<run_dir>/config.json`, or None when it has none.

    Raises ValueError naming the file when it is not a JSON object."""
    return read_json_object(os.path.join(run_dir, "config.json"), "of a run's config")


def read_json_object(path, what=""):
    """The JSON object (a dict) in the file at `path`, or None when there is no such file.

    Raises ValueError naming the file when it is not valid JSON or holds something else than an object (`what`
    completes that message: "holds list, not the JSON object <what>")."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: holds {type(values).__name__}, not the JSON object {what}".rstrip())
    return values


def report_path(weights_path):
    """The JSON report written beside a weights file: `x.weights.h5` -> `x.json`."""
    suffix = ".weights.h5"
    base = weights_path[:-len(suffix)] if weights_path.endswith(suffix) else os.path.splitext(weights_path)[0]
    return base + ".json"


def temporary_path(path):
    """The hidden temporary `.tmp-<pid>-<base name>` beside `path` that an atomic save writes first."""
    folder, base = os.path.split(path)
    return os.path.join(folder, f".tmp-{os.getpid()}-{base}")


def write_atomic(path, write):
    """Call `write(temporary path)`, flush the file to disk and rename it to `path` (atomic on POSIX and Windows).

    On any error the temporary is removed and `path` keeps its previous content (or stays absent).
    """
    tmp = temporary_path(path)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_weights_atomic(keras_model, path):
    """Save `keras_model`'s weights to `path` through a temporary file and an atomic rename."""
    write_atomic(path, keras_model.save_weights)


def write_text_atomic(path, text):
    """Write `text` to `path` through a temporary file and an atomic rename."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    write_atomic(path, write)


def _fsync(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def remove_stale_temporaries(log_dir):
    """Delete the `.tmp-<pid>-*` files in `log_dir` left by processes that no longer run (killed while saving).

    Returns the names removed. Temporaries of a live process (another run saving in the same folder) are kept.
    """
    removed = []
    if not os.path.isdir(log_dir):
        return removed
    for entry in sorted(os.listdir(log_dir)):
        match = TEMPORARY_PATTERN.match(entry)
        if not match or _process_alive(int(match.group("pid"))):
            continue
        try:
            os.remove(os.path.join(log_dir, entry))
            removed.append(entry)
        except FileNotFoundError:
            continue
    if removed:
        log.info("removed %d temporary file(s) of interrupted saves in %s: %s", len(removed), log_dir,
                 ", ".join(removed))
    return removed


def _process_alive(pid):
    if pid == os.getpid():
        return False  # this process has no save in progress when a run starts
    if os.name == "nt":
        return True  # os.kill would terminate the process on Windows: keep the files
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else, or cannot tell: keep its files
    return True


def prune_optimizer_states(log_dir, name, keep_from_epoch, prefix=PREFIX):
    """Delete this run's optimizer states of epochs before `keep_from_epoch` (weights checkpoints are never touched).

    Returns the names removed.
    """
    removed = []
    pattern = checkpoint_pattern(prefix, suffix="optimizer")
    for entry in sorted(os.listdir(log_dir)):
        match = pattern.match(entry)
        if match and match.group("name") == name.lower() and int(match.group("epoch")) < keep_from_epoch:
            os.remove(os.path.join(log_dir, entry))
            removed.append(entry)
    return removed
