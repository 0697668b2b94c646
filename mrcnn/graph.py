"""Builds Mask R-CNN's Keras graph from a Config: the one place that reads the config into layer arguments.

Shape shorthand: B: batch, H, W: image size, A: anchors, G: MAX_GT_INSTANCES, R: ROIs per image (TRAIN_ROIS_PER_IMAGE
in training, POST_NMS_ROIS_INFERENCE in inference), D: DETECTION_MAX_INSTANCES, NC: NUM_CLASSES, M: meta length,
P: POOL_SIZE, MS: MASK_SHAPE side, mh, mw: MINI_MASK_SHAPE (or H, W without mini masks).

Inputs, by name (the data generator yields a dict with these keys):
    input_image        [B, H, W, C] float32, molded (mean pixel subtracted)
    input_image_meta   [B, M] float32 (mrcnn.data.image_meta)
  training only:
    input_rpn_match    [B, A, 1] int32: 1 positive, -1 negative, 0 neutral anchor
    input_rpn_bbox     [B, RPN_TRAIN_ANCHORS_PER_IMAGE, 4] float32 deltas of the positive anchors, zero-padded
    input_gt_class_ids [B, G] int32, zero-padded
    input_gt_boxes     [B, G, (y1, x1, y2, x2)] float32 pixels, zero-padded
    input_gt_masks     [B, mh, mw, G] bool, zero-padded on the last axis
    input_rpn_rois     [B, POST_NMS_ROIS_TRAINING, 4] pixels, only when USE_RPN_ROIS is False
  inference only:
    input_anchors      [B, A, (y1, x1, y2, x2)] float32 normalized

With Config.JIT_COMPILE the trunk (backbone, FPN, RPN head) is one XLA-compiled sub-model, "backbone_fpn_rpn",
inside the layer "xla_backbone_fpn_rpn" (mrcnn/layers/compiled.py); inputs, outputs and layer names are the same.

Outputs (a dict):
  training: rpn_class_logits [B, A, 2], rpn_class [B, A, 2], rpn_bbox [B, A, 4], rois [B, R, 4] normalized
    (zero-padded), target_class_ids [B, R], target_bbox [B, R, 4], mrcnn_class_logits [B, R, NC],
    mrcnn_class [B, R, NC], mrcnn_bbox [B, R, NC, 4]; and for the mask head, which runs on the first
    RP = int(R * ROI_POSITIVE_RATIO) ROIs only (where the positives are): target_mask [B, RP, MS, MS],
    mask_class_ids [B, RP], mrcnn_mask [B, RP, MS, MS, NC].
  inference: detections [B, D, (y1, x1, y2, x2, class_id, score)] normalized (zero-padded), mrcnn_class,
    mrcnn_bbox, mrcnn_mask [B, D', MS, MS, NC] for the first D' detections (D' = the batch's largest detection
    count, at least 1: the padding is skipped), rpn_rois [B, R, 4], rpn_class, rpn_bbox.
"""

import keras
import numpy as np

from mrcnn.backbones import backbone_features
from mrcnn.backbones.segments import recomputed_features
from mrcnn.data.anchors import get_anchors
from mrcnn.heads.classifier import fpn_classifier_head
from mrcnn.heads.fpn import build_fpn
from mrcnn.heads.mask import fpn_mask_head
from mrcnn.heads.rpn import apply_rpn, build_rpn_model
from mrcnn.layers.compiled import CompiledModel
from mrcnn.layers.detection import DetectionLayer
from mrcnn.layers.detection_target import DetectionTargetLayer
from mrcnn.layers.glue import ConstantAnchors, DetectionBoxes, LeadingRois, NormBoxes
from mrcnn.layers.proposal import ProposalLayer
from mrcnn.layers.roi_align import PyramidROIAlign
from mrcnn.ops.detection_targets import max_positive_rois
from mrcnn.precision import dtype_policy_scope


def build_backbone(input_image, config):
    """[C2, C3, C4, C5] for Config.BACKBONE: a registered name (its input conversion included, see
    mrcnn/backbones/preprocess.py) or a callable with Matterport's contract
    `f(input_image, stage5=True, train_bn=TRAIN_BN) -> [C1, C2, C3, C4, C5]`."""
    def features(image):
        return backbone_features(config.BACKBONE, image, train_bn=config.TRAIN_BN, mean_pixel=config.MEAN_PIXEL)
    if config.RECOMPUTE_BACKBONE:  # its activations are recomputed in the backward pass (mrcnn/backbones/segments.py)
        return recomputed_features(features, input_image)
    return features(input_image)


