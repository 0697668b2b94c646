"""A backbone as an image classifier: for pretraining it on the target domain when no ImageNet weights exist.

Shape shorthand: B: batch, H, W: image height and width, K: classes, Ci: channels of stage i.

    image [B, H, W, 3] (molded: RGB minus MEAN_PIXEL, as Mask R-CNN's input)
      -> the backbone, built by the registry exactly as `mrcnn.graph.build_backbone` builds it: C2..C5
      -> "pretrain_pool": global average of C5 [B, C5]
      -> "pretrain_dropout" -> "pretrain_logits": [B, K] float32 logits

Because the backbone comes from the same builder, its layers carry the names the Mask R-CNN graph gives them, and
`MaskRCNN.load_weights(path, by_name=True)` loads a pretrained backbone into a detector layer by layer. The head's
layers are named `pretrain_*`, which no Mask R-CNN layer is: they are never loaded into a detector.
`backbone_weighted_layers` names the layers that such a file holds.
"""

import keras

from mrcnn.backbones.registry import backbone_features
from mrcnn.precision import FLOAT32, dtype_policy_scope
from mrcnn.weights_io import assign_weights, weighted_layers

HEAD_PREFIX = "pretrain_"


def build_classifier(config, num_classes, dropout=0.2):
    """(classifier, backbone): two Keras models sharing the backbone's layers.

    Args:
        config: a Config; BACKBONE, IMAGE_SHAPE, IMAGE_CHANNEL_COUNT, MEAN_PIXEL, TRAIN_BN and DTYPE_POLICY are
            read, so the backbone is the one `MaskRCNN(config=config)` builds (same layers, names, precision).
        num_classes: K >= 2 image classes.
        dropout: dropout rate before the logits, in [0, 1).
    Returns:
        classifier: image [B, H, W, C] -> logits [B, K] float32.
        backbone: image [B, H, W, C] -> [C2, C3, C4, C5]: the part a detector reuses (save its weights).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    height, width = config.IMAGE_SHAPE[:2]
    if height is None or width is None:
        raise ValueError(f"pretraining needs a fixed image size; Config.IMAGE_RESIZE_MODE = "
                         f"{config.IMAGE_RESIZE_MODE!r} gives none (use 'square')")
    with dtype_policy_scope(config.DTYPE_POLICY):
        image = keras.Input((int(height), int(width), config.IMAGE_CHANNEL_COUNT), name="input_image")
        features = backbone_features(config.BACKBONE, image, train_bn=config.TRAIN_BN,
                                     mean_pixel=config.MEAN_PIXEL)
        x = keras.layers.GlobalAveragePooling2D(name=HEAD_PREFIX + "pool")(features[-1])
        x = keras.layers.Dropout(dropout, name=HEAD_PREFIX + "dropout")(x)
        logits = keras.layers.Dense(num_classes, dtype=FLOAT32, name=HEAD_PREFIX + "logits")(x)
    classifier = keras.Model(image, logits, name="backbone_classifier")
    backbone = keras.Model(image, features, name="backbone")
    return classifier, backbone


def backbone_weighted_layers(backbone):
    """Names of the layers with weights in a backbone model (what a pretrained backbone file holds)."""
    return [name for name in weighted_layers(backbone) if not name.startswith(HEAD_PREFIX)]


def detector_backbone(keras_model, config):
    """The backbone of a detector as a model of its own (`build_classifier`'s backbone: image -> [C2, C3, C4, C5])
    with the detector's weights and batch-norm statistics, copied by layer name from `keras_model` (a Mask R-CNN
    Keras model of `config`, either mode). Raises ValueError when the detector lacks some of its layers."""
    _, backbone = build_classifier(config, 2)
    weights = {name: layer.get_weights() for name, layer in weighted_layers(keras_model).items()}
    copied = assign_weights(backbone, weights, strict=False, source="the detector")
    if copied["missing"] or copied["mismatched"]:
        raise ValueError(f"the detector lacks backbone layers {copied['missing'][:5] + copied['mismatched'][:5]} of "
                         f"backbone {config.BACKBONE!r}: is it a model of this config?")
    return backbone
