"""The training losses of a run (the paper's Table 3), read back from its TensorBoard event files.

Shape shorthand: none (scalars per epoch).

mrcnn.training.callbacks.LossCurves writes one scalar per tag and epoch, at step = epoch number (1-based), into the
run's log folder: `loss`, `val_loss`, `rpn_class_loss`, `rpn_bbox_loss`, `mrcnn_class_loss`, `mrcnn_bbox_loss`,
`mrcnn_mask_loss`, their `val_` twins and `learning_rate` (MeanAPCallback adds `val_mAP50` and `val_mask_mAP`).
Table 3's columns are taken at the last epoch that logged `loss`:
total = loss, validation = val_loss, box ("frame") = mrcnn_bbox_loss, class = mrcnn_class_loss,
mask = mrcnn_mask_loss. When a step was written twice (a resumed run that repeated an epoch), the later write wins.
"""

import glob
import logging
import os

import numpy as np

log = logging.getLogger(__name__)

TABLE3_TAGS = {"total": "loss", "validation": "val_loss", "box": "mrcnn_bbox_loss", "class": "mrcnn_class_loss",
               "mask": "mrcnn_mask_loss"}


def _scalar(value):
    """The float in a summary value (TF1 simple_value or a TF2 scalar tensor), None for non-scalars."""
    import tensorflow as tf
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor"):
        array = tf.make_ndarray(value.tensor)
        if array.size == 1 and np.issubdtype(array.dtype, np.number):
            return float(array.reshape(()))
    return None


def read_scalars(log_dir):
    """{tag: {step: value}} from the event files directly in `log_dir` (sub-folders are not read)."""
    import tensorflow as tf
    if not os.path.isdir(log_dir):
        raise FileNotFoundError(f"log_dir {log_dir!r} is not a folder; give the run's log folder "
                                f"(<logs>/<name><YYYYmmddTHHMM>)")
    files = sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*")))
    if not files:
        raise FileNotFoundError(f"no TensorBoard event file (events.out.tfevents.*) in {log_dir!r}")
    events = []
    for path in files:
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    scalar = _scalar(value)
                    if scalar is not None:
                        events.append((event.wall_time, value.tag, int(event.step), scalar))
        except tf.errors.DataLossError as e:  # a file still being written: keep what was read
            log.warning("%s: truncated event file (%s); using the records before the damage", path, e)
    out = {}
    for _, tag, step, scalar in sorted(events, key=lambda e: e[0]):
        out.setdefault(tag, {})[step] = scalar
    return out


def read_losses(log_dir):
    """Table 3 of one run: {"log_dir", "last_epoch", "table3", "last", "curves"}.

    table3: {"total", "validation", "box", "class", "mask"} at the last epoch (None where a tag is missing);
    last: {tag: value at that tag's last step}; curves: {tag: {"steps": [...], "values": [...]}} sorted by step.
    Raises FileNotFoundError without event files and ValueError when no `loss` scalar was logged.
    """
    scalars = read_scalars(log_dir)
    if "loss" not in scalars:
        raise ValueError(f"{log_dir!r}: the event files hold no 'loss' scalar (tags: {sorted(scalars)}); "
                         "is this a folder written by MaskRCNN.train?")
    last_epoch = max(scalars["loss"])
    curves = {tag: {"steps": sorted(values), "values": [values[s] for s in sorted(values)]}
              for tag, values in sorted(scalars.items())}
    return {
        "log_dir": os.path.abspath(log_dir),
        "last_epoch": int(last_epoch),
        "table3": {column: scalars.get(tag, {}).get(last_epoch) for column, tag in TABLE3_TAGS.items()},
        "last": {tag: values[max(values)] for tag, values in sorted(scalars.items())},
        "curves": curves,
    }