def build_trunk(input_image, config):
    """The convolutional trunk: backbone, FPN and the shared RPN head on `input_image` [B, H, W, C].

    Returns ([P2, P3, P4, P5], (rpn_class_logits, rpn_class, rpn_bbox)): the feature maps the heads pool from,
    [B, H/4, W/4, D] ... [B, H/32, W/32, D], and the RPN outputs over all anchors, [B, A, 2], [B, A, 2], [B, A, 4]
    (P6 feeds the RPN only).
    """
    c2, c3, c4, c5 = build_backbone(input_image, config)
    p2, p3, p4, p5, p6 = build_fpn(c2, c3, c4, c5, pyramid_size=config.TOP_DOWN_PYRAMID_SIZE)
    rpn = build_rpn_model(config.RPN_ANCHOR_STRIDE, len(config.RPN_ANCHOR_RATIOS), config.TOP_DOWN_PYRAMID_SIZE,
                          conv_channels=config.RPN_CONV_CHANNELS)
    return [p2, p3, p4, p5], apply_rpn(rpn, [p2, p3, p4, p5, p6])


def build_compiled_trunk(image, config):
    """`build_trunk` as a sub-model run by XLA (Config.JIT_COMPILE, mrcnn/layers/compiled.py); same outputs."""
    trunk_input = keras.Input(tuple(image.shape[1:]), name="trunk_input_image")
    feature_maps, rpn_outputs = build_trunk(trunk_input, config)
    trunk = keras.Model(trunk_input, list(feature_maps) + list(rpn_outputs), name="backbone_fpn_rpn")
    outputs = CompiledModel(trunk, jit_compile=True, name="xla_backbone_fpn_rpn")(image)
    return list(outputs[:4]), tuple(outputs[4:])


def build_graph(mode, config):
    """(inputs dict, outputs dict) of the Mask R-CNN graph in `mode` ("training" or "inference").

    The layers are built under Config.DTYPE_POLICY (mrcnn/precision.py): under a mixed policy they compute in 16
    bits, except the box, delta, logit and probability layers, which stay float32.
    """
    if mode not in ("training", "inference"):
        raise ValueError(f"mode={mode!r}: valid modes are 'training' and 'inference'")
    with dtype_policy_scope(config.DTYPE_POLICY):
        return _build_graph(mode, config)


