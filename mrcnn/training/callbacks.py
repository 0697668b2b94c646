"""Training callbacks: per-epoch checkpoints, TensorBoard loss curves, and a guard against non-finite losses."""

import logging
import math

import keras
import tensorflow as tf

from mrcnn.training.checkpoints import checkpoint_path, save_weights_atomic

log = logging.getLogger(__name__)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the weights at the end of every epoch as `mask_rcnn_<name>_<epoch:04d>.weights.h5` (atomically)."""

    def __init__(self, log_dir, name):
        super().__init__()
        self.log_dir = log_dir
        self.name = name

    def on_epoch_end(self, epoch, logs=None):
        path = checkpoint_path(self.log_dir, self.name, epoch + 1)
        save_weights_atomic(self.model, path)
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
