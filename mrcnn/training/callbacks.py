"""Training callbacks: per-epoch checkpoints (weights and optimizer state), TensorBoard loss curves, and a guard
against non-finite losses."""

import logging
import math

import keras
import tensorflow as tf

from mrcnn.training.checkpoints import (PREFIX, checkpoint_path, optimizer_state_path, prune_optimizer_states,
                                        save_weights_atomic)
from mrcnn.training.optimizer_state import save_optimizer_state

log = logging.getLogger(__name__)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the weights at the end of every epoch as `<prefix>_<name>_<epoch:04d>.weights.h5` (prefix "mask_rcnn"
    by default), and before them the optimizer's state as `<prefix>_<name>_<epoch:04d>.optimizer.h5` (see
    mrcnn.training.optimizer_state), both atomically. Only the optimizer states of the last `keep_optimizer_states`
    epochs are kept (each is as large as the trainable weights, twice that for Adam); weights checkpoints are never
    deleted.

    Put it before the callbacks that report the epoch (LossCurves): what they log then always belongs to an epoch
    whose checkpoint exists, and a run killed and resumed never reports an epoch twice.
    """

    def __init__(self, log_dir, name, save_optimizer=True, keep_optimizer_states=2, prefix=PREFIX):
        super().__init__()
        if isinstance(keep_optimizer_states, bool) or not isinstance(keep_optimizer_states, int) \
                or keep_optimizer_states < 1:
            raise ValueError(f"keep_optimizer_states must be an int >= 1, got {keep_optimizer_states!r}")
        self.log_dir = log_dir
        self.name = name
        self.save_optimizer = save_optimizer
        self.keep_optimizer_states = keep_optimizer_states
        self.prefix = prefix

    def on_epoch_end(self, epoch, logs=None):
        epoch += 1
        optimizer = getattr(self.model, "optimizer", None)
        if self.save_optimizer and optimizer is not None and optimizer.built:
            save_optimizer_state(self.model, optimizer_state_path(self.log_dir, self.name, epoch, self.prefix), epoch)
        path = checkpoint_path(self.log_dir, self.name, epoch, self.prefix)
        save_weights_atomic(self.model, path)
        prune_optimizer_states(self.log_dir, self.name, epoch - self.keep_optimizer_states + 1, self.prefix)
        log.info("saved %s", path)


class LossCurves(keras.callbacks.Callback):
    """Writes every value `fit` logs at the end of an epoch to TensorBoard, at step = epoch number (1-based).

    Tags are the log keys: `loss`, `rpn_class_loss`, `rpn_bbox_loss`, `mrcnn_class_loss`, `mrcnn_bbox_loss`,
    `mrcnn_mask_loss`, their `val_` twins, and `learning_rate`. A resumed run continues the same curves because the
    step is the epoch number.
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        values = dict(logs or {})
        if "learning_rate" not in values:
            values["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        with self._writer.as_default():
            for key, value in sorted(values.items()):
                tf.summary.scalar(key, float(value), step=epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class NonFiniteLoss(FloatingPointError):
    """Training stopped because a loss became NaN or infinite."""


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss, naming the epoch (1-based) and the step of that epoch.

    It raises NonFiniteLoss from the batch's end, before the epoch can end, so the epoch checkpoint that would hold the
    broken weights is never written: the last checkpoint on disk is the last good one.
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = {k: float(v) for k, v in (logs or {}).items() if k.endswith("loss") and not math.isfinite(float(v))}
        if bad:
            self.model.stop_training = True
            raise NonFiniteLoss(f"non-finite loss at epoch {self._epoch + 1}, step {batch + 1}: "
                                + ", ".join(f"{k} = {v}" for k, v in sorted(bad.items())))