def _build_graph(mode, config):
    training = mode == "training"
    # Inference takes any image size (resize modes "none" and "pad64" give different sizes; anchors are an input),
    # training a fixed one (its anchors are a constant of the graph).
    shape = config.IMAGE_SHAPE
    h, w = (None, None) if shape[0] is None or not training else (int(shape[0]), int(shape[1]))
    inputs = {
        "input_image": keras.Input((h, w, config.IMAGE_CHANNEL_COUNT), name="input_image"),
        "input_image_meta": keras.Input((config.IMAGE_META_SIZE,), name="input_image_meta"),
    }
    if training:
        mask_shape = tuple(config.MINI_MASK_SHAPE) if config.USE_MINI_MASK else (h, w)
        inputs.update({
            "input_rpn_match": keras.Input((None, 1), name="input_rpn_match", dtype="int32"),
            "input_rpn_bbox": keras.Input((None, 4), name="input_rpn_bbox", dtype="float32"),
            "input_gt_class_ids": keras.Input((None,), name="input_gt_class_ids", dtype="int32"),
            "input_gt_boxes": keras.Input((None, 4), name="input_gt_boxes", dtype="float32"),
            "input_gt_masks": keras.Input(mask_shape + (None,), name="input_gt_masks", dtype="bool"),
        })
        if not config.USE_RPN_ROIS:
            inputs["input_rpn_rois"] = keras.Input((config.POST_NMS_ROIS_TRAINING, 4), name="input_rpn_rois",
                                                   dtype="float32")
    else:
        inputs["input_anchors"] = keras.Input((None, 4), name="input_anchors")

    image, meta = inputs["input_image"], inputs["input_image_meta"]
    trunk = build_compiled_trunk if config.JIT_COMPILE else build_trunk
    mrcnn_feature_maps, (rpn_class_logits, rpn_class, rpn_bbox) = trunk(image, config)

    if training:
        if h is None:
            raise ValueError("training needs a fixed image size: IMAGE_RESIZE_MODE 'none' is for inference only")
        anchors = ConstantAnchors(get_anchors(config, (h, w), normalized=True), name="anchors")(image)
    else:
        anchors = inputs["input_anchors"]

    proposal_count = config.POST_NMS_ROIS_TRAINING if training else config.POST_NMS_ROIS_INFERENCE
    rpn_rois = ProposalLayer(proposal_count=proposal_count, nms_threshold=config.RPN_NMS_THRESHOLD,
                             pre_nms_limit=config.PRE_NMS_LIMIT,
                             rpn_bbox_std_dev=np.asarray(config.RPN_BBOX_STD_DEV, np.float32).tolist(),
                             name="ROI")([rpn_class, rpn_bbox, anchors])

    bbox_std = np.asarray(config.BBOX_STD_DEV, np.float32).tolist()
    pool = [config.POOL_SIZE, config.POOL_SIZE]
    mask_pool = [config.MASK_POOL_SIZE, config.MASK_POOL_SIZE]
    if training:
        target_rois = rpn_rois
        if not config.USE_RPN_ROIS:
            target_rois = NormBoxes(name="input_roi_norm")([inputs["input_rpn_rois"], image])
        gt_boxes = NormBoxes(name="input_gt_boxes_norm")([inputs["input_gt_boxes"], image])
        rois, target_class_ids, target_bbox, target_mask = DetectionTargetLayer(
            train_rois_per_image=config.TRAIN_ROIS_PER_IMAGE, roi_positive_ratio=config.ROI_POSITIVE_RATIO,
            bbox_std_dev=bbox_std, mask_shape=list(config.MASK_SHAPE), use_mini_mask=config.USE_MINI_MASK,
            positive_iou=config.ROI_POSITIVE_IOU, name="proposal_targets",
        )([target_rois, inputs["input_gt_class_ids"], gt_boxes, inputs["input_gt_masks"]])
        pooled = PyramidROIAlign(pool, name="roi_align_classifier")([rois, meta] + mrcnn_feature_maps)
        mrcnn_class_logits, mrcnn_class, mrcnn_bbox = fpn_classifier_head(
            pooled, config.NUM_CLASSES, fc_layers_size=config.FPN_CLASSIF_FC_LAYERS_SIZE)
        # Positives come first in the targets: the mask head learns from them only, so it runs on the leading rows.
        positives = max_positive_rois(config.TRAIN_ROIS_PER_IMAGE, config.ROI_POSITIVE_RATIO)
        mask_rois = LeadingRois(positives, name="mask_rois")(rois)
        pooled_mask = PyramidROIAlign(mask_pool, name="roi_align_mask")([mask_rois, meta] + mrcnn_feature_maps)
        mrcnn_mask = fpn_mask_head(pooled_mask, config.NUM_CLASSES, conv_channels=config.MASK_HEAD_CHANNELS)
        outputs = {
            "rpn_class_logits": rpn_class_logits, "rpn_class": rpn_class, "rpn_bbox": rpn_bbox,
            "rois": rois, "target_class_ids": target_class_ids, "target_bbox": target_bbox,
            "target_mask": LeadingRois(positives, name="mask_targets")(target_mask),
            "mask_class_ids": LeadingRois(positives, name="mask_class_ids")(target_class_ids),
            "mrcnn_class_logits": mrcnn_class_logits, "mrcnn_class": mrcnn_class,
            "mrcnn_bbox": mrcnn_bbox, "mrcnn_mask": mrcnn_mask,
        }
    else:
        pooled = PyramidROIAlign(pool, name="roi_align_classifier")([rpn_rois, meta] + mrcnn_feature_maps)
        mrcnn_class_logits, mrcnn_class, mrcnn_bbox = fpn_classifier_head(
            pooled, config.NUM_CLASSES, fc_layers_size=config.FPN_CLASSIF_FC_LAYERS_SIZE)
        detections = DetectionLayer(
            detection_max_instances=config.DETECTION_MAX_INSTANCES,
            detection_min_confidence=config.DETECTION_MIN_CONFIDENCE,
            detection_nms_threshold=config.DETECTION_NMS_THRESHOLD, bbox_std_dev=bbox_std,
            score=config.DETECTION_SCORE, nms_across_classes=config.DETECTION_NMS_ACROSS_CLASSES,
            name="mrcnn_detection")([rpn_rois, mrcnn_class, mrcnn_bbox, meta])
        detection_boxes = DetectionBoxes(name="detection_boxes")(detections)
        pooled_mask = PyramidROIAlign(mask_pool, name="roi_align_mask")([detection_boxes, meta] + mrcnn_feature_maps)
        mrcnn_mask = fpn_mask_head(pooled_mask, config.NUM_CLASSES, conv_channels=config.MASK_HEAD_CHANNELS)
        outputs = {
            "detections": detections, "mrcnn_class": mrcnn_class, "mrcnn_bbox": mrcnn_bbox,
            "mrcnn_mask": mrcnn_mask, "rpn_rois": rpn_rois, "rpn_class": rpn_class, "rpn_bbox": rpn_bbox,
        }
    return inputs, outputs
