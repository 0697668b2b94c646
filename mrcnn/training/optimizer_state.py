"""The optimizer's state (iteration count, momentum / Adam slots) saved beside each checkpoint and restored on resume.

A run resumed from `mask_rcnn_<name>_<epoch>.weights.h5` continues with the optimizer exactly as it was at the end
of that epoch: SGD's momentum or Adam's moments, and `iterations`, so that a learning-rate schedule (a
keras.optimizers.schedules.LearningRateSchedule given as the learning rate) continues where it stopped. The
learning rate itself is not restored: each `MaskRCNN.train` call sets its own (Matterport's staged training lowers it).

File format (HDF5 through h5py, data only, never pickle), `mask_rcnn_<name>_<epoch:04d>.optimizer.h5`:
    attrs: format = "mrcnn-optimizer-state", version = 1, optimizer = class name (e.g. "SGD"), epoch,
        iterations, trainable_variables = JSON [[variable path, shape], ...] of the model's trainable variables in
        the order the optimizer was built on them.
    datasets variables/00000, variables/00001, ...: the optimizer's variables in order (learning rate left out),
        each with attr name (e.g. "iteration", "mrcnn_mask_kernel_momentum").
The state is restored only when the optimizer class, the trainable variables (paths and shapes, in order) and the
optimizer's variables (names and shapes) all match; otherwise the optimizer starts fresh and the log says why (e.g.
a staged schedule that trains other layers than the run that saved the state).
"""

import contextlib
import json
import logging
import os

import h5py
import keras
import numpy as np

from mrcnn.training.checkpoints import write_atomic

log = logging.getLogger(__name__)

FORMAT = "mrcnn-optimizer-state"
VERSION = 1


def trainable_signature(variables):
    """[[path, [shape]], ...] of model variables: what an optimizer's state is bound to."""
    return [[v.path, [int(d) for d in v.shape]] for v in variables]


def state_variables(optimizer):
    """The optimizer's variables that make up its state: all but the learning rate."""
    return [v for v in optimizer.variables if v.name != "learning_rate"]


def variables_nbytes(variables):
    """Bytes the values of `variables` take (what saving them writes, before file overhead)."""
    return int(sum(int(np.prod(v.shape)) * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize
                   for v in variables))


def save_optimizer_state(keras_model, path, epoch=None):
    """Write the state of `keras_model.optimizer` (built on the model's trainable variables) to `path`, atomically."""
    optimizer = getattr(keras_model, "optimizer", None)
    if optimizer is None or not optimizer.built:
        raise ValueError(f"model {keras_model.name!r} has no built optimizer whose state could be saved")
    signature = trainable_signature(keras_model.trainable_variables)
    variables = state_variables(optimizer)

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["optimizer"] = type(optimizer).__name__
            f.attrs["epoch"] = -1 if epoch is None else int(epoch)
            f.attrs["iterations"] = int(keras.ops.convert_to_numpy(optimizer.iterations))
            f.attrs["trainable_variables"] = json.dumps(signature)
            group = f.create_group("variables")
            for i, variable in enumerate(variables):
                dataset = group.create_dataset(f"{i:05d}", data=keras.ops.convert_to_numpy(variable))
                dataset.attrs["name"] = variable.name

    write_atomic(path, write)


def read_optimizer_state(path):
    """{"optimizer", "epoch", "iterations", "trainable_variables", "names", "values"} from a saved state.

    ValueError naming the file when it is not an optimizer state of this format.
    """
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT or int(f.attrs.get("version", -1)) != VERSION:
                raise ValueError(f"{path} is not an optimizer state of format {FORMAT!r} version {VERSION}")
            group = f["variables"]
            keys = sorted(group)
            return {
                "optimizer": str(f.attrs["optimizer"]),
                "epoch": int(f.attrs["epoch"]),
                "iterations": int(f.attrs["iterations"]),
                "trainable_variables": json.loads(f.attrs["trainable_variables"]),
                "names": [str(group[k].attrs["name"]) for k in keys],
                "values": [np.asarray(group[k][()]) for k in keys],
            }
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read the optimizer state {path}: {type(error).__name__}: {error}") from error


def restore_optimizer_state(keras_model, path):
    """Load the state saved in `path` into `keras_model.optimizer` (built here if it is not yet).

    Returns True when restored. When the file is missing, unreadable or saved for another optimizer or another set
    of trainable variables, nothing is changed, the reason is logged and False is returned.
    """
    optimizer, trainable_variables = keras_model.optimizer, keras_model.trainable_variables
    if not os.path.isfile(path):
        log.warning("no optimizer state %s beside the checkpoint: the optimizer starts fresh (momentum and "
                    "iteration count from zero)", path)
        return False
    try:
        saved = read_optimizer_state(path)
    except ValueError as error:
        log.warning("%s; the optimizer starts fresh", error)
        return False
    if saved["optimizer"] != type(optimizer).__name__:
        log.info("optimizer state %s is of %s, this run uses %s: the optimizer starts fresh", path,
                 saved["optimizer"], type(optimizer).__name__)
        return False
    signature = trainable_signature(trainable_variables)
    if saved["trainable_variables"] != signature:
        log.info("optimizer state %s was saved while training %d variables, this run trains %d other ones (another "
                 "`layers` stage?): the optimizer starts fresh", path, len(saved["trainable_variables"]),
                 len(signature))
        return False
    build_optimizer_variables(keras_model)
    variables = state_variables(optimizer)
    layout = [(v.name, tuple(int(d) for d in v.shape)) for v in variables]
    saved_layout = [(n, tuple(a.shape)) for n, a in zip(saved["names"], saved["values"])]
    if layout != saved_layout:
        log.warning("optimizer state %s holds %d variables that do not match the optimizer's %d (other "
                    "settings, e.g. momentum or amsgrad?): the optimizer starts fresh", path, len(saved_layout),
                    len(layout))
        return False
    with _strategy_scope(keras_model):
        for variable, value in zip(variables, saved["values"]):
            variable.assign(value)
    log.info("restored the optimizer state of epoch %d from %s (iteration %d)", saved["epoch"], path,
             saved["iterations"])
    return True


def build_optimizer_variables(keras_model):
    """Build the compiled model's optimizer on its trainable variables now (what `fit` would do at its start), under
    the model's tf.distribute strategy when it has one, so that its state can be restored before `fit`."""
    optimizer = getattr(keras_model, "optimizer", None)
    if optimizer is None:
        raise ValueError(f"model {keras_model.name!r} is not compiled: it has no optimizer")
    if not optimizer.built:
        with _strategy_scope(keras_model):
            optimizer.build(keras_model.trainable_variables)


def _strategy_scope(keras_model):
    """The scope of the tf.distribute strategy the model was built under (the default strategy's otherwise)."""
    strategy = getattr(keras_model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
