"""The backbone registry: a name -> how to build C2..C5, which layers make up each stage, what input it expects.

Shape shorthand: B: batch, H, W: image height and width, Ci: channels of stage i (they differ between backbones; the
FPN's 1x1 lateral convolutions adapt to any count).

A backbone turns `input_image` [B, H, W, 3] (molded: RGB minus Config.MEAN_PIXEL) into four feature maps
C2 [B, H/4, W/4, C2], C3 [B, H/8, W/8, C3], C4 [B, H/16, W/16, C4], C5 [B, H/32, W/32, C5].

Stages. Stage s (2..5) is the set of layers that compute Cs from C(s-1); the stem (everything before C2's stage,
e.g. ResNet's conv1 and pool1) belongs to no stage and trains only with the "all" preset. keras.applications names
its layers differently from Matterport (`conv4_block*` rather than `res4*`), so each backbone states, per stage, a
regex over its layer names; the presets `3+`, `4+`, `5+` and `all` are built from these and so select the same
stages on every backbone. The heads' regex (`fpn_*`, `rpn_*`, `mrcnn_*`) is common to all.

Preprocessing: see mrcnn/backbones/preprocess.py (molded images in; a backbone with keras.applications weights adds
its own conversion layer inside the graph).

Config.BACKBONE is a registered name or a callable with Matterport's contract
`f(input_image, stage5=True, train_bn=TRAIN_BN) -> [C1, C2, C3, C4, C5]` (C1 is ignored and may be None; a list of
four [C2..C5] is accepted too), plus Config.COMPUTE_BACKBONE_SHAPE when its strides are not 4, 8, 16, 32.
`backbone_features` is the one entry point for both. Register your own backbone with `register_backbone`.
"""

import dataclasses
import importlib
import re
from typing import Callable, Dict, Optional, Tuple

# The built-in backbones, each with the module that registers it. A module is imported the first time one of its
# names is asked for, so listing the names (a command line's help) loads neither Keras nor TensorFlow;
# tests/backbones/test_registry.py checks that each module registers exactly the names given here.
BUILTIN = {
    "resnet50": "mrcnn.backbones.applications",
    "resnet101": "mrcnn.backbones.applications",
    "resnet152": "mrcnn.backbones.applications",
    "resnext50": "mrcnn.backbones.resnext",
    "vgg19": "mrcnn.backbones.applications",
    "densenet121": "mrcnn.backbones.applications",
    "densenet169": "mrcnn.backbones.applications",
    "small": "mrcnn.backbones.tiny",
    "small_gn": "mrcnn.backbones.tiny",
    "tiny": "mrcnn.backbones.tiny",
}
# The paper's seven, in the order of its Tables 4-5 (Atıcı & Koçer 2023).
PAPER_BACKBONES = ("resnet50", "resnet101", "resnet152", "resnext50", "vgg19", "densenet169", "densenet121")
HEADS_REGEX = r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)"
PRESETS = ("heads", "3+", "4+", "5+", "all")
STRIDES = (4, 8, 16, 32)


@dataclasses.dataclass(frozen=True)
class Backbone:
    """How to build one backbone.

    Attributes:
        name: registry key, e.g. "resnet101".
        build: `build(input_image, train_bn=None) -> [C2, C3, C4, C5]` KerasTensors at strides 4, 8, 16, 32.
            `input_image` is the molded image, or its preprocessed form when `preprocessing` is set. `train_bn` is
            Config.TRAIN_BN; builders may ignore it (MaskRCNN freezes batch norm itself when it is False).
        stage_regexes: {stage number 2..5: regex over layer names of that stage}.
        imagenet_weights: file name of the ImageNet weights without the top, as found in the Keras cache
            `~/.keras/models/`, or None when no such file exists.
        preprocessing: keras.applications' preprocessing mode of those weights ("caffe", "torch", "tf"), applied
            inside the graph by `features`; None feeds the molded image as is.
        application: the keras.applications constructor the backbone is made from (ImageNet weights are read
            through it, with Keras' own loader), or None.
        taps: names of the layers whose outputs are C2..C5 (documentation and tests).
    """

    name: str
    build: Callable
    stage_regexes: Dict[int, str]
    imagenet_weights: Optional[str] = None
    preprocessing: Optional[str] = None
    application: Optional[Callable] = None
    taps: Tuple[str, ...] = ()

    def features(self, input_image, train_bn=None, mean_pixel=None):
        """[C2, C3, C4, C5] for `input_image` [B, H, W, C] (molded), with the preprocessing layer when declared.

        mean_pixel (Config.MEAN_PIXEL) is required when `preprocessing` is set.
        """
        from mrcnn.backbones.preprocess import add_preprocess  # Keras loads with the first model built
        image = add_preprocess(input_image, self.preprocessing, mean_pixel, self.name)
        features = self.build(image, train_bn=train_bn)
        return check_features(features, self.name, input_image)


_REGISTRY: Dict[str, Backbone] = {}


