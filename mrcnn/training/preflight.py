"""Checks of the log folder before training starts, so that an unwritable or full disk fails now, not after an epoch.

`check_log_dir(log_dir, needed_bytes)` creates the folder, writes and deletes a probe file in it (proof that files
can be created, written and removed there; a permission bit alone can lie, e.g. on a read-only mount) and compares
the free space (`shutil.disk_usage`) with what one epoch's checkpoint takes, `checkpoint_bytes(keras_model)`:
the weights file plus the optimizer state file. Each is first written to a temporary file that is then renamed into
place, so the temporary does not take space twice; 5% and 1 MiB are added for the HDF5 layout, config.json and the
TensorBoard events. Both raise OSError with the errno of the problem (PermissionError for EACCES / EPERM, ENOSPC
for a full disk), naming the folder, the bytes free and needed, and what to do.
"""

import errno
import logging
import os
import shutil

from mrcnn.training.checkpoints import temporary_path

log = logging.getLogger(__name__)

OVERHEAD_FRACTION = 0.05
OVERHEAD_BYTES = 2 ** 20


def checkpoint_bytes(keras_model):
    """Bytes one epoch's checkpoint needs on disk: every weight of the model, plus the optimizer's state when the
    model is compiled with a built optimizer, plus file overhead (see the module notes)."""
    # Imported here: check_log_dir needs no Keras, so a command line can check its log folder before TF loads.
    from mrcnn.training.optimizer_state import state_variables, variables_nbytes

    total = variables_nbytes(keras_model.weights)
    optimizer = getattr(keras_model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        total += variables_nbytes(state_variables(optimizer))
    return int(total * (1 + OVERHEAD_FRACTION)) + OVERHEAD_BYTES


def check_log_dir(log_dir, needed_bytes):
    """Create `log_dir` if needed and make sure a checkpoint of `needed_bytes` can be written there.

    Raises OSError (PermissionError when access is denied) naming the folder when it cannot be created or written,
    or when its disk has fewer than `needed_bytes` bytes free.
    """
    probe = temporary_path(os.path.join(log_dir, "write-probe"))
    try:
        os.makedirs(log_dir, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        os.remove(probe)
    except OSError as error:
        if os.path.exists(probe):
            os.remove(probe)
        raise OSError(error.errno, f"cannot write to the log folder {log_dir!r} ({error.strerror or error}): make it "
                                   "writable, or pass another model_dir (pbc.py --logs)", log_dir) from error
    free = shutil.disk_usage(log_dir).free
    if free < needed_bytes:
        raise OSError(errno.ENOSPC, f"the log folder {log_dir!r} has {_size(free)} ({free} bytes) free, but one "
                                    f"epoch's checkpoint needs about {_size(needed_bytes)} ({needed_bytes} bytes): "
                                    "free some space, or pass another model_dir (pbc.py --logs)", log_dir)
    log.debug("log folder %s: writable, %d bytes free, %d needed per checkpoint", log_dir, free, needed_bytes)


def _size(nbytes):
    """1536 -> '1.5 KiB'."""
    value, unit = float(nbytes), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
