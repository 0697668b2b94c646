"""A training run: its folder, the record of what it trained, its checkpoints, and how it resumes.

Shape shorthand: none (files and epoch numbers).

One run is one folder (file names from mrcnn/training/checkpoints.py):

    <model_dir>/<name><YYYYmmddTHHMM>/
        run.json                                      the record: kind, name and stages (below)
        config.json                                   the run's Config (`Config.load` reads it back)
        <prefix>_<name>_<epoch:04d>.weights.h5        the weights at the end of each epoch (1-based)
        <prefix>_<name>_<epoch:04d>.optimizer.h5      the optimizer's state at the end of the last two epochs
        events.out.tfevents.*                         TensorBoard curves (callbacks.LossCurves)

Two kinds of run use this layout, told apart by their checkpoints' prefix: "mask_rcnn" (`MaskRCNN.train`) and
"classifier" (a backbone pretrained as an image classifier, mrcnn/training/pretrain.py).

`TrainingRun.fit` is the one training loop of both: it restores the optimizer's state of the checkpoint it resumes
from, checks the folder (writable, room for a checkpoint), removes temporaries of interrupted saves, writes
config.json, records the stage, and runs Keras' `fit` with the NaN guard, the per-epoch checkpoints and the loss
curves; a non-finite loss stops it with the last good checkpoint named.

The record's stages. Every `fit` call is one stage of the run: the epochs it trains (`first_epoch` .. `last_epoch`,
the end it was asked for, even when the run stopped earlier) and the settings they train with (`layers`,
`learning_rate`, `optimizer`, and whatever else the caller records). A call that resumes at epoch e first drops
what the record holds after e (those epochs are trained again), and a call that goes on with the settings of the
stage it continues (a killed run resumed, a run extended past its plan) extends that stage instead of adding one.
So `stage_of(epoch)` is always the stretch of epochs trained alike around a checkpoint: what checkpoint averaging
(mrcnn/training/averaging.py) needs.
"""

import json
import logging
import os

from mrcnn.training import checkpoints

log = logging.getLogger(__name__)

KINDS = {"mask_rcnn": checkpoints.PREFIX, "classifier": "classifier"}  # kind -> checkpoint file prefix
RECORD = "run.json"
RECORD_FORMAT = "mrcnn-training-run"
RECORD_VERSION = 1
STAGE_SPAN = ("first_epoch", "last_epoch")