def register_backbone(name, build, stage_regexes, imagenet_weights=None, overwrite=False, preprocessing=None,
                      application=None, taps=None):
    """Add a backbone under `name` (lower case). Returns the `Backbone` record.

    Args:
        name: the name to use in `Config.BACKBONE` and on the command line.
        build: `build(input_image, train_bn=None) -> [C2, C3, C4, C5]`.
        stage_regexes: {2: regex, 3: regex, 4: regex, 5: regex} matching each stage's layer names.
        imagenet_weights: optional file name of matching ImageNet weights in `~/.keras/models/`.
        overwrite: replace an existing entry of the same name instead of raising.
        preprocessing: None, or the keras.applications mode ("caffe", "torch", "tf") the weights expect.
        application: optional keras.applications constructor the backbone is made from.
        taps: optional names of the layers giving C2..C5.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_backbone: name must be a non-empty string, got {name!r}")
    key = name.lower()
    _load_builtin(key)  # a built-in of that name is registered first, so that replacing it needs overwrite=True
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"backbone {name!r} is already registered; pass overwrite=True to replace it")
    if not callable(build):
        raise TypeError(f"register_backbone({name!r}): build must be callable, got {build!r}")
    if sorted(stage_regexes) != [2, 3, 4, 5]:
        raise ValueError(f"backbone {name!r}: stage_regexes needs keys 2, 3, 4, 5, got {sorted(stage_regexes)}")
    for stage, regex in stage_regexes.items():
        try:
            re.compile(regex)
        except (re.error, TypeError) as e:
            raise ValueError(f"backbone {name!r}: stage_regexes[{stage}] = {regex!r} is not a valid regex ({e})") \
                from None
    if preprocessing is not None:
        from mrcnn.backbones.preprocess import MODES  # a Keras module: loaded only for backbones that preprocess
        if preprocessing not in MODES:
            raise ValueError(f"backbone {name!r}: preprocessing={preprocessing!r}; valid values are None and {MODES}")
    if taps is not None and len(taps) != 4:
        raise ValueError(f"backbone {name!r}: taps names the 4 layers giving C2..C5, got {taps!r}")
    record = Backbone(key, build, dict(stage_regexes), imagenet_weights, preprocessing, application,
                      tuple(taps or ()))
    _REGISTRY[key] = record
    return record


def get_backbone(name):
    """The registered `Backbone` called `name`; ValueError listing the registered names otherwise."""
    if isinstance(name, str):
        _load_builtin(name.lower())
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; registered backbones are {backbone_names()} "
                         "(or set Config.BACKBONE to a callable)")
    return _REGISTRY[name.lower()]


def backbone_names():
    """Names of all registered backbones (the built-ins and those registered with `register_backbone`), sorted.
    Imports no backbone module."""
    return sorted(set(_REGISTRY) | set(BUILTIN))


def _load_builtin(key):
    """Import the module that registers the built-in backbone `key`, once (nothing for other names)."""
    module = BUILTIN.get(key)
    if module is not None and key not in _REGISTRY:
        importlib.import_module(module)


def backbone_features(backbone, input_image, train_bn=None, mean_pixel=None):
    """[C2, C3, C4, C5] of Config.BACKBONE: a registered name, a `Backbone` record, or a Matterport-style callable.

    Args:
        backbone: a name, a `Backbone`, or a callable `f(input_image, stage5=True, train_bn=...)` returning
            [C1, C2, C3, C4, C5] (Matterport's contract; C1 is dropped) or [C2, C3, C4, C5].
        input_image: [B, H, W, C] molded image (KerasTensor).
        train_bn: Config.TRAIN_BN.
        mean_pixel: Config.MEAN_PIXEL (needed by backbones with preprocessing).
    Returns: [C2, C3, C4, C5], checked to be at strides 4, 8, 16, 32 when the image size is static.
    """
    if isinstance(backbone, Backbone):
        return backbone.features(input_image, train_bn=train_bn, mean_pixel=mean_pixel)
    if isinstance(backbone, str):
        return get_backbone(backbone).features(input_image, train_bn=train_bn, mean_pixel=mean_pixel)
    if callable(backbone):
        features = list(backbone(input_image, stage5=True, train_bn=train_bn))
        if len(features) == 5:
            features = features[1:]
        name = getattr(backbone, "__name__", repr(backbone))
        return check_features(features, name, input_image)
    raise TypeError(f"Config.BACKBONE = {backbone!r}: give a registered name {backbone_names()} or a callable")


def check_features(features, name, input_image):
    """`features` as a list after checking it is 4 maps at strides 4, 8, 16, 32 (when the image size is static)."""
    features = list(features)
    if len(features) != 4 or any(f is None for f in features):
        raise ValueError(f"backbone {name!r} returned {len(features)} feature maps; it must return [C2, C3, C4, C5] "
                         "(or Matterport's [C1, C2, C3, C4, C5])")
    size = tuple(input_image.shape[1:3])
    if None in size or size[0] % 32 or size[1] % 32:
        return features
    for level, (feature, stride) in enumerate(zip(features, STRIDES), start=2):
        expected = (size[0] // stride, size[1] // stride)
        got = tuple(feature.shape[1:3])
        if got != expected:
            raise ValueError(f"backbone {name!r}: C{level} is {got[0]}x{got[1]} for a {size[0]}x{size[1]} image; "
                             f"C2..C5 must be at strides {STRIDES}, i.e. {expected[0]}x{expected[1]}")
    return features


def layer_regex(layers, stage_regexes=None):
    """The regex for a training preset ("heads", "3+", "4+", "5+", "all") or a user regex, returned unchanged.

    `stage_regexes` is the backbone's {stage: regex}; None (a callable backbone) makes "3+", "4+" and "5+" raise,
    since stages of an unknown backbone cannot be named.
    """
    if layers not in PRESETS:
        try:
            re.compile(layers)
        except (re.error, TypeError) as e:
            raise ValueError(f"layers={layers!r} is neither a preset {PRESETS} nor a valid regex ({e})") from None
        return layers
    if layers == "heads":
        return HEADS_REGEX
    if layers == "all":
        return ".*"
    if stage_regexes is None:
        raise ValueError(f"layers={layers!r} needs the backbone's stages, which a callable Config.BACKBONE does not "
                         "declare; register it with mrcnn.backbones.register_backbone or pass a regex")
    first = int(layers[0])
    parts = [f"({stage_regexes[s]})" for s in range(first, 6)] + [HEADS_REGEX]
    return "|".join(parts)
