"""Classification and box-regression head of Mask R-CNN (Matterport's `fpn_classifier_graph` without the ROI pooling).

Per ROI: a convolution with the pool size as kernel (a fully connected layer on the pooled crop), batch norm, ReLU,
a 1x1 convolution, batch norm, ReLU, then a Dense layer for the class logits and one for per-class box deltas.
The ROI pooling (`PyramidROIAlign`) is done by the caller, so this head takes the pooled features.

The per-ROI convolutions run as one batched convolution over B * R crops (`MergeRoiAxis` / `SplitRoiAxis`) instead
of Matterport's `TimeDistributed`, which Keras 3 runs as a Python loop over the ROIs. The layers with weights keep
Matterport's names and weight shapes (`mrcnn_class_conv1`, `mrcnn_class_bn1`, `mrcnn_class_conv2`,
`mrcnn_class_bn2`, `mrcnn_class_logits`, `mrcnn_bbox_fc`), so Matterport's weights load by name.

Batch norm: plain `keras.layers.BatchNormalization`. Matterport's custom `BatchNorm` class existed to pass
`training=False` when TRAIN_BN is False; in Keras 3 a BatchNormalization layer with `trainable = False` runs in
inference mode (frozen statistics), and the model builder sets that when `Config.TRAIN_BN` is False.

Shape shorthand:
    B: batch, R: ROIs per image (zero-padded ROIs included), S: pool size, F: channels of the pooled features,
    NC: number of classes including the background, FC: fc_layers_size
"""

import keras

from mrcnn.heads.roi_batch import MergeRoiAxis, SplitRoiAxis
from mrcnn.precision import FLOAT32


def fpn_classifier_head(pooled, num_classes, fc_layers_size=1024):
    """Builds the classifier and box head on pooled ROI features (functional Keras; call on a KerasTensor).

    Args:
        pooled: [B, R, S, S, F] ROI-aligned features (S and F static; B and R may be None).
        num_classes: int, NC, number of classes including the background.
        fc_layers_size: int, FC, width of the two "fully connected" (convolution) layers.

    Returns:
        (mrcnn_class_logits, mrcnn_class, mrcnn_bbox):
            mrcnn_class_logits: [B, R, NC] class logits (layer "mrcnn_class_logits")
            mrcnn_class: [B, R, NC] class probabilities, softmax of the logits (layer "mrcnn_class")
            mrcnn_bbox: [B, R, NC, (dy, dx, log(dh), log(dw))] box deltas for every class, in the units of the
                training targets (deltas divided by BBOX_STD_DEV; the detection layer scales them back)
                (layer "mrcnn_bbox")
        Rows of zero-padded ROIs hold meaningless values; the losses and the detection layer ignore them.
    """
    for name, value in (("num_classes", num_classes), ("fc_layers_size", fc_layers_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"fpn_classifier_head: {name} must be a positive int, got {value!r}")
    if len(pooled.shape) != 5 or pooled.shape[2] is None or pooled.shape[3] is None:
        raise ValueError("fpn_classifier_head: pooled must be [batch, rois, pool, pool, channels] with a static "
                         f"pool size, got shape {tuple(pooled.shape)}")
    pool_size = (pooled.shape[2], pooled.shape[3])

    x = MergeRoiAxis(name="mrcnn_class_merge_rois")(pooled)
    x = keras.layers.Conv2D(fc_layers_size, pool_size, padding="valid", name="mrcnn_class_conv1")(x)
    x = keras.layers.BatchNormalization(name="mrcnn_class_bn1")(x)
    x = keras.layers.Activation("relu", name="mrcnn_class_relu1")(x)
    x = keras.layers.Conv2D(fc_layers_size, (1, 1), name="mrcnn_class_conv2")(x)
    x = keras.layers.BatchNormalization(name="mrcnn_class_bn2")(x)
    x = keras.layers.Activation("relu", name="mrcnn_class_relu2")(x)
    x = SplitRoiAxis(name="mrcnn_class_split_rois")([x, pooled])
    # [B, R, 1, 1, FC] -> [B, R, FC]
    shared = keras.layers.Reshape((-1, fc_layers_size), name="pool_squeeze")(x)

    mrcnn_class_logits = keras.layers.Dense(num_classes, name="mrcnn_class_logits", dtype=FLOAT32)(shared)
    mrcnn_class = keras.layers.Activation("softmax", name="mrcnn_class", dtype=FLOAT32)(mrcnn_class_logits)
    x = keras.layers.Dense(num_classes * 4, activation="linear", name="mrcnn_bbox_fc", dtype=FLOAT32)(shared)
    mrcnn_bbox = keras.layers.Reshape((-1, num_classes, 4), name="mrcnn_bbox", dtype=FLOAT32)(x)
    return mrcnn_class_logits, mrcnn_class, mrcnn_bbox
