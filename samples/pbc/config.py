"""Configurations of the PBC sample: the paper's Table 2, its inference twin, and a small CPU preset.

Table 2 of Atıcı & Koçer 2023 (shared/seeds/002): GPU_COUNT 2, IMAGES_PER_GPU 2, IMAGE_MIN_DIM = IMAGE_MAX_DIM = 512,
TRAIN_ROIS_PER_IMAGE 100, MAX_GT_INSTANCES 50, NUM_CLASSES 9 (8 cell classes + background), STEPS_PER_EPOCH 100,
240 epochs, detection threshold 0.75. Everything the table does not name keeps Matterport's default.

`make_config(...)` applies the command line's overrides in one place, so `train`, `evaluate` and `detect` build the
same network; `add_model_options` and `config_from_args` are the command lines' side of it (pbc.py and the benchmarks
that load a PBC model). `schedule` is the stage plan of a training run.
"""

import argparse

from mrcnn.config import DETECTION_SCORES, Config
from samples.pbc.classes import CLASS_NAMES

PAPER_EPOCHS = 240
PRESETS = ("paper", "cpu")


class PbcConfig(Config):
    """The paper's Table 2."""

    NAME = "pbc"
    BACKBONE = "resnet101"
    GPU_COUNT = 2
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 512
    IMAGE_MAX_DIM = 512
    TRAIN_ROIS_PER_IMAGE = 100
    MAX_GT_INSTANCES = 50
    NUM_CLASSES = 1 + len(CLASS_NAMES)
    STEPS_PER_EPOCH = 100
    VALIDATION_STEPS = 50
    DETECTION_MIN_CONFIDENCE = 0.75
    # A cell is kept when the model is sure it is a cell (1 - P(background) >= 0.75) even if it hesitates over its
    # class, and counted once (no second detection of another class on it): on other labs' smears Matterport's score
    # dropped half the white cells (docs/other_labs.md). --detection-score class --nms per-class give Matterport's.
    DETECTION_SCORE = "object"
    DETECTION_NMS_ACROSS_CLASSES = True


class PbcInferenceConfig(PbcConfig):
    """Table 2 for inference: one image at a time on one device."""

    GPU_COUNT = 1
    IMAGES_PER_GPU = 1


# The "cpu" preset: narrower heads and fewer proposals, so that a model at 128-256 px trains in minutes on a CPU.
CPU_PRESET = {
    "TOP_DOWN_PYRAMID_SIZE": 64,
    "RPN_CONV_CHANNELS": 128,
    "MASK_HEAD_CHANNELS": 64,
    "FPN_CLASSIF_FC_LAYERS_SIZE": 256,
    "RPN_TRAIN_ANCHORS_PER_IMAGE": 64,
    "PRE_NMS_LIMIT": 1000,
    "POST_NMS_ROIS_TRAINING": 200,
    "POST_NMS_ROIS_INFERENCE": 100,
    "TRAIN_ROIS_PER_IMAGE": 32,
    "MAX_GT_INSTANCES": 8,
    "DETECTION_MAX_INSTANCES": 16,
    "VALIDATION_STEPS": 5,
}


