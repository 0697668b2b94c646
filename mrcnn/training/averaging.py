"""Checkpoint averaging: the mean of the weights of several checkpoints of one run, saved as one weights file.

The last epochs of a fine-tuning schedule run at a small, constant learning rate; each epoch's weights are one
sample of where that stage wanders, and which one the run happens to stop on decides some borderline images.
Averaging the weights of those epochs (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better
Generalization"; Polyak averaging taken at epoch ends) gives one model near the middle of that region. It is sound
only when batch norm is frozen over the epochs averaged (its moving statistics then never change, so averaging
them is a no-op): the fine-tuning plans here freeze it whenever the backbone was pretrained.

Works on the files alone (Keras 3 `.weights.h5`, HDF5): every floating-point array of the model is replaced by its
mean over the files, computed in float64 and stored in the array's own dtype; integer arrays (counters), the
optimizer's state (`optimizer/...`, saved with a compiled model; its variables change with the layers that train)
and the file's metadata are those of the last file. The files must hold the same model arrays with the same shapes:
a checkpoint of another model is refused, naming it and the first array that differs.

`average_run` averages a training run's last stage, as its record (mrcnn/training/run.py) gives it; `pbc.py average`
is its command line.
"""

import json
import os
import shutil

import h5py
import numpy as np

from mrcnn.training.checkpoints import report_path, write_atomic, write_text_atomic
from mrcnn.training.run import TrainingRun


OPTIMIZER_GROUP = "optimizer/"


def _arrays(path):
    """{name: (shape, dtype)} of every model dataset (not the optimizer's) in the HDF5 file at `path`."""
    found = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and not name.startswith(OPTIMIZER_GROUP):
            found[name] = (item.shape, item.dtype)
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


def average_weights_files(paths, out_path):
    """Write to `out_path` the element-wise mean of the weights files `paths` (at least one); returns the number
    of floating-point arrays averaged.

    Raises FileNotFoundError for a missing file and ValueError when the files do not hold the same arrays.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("no checkpoint to average")
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint {path} does not exist")
    layout = _arrays(paths[-1])
    if not layout:
        raise ValueError(f"{paths[-1]} holds no weights")
    for path in paths[:-1]:
        other = _arrays(path)
        differing = sorted(set(layout) ^ set(other)) or sorted(n for n in layout if other[n] != layout[n])
        if differing:
            raise ValueError(f"{path} does not hold the same weights as {paths[-1]} (first difference: "
                             f"{differing[0]}): checkpoints of one model only")
    floats = sorted(n for n, (_, dtype) in layout.items() if np.issubdtype(dtype, np.floating))
    sums = {name: np.zeros(layout[name][0], np.float64) for name in floats}
    for path in paths:
        with h5py.File(path, "r") as f:
            for name in floats:
                sums[name] += f[name][()]

    def write(tmp):
        shutil.copyfile(paths[-1], tmp)
        with h5py.File(tmp, "r+") as f:
            for name in floats:
                f[name][...] = (sums[name] / len(paths)).astype(layout[name][1])
    write_atomic(out_path, write)
    return len(floats)


def average_run(checkpoint, out, from_epoch=None):
    """Average the checkpoints of `checkpoint`'s training run, from `from_epoch` (default: the first epoch of the
    recorded stage that trained `checkpoint`, mrcnn/training/run.py) to its epoch, into the weights file `out`,
    with a JSON report beside it (`checkpoints.report_path`) naming the run and the epochs. Returns the report.

    Refused, each with a ValueError / FileNotFoundError naming it: a file that is not a Mask R-CNN checkpoint (a
    pretraining checkpoint is another kind of run), a run whose batch norm trained (TRAIN_BN true or None in its
    config.json: its moving statistics moved between epochs, so their mean is not the statistics of the averaged
    model), a run without a record of its stages when `from_epoch` is not given, an epoch range outside the run,
    and a missing checkpoint in the range.
    """
    run = TrainingRun.from_checkpoint(checkpoint)
    if run is None or run.kind != "mask_rcnn":
        what = f"a checkpoint of a {run.kind} run" if run else "not a training checkpoint"
        raise ValueError(f"{checkpoint}: {what}; give a Mask R-CNN checkpoint (mask_rcnn_<name>_NNNN.weights.h5 in "
                         "its run folder)")
    last = run.epoch
    first = run.stage_of(last)["first_epoch"] if from_epoch is None else int(from_epoch)
    if not 1 <= first <= last:
        raise ValueError(f"--from-epoch {first}: must be between 1 and the checkpoint's epoch {last}")
    train_bn = (run.config() or {}).get("TRAIN_BN", False)
    if train_bn is not False:
        raise ValueError(f"{run.log_dir}/config.json: TRAIN_BN is {train_bn} (batch norm trained): its statistics "
                         "moved between epochs, so their mean is not the statistics of the averaged model; average "
                         "runs that keep batch norm frozen (from pretrained weights) only")
    epochs = list(range(first, last + 1))
    missing = [str(epoch) for epoch in epochs if not os.path.isfile(run.checkpoint_path(epoch))]
    if missing:
        raise FileNotFoundError(f"{run.log_dir}: no checkpoint of epoch(s) {', '.join(missing)} to average "
                                f"(epochs {first}-{last} asked)")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    arrays = average_weights_files([run.checkpoint_path(epoch) for epoch in epochs], out)
    report = {"weights": out, "run": run.log_dir, "epochs": [first, last], "checkpoints": len(epochs),
              "arrays": arrays}
    write_text_atomic(report_path(out), json.dumps(report, indent=2) + "\n")
    return report
