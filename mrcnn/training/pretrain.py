"""Pretraining a backbone as an image classifier on the target domain, for detectors that start without ImageNet.

Shape shorthand: N: images, B: batch, H, W: image height and width (the detector's, Config.IMAGE_SHAPE), K: classes.

Mask R-CNN from random weights learns its backbone from the box, class and mask losses of a few objects per image:
slow on a CPU. When each image has a class (PBC: one cell per image, class = folder), the backbone can first learn
the domain as a plain classifier, which is cheap (one label per image, no proposals, batch 32), and the detector then
starts from it like from ImageNet weights: heads first, then the rest (`samples/pbc/config.py: schedule`).

`pretrain_backbone` trains `mrcnn.backbones.classifier.build_classifier(config, K)` with
  - images: uint8 [N, H, W, 3] already resized like the detector's input (`mold_images` below), augmented per batch
    by any `f(image, mask, rng)` augmentation (mrcnn.data.augment), then molded (MEAN_PIXEL subtracted);
  - AdamW with decoupled weight decay (kernels only, not biases or batch norm), the learning rate warmed up
    linearly over the first 5 % of the steps and then decayed to 0 on a cosine; cross-entropy with label smoothing;
  - batch norm training (the statistics the detector will then use frozen come from the same images);
  - the training loop of every run (mrcnn/training/run.py, a run of kind "classifier"): per-epoch checkpoints
    `classifier_<run>_<epoch:04d>.weights.h5` with the optimizer state beside them, in
    `<model_dir>/<run><YYYYmmddTHHMM>/`, TensorBoard curves there (loss, accuracy, val_loss, val_accuracy,
    learning_rate), the stage in run.json, and resume from a checkpoint at the next epoch;
and at the end recomputes batch norm's moving statistics for the final weights over the training images
(mrcnn/training/bn_statistics.py), then writes the backbone's weights alone (`.weights.h5`, the layers of
`build_classifier`'s backbone model) with a JSON report beside it: validation accuracy, per-class recall, sizes,
time. The validation images are
used for reporting only: no choice (of epoch or setting) is made on them.

Batches are pure functions of (seed, epoch, index) presented to `fit` as an endless stream (mrcnn/data/stream.py), as
in mrcnn/data/generator.py, so a seeded run repeats.
"""

import json
import logging
import math
import os
import time

import keras
import numpy as np

from mrcnn import utils
from mrcnn.backbones.classifier import backbone_weighted_layers, build_classifier
from mrcnn.data.augment import apply_augmentation
from mrcnn.data.mold import mold_image
from mrcnn.data.stream import BatchStream
from mrcnn.layers.batch_norm import use_fused_batch_norm
from mrcnn.training import checkpoints
from mrcnn.training.bn_statistics import recompute_moving_statistics
from mrcnn.training.determinism import seed_everything
from mrcnn.training.run import KINDS, TrainingRun

log = logging.getLogger(__name__)

KIND = "classifier"  # the kind of training run (mrcnn/training/run.py); its checkpoints are classifier_*.weights.h5
PREFIX = KINDS[KIND]
WARMUP_FRACTION = 0.05


def run_name(config):
    """The run's name, which names its folder and checkpoints: "pretrain_<backbone>"."""
    backbone = config.BACKBONE if isinstance(config.BACKBONE, str) else getattr(config.BACKBONE, "__name__", "custom")
    return f"pretrain_{backbone.lower()}"


def mold_images(images, config):
    """uint8 [N, H, W, 3] of a list of RGB images resized as the detector resizes them (IMAGE_RESIZE_MODE
    "square": longest side IMAGE_MAX_DIM, zero padding to a square)."""
    out = np.zeros((len(images),) + tuple(int(d) for d in config.IMAGE_SHAPE), dtype=np.uint8)
    for i, image in enumerate(images):
        resized = utils.resize_image(image, min_dim=config.IMAGE_MIN_DIM, max_dim=config.IMAGE_MAX_DIM,
                                     min_scale=config.IMAGE_MIN_SCALE, mode="square")[0]
        out[i] = resized
    return out


