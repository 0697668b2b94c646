"""Matterport's graph-building functions of `mrcnn.model`, with Matterport's signatures, over today's builders.

Shape shorthand: B: batch, H, W: image size, h, w: a feature map's size, D: feature channels, K: anchors per
location, A: anchors, R: ROIs per image, S: pool size, NC: classes, M: meta length, N: rows, T: TRAIN_ROIS_PER_IMAGE.

Matterport's code that assembled its own network called these on Keras tensors (functional API):

    _, C2, C3, C4, C5 = modellib.resnet_graph(input_image, "resnet101", stage5=True, train_bn=False)
    logits, probs, bbox = modellib.rpn_graph(P2, anchors_per_location=3, anchor_stride=1)
    class_logits, class_probs, deltas = modellib.fpn_classifier_graph(rois, [P2, P3, P4, P5], input_image_meta,
                                                                      7, num_classes, train_bn=False)
    masks = modellib.build_fpn_mask_graph(rois, [P2, P3, P4, P5], input_image_meta, 14, num_classes)

Each builds the same layers, under Matterport's names, as `MaskRCNN` builds (mrcnn/graph.py): the backbone of the
registry (keras.applications' ResNets, so not Matterport's `res4a_branch2a` layers), the shared RPN model, the heads
with ROI Align in front. `train_bn=False` freezes the batch norm layers the call built (inference mode), as
Matterport's `BatchNorm(training=False)` did.

`identity_block` and `conv_block` are Matterport's ResNet bottlenecks, layer names included, for code that builds
its own ResNet from them (MaskRCNN's backbones do not use them):

    x = modellib.conv_block(x, 3, [64, 64, 256], stage=2, block="a", strides=(1, 1), train_bn=False)
    x = modellib.identity_block(x, 3, [64, 64, 256], stage=2, block="b", train_bn=False)
"""

import math

import keras
import tensorflow as tf

from mrcnn.backbones.registry import backbone_features
from mrcnn.config import Config
from mrcnn.heads.classifier import fpn_classifier_head
from mrcnn.heads.mask import fpn_mask_head
from mrcnn.heads.rpn import build_rpn_model
from mrcnn.layers.detection import DetectionLayer
from mrcnn.layers.roi_align import PyramidROIAlign
from mrcnn.ops import detection_targets

__all__ = ["batch_pack_graph", "build_fpn_mask_graph", "conv_block", "detection_targets_graph", "fpn_classifier_graph",
           "identity_block", "log2_graph", "refine_detections_graph", "resnet_graph", "rpn_graph"]


def _layers(operation):
    """`operation` and, for a nested model (e.g. a keras.applications backbone), its layers, recursively."""
    yield operation
    for layer in getattr(operation, "layers", ()):
        yield from _layers(layer)


def _freeze_batch_norm(inputs, outputs):
    """Set trainable = False on the BatchNormalization layers between `inputs` and `outputs` (KerasTensors)."""
    for operation in keras.Function(inputs, outputs).operations:
        for layer in _layers(operation):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False


def resnet_graph(input_image, architecture, stage5=False, train_bn=True):
    """Matterport's backbone call: [C1, C2, C3, C4, C5] of backbone `architecture` on `input_image`.

    input_image: [B, H, W, 3] molded image (KerasTensor). architecture: "resnet50", "resnet101" or any registered
    backbone name. stage5: False gives None for C5 (as Matterport did). train_bn: False freezes batch norm.
    Returns [None, C2, C3, C4, C5]: C1 is None (Mask R-CNN never used it), Ci [B, H / 2^i, W / 2^i, D_i].
    """
    features = backbone_features(architecture, input_image, train_bn=train_bn, mean_pixel=Config.MEAN_PIXEL)
    if train_bn is False:  # None: Matterport's "normal mode", as True
        _freeze_batch_norm([input_image], features)
    c2, c3, c4, c5 = features
    return [None, c2, c3, c4, c5 if stage5 else None]


def _conv_bn(x, filters, kernel_size, stage, block, branch, strides=(1, 1), padding="valid", use_bias=True,
             train_bn=True):
    """Conv2D `res{stage}{block}_branch{branch}` then BatchNormalization `bn{stage}{block}_branch{branch}`.

    x: [B, h, w, D] -> [B, h / s, w / s, filters] (s: strides). train_bn=False freezes the batch norm (trainable
    False, called with training=False: the moving statistics, never updated), as Matterport's BatchNorm did.
    """
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                            name=f"res{stage}{block}_branch{branch}")(x)
    batch_norm = keras.layers.BatchNormalization(name=f"bn{stage}{block}_branch{branch}")
    if train_bn is not None and not train_bn:  # None: Matterport's "normal mode", as True
        batch_norm.trainable = False
        return batch_norm(x, training=False)
    return batch_norm(x)


