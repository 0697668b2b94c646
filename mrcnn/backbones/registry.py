"""The backbone registry: a name -> how to build C2..C5 and which layers make up each stage.

Shape shorthand: B: batch, H, W: image height and width.

A backbone turns `input_image` [B, H, W, 3] into four feature maps C2..C5 at strides 4, 8, 16, 32. keras.applications
names its stages differently from Matterport (`conv4_block*` rather than `res4*`), so each backbone states, per stage
2..5, a regex matching the names of that stage's layers. The training presets `3+`, `4+`, `5+` and `all` are built
from these, so they select the same stages on every backbone; the heads' regex (`fpn_*`, `rpn_*`, `mrcnn_*`) is
common to all.

Register your own backbone with `register_backbone` (see the README), or set `Config.BACKBONE` to a callable
`f(input_image, config) -> [C2, C3, C4, C5]`.
"""

import dataclasses
import re
from typing import Callable, Dict, Optional

HEADS_REGEX = r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)"
PRESETS = ("heads", "3+", "4+", "5+", "all")


@dataclasses.dataclass(frozen=True)
class Backbone:
    """How to build one backbone.

    Attributes:
        name: registry key, e.g. "resnet101".
        build: `build(input_image, train_bn) -> [C2, C3, C4, C5]` KerasTensors at strides 4, 8, 16, 32.
        stage_regexes: {stage number 2..5: regex over layer names of that stage}. Layers before stage 2 (the stem)
            belong to no stage and train only with the "all" preset.
        imagenet_weights: file name of keras.applications' ImageNet weights without the top, as found in the Keras
            cache `~/.keras/models/`, or None when no such file exists.
    """

    name: str
    build: Callable
    stage_regexes: Dict[int, str]
    imagenet_weights: Optional[str] = None


_REGISTRY: Dict[str, Backbone] = {}


def register_backbone(name, build, stage_regexes, imagenet_weights=None, overwrite=False):
    """Add a backbone under `name` (lower case). Returns the `Backbone` record.

    Args:
        name: the name to use in `Config.BACKBONE` and on the command line.
        build: `build(input_image, train_bn) -> [C2, C3, C4, C5]`.
        stage_regexes: {2: regex, 3: regex, 4: regex, 5: regex} matching each stage's layer names.
        imagenet_weights: optional file name of matching ImageNet weights in `~/.keras/models/`.
        overwrite: replace an existing entry of the same name instead of raising.
    """
    key = name.lower()
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"backbone {name!r} is already registered; pass overwrite=True to replace it")
    if sorted(stage_regexes) != [2, 3, 4, 5]:
        raise ValueError(f"backbone {name!r}: stage_regexes needs keys 2, 3, 4, 5, got {sorted(stage_regexes)}")
    for stage, regex in stage_regexes.items():
        re.compile(regex)
    record = Backbone(key, build, dict(stage_regexes), imagenet_weights)
    _REGISTRY[key] = record
    return record


def get_backbone(name):
    """The registered `Backbone` called `name`; ValueError listing the registered names otherwise."""
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; registered backbones are {sorted(_REGISTRY)} "
                         "(or set Config.BACKBONE to a callable)")
    return _REGISTRY[name.lower()]


def backbone_names():
    """Names of all registered backbones, sorted."""
    return sorted(_REGISTRY)


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