class TrainingRun:
    """One training run (see the module notes).

    Args:
        log_dir: the run's folder (created when training starts).
        name: the run's name (Config.NAME for Mask R-CNN), lower-cased in file names.
        kind: "mask_rcnn" or "classifier".
        epoch: the last epoch whose checkpoint the run continues from; 0 for a new run.
    """

    def __init__(self, log_dir, name, kind="mask_rcnn", epoch=0):
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: valid kinds of training run are {sorted(KINDS)}")
        self.log_dir = log_dir
        self.name = str(name).lower()
        self.kind = kind
        self.epoch = int(epoch)

    def __repr__(self):
        return f"TrainingRun({self.log_dir!r}, {self.name!r}, kind={self.kind!r}, epoch={self.epoch})"

    @property
    def prefix(self):
        return KINDS[self.kind]

    # ---- finding runs ----------------------------------------------------------------------------------------------

    @classmethod
    def new(cls, model_dir, name, kind="mask_rcnn", now=None):
        """A new run `<model_dir>/<name><YYYYmmddTHHMM>` at epoch 0 (its folder is made when training starts)."""
        return cls(checkpoints.new_log_dir(model_dir, name, now), name, kind)

    @classmethod
    def from_checkpoint(cls, path, kind=None):
        """The run a checkpoint file belongs to, at that checkpoint's epoch; None when the file is not named like a
        checkpoint (of `kind`, or of any kind when None)."""
        for candidate in ([kind] if kind else list(KINDS)):
            match = checkpoints.checkpoint_pattern(KINDS[candidate]).match(os.path.basename(str(path)))
            if match:
                return cls(os.path.dirname(os.path.abspath(path)), match.group("name"), candidate,
                           int(match.group("epoch")))
        return None

    @classmethod
    def last(cls, model_dir, name, kind="mask_rcnn"):
        """The newest run of `name` under `model_dir` with a checkpoint, at its last checkpoint.

        Raises FileNotFoundError saying what was searched when there is none."""
        return cls.from_checkpoint(checkpoints.find_last(model_dir, name, prefix=KINDS[kind]), kind)

    # ---- its files -------------------------------------------------------------------------------------------------

    def checkpoint_path(self, epoch=None):
        """The weights checkpoint of `epoch` (default: the epoch the run is at)."""
        return checkpoints.checkpoint_path(self.log_dir, self.name, self.epoch if epoch is None else epoch,
                                           self.prefix)

    def optimizer_state_path(self, epoch=None):
        """The optimizer state saved beside the checkpoint of `epoch` (default: the epoch the run is at)."""
        return checkpoints.optimizer_state_path(self.log_dir, self.name, self.epoch if epoch is None else epoch,
                                                self.prefix)

    def saved_epochs(self):
        """The epochs whose weights checkpoint exists in the folder, ascending."""
        if not os.path.isdir(self.log_dir):
            return []
        pattern = checkpoints.checkpoint_pattern(self.prefix)
        return sorted(int(m.group("epoch")) for m in map(pattern.match, os.listdir(self.log_dir))
                      if m and m.group("name") == self.name)

    def config(self):
        """The values of the run's config.json, or None when it has none (ValueError naming a broken file)."""
        return checkpoints.read_run_config(self.log_dir)

    def record(self):
        """The run's record (run.json) as a dict; None for a run that has none (made before runs kept one).

        Raises ValueError naming the file when it is not a record of this format or of another kind of run."""
        path = os.path.join(self.log_dir, RECORD)
        record = checkpoints.read_json_object(path, "of a training run's record")
        if record is None:
            return None
        if record.get("format") != RECORD_FORMAT or not isinstance(record.get("stages"), list):
            raise ValueError(f"{path}: not a training run record (format {RECORD_FORMAT!r} with a list of stages)")
        if record.get("kind") != self.kind:
            raise ValueError(f"{path}: a {record.get('kind')} run, not a {self.kind} run")
        return record

    def stages(self):
        """The recorded stages, in order (see the module notes); [] when the run has no record."""
        record = self.record()
        return list(record["stages"]) if record else []

    def stage_of(self, epoch):
        """The recorded stage that trained `epoch`. ValueError naming run.json when there is no record or no stage
        holds that epoch."""
        path = os.path.join(self.log_dir, RECORD)
        if self.record() is None:
            raise ValueError(f"{path} does not exist: this run recorded no stages (it was made by an older version)")
        for stage in self.stages():
            if stage["first_epoch"] <= epoch <= stage["last_epoch"]:
                return stage
        raise ValueError(f"{path}: no recorded stage trained epoch {epoch} (stages: "
                         f"{', '.join(_describe(s) for s in self.stages()) or 'none'})")

    # ---- training --------------------------------------------------------------------------------------------------

    def fit(self, keras_model, data, epochs, steps_per_epoch, validation_data=None, validation_steps=None,
            stage=None, config=None, callbacks=(), strategy=None, verbose="auto"):
        """Train the compiled `keras_model` from epoch `self.epoch` to `epochs` (the final epoch number) and record it.

        Args:
            keras_model: a compiled Keras model (its optimizer is built here; resumed runs get the state saved
                beside their checkpoint when it fits: mrcnn/training/optimizer_state.py).
            data, validation_data: what Keras' `fit` takes (endless streams here: mrcnn/data/stream.py).
            steps_per_epoch, validation_steps: as in `fit`.
            stage: the settings of this stage to record, e.g. {"layers": "heads", "learning_rate": 0.001,
                "optimizer": "SGD"} (JSON values; other values are recorded by their str()).
            config: the run's Config, written as config.json.
            callbacks: more Keras callbacks, after the checkpoint, NaN guard and loss-curve ones.
            strategy: the tf.distribute strategy trained under: on a multi-worker cluster only the chief writes
                into the run's folder (mrcnn/training/distribute.py: worker_dir).
        Returns Keras' History, or None (with a warning) when `epochs` is not past `self.epoch`.
        Raises OSError naming the folder when it cannot hold a checkpoint, NonFiniteLoss (naming the last good
        checkpoint) when a loss becomes NaN or infinite.
        """
        from mrcnn.training import distribute, optimizer_state, preflight
        from mrcnn.training.callbacks import EpochCheckpoint, LossCurves, NanGuard, NonFiniteLoss

        if epochs <= self.epoch:
            log.warning("epochs=%d is not past the epoch %d the run is at: nothing to train", epochs, self.epoch)
            return None
        optimizer_state.build_optimizer_variables(keras_model)
        if self.epoch:  # continued from a checkpoint: with the optimizer state saved beside it
            optimizer_state.restore_optimizer_state(keras_model, self.optimizer_state_path())
        write_dir = distribute.worker_dir(self.log_dir, strategy)
        preflight.check_log_dir(write_dir, preflight.checkpoint_bytes(keras_model))
        checkpoints.remove_stale_temporaries(write_dir)
        try:
            if config is not None:
                checkpoints.write_text_atomic(os.path.join(write_dir, "config.json"), config.to_json())
            self._record_stage(write_dir, epochs, stage or {})
        except OSError as e:
            raise OSError(e.errno, f"cannot write to the log folder {write_dir!r}: {e}", write_dir) from e
        # The checkpoint is written before the epoch is reported, so a resumed run never reports an epoch twice.
        callbacks = [NanGuard(), EpochCheckpoint(write_dir, self.name, prefix=self.prefix),
                     LossCurves(write_dir)] + list(callbacks)
        log.info("%s run %s: starting at epoch %d, training epochs %d-%d (%s)", self.kind, self.log_dir, self.epoch,
                 self.epoch + 1, epochs, ", ".join(f"{k} {v}" for k, v in (stage or {}).items()) or "no stage settings")
        try:
            history = keras_model.fit(data, initial_epoch=self.epoch, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                      validation_data=validation_data, validation_steps=validation_steps,
                                      callbacks=callbacks, verbose=verbose, shuffle=False)
        except NonFiniteLoss as e:
            saved = self.saved_epochs()
            last = self.checkpoint_path(saved[-1]) if saved else "none (no epoch finished)"
            raise NonFiniteLoss(f"{e}. Training stopped; the weights in memory are broken. The last good checkpoint "
                                f"is {last}: resume from it (load_weights, or --weights last) with a lower learning "
                                "rate.") from None
        self.epoch = int(epochs)
        return history

    def _record_stage(self, folder, epochs, settings):
        """Add the stage `self.epoch + 1 .. epochs` with `settings` to the record in `folder` (module notes)."""
        settings = {str(k): _json_value(v) for k, v in settings.items() if k not in STAGE_SPAN}
        record = self.record() if folder == self.log_dir else None
        stages = []
        for stage in (record or {}).get("stages", []):  # what was recorded after the epoch resumed from is redone
            if stage["first_epoch"] <= self.epoch:
                stages.append(dict(stage, last_epoch=min(stage["last_epoch"], self.epoch)))
        if stages and stages[-1]["last_epoch"] == self.epoch and _settings(stages[-1]) == settings:
            stages[-1]["last_epoch"] = int(epochs)
        else:
            stages.append({"first_epoch": self.epoch + 1, "last_epoch": int(epochs), **settings})
        record = {"format": RECORD_FORMAT, "version": RECORD_VERSION, "kind": self.kind, "name": self.name,
                  "stages": stages}
        checkpoints.write_text_atomic(os.path.join(folder, RECORD), json.dumps(record, indent=2) + "\n")


def run_folder(weights):
    """The folder of the training run a weights file comes from: the run named in the report beside an averaged
    file (mrcnn/training/averaging.py), else the file's own folder (a checkpoint lives in its run's folder)."""
    report = checkpoints.report_path(weights)
    if os.path.isfile(report):
        try:
            with open(report, encoding="utf-8") as f:
                run = json.load(f).get("run")
        except (OSError, ValueError, AttributeError):
            run = None
        if isinstance(run, str) and os.path.isdir(run):
            return run
    return os.path.dirname(os.path.abspath(weights))


def _settings(stage):
    return {k: v for k, v in stage.items() if k not in STAGE_SPAN}


def _json_value(value):
    """`value` as it is when JSON holds it, else its str() (a learning-rate schedule, a numpy number)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "get_config"):  # a learning-rate schedule: described by its settings, the same every call
        return f"{type(value).__name__}({json.dumps(value.get_config(), sort_keys=True, default=str)})"
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _describe(stage):
    settings = ", ".join(f"{k} {v}" for k, v in _settings(stage).items())
    return f"epochs {stage['first_epoch']}-{stage['last_epoch']}" + (f" ({settings})" if settings else "")
