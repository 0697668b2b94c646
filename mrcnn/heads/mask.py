"""Mask head of Mask R-CNN (Matterport's `build_fpn_mask_graph` without the ROI pooling).

Per ROI: four 3x3 convolutions of `conv_channels` channels (Matterport: 256), each with batch norm and ReLU, a 2x2 transposed convolution of
stride 2 that doubles the resolution, and a 1x1 convolution with a sigmoid giving one mask per class. The ROI
pooling (`PyramidROIAlign`) is done by the caller, so this head takes the pooled features.

The per-ROI layers run as one batched convolution over B * R crops (`MergeRoiAxis` / `SplitRoiAxis`) instead of
Matterport's `TimeDistributed`, which Keras 3 runs as a Python loop over the ROIs. The layers with weights keep
Matterport's names and weight shapes (`mrcnn_mask_conv1..4`, `mrcnn_mask_bn1..4`, `mrcnn_mask_deconv`,
`mrcnn_mask`), so Matterport's weights load by name. The last one, `mrcnn_mask`, is a `SplitRoiConv2D`: a 1x1
Conv2D on the merged crops that splits its output back, so `get_layer("mrcnn_mask").output` is Matterport's
[B, R, 2 S, 2 S, NC], as its `TimeDistributed` layer of that name gave.

Batch norm: plain `keras.layers.BatchNormalization`; the model builder sets `trainable = False` on it (inference
mode, frozen statistics) when `Config.TRAIN_BN` is False, which replaces Matterport's custom `BatchNorm` class.

Shape shorthand:
    B: batch, R: ROIs per image (zero-padded ROIs included), S: mask pool size, F: channels of the pooled features,
    NC: number of classes including the background
"""

import keras

from mrcnn.heads.roi_batch import MergeRoiAxis, SplitRoiConv2D
from mrcnn.precision import FLOAT32

MASK_HEAD_CHANNELS = 256


def fpn_mask_head(pooled, num_classes, conv_channels=MASK_HEAD_CHANNELS):
    """Builds the mask head on pooled ROI features (functional Keras; call on a KerasTensor).

    Args:
        pooled: [B, R, S, S, F] ROI-aligned features (S and F static; B and R may be None).
        num_classes: int, NC, number of classes including the background.
        conv_channels: channels of the four convolutions and the transposed convolution (Config.MASK_HEAD_CHANNELS).

    Returns:
        mrcnn_mask: [B, R, 2 S, 2 S, NC] per-class mask probabilities (sigmoid) of each ROI; channel c is the mask
            for class c. Rows of zero-padded ROIs hold meaningless values.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"fpn_mask_head: num_classes must be a positive int, got {num_classes!r}")
    if isinstance(conv_channels, bool) or not isinstance(conv_channels, int) or conv_channels < 1:
        raise ValueError(f"fpn_mask_head: conv_channels must be a positive int, got {conv_channels!r}")
    if len(pooled.shape) != 5 or pooled.shape[2] is None or pooled.shape[3] is None:
        raise ValueError("fpn_mask_head: pooled must be [batch, rois, pool, pool, channels] with a static pool "
                         f"size, got shape {tuple(pooled.shape)}")

    x = MergeRoiAxis(name="mrcnn_mask_merge_rois")(pooled)
    for i in range(1, 5):
        x = keras.layers.Conv2D(conv_channels, (3, 3), padding="same", name=f"mrcnn_mask_conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"mrcnn_mask_bn{i}")(x)
        x = keras.layers.Activation("relu", name=f"mrcnn_mask_relu{i}")(x)
    x = keras.layers.Conv2DTranspose(conv_channels, (2, 2), strides=2, activation="relu",
                                     name="mrcnn_mask_deconv")(x)
    return SplitRoiConv2D(num_classes, (1, 1), strides=1, activation="sigmoid", name="mrcnn_mask",
                          dtype=FLOAT32)([x, pooled])