class ClassifierBatches(BatchStream):
    """(molded images float32 [B, H, W, 3], one-hot labels float32 [B, K]) from images in memory.

    Args:
        images: uint8 [N, H, W, 3]; labels: int [N] in 0..K-1; num_classes: K.
        batch_size: B; an epoch is one pass over the images, so its last batch may be smaller.
        mean_pixel: Config.MEAN_PIXEL. augmentation: None or what mrcnn.data.augment accepts.
        shuffle: a fresh order each epoch; seed: int. stream, workers: see mrcnn/data/stream.py.
    Batch `idx` of epoch `e` depends only on (seed, e, idx).
    """

    def __init__(self, images, labels, num_classes, batch_size, mean_pixel, augmentation=None, shuffle=True, seed=0,
                 stream=False, workers=1):
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(f"ClassifierBatches: {len(images)} images and {len(labels)} labels; need the same "
                             "positive number")
        super().__init__(math.ceil(len(images) / int(batch_size)), stream=stream, workers=workers)
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.num_classes, self.batch_size = int(num_classes), int(batch_size)
        self.mean_pixel, self.augmentation = mean_pixel, augmentation
        self.shuffle, self.seed = shuffle, int(seed)

    def batch(self, epoch, idx):
        count = len(self.images)
        order = np.random.default_rng([self.seed, 1, epoch]).permutation(count) if self.shuffle else np.arange(count)
        rng = np.random.default_rng([self.seed, 0, epoch, idx])
        chosen = order[idx * self.batch_size:(idx + 1) * self.batch_size]
        no_masks = np.zeros(self.images.shape[1:3] + (0,), dtype=bool)
        batch = [apply_augmentation(self.augmentation, self.images[i], no_masks, rng)[0] for i in chosen]
        one_hot = np.eye(self.num_classes, dtype=np.float32)[self.labels[chosen]]
        return mold_image(np.stack(batch), self.mean_pixel), one_hot


def learning_rate_schedule(peak, total_steps):
    """Linear warm-up to `peak` over WARMUP_FRACTION of `total_steps`, then a cosine decay to 0."""
    warmup = max(1, int(total_steps * WARMUP_FRACTION))
    return keras.optimizers.schedules.CosineDecay(0.0, max(1, total_steps - warmup), alpha=0.0,
                                                  warmup_target=peak, warmup_steps=warmup)