def _bottleneck(input_tensor, kernel_size, filters, stage, block, strides, use_bias, train_bn, projection):
    """Matterport's bottleneck: 1x1 (stride `strides`), k x k "same", 1x1 convolutions, each with batch norm (relu
    after the first two), added to the shortcut (the input, or with `projection` its 1x1 convolution "1" with
    batch norm), then relu `res{stage}{block}_out`. Layers are made in Matterport's order."""
    filters1, filters2, filters3 = filters
    x = _conv_bn(input_tensor, filters1, (1, 1), stage, block, "2a", strides=strides, use_bias=use_bias,
                 train_bn=train_bn)
    x = keras.layers.Activation("relu")(x)
    x = _conv_bn(x, filters2, (kernel_size, kernel_size), stage, block, "2b", padding="same", use_bias=use_bias,
                 train_bn=train_bn)
    x = keras.layers.Activation("relu")(x)
    x = _conv_bn(x, filters3, (1, 1), stage, block, "2c", use_bias=use_bias, train_bn=train_bn)
    shortcut = input_tensor
    if projection:
        shortcut = _conv_bn(input_tensor, filters3, (1, 1), stage, block, "1", strides=strides, use_bias=use_bias,
                            train_bn=train_bn)
    x = keras.layers.Add()([x, shortcut])
    return keras.layers.Activation("relu", name=f"res{stage}{block}_out")(x)


def identity_block(input_tensor, kernel_size, filters, stage, block, use_bias=True, train_bn=True):
    """Matterport's ResNet identity block (the shortcut is the input itself).

    input_tensor: [B, h, w, D] KerasTensor with D = filters[2]. kernel_size: k of the middle convolution.
    filters: [F1, F2, F3] of the three convolutions. stage: int, block: letter ("b", "c", ...), giving the layer
    names res{stage}{block}_branch2a/2b/2c, bn{stage}{block}_branch2a/2b/2c and res{stage}{block}_out.
    use_bias: the convolutions' bias. train_bn: False freezes the batch norm layers (None and True do not).
    Returns [B, h, w, F3].

    Matterport's train_bn=True passed training=True to its BatchNorm (batch statistics even when predicting); in
    Keras 3 `model(x, training=False)` and `predict` override a call's flag, so True is the usual behaviour here:
    batch statistics in training, moving statistics in inference.
    """
    return _bottleneck(input_tensor, kernel_size, filters, stage, block, (1, 1), use_bias, train_bn, projection=False)


def conv_block(input_tensor, kernel_size, filters, stage, block, strides=(2, 2), use_bias=True, train_bn=True):
    """Matterport's ResNet block with a projection shortcut (1x1 convolution `res{stage}{block}_branch1` and batch
    norm `bn{stage}{block}_branch1`, stride `strides`), the first block of each stage.

    input_tensor: [B, h, w, D]. strides: (s, s) of the first 1x1 convolution and of the shortcut (Matterport's
    stage 2 uses (1, 1)). Other arguments as identity_block's. Returns [B, h / s, w / s, F3].
    """
    return _bottleneck(input_tensor, kernel_size, filters, stage, block, strides, use_bias, train_bn, projection=True)


def rpn_graph(feature_map, anchors_per_location, anchor_stride):
    """The RPN on one feature map: [rpn_class_logits [B, A, 2], rpn_probs [B, A, 2], rpn_bbox [B, A, 4]].

    feature_map: [B, h, w, D]. A = ceil(h / anchor_stride) * ceil(w / anchor_stride) * anchors_per_location.
    The layers are a new `rpn_model` (mrcnn/heads/rpn.py), Matterport's 512 channels; call `build_rpn_model` once
    and apply it to each level to share them, as Matterport's build_rpn_model did.
    """
    rpn = build_rpn_model(anchor_stride, anchors_per_location, int(feature_map.shape[-1]))
    return list(rpn(feature_map))


