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
"""

import os
import shutil

import h5py
import numpy as np

from mrcnn.training.checkpoints import write_atomic


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
