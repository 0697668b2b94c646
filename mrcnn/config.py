"""Mask R-CNN configuration.

`Config` holds every setting of the model, the data pipeline and training as an UPPER_CASE class attribute, with
Matterport's names and defaults. Subclass it and override what differs::

    class CellsConfig(Config):
        NAME = "cells"
        NUM_CLASSES = 1 + 8
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = 512

The model builder is the only place that reads a Config; every layer receives explicit arguments. `validate()` checks
that the settings can work together and raises a `ValueError` naming the field; `to_dict()` / `from_dict()` turn a
config into JSON-safe values and back (a copy is saved beside every checkpoint).

Three settings that Matterport hard-coded are fields here, with Matterport's values as defaults:
RPN_POSITIVE_IOU (0.7), RPN_NEGATIVE_IOU (0.3) and ROI_POSITIVE_IOU (0.5).
"""

import json
import logging

import numpy as np

log = logging.getLogger(__name__)

RESIZE_MODES = ("none", "square", "pad64", "crop")
OPTIMIZERS = ("SGD", "ADAM")
DETECTION_SCORES = ("class", "object")
DTYPE_POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
LOSS_NAMES = ("rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss")
# The backbone halves the image 5 times and the FPN upsamples back by 2 per level: sides must divide by 2**6.
SIZE_DIVISOR = 64


