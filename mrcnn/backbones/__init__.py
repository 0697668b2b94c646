"""Backbones: a registry of names -> builders of C2..C5 (see registry.py), the preprocessing rule (preprocess.py) and
loaders of pretrained weights (pretrained.py; the files come from the Keras cache or are downloaded once,
download.py). `backbone_names()` lists every name: the built-ins (registry.BUILTIN, registered by their module the
first time one is asked for, so that listing them loads no Keras) and the ones registered with `register_backbone`.
"""

from mrcnn.backbones.registry import (BUILTIN, HEADS_REGEX, PAPER_BACKBONES, PRESETS, Backbone, backbone_features,
                                      backbone_names, get_backbone, layer_regex, register_backbone)

__all__ = ["BUILTIN", "Backbone", "HEADS_REGEX", "ImagePreprocess", "PAPER_BACKBONES", "PRESETS",
           "backbone_features", "backbone_names", "get_backbone", "layer_regex", "register_backbone"]


def __getattr__(name):
    if name == "ImagePreprocess":  # a Keras layer: imported on demand, like the built-in backbones
        from mrcnn.backbones.preprocess import ImagePreprocess
        return ImagePreprocess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