def make_config(inference=False, preset="paper", backbone=None, image_size=None, images_per_gpu=None,
                gpu_count=None, steps_per_epoch=None, validation_steps=None, from_scratch=False,
                recompute_backbone=False, learning_rate=None, optimizer=None, red_cell_diameter="pbc"):
    """A PbcConfig (or PbcInferenceConfig) with the command line's overrides applied.

    Args:
        preset: "paper" (Table 2) or "cpu" (CPU_PRESET on top of Table 2).
        image_size: IMAGE_MIN_DIM = IMAGE_MAX_DIM = image_size; the anchor scales follow it (Table 2's 512 px uses
            Matterport's 32..512), so cells keep the same anchors relative to the image.
        from_scratch: no pretrained weights: batch norm trains and Adam replaces SGD (see the README).
        recompute_backbone: Config.RECOMPUTE_BACKBONE (less memory for a slower step, training only).
        learning_rate, optimizer: Config.LEARNING_RATE and Config.OPTIMIZER ("SGD" or "ADAM"), applied last.
        red_cell_diameter: Config.RED_CELL_DIAMETER, the scale the model knows: "pbc" (PBC's red cells at this image
            size, samples/pbc/scale.py), None (no scale: images are resized as they come) or pixels.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: valid presets are {PRESETS}")
    config = (PbcInferenceConfig if inference else PbcConfig)()
    if preset == "cpu":
        for name, value in CPU_PRESET.items():
            setattr(config, name, value)
    if backbone is not None:
        config.BACKBONE = backbone
    if image_size is not None:
        config.IMAGE_MIN_DIM = config.IMAGE_MAX_DIM = int(image_size)
    config.RPN_ANCHOR_SCALES = tuple(max(4, round(s * config.IMAGE_MAX_DIM / 512)) for s in (32, 64, 128, 256, 512))
    if not inference:
        if images_per_gpu is not None:
            config.IMAGES_PER_GPU = int(images_per_gpu)
        if gpu_count is not None:
            config.GPU_COUNT = int(gpu_count)
        if steps_per_epoch is not None:
            config.STEPS_PER_EPOCH = int(steps_per_epoch)
        if validation_steps is not None:
            config.VALIDATION_STEPS = int(validation_steps)
        config.RECOMPUTE_BACKBONE = bool(recompute_backbone)
    if red_cell_diameter == "pbc":
        from samples.pbc.scale import pbc_training_diameter
        red_cell_diameter = round(pbc_training_diameter(config.IMAGE_MAX_DIM), 2)
    config.RED_CELL_DIAMETER = red_cell_diameter
    if from_scratch:
        config.TRAIN_BN = True
        config.OPTIMIZER = "ADAM"
        config.LEARNING_RATE = 0.001
    if learning_rate is not None:
        config.LEARNING_RATE = float(learning_rate)
    if optimizer is not None:
        config.OPTIMIZER = str(optimizer).upper()
    return config.validate()


def schedule(weights, epochs):
    """[(final epoch, layers, learning-rate factor)] of a training run of `epochs` epochs.

    From pretrained weights (imagenet, coco, a file): Matterport's fine-tuning plan stretched to the paper's 240
    epochs: the heads alone to 1/6 of the run (the new heads must learn before their gradients reach the backbone),
    then stages 4+ to 1/2, then all layers to the end at a tenth of the rate. From scratch (none) every layer trains
    from the first step at the full rate: there is nothing to protect.
    """
    if epochs < 1:
        raise ValueError(f"--epochs {epochs}: must be at least 1")
    if weights == "none":
        return [(epochs, "all", 1.0)]
    heads_end = max(1, round(epochs * 40 / PAPER_EPOCHS))
    mid_end = max(heads_end, round(epochs * 120 / PAPER_EPOCHS))
    stages = [(heads_end, "heads", 1.0), (mid_end, "4+", 1.0), (epochs, "all", 0.1)]
    out = []
    for end, layers, factor in stages:
        if not out or end > out[-1][0]:
            out.append((end, layers, factor))
    return out


# ---- the config of a command line ------------------------------------------------------------------------------------

def add_model_options(parser, training):
    """The options that decide the network (--backbone, --preset, --image-size, --logs; --min-confidence for
    inference): every PBC command line that builds or loads a model takes them, so that all build the same one."""
    from mrcnn.backbones import backbone_names  # the registry's names; no backbone module (nor Keras) is loaded
    parser.add_argument("--backbone", default=None,
                        help=f"backbone name ({', '.join(backbone_names())}); default: the paper's resnet101")
    parser.add_argument("--preset", default="paper", choices=PRESETS,
                        help="paper: Table 2 as published; cpu: narrow heads and fewer ROIs for CPU runs")
    parser.add_argument("--image-size", type=int, default=None,
                        help="IMAGE_MIN_DIM = IMAGE_MAX_DIM = N (multiple of 64; the paper: 512)")
    parser.add_argument("--logs", default="logs", help="folder of training runs and checkpoints (default: logs)")
    if not training:
        parser.add_argument("--min-confidence", type=float, default=None,
                            help="DETECTION_MIN_CONFIDENCE (the paper: 0.75)")
        add_scoring_options(parser)
        parser.add_argument("--pixel-size", type=pixel_size, default="auto", metavar="{auto,each,off,UM}",
                            help="µm per pixel of the images, to bring them to the scale the model trained at; "
                                 "auto (default): from the red cells (7.5 µm) of up to 50 of the images, their "
                                 "median used for all (one microscope); each: every image measured on its own "
                                 "(images of several microscopes); off: each image resized to the model's input as "
                                 "it comes")
        parser.add_argument("--colour", default="off", choices=["off", "pbc", "background"],
                            help="off (default): the images' colours as they are; pbc: each image's LAB mean and "
                                 "spread moved to PBC's first; background: each image white-balanced so that its "
                                 "background takes PBC's colour (mrcnn/data/colour.py)")


def add_scoring_options(parser):
    """--detection-score and --nms: what a detection's score is, and whether overlaps are suppressed across classes."""
    parser.add_argument("--detection-score", default=None, choices=DETECTION_SCORES,
                        help="DETECTION_SCORE: object (default): how sure the model is that a detection is a cell, "
                             "1 - P(background); class: the probability of its class (Matterport's)")
    parser.add_argument("--nms", default=None, choices=["across", "per-class"],
                        help="across (default): one detection per cell, whatever its class; per-class: Matterport's, "
                             "a cell may be detected once per class")