def pretrain_backbone(config, train, val, class_names, model_dir, epochs, batch_size=32, learning_rate=2e-3,
                      weight_decay=5e-4, label_smoothing=0.1, dropout=0.2, augmentation=None, resume_from=None,
                      out=None, seed=0, workers=2, verbose="auto"):
    """Train the backbone of `config` as a K-class image classifier; returns the report dict (also saved as JSON).

    Args:
        config: the detector's Config (backbone, image size, precision; see build_classifier).
        train, val: (images uint8 [N, H, W, 3] from `mold_images`, labels int [N] in 0..K-1).
        class_names: the K class names (report only).
        model_dir: folder of runs; a new run folder is made there unless resuming.
        epochs: final epoch number (a run resumed at epoch e trains epochs e+1..epochs).
        resume_from: a `classifier_*.weights.h5` checkpoint of an earlier run to continue, or None.
        out: path of the backbone weights file (default `<run folder>/backbone_<backbone>.weights.h5`); the report
            goes beside it as `<out without .weights.h5>.json`.
        seed: seeds the batches (order and augmentation), the initial weights and TensorFlow's kernels
            (mrcnn/training/determinism.py): a run repeats on the same machine.
    Returns: {"weights", "report", "log_dir", "val_accuracy", "val_recall", "epochs", ...}.
    """
    num_classes = len(class_names)
    for name, (images, labels) in (("train", train), ("val", val)):
        labels = np.asarray(labels)
        if len(images) == 0:
            raise ValueError(f"pretraining needs {name} images; none were given")
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} labels must be in 0..{num_classes - 1} ({class_names}); got "
                             f"{labels.min()}..{labels.max()}")
    present = np.unique(train[1])
    if len(present) < 2:
        raise ValueError(f"pretraining a classifier needs training images of at least 2 classes; all "
                         f"{len(train[1])} are {class_names[int(present[0])]!r}")
    if out is not None and not str(out).endswith(".weights.h5"):
        raise ValueError(f"out={out!r}: the backbone weights file name must end in .weights.h5")
    seed_everything(int(seed))
    name = run_name(config)
    classifier, backbone = build_classifier(config, num_classes, dropout=dropout)
    use_fused_batch_norm(classifier)  # the same function through TensorFlow's fused kernel (layers/batch_norm.py)
    steps = math.ceil(len(train[0]) / batch_size)
    optimizer = keras.optimizers.AdamW(learning_rate_schedule(learning_rate, epochs * steps),
                                       weight_decay=weight_decay, clipnorm=5.0)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])  # decay the kernels only
    classifier.compile(optimizer=optimizer,
                       loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing),
                       metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    if resume_from is not None:
        run = TrainingRun.from_checkpoint(resume_from, kind=KIND)
        if run is None:
            raise ValueError(f"{resume_from}: not a pretraining checkpoint ({PREFIX}_<run>_NNNN.weights.h5)")
        classifier.load_weights(resume_from)
    else:
        run = TrainingRun.new(model_dir, name, kind=KIND)

    train_batches = ClassifierBatches(*train, num_classes, batch_size, config.MEAN_PIXEL, augmentation,
                                      shuffle=True, seed=seed, stream=True, workers=workers)
    train_batches.start_step = run.epoch * steps  # a resumed run continues the stream where it stopped
    val_batches = ClassifierBatches(*val, num_classes, 64, config.MEAN_PIXEL, shuffle=False, workers=workers)
    start = time.time()
    log.info("pretraining %s on %d images of %d classes", name, len(train[0]), num_classes)
    run.fit(classifier, train_batches, epochs, steps, validation_data=val_batches, config=config,
            stage={"layers": "all", "learning_rate": learning_rate, "optimizer": "AdamW",
                   "schedule": "linear warm-up, cosine to 0", "weight_decay": weight_decay,
                   "batch_size": batch_size}, verbose=verbose)
    # The moving statistics of batch norm, recomputed for the final weights on the training images (not augmented):
    # they are what the detector normalizes with when it keeps batch norm frozen (mrcnn/training/bn_statistics.py).
    recompute_moving_statistics(classifier, ClassifierBatches(*train, num_classes, 16, config.MEAN_PIXEL,
                                                              shuffle=False))
    seconds = time.time() - start

    probabilities = classifier.predict(val_batches, verbose=0)
    predicted = np.argmax(probabilities, axis=-1)
    truth = np.asarray(val[1])
    recall = {class_names[k]: float(np.mean(predicted[truth == k] == k)) if np.any(truth == k) else None
              for k in range(num_classes)}
    out = out or os.path.join(run.log_dir, f"backbone_{name[len('pretrain_'):]}.weights.h5")
    if os.path.dirname(os.path.abspath(out)):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    checkpoints.save_weights_atomic(backbone, out)
    report = {
        "backbone": name[len("pretrain_"):], "image_shape": [int(d) for d in config.IMAGE_SHAPE],
        "classes": list(class_names), "epochs": run.epoch, "batch_size": int(batch_size),
        "learning_rate": float(learning_rate), "weight_decay": float(weight_decay),
        "label_smoothing": float(label_smoothing), "seed": int(seed), "augmentation": repr(augmentation),
        "train_images": int(len(train[0])), "val_images": int(len(val[0])),
        "val_accuracy": float(np.mean(predicted == truth)), "val_recall": recall,
        "seconds_this_call": round(seconds, 1), "layers": len(backbone_weighted_layers(backbone)),
        "log_dir": os.path.abspath(run.log_dir), "weights": os.path.abspath(out),
    }
    report_file = checkpoints.report_path(out)
    checkpoints.write_text_atomic(report_file, json.dumps(report, indent=2) + "\n")
    report["report"] = os.path.abspath(report_file)
    return report
