"""Training callbacks: per-epoch checkpoints and TensorBoard loss curves."""

import logging

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