def pixel_size(text):
    """--pixel-size's value: "auto", "each", "off", or a positive number of µm per pixel."""
    if text in ("auto", "each", "off"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give auto, each, off, or the µm per pixel of the images (e.g. "
                                         "0.1)")
    return value


def config_from_args(args, inference=False, start_weights=None):
    """The config of a command line (add_model_options' options, and train's). A training run that continues another
    (`start_weights`, the file --weights resolved to, is a checkpoint of a run) keeps that run's batch-norm mode,
    optimizer and learning rate (from its config.json) unless the command line names them; from scratch
    (--weights none) batch norm trains. The scale the model knows (RED_CELL_DIAMETER) is PBC's, none for a model of
    synthetic smears (--dataset synthetic), and in inference the one the weights' run recorded, when it did."""
    from_scratch, optimizer, learning_rate = False, None, None
    red_cell_diameter = None if getattr(args, "dataset", None) == "synthetic" else "pbc"
    if inference and start_weights:
        from mrcnn.training.checkpoints import read_run_config
        from mrcnn.training.run import run_folder
        saved = read_run_config(run_folder(start_weights)) or {}
        red_cell_diameter = saved.get("RED_CELL_DIAMETER", red_cell_diameter)
    if not inference:
        saved = _continued_run_config(start_weights) or {}
        from_scratch = args.weights == "none" or saved.get("TRAIN_BN") is True
        optimizer = args.optimizer or saved.get("OPTIMIZER")
        learning_rate = args.learning_rate if args.learning_rate is not None else saved.get("LEARNING_RATE")
    config = make_config(inference=inference, preset=args.preset, backbone=args.backbone, image_size=args.image_size,
                         images_per_gpu=getattr(args, "images_per_gpu", None),
                         gpu_count=getattr(args, "gpu_count", None),
                         steps_per_epoch=getattr(args, "steps_per_epoch", None),
                         validation_steps=getattr(args, "validation_steps", None), from_scratch=from_scratch,
                         recompute_backbone=getattr(args, "recompute_backbone", False),
                         learning_rate=learning_rate, optimizer=optimizer, red_cell_diameter=red_cell_diameter)
    if inference and getattr(args, "min_confidence", None) is not None:
        config.DETECTION_MIN_CONFIDENCE = args.min_confidence
    if inference and getattr(args, "detection_score", None) is not None:
        config.DETECTION_SCORE = args.detection_score
    if inference and getattr(args, "nms", None) is not None:
        config.DETECTION_NMS_ACROSS_CLASSES = args.nms == "across"
    return config


def _continued_run_config(weights):
    """The config.json values of the run whose checkpoint `weights` is, or None (no file, or not a checkpoint)."""
    from mrcnn.training.run import TrainingRun
    run = TrainingRun.from_checkpoint(weights, kind="mask_rcnn") if weights else None
    return run.config() if run else None