class Config:
    """Base configuration. Derived values (BATCH_SIZE, IMAGE_SHAPE, IMAGE_META_SIZE) are computed on access."""

    # Name of the configuration, e.g. "coco" or "pbc". Used in the log folder's and the checkpoints' names.
    NAME = None

    # Number of GPUs to train on (1 or more) and images per GPU. The global batch is GPU_COUNT * IMAGES_PER_GPU.
    # A 12 GB GPU typically fits 2 images of 1024x1024; adjust to your memory and image size. Training with more
    # replicas than the machine has devices runs on what is there with the same global batch.
    GPU_COUNT = 1
    IMAGES_PER_GPU = 2

    # Training steps per epoch. An epoch need not cover the dataset: it is the interval between checkpoints and
    # TensorBoard points, so keep it small enough to see progress and large enough that saving is cheap.
    STEPS_PER_EPOCH = 1000

    # Validation steps at the end of every epoch. More steps give a steadier validation loss and cost time.
    VALIDATION_STEPS = 50

    # Backbone: a registered name (`mrcnn.backbones.backbone_names()` lists them: the paper's seven, two small ones
    # for CPUs, and yours; the README's table describes each) or a callable with Matterport's contract
    # `f(input_image, stage5=True, train_bn=TRAIN_BN) -> [C1, C2, C3, C4, C5]` (or [C2, C3, C4, C5]) at strides
    # 2..32. A callable with other strides also needs COMPUTE_BACKBONE_SHAPE.
    BACKBONE = "resnet101"

    # Only for a callable BACKBONE: `f(image_shape) -> [[h, w] per pyramid level]`. None uses BACKBONE_STRIDES.
    COMPUTE_BACKBONE_SHAPE = None

    # Strides of the FPN levels P2..P6 relative to the image. Anchors are placed on these grids.
    BACKBONE_STRIDES = [4, 8, 16, 32, 64]

    # Width of the two fully connected layers of the classification/box head.
    FPN_CLASSIF_FC_LAYERS_SIZE = 1024

    # Channels of the top-down FPN layers (P2..P6).
    TOP_DOWN_PYRAMID_SIZE = 256

    # Channels of the RPN's shared 3x3 convolution and of the mask head's convolutions. Matterport hard-coded 512
    # and 256; smaller values make small models (tests, CPU demos) much cheaper, since the mask head dominates the
    # cost of a training step.
    RPN_CONV_CHANNELS = 512
    MASK_HEAD_CHANNELS = 256

    # Number of classes including the background (class 0).
    NUM_CLASSES = 1

    # Side lengths of the square anchors in pixels, one per pyramid level (P2..P6).
    RPN_ANCHOR_SCALES = (32, 64, 128, 256, 512)

    # Height/width ratios of the anchors at each position (0.5 = wide, 2 = tall).
    RPN_ANCHOR_RATIOS = [0.5, 1, 2]

    # Anchor stride in feature-map cells: 1 puts anchors on every cell, 2 on every other cell (fewer anchors, faster).
    RPN_ANCHOR_STRIDE = 1

    # Non-max suppression threshold on RPN proposals. Raise it for more proposals during training.
    RPN_NMS_THRESHOLD = 0.7

    # Anchors per image sampled to train the RPN (half of them positive at most).
    RPN_TRAIN_ANCHORS_PER_IMAGE = 256

    # IoU with a ground-truth box from which an anchor is positive for the RPN, and below which it is negative.
    # Anchors in between are neutral (ignored). Matterport hard-coded 0.7 / 0.3.
    RPN_POSITIVE_IOU = 0.7
    RPN_NEGATIVE_IOU = 0.3

    # Top anchors by RPN score kept before non-max suppression.
    PRE_NMS_LIMIT = 6000

    # ROIs kept after non-max suppression, in training and in inference.
    POST_NMS_ROIS_TRAINING = 2000
    POST_NMS_ROIS_INFERENCE = 1000

    # Store masks cropped to their box and resized to MINI_MASK_SHAPE to save memory (training inputs only).
    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (56, 56)  # (height, width)

    # How images are resized before entering the network:
    #   none:   keep the size; the network needs sides divisible by 64 (IMAGE_SHAPE is then unknown).
    #   square: scale so the short side is IMAGE_MIN_DIM and the long side at most IMAGE_MAX_DIM, then zero-pad to
    #           IMAGE_MAX_DIM x IMAGE_MAX_DIM.
    #   pad64:  scale as in square, then pad each side to a multiple of 64.
    #   crop:   scale as in square, then take a random IMAGE_MIN_DIM x IMAGE_MIN_DIM crop (training only; inference
    #           uses square with IMAGE_MAX_DIM).
    IMAGE_RESIZE_MODE = "square"
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024
    # Minimum scale ratio applied after IMAGE_MIN_DIM (e.g. 2 upscales small images at least 2x). 0 means none.
    IMAGE_MIN_SCALE = 0
    # Colour channels per image. RGB = 3; other counts need a backbone built for them.
    IMAGE_CHANNEL_COUNT = 3

    # Mean pixel (RGB) subtracted from every image before the backbone.
    MEAN_PIXEL = np.array([123.7, 116.8, 103.9])

    # ROIs per image sampled for the classifier and mask heads in training. Matterport's paper uses 512 at a 1:3
    # positive ratio; fewer is faster and enough when images hold few objects.
    TRAIN_ROIS_PER_IMAGE = 200

    # Highest share of positive ROIs among TRAIN_ROIS_PER_IMAGE.
    ROI_POSITIVE_RATIO = 0.33

    # IoU with a ground-truth box from which a proposal is a positive ROI; below it the proposal is a negative
    # (background) ROI. Matterport hard-coded 0.5.
    ROI_POSITIVE_IOU = 0.5

    # Side of the pooled ROI features: POOL_SIZE for the class/box head, MASK_POOL_SIZE for the mask head.
    POOL_SIZE = 7
    MASK_POOL_SIZE = 14

    # Side of the predicted masks. The mask head upsamples once, so this is 2 * MASK_POOL_SIZE.
    MASK_SHAPE = [28, 28]

    # Most ground-truth instances used per image (extra ones are dropped, with a warning).
    MAX_GT_INSTANCES = 100

    # Standard deviations that scale box deltas, for the RPN and for the final detections.
    RPN_BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])
    BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])

    # Most detections returned per image.
    DETECTION_MAX_INSTANCES = 100

    # Detections scoring below this are dropped.
    DETECTION_MIN_CONFIDENCE = 0.7

    # Per-class non-max suppression threshold on the final detections.
    DETECTION_NMS_THRESHOLD = 0.3

    # What a detection's score is (mrcnn/layers/detection.py). "class" (Matterport's): the probability of the ROI's
    # most probable class, and an ROI whose most probable class is the background is dropped. "object": the
    # probability that the ROI is not background (1 - P(background)), the class being the most probable of the
    # others; an object the classifier is sure of but whose class it hesitates over (0.5 ig, 0.45 monocyte) is kept.
    DETECTION_SCORE = "class"

    # True: after the per-class suppression, a detection overlapping a better-scoring one of another class by more
    # than DETECTION_NMS_THRESHOLD is dropped too (one object, one detection). False: Matterport's per-class only.
    DETECTION_NMS_ACROSS_CLASSES = False

    # Blood smears: the typical red-cell diameter, in pixels of the model's input, in the images the model trained on:
    # the scale it knows cells at. With it, mrcnn/detector.py brings every image to that scale before detection
    # (measured from the image's own red cells, mrcnn/data/scale.py, or from a pixel size given), tiling images that
    # come out larger than the input, so that another microscope's magnification does not matter. None: each image is
    # resized to the input as it comes (Matterport's behaviour).
    RED_CELL_DIAMETER = None

    # Optimizer: "SGD" (Matterport's: SGD with LEARNING_MOMENTUM) or "ADAM" (Adam; it trains a model from scratch
    # several times faster than SGD here, e.g. shapes mask mAP@0.5 0.82 after 450 steps against 0.19 for SGD 0.02).
    OPTIMIZER = "SGD"

    # Learning rate and SGD momentum. Matterport's 0.001 assumes pretrained weights; higher SGD rates can diverge.
    # With OPTIMIZER = "ADAM", 0.001 (Adam's usual rate) works from scratch.
    LEARNING_RATE = 0.001
    LEARNING_MOMENTUM = 0.9

    # L2 weight decay (Matterport's form: each weight tensor's squared sum divided by its size, batch-norm gamma and
    # beta excluded).
    WEIGHT_DECAY = 0.0001

    # Weights of the five losses in the total loss.
    LOSS_WEIGHTS = {
        "rpn_class_loss": 1.0,
        "rpn_bbox_loss": 1.0,
        "mrcnn_class_loss": 1.0,
        "mrcnn_bbox_loss": 1.0,
        "mrcnn_mask_loss": 1.0,
    }

    # Train the heads on the RPN's proposals (True) or on random ROIs generated around the ground truth (False, for
    # debugging the heads alone).
    USE_RPN_ROIS = True

    # Batch normalization: False freezes it (moving statistics used, never updated; right with small batches and
    # pretrained weights), True trains it, None follows the training flag.
    TRAIN_BN = False

    # Gradients are clipped to this norm, each weight tensor separately (Keras' `clipnorm`, as in Matterport).
    GRADIENT_CLIP_NORM = 5.0

    # Numeric precision (mrcnn/precision.py): "float32" (Matterport's), "mixed_bfloat16", "mixed_float16" or "auto"
    # (bfloat16 where the hardware computes it natively — CPUs with AVX512_BF16/AMX, GPUs of compute capability
    # >= 8.0 —, float16 on older GPUs, else float32). Boxes, deltas, logits and losses stay float32 in every mode.
    DTYPE_POLICY = "auto"

    # XLA (mrcnn/layers/compiled.py): True compiles the convolutional trunk (backbone, FPN, RPN head; forward and
    # backward) with XLA; the proposal, target, ROIAlign and detection layers, whose shapes depend on the data, run
    # without it either way. Off by default: on this project's CPUs XLA made the trunk slower (its CPU convolutions
    # do not use oneDNN; see the README's measurements). On GPUs it may pay: measure with benchmarks/bench_core.py.
    JIT_COMPILE = False

    # Recomputation (mrcnn/backbones/segments.py): True keeps only the backbone's block outputs for the backward pass
    # and recomputes the rest block by block, trading one more backbone forward pass per step for memory (ResNet50,
    # 512 px, batch 2: see the README's measurements). Off by default.
    RECOMPUTE_BACKBONE = False

    # ---- derived values -------------------------------------------------------------------------------------------

    @property
    def BATCH_SIZE(self):
        """Global batch: GPU_COUNT * IMAGES_PER_GPU."""
        return self.IMAGES_PER_GPU * self.GPU_COUNT

    @property
    def IMAGE_SHAPE(self):
        """Shape of the network's input image [height, width, channels] (None sides in resize mode "none")."""
        c = self.IMAGE_CHANNEL_COUNT
        if self.IMAGE_RESIZE_MODE == "crop":
            return np.array([self.IMAGE_MIN_DIM, self.IMAGE_MIN_DIM, c])
        if self.IMAGE_RESIZE_MODE == "none":
            return np.array([None, None, c])
        return np.array([self.IMAGE_MAX_DIM, self.IMAGE_MAX_DIM, c])

    @property
    def IMAGE_META_SIZE(self):
        """Length of the image meta vector (see mrcnn.data.image_meta)."""
        return 1 + 3 + 3 + 4 + 1 + self.NUM_CLASSES

    # ---- methods --------------------------------------------------------------------------------------------------

    @classmethod
    def field_names(cls):
        """The names of all settable fields (UPPER_CASE class attributes that are not derived)."""
        derived = {"BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE"}
        names = []
        for klass in reversed(cls.__mro__):
            for name in vars(klass):
                if name.isupper() and name not in derived and name not in names:
                    names.append(name)
        return sorted(names)

    def to_dict(self):
        """All fields (and the derived values) as JSON-safe Python values."""
        out = {}
        for name in self.field_names() + ["BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE"]:
            out[name] = _to_json_value(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, values):
        """A config of this class with `values` overriding the defaults. Derived values in `values` are ignored.

        Unknown keys raise a ValueError (a typo would otherwise be silently ignored).
        """
        if not isinstance(values, dict):
            raise TypeError(f"Config.from_dict expects a dict, got {type(values).__name__}")
        known = set(cls.field_names())
        derived = {"BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE"}
        unknown = sorted(set(values) - known - derived)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}; valid fields are {sorted(known)}")
        config = cls()
        for name, value in values.items():
            if name in derived:
                continue
            default = getattr(cls, name)
            if isinstance(default, np.ndarray):
                value = np.array(value, dtype=default.dtype)
            elif isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            setattr(config, name, value)
        return config

    def to_json(self):
        """The config as a JSON document (the `to_dict()` values)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path):
        """Write the config as JSON to `path`."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path):
        """Read a config saved by `save()`; plain JSON, no code is executed."""
        with open(path, encoding="utf-8") as f:
            try:
                values = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not a valid config JSON file ({e})") from None
        return cls.from_dict(values)

    def display(self):
        """Print every field and its value (Matterport's `display`)."""
        print(self.describe())

    def describe(self):
        """The text that `display()` prints."""
        lines = ["Configurations:"]
        for name in self.field_names() + ["BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE"]:
            lines.append(f"{name:30} {getattr(self, name)}")
        return "\n".join(lines)

    def validate(self):
        """Check that the settings can work together; raise ValueError naming the field and the valid values."""
        _check_int(self, "GPU_COUNT", 1)
        _check_int(self, "IMAGES_PER_GPU", 1)
        _check_int(self, "STEPS_PER_EPOCH", 1)
        _check_int(self, "VALIDATION_STEPS", 1)
        _check_int(self, "NUM_CLASSES", 2, "(the background plus at least one class)")
        _check_int(self, "IMAGE_CHANNEL_COUNT", 1)
        _check_int(self, "TRAIN_ROIS_PER_IMAGE", 1)
        _check_int(self, "RPN_TRAIN_ANCHORS_PER_IMAGE", 2)
        _check_int(self, "MAX_GT_INSTANCES", 1)
        _check_int(self, "DETECTION_MAX_INSTANCES", 1)
        _check_int(self, "PRE_NMS_LIMIT", 1)
        _check_int(self, "POST_NMS_ROIS_TRAINING", 1)
        _check_int(self, "POST_NMS_ROIS_INFERENCE", 1)
        _check_int(self, "POOL_SIZE", 1)
        _check_int(self, "MASK_POOL_SIZE", 1)
        _check_int(self, "RPN_ANCHOR_STRIDE", 1)
        _check_int(self, "TOP_DOWN_PYRAMID_SIZE", 1)
        _check_int(self, "FPN_CLASSIF_FC_LAYERS_SIZE", 1)
        _check_int(self, "RPN_CONV_CHANNELS", 1)
        _check_int(self, "MASK_HEAD_CHANNELS", 1)
        for name in ("RPN_NMS_THRESHOLD", "DETECTION_MIN_CONFIDENCE", "DETECTION_NMS_THRESHOLD", "RPN_POSITIVE_IOU",
                     "RPN_NEGATIVE_IOU", "ROI_POSITIVE_IOU", "ROI_POSITIVE_RATIO"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.floating)) or not 0 <= value <= 1:
                raise ValueError(f"Config.{name} = {value!r}: must be a number in [0, 1]")
        if self.ROI_POSITIVE_RATIO <= 0:
            raise ValueError(f"Config.ROI_POSITIVE_RATIO = {self.ROI_POSITIVE_RATIO}: must be in (0, 1]")
        if self.RPN_NEGATIVE_IOU > self.RPN_POSITIVE_IOU:
            raise ValueError(f"Config.RPN_NEGATIVE_IOU = {self.RPN_NEGATIVE_IOU} exceeds RPN_POSITIVE_IOU = "
                             f"{self.RPN_POSITIVE_IOU}: negatives must lie below positives")
        if self.TRAIN_ROIS_PER_IMAGE > self.POST_NMS_ROIS_TRAINING:
            raise ValueError(f"Config.TRAIN_ROIS_PER_IMAGE = {self.TRAIN_ROIS_PER_IMAGE} exceeds "
                             f"POST_NMS_ROIS_TRAINING = {self.POST_NMS_ROIS_TRAINING}: the heads cannot sample more "
                             "ROIs than the RPN proposes")
        if self.DETECTION_SCORE not in DETECTION_SCORES:
            raise ValueError(f"Config.DETECTION_SCORE = {self.DETECTION_SCORE!r}: valid scores are {DETECTION_SCORES}")
        if not isinstance(self.DETECTION_NMS_ACROSS_CLASSES, (bool, np.bool_)):
            raise ValueError(f"Config.DETECTION_NMS_ACROSS_CLASSES = {self.DETECTION_NMS_ACROSS_CLASSES!r}: must be "
                             "True or False")
        if self.IMAGE_RESIZE_MODE not in RESIZE_MODES:
            raise ValueError(f"Config.IMAGE_RESIZE_MODE = {self.IMAGE_RESIZE_MODE!r}: valid modes are {RESIZE_MODES}")
        _check_int(self, "IMAGE_MAX_DIM", SIZE_DIVISOR)
        if self.IMAGE_MIN_DIM is not None:
            _check_int(self, "IMAGE_MIN_DIM", 1)
        if self.IMAGE_RESIZE_MODE in ("square", "pad64") and self.IMAGE_MIN_DIM is not None \
                and self.IMAGE_MIN_DIM > self.IMAGE_MAX_DIM:
            raise ValueError(f"Config.IMAGE_MIN_DIM = {self.IMAGE_MIN_DIM} exceeds IMAGE_MAX_DIM = "
                             f"{self.IMAGE_MAX_DIM}")
        side_field = "IMAGE_MIN_DIM" if self.IMAGE_RESIZE_MODE == "crop" else "IMAGE_MAX_DIM"
        side = getattr(self, side_field)
        if self.IMAGE_RESIZE_MODE in ("square", "crop") and side % SIZE_DIVISOR:
            lower = side // SIZE_DIVISOR * SIZE_DIVISOR
            raise ValueError(f"Config.{side_field} = {side}: the image side must be divisible by {SIZE_DIVISOR} "
                             f"(2**6, for the backbone and the FPN); use e.g. {max(lower, 64)} or "
                             f"{lower + SIZE_DIVISOR}")
        if len(self.BACKBONE_STRIDES) != 5 or len(self.RPN_ANCHOR_SCALES) != 5:
            raise ValueError(f"Config.BACKBONE_STRIDES {list(self.BACKBONE_STRIDES)} and RPN_ANCHOR_SCALES "
                             f"{list(self.RPN_ANCHOR_SCALES)} need one entry per pyramid level P2..P6 (5 each)")
        if len(self.RPN_ANCHOR_RATIOS) < 1 or any(r <= 0 for r in self.RPN_ANCHOR_RATIOS):
            raise ValueError(f"Config.RPN_ANCHOR_RATIOS = {self.RPN_ANCHOR_RATIOS}: need positive ratios")
        if len(np.ravel(self.MEAN_PIXEL)) != self.IMAGE_CHANNEL_COUNT:
            raise ValueError(f"Config.MEAN_PIXEL has {len(np.ravel(self.MEAN_PIXEL))} values but "
                             f"IMAGE_CHANNEL_COUNT = {self.IMAGE_CHANNEL_COUNT}: give one mean per channel")
        if list(self.MASK_SHAPE) != [2 * self.MASK_POOL_SIZE] * 2:
            raise ValueError(f"Config.MASK_SHAPE = {list(self.MASK_SHAPE)}: the mask head upsamples MASK_POOL_SIZE "
                             f"= {self.MASK_POOL_SIZE} once, so MASK_SHAPE must be {[2 * self.MASK_POOL_SIZE] * 2}")
        if len(self.MINI_MASK_SHAPE) != 2 or min(self.MINI_MASK_SHAPE) < 1:
            raise ValueError(f"Config.MINI_MASK_SHAPE = {self.MINI_MASK_SHAPE}: need (height, width), both >= 1")
        for name in ("RPN_BBOX_STD_DEV", "BBOX_STD_DEV"):
            value = np.ravel(getattr(self, name))
            if value.shape != (4,) or np.any(value <= 0):
                raise ValueError(f"Config.{name} = {getattr(self, name)}: need 4 positive values")
        if set(self.LOSS_WEIGHTS) != set(LOSS_NAMES):
            raise ValueError(f"Config.LOSS_WEIGHTS keys {sorted(self.LOSS_WEIGHTS)}: need exactly {list(LOSS_NAMES)}")
        if str(self.OPTIMIZER).upper() not in OPTIMIZERS:
            raise ValueError(f"Config.OPTIMIZER = {self.OPTIMIZER!r}: valid optimizers are {OPTIMIZERS}")
        if self.TRAIN_BN not in (True, False, None):
            raise ValueError(f"Config.TRAIN_BN = {self.TRAIN_BN!r}: valid values are True, False, None")
        if callable(self.BACKBONE) and not callable(self.COMPUTE_BACKBONE_SHAPE) \
                and list(self.BACKBONE_STRIDES) != [4, 8, 16, 32, 64]:
            raise ValueError("Config.BACKBONE is a callable with non-standard BACKBONE_STRIDES: set "
                             "COMPUTE_BACKBONE_SHAPE to a function image_shape -> [[h, w] per level]")
        if not callable(self.BACKBONE) and not isinstance(self.BACKBONE, str):
            raise ValueError(f"Config.BACKBONE = {self.BACKBONE!r}: give a registered backbone name or a callable")
        for name in ("LEARNING_RATE", "LEARNING_MOMENTUM", "WEIGHT_DECAY"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value < 0:
                raise ValueError(f"Config.{name} = {value!r}: must be a number >= 0")
        if self.DTYPE_POLICY not in DTYPE_POLICIES:
            raise ValueError(f"Config.DTYPE_POLICY = {self.DTYPE_POLICY!r}: valid values are {DTYPE_POLICIES}")
        if not isinstance(self.JIT_COMPILE, (bool, np.bool_)):
            raise ValueError(f"Config.JIT_COMPILE = {self.JIT_COMPILE!r}: must be True or False")
        if not isinstance(self.RECOMPUTE_BACKBONE, (bool, np.bool_)):
            raise ValueError(f"Config.RECOMPUTE_BACKBONE = {self.RECOMPUTE_BACKBONE!r}: must be True or False")
        if self.RED_CELL_DIAMETER is not None and (isinstance(self.RED_CELL_DIAMETER, bool) or not isinstance(
                self.RED_CELL_DIAMETER, (int, float, np.integer, np.floating)) or not self.RED_CELL_DIAMETER > 0):
            raise ValueError(f"Config.RED_CELL_DIAMETER = {self.RED_CELL_DIAMETER!r}: must be None or a number of "
                             "pixels > 0")
        if self.GRADIENT_CLIP_NORM is not None and self.GRADIENT_CLIP_NORM <= 0:
            raise ValueError(f"Config.GRADIENT_CLIP_NORM = {self.GRADIENT_CLIP_NORM}: must be positive or None")
        return self


def _check_int(config, name, minimum, why=""):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Config.{name} = {value!r}: must be an integer >= {minimum} {why}".rstrip())


def _to_json_value(value):
    if isinstance(value, np.ndarray):
        return [_to_json_value(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json_value(v) for k, v in value.items()}
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    return value
