"""build_classifier: the backbone inside is the detector's, layer for layer; the head is never a detector layer."""

import keras
import numpy as np
import pytest

from mrcnn.backbones.classifier import HEAD_PREFIX, backbone_weighted_layers, build_classifier
from mrcnn.model import MaskRCNN
from mrcnn.weights_io import weighted_layers
from tests.tiny_config import TinyConfig


def test_classifier_outputs_float32_logits_and_shares_the_backbone():
    config = TinyConfig()
    classifier, backbone = build_classifier(config, 5, dropout=0.0)
    images = np.random.default_rng(0).normal(size=(3, 64, 64, 3)).astype(np.float32)
    logits = classifier(images, training=False)
    assert tuple(logits.shape) == (3, 5) and logits.dtype == "float32"
    features = backbone(images, training=False)
    assert [tuple(f.shape[1:3]) for f in features] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    # The classifier's backbone layers are the backbone model's (shared weights, not copies).
    assert {id(w) for w in backbone.weights} <= {id(w) for w in classifier.weights}
    assert not [name for name in backbone_weighted_layers(backbone) if name.startswith(HEAD_PREFIX)]
    assert set(weighted_layers(classifier)) - set(weighted_layers(backbone)) == {HEAD_PREFIX + "logits"}


def test_backbone_layers_are_named_as_in_the_detector():
    config = TinyConfig()
    _, backbone = build_classifier(config, 8)
    detector = MaskRCNN("training", config, "unused-logs").keras_model
    detector_layers = weighted_layers(detector)
    names = backbone_weighted_layers(backbone)
    assert names and set(names) <= set(detector_layers)
    for name in names:  # same shapes, so a pretrained backbone loads by name
        assert [tuple(w.shape) for w in weighted_layers(backbone)[name].weights] == \
               [tuple(w.shape) for w in detector_layers[name].weights]
    assert not [name for name in detector_layers if name.startswith(HEAD_PREFIX)]


def test_classifier_follows_the_dtype_policy():
    config = TinyConfig()
    config.DTYPE_POLICY = "mixed_bfloat16"
    classifier, _ = build_classifier(config, 3)
    assert classifier.get_layer("tiny_c5_a_conv").compute_dtype == "bfloat16"
    assert classifier.get_layer(HEAD_PREFIX + "logits").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # not left set for the rest of the program


@pytest.mark.parametrize("kwargs, match", [({"num_classes": 1}, "num_classes"), ({"num_classes": 2.0}, "num_classes"),
                                           ({"num_classes": 3, "dropout": 1.0}, "dropout")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_classifier(TinyConfig(), **kwargs)


def test_needs_a_fixed_image_size():
    config = TinyConfig()
    config.IMAGE_RESIZE_MODE = "none"
    config.IMAGE_MIN_DIM = 0
    with pytest.raises(ValueError, match="fixed image size"):
        build_classifier(config, 3)
