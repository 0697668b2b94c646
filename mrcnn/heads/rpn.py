"""Region Proposal Network (RPN) head, as in Matterport's Mask R-CNN.

One small convolutional model, `rpn_model`, is shared by every pyramid level (its weights are the same on P2..P6):
a 3x3 convolution, then two 1x1 convolutions giving, per feature-map cell and per anchor, 2 class logits
(background, foreground) and 4 box deltas `(dy, dx, log(dh), log(dw))`.

Anchor order. The per-cell outputs are reshaped so that the anchor axis runs over the cells row by row (y, then x)
and, within a cell, over the anchors of that cell in channel order. This is the order of Matterport's
`generate_pyramid_anchors` (row-major cells, then the anchor ratios of each cell, then the next level), so
the i-th output row belongs to the i-th anchor. `apply_rpn` concatenates the levels in the order given.

Layer names are Matterport's (`rpn_model`, `input_rpn_feature_map`, `rpn_conv_shared`, `rpn_class_raw`,
`rpn_bbox_pred`, `rpn_class_xxx`, and the outer `rpn_class_logits`, `rpn_class`, `rpn_bbox`).

Shape shorthand:
    B: batch, h, w: feature-map height and width, D: feature-map depth (channels),
    K: anchors per location, A: anchors (h * w * K per level with anchor stride 1; all levels after apply_rpn)
"""

import keras

from mrcnn.precision import FLOAT32


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"build_rpn_model: {name} must be a positive int, got {value!r}")


RPN_CONV_CHANNELS = 512


def build_rpn_model(anchor_stride, anchors_per_location, depth, conv_channels=RPN_CONV_CHANNELS):
    """Builds the RPN as a Keras model that is applied to each pyramid level with shared weights.

    Args:
        anchor_stride: int, anchors are placed on every `anchor_stride`-th cell (1 = every cell). It is the stride
            of `rpn_conv_shared` ("same" padding), so a level of side s has ceil(s / anchor_stride) anchor rows.
        anchors_per_location: int, K, anchors per cell (= number of anchor ratios).
        depth: int, D, channels of the feature maps (the FPN's pyramid size).
        conv_channels: channels of `rpn_conv_shared` (Config.RPN_CONV_CHANNELS; Matterport: 512).

    Returns:
        keras.Model named "rpn_model", input "input_rpn_feature_map" [B, h, w, D] (h, w may be None), outputs:
            rpn_class_logits: [B, A, (bg logit, fg logit)], A = ceil(h / stride) * ceil(w / stride) * K
            rpn_probs: [B, A, (bg prob, fg prob)], softmax of the logits
            rpn_bbox: [B, A, (dy, dx, log(dh), log(dw))] deltas to apply to the anchors
    """
    _check_positive_int("anchor_stride", anchor_stride)
    _check_positive_int("anchors_per_location", anchors_per_location)
    _check_positive_int("depth", depth)
    _check_positive_int("conv_channels", conv_channels)
    feature_map = keras.Input(shape=[None, None, depth], name="input_rpn_feature_map")
    shared = keras.layers.Conv2D(conv_channels, (3, 3), padding="same", activation="relu", strides=anchor_stride,
                                 name="rpn_conv_shared")(feature_map)
    # Anchor scores: [B, h, w, 2 K] -> [B, h * w * K, 2]; channels 2k, 2k + 1 are anchor k of the cell.
    x = keras.layers.Conv2D(2 * anchors_per_location, (1, 1), padding="valid", activation="linear",
                            name="rpn_class_raw", dtype=FLOAT32)(shared)
    rpn_class_logits = keras.layers.Reshape((-1, 2), name="rpn_class_reshape", dtype=FLOAT32)(x)
    rpn_probs = keras.layers.Activation("softmax", name="rpn_class_xxx", dtype=FLOAT32)(rpn_class_logits)
    # Anchor refinements: [B, h, w, 4 K] -> [B, h * w * K, 4].
    x = keras.layers.Conv2D(4 * anchors_per_location, (1, 1), padding="valid", activation="linear",
                            name="rpn_bbox_pred", dtype=FLOAT32)(shared)
    rpn_bbox = keras.layers.Reshape((-1, 4), name="rpn_bbox_reshape", dtype=FLOAT32)(x)
    return keras.Model([feature_map], [rpn_class_logits, rpn_probs, rpn_bbox], name="rpn_model")


def apply_rpn(rpn_model, feature_maps):
    """Runs the shared RPN on each pyramid level and concatenates the levels along the anchor axis.

    Args:
        rpn_model: the keras.Model from `build_rpn_model`.
        feature_maps: list of [B, h_i, w_i, D] KerasTensors, the RPN levels in anchor order (P2..P6).

    Returns:
        (rpn_class_logits, rpn_class, rpn_bbox):
            rpn_class_logits: [B, A, (bg logit, fg logit)], layer "rpn_class_logits"
            rpn_class: [B, A, (bg prob, fg prob)], layer "rpn_class"
            rpn_bbox: [B, A, (dy, dx, log(dh), log(dw))], layer "rpn_bbox"
        with A the sum of the levels' anchors, level by level in the order of `feature_maps`.
    """
    if not isinstance(feature_maps, (list, tuple)) or not feature_maps:
        raise ValueError(f"apply_rpn: feature_maps must be a non-empty list of feature maps, got {feature_maps!r}")
    per_level = [rpn_model([p]) for p in feature_maps]
    names = ("rpn_class_logits", "rpn_class", "rpn_bbox")
    outputs = [keras.layers.Concatenate(axis=1, name=name, dtype=FLOAT32)([level[i] for level in per_level])
               for i, name in enumerate(names)]
    return tuple(outputs)
