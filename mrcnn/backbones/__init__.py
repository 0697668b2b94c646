"""Backbones: a registry of names -> builders of C2..C5 (see registry.py), the preprocessing rule (preprocess.py) and
loaders of pretrained weights (pretrained.py; the files come from the Keras cache or are downloaded once,
download.py). Importing this package registers the built-ins: resnet50, resnet101, resnet152, vgg19, densenet121,
densenet169 (keras.applications), resnext50 (resnext.py) and tiny (for tests)."""

from mrcnn.backbones import applications, resnext, tiny  # noqa: F401  (registration side effect)
from mrcnn.backbones.preprocess import ImagePreprocess
from mrcnn.backbones.registry import (HEADS_REGEX, PRESETS, Backbone, backbone_features, backbone_names,
                                      get_backbone, layer_regex, register_backbone)

__all__ = ["Backbone", "HEADS_REGEX", "ImagePreprocess", "PRESETS", "backbone_features", "backbone_names",
           "get_backbone", "layer_regex", "register_backbone"]
