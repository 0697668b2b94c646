"""Backbones: a registry of names -> builders of C2..C5 (see registry.py). Importing this package registers the
built-in ones: resnet50, resnet101, resnet152 (keras.applications) and tiny (for tests)."""

from mrcnn.backbones import applications, tiny  # noqa: F401  (registration side effect)
from mrcnn.backbones.registry import (HEADS_REGEX, PRESETS, Backbone, backbone_names, get_backbone, layer_regex,
                                      register_backbone)

__all__ = ["Backbone", "HEADS_REGEX", "PRESETS", "backbone_names", "get_backbone", "layer_regex",
           "register_backbone"]