def fpn_classifier_graph(rois, feature_maps, image_meta, pool_size, num_classes, train_bn=True,
                         fc_layers_size=1024):
    """ROI Align ("roi_align_classifier") then the classifier head (mrcnn/heads/classifier.py).

    rois: [B, R, (y1, x1, y2, x2)] normalized. feature_maps: [P2, P3, P4, P5], each [B, h, w, D].
    image_meta: [B, M]. pool_size: S. num_classes: NC.
    Returns [mrcnn_class_logits [B, R, NC], mrcnn_probs [B, R, NC], mrcnn_bbox [B, R, NC, (dy, dx, log(dh),
    log(dw))]].
    """
    pooled = PyramidROIAlign([pool_size, pool_size], name="roi_align_classifier")([rois, image_meta]
                                                                                  + list(feature_maps))
    outputs = list(fpn_classifier_head(pooled, num_classes, fc_layers_size=fc_layers_size))
    if train_bn is False:  # None: Matterport's "normal mode", as True
        _freeze_batch_norm([pooled], outputs)
    return outputs


def build_fpn_mask_graph(rois, feature_maps, image_meta, pool_size, num_classes, train_bn=True):
    """ROI Align ("roi_align_mask") then the mask head (mrcnn/heads/mask.py).

    Arguments as fpn_classifier_graph's. Returns masks [B, R, 2 S, 2 S, NC], sigmoid (layer "mrcnn_mask").
    """
    pooled = PyramidROIAlign([pool_size, pool_size], name="roi_align_mask")([rois, image_meta] + list(feature_maps))
    masks = fpn_mask_head(pooled, num_classes)
    if train_bn is False:  # None: Matterport's "normal mode", as True
        _freeze_batch_norm([pooled], [masks])
    return masks


def log2_graph(x):
    """Base-2 logarithm, elementwise (float tensor -> float tensor)."""
    return tf.math.log(x) / math.log(2.0)


def batch_pack_graph(x, counts, num_rows):
    """The first counts[i] entries of row i of x [num_rows, N, ...], concatenated: [sum(counts), ...]."""
    return tf.concat([x[i, :counts[i]] for i in range(num_rows)], axis=0)


def detection_targets_graph(proposals, gt_class_ids, gt_boxes, gt_masks, config):
    """Matterport's per-image detection targets, with the config's values (mrcnn/ops/detection_targets.py).

    proposals: [N, (y1, x1, y2, x2)] normalized, zero-padded. gt_class_ids: int [G]. gt_boxes: [G, 4] normalized.
    gt_masks: [h, w, G] (mini masks when Config.USE_MINI_MASK).
    Returns (rois [T, 4], roi_gt_class_ids int32 [T], deltas [T, 4], masks [T, MASK_SHAPE]), zero-padded to T.
    Sampling draws from TensorFlow's global generator, as Matterport's tf.random_shuffle did.
    """
    return detection_targets.detection_targets_graph(
        proposals, gt_class_ids, gt_boxes, gt_masks, config.TRAIN_ROIS_PER_IMAGE, config.ROI_POSITIVE_RATIO,
        config.BBOX_STD_DEV, config.MASK_SHAPE, config.USE_MINI_MASK, positive_iou=config.ROI_POSITIVE_IOU)


def refine_detections_graph(rois, probs, deltas, window, config):
    """Matterport's detections of one image: `DetectionLayer`'s refinement (mrcnn/layers/detection.py) on a batch
    of one, with the config's DETECTION_MAX_INSTANCES (D), DETECTION_MIN_CONFIDENCE, DETECTION_NMS_THRESHOLD,
    BBOX_STD_DEV, DETECTION_SCORE and DETECTION_NMS_ACROSS_CLASSES (Matterport's: "class" and False).

    rois: [N, (y1, x1, y2, x2)] normalized. probs: [N, NC] class probabilities. deltas: [N, NC, (dy, dx, log(dh),
    log(dw))], not yet multiplied by BBOX_STD_DEV. window: (y1, x1, y2, x2) normalized, the image's part of the
    molded image (boxes are clipped to it).
    Returns float32 [D, (y1, x1, y2, x2, class_id, score)], normalized boxes, best score first, zero-padded.
    """
    layer = DetectionLayer(config.DETECTION_MAX_INSTANCES, config.DETECTION_MIN_CONFIDENCE,
                           config.DETECTION_NMS_THRESHOLD, config.BBOX_STD_DEV, score=config.DETECTION_SCORE,
                           nms_across_classes=config.DETECTION_NMS_ACROSS_CLASSES)
    return layer.refine(rois[tf.newaxis], probs[tf.newaxis], deltas[tf.newaxis], tf.reshape(window, [1, 4]))[0]
