"""Matterport's module-level functions of `mrcnn.model`, with Matterport's signatures, over today's modules.

Shape shorthand: B: batch, H, W: image size, C: channels, N: instances, A: anchors, T: RPN_TRAIN_ANCHORS_PER_IMAGE,
G: MAX_GT_INSTANCES, h, w: mini-mask (or image) size, R: random ROIs, S: TRAIN_ROIS_PER_IMAGE, K: NUM_CLASSES,
M: meta length.

Matterport's scripts and notebooks call these as `modellib.<name>` (`from mrcnn import model as modellib`);
`mrcnn.model` re-exports every name of `__all__`. Each is a thin wrapper: the formula lives in one place
(mrcnn/data/*, mrcnn/ops/boxes.py, mrcnn/heads/losses.py) and these only read Matterport's arguments (often the
whole config) into that function's explicit ones:

    image, image_meta, class_ids, bbox, mask = modellib.load_image_gt(dataset, config, image_id,
                                                                      use_mini_mask=False)
    modellib.log("image", image)           # image                    shape: (128, 128, 3) min: ... max: ... uint8
    rpn_match, rpn_bbox = modellib.build_rpn_targets(image.shape, anchors, class_ids, bbox, config)
    inputs, outputs = next(modellib.data_generator(dataset, config, batch_size=2))

Randomness (data_generator's order, RPN target subsampling, augment=True's flips) comes from fresh unseeded
generators, as Matterport's came from NumPy's global one; the training pipeline (mrcnn.data.generator.DataGenerator)
is seeded instead.
"""

import copy
import itertools
import logging

import numpy as np

from mrcnn.data import loader, mold, rpn_targets
from mrcnn.data.anchors import compute_backbone_shapes
from mrcnn.data.generator import DataGenerator
from mrcnn.data.image_meta import compose_image_meta, parse_image_meta, parse_image_meta_graph
from mrcnn.data.rpn_targets import generate_random_rois
from mrcnn.heads import losses
from mrcnn.heads.rpn import build_rpn_model
from mrcnn.layers.batch_norm import BatchNorm
from mrcnn.layers.detection import DetectionLayer
from mrcnn.layers.detection_target import DetectionTargetLayer
from mrcnn.layers.proposal import ProposalLayer
from mrcnn.layers.roi_align import PyramidROIAlign
from mrcnn.ops.boxes import (apply_box_deltas_graph, box_refinement_graph, clip_boxes_graph, denorm_boxes_graph,
                             norm_boxes_graph, overlaps_graph, trim_zeros_graph)

logger = logging.getLogger(__name__)

__all__ = [
    "BatchNorm", "DetectionLayer", "DetectionTargetLayer", "ProposalLayer", "PyramidROIAlign",
    "apply_box_deltas_graph", "box_refinement_graph", "build_detection_targets", "build_rpn_model",
    "build_rpn_targets", "clip_boxes_graph", "compose_image_meta", "compute_backbone_shapes", "data_generator",
    "denorm_boxes_graph", "generate_random_rois", "load_image_gt", "log", "mold_image", "mrcnn_bbox_loss_graph",
    "mrcnn_class_loss_graph", "mrcnn_mask_loss_graph", "norm_boxes_graph", "overlaps_graph", "parse_image_meta",
    "parse_image_meta_graph", "rpn_bbox_loss_graph", "rpn_class_loss_graph", "smooth_l1_loss", "trim_zeros_graph",
    "unmold_image",
]


def log(text, array=None):
    """Print `text` and, for an array, its shape, min, max and dtype on one line (Matterport's notebook helper).

    `text` is padded to 25 characters; an empty array prints blank min and max. Prints, as Matterport did (it is a
    notebook's output, not a log record); returns None.
    """
    if array is not None:
        array = np.asarray(array)
        text = text.ljust(25) + "shape: {:20}  ".format(str(array.shape))
        if array.size:
            text += "min: {:10.5f}  max: {:10.5f}".format(float(array.min()), float(array.max()))
        else:
            text += "min: {:10}  max: {:10}".format("", "")
        text += "  {}".format(array.dtype)
    print(text)


def _with(config, **fields):
    """A copy of `config` with `fields` changed (the caller's config is left as it was)."""
    changed = copy.copy(config)
    for name, value in fields.items():
        setattr(changed, name, value)
    return changed


def _flip_left_right(image, mask, rng):
    """Matterport's `augment=True`: a left-right flip of image and masks, half of the time."""
    if rng.random() < 0.5:
        return np.fliplr(image), np.fliplr(mask)
    return image, mask


def load_image_gt(dataset, config, image_id, augment=False, augmentation=None, use_mini_mask=False):
    """Matterport's `load_image_gt`: one image and its ground truth, resized (and augmented) as for training.

    dataset: a prepared Dataset. config: a Config. image_id: the image's internal id.
    augment: Matterport's deprecated flag: a left-right flip half of the time (use `augmentation`).
    augmentation: an imgaug augmenter, an albumentations transform or `f(image, mask, rng)`.
    use_mini_mask: masks cut to their boxes and resized to MINI_MASK_SHAPE (Matterport's default: False, full size,
        whatever Config.USE_MINI_MASK says).
    Returns:
        image: [H, W, C] as load_image gave it (uint8), resized. image_meta: float32 [M].
        class_ids: int32 [N]. bbox: int32 [N, (y1, x1, y2, x2)] pixels. mask: bool [H, W, N] or [h, w, N].
    Bad images raise a ValueError naming the image (mrcnn.data.loader.load_image_gt, which this wraps).
    """
    if augment and augmentation is None:
        logger.warning("load_image_gt: 'augment' is deprecated (Matterport's too); pass augmentation instead")
        augmentation = _flip_left_right
    return loader.load_image_gt(dataset, _with(config, USE_MINI_MASK=bool(use_mini_mask)), image_id,
                                augmentation=augmentation)


def mold_image(images, config):
    """Images minus Config.MEAN_PIXEL, float32 (mrcnn.data.mold.mold_image): [..., C] -> [..., C]."""
    return mold.mold_image(images, config.MEAN_PIXEL)


def unmold_image(normalized_images, config):
    """The inverse of `mold_image`: Config.MEAN_PIXEL added back, uint8 [..., C] (rounded, then clipped)."""
    return mold.unmold_image(normalized_images, config.MEAN_PIXEL)


def build_rpn_targets(image_shape, anchors, gt_class_ids, gt_boxes, config):
    """Matterport's RPN targets of one image (mrcnn.data.rpn_targets.build_rpn_targets with the config's values).

    image_shape: unused (Matterport's signature). anchors: [A, (y1, x1, y2, x2)] pixels. gt_class_ids: int [N]
    (negative: crowd). gt_boxes: [N, (y1, x1, y2, x2)] pixels.
    Returns rpn_match int32 [A] (1 positive, -1 negative, 0 neutral) and rpn_bbox float32 [T, (dy, dx, log(dh),
    log(dw))] / RPN_BBOX_STD_DEV, zero-padded after the positives.
    """
    del image_shape
    return rpn_targets.build_rpn_targets(anchors, gt_class_ids, gt_boxes, config.RPN_TRAIN_ANCHORS_PER_IMAGE,
                                         config.RPN_BBOX_STD_DEV, positive_iou=config.RPN_POSITIVE_IOU,
                                         negative_iou=config.RPN_NEGATIVE_IOU)


def build_detection_targets(rpn_rois, gt_class_ids, gt_boxes, gt_masks, config):
    """Matterport's NumPy targets of the heads for given ROIs (mrcnn.data.rpn_targets.build_detection_targets).

    rpn_rois: [R, (y1, x1, y2, x2)] pixels. gt_masks: bool [H, W, N], or mini masks when Config.USE_MINI_MASK.
    Returns rois [S, 4], class_ids int32 [S], bboxes float32 [S, K, 4], masks float32 [S, MASK_SHAPE, K].
    """
    return rpn_targets.build_detection_targets(
        rpn_rois, gt_class_ids, gt_boxes, gt_masks, config.TRAIN_ROIS_PER_IMAGE, config.ROI_POSITIVE_RATIO,
        config.BBOX_STD_DEV, config.MASK_SHAPE, config.NUM_CLASSES, config.IMAGE_SHAPE, config.USE_MINI_MASK,
        positive_iou=config.ROI_POSITIVE_IOU)


def data_generator(dataset, config, shuffle=True, augment=False, augmentation=None, random_rois=0, batch_size=1,
                   detection_targets=False, no_augmentation_sources=None):
    """Matterport's endless Python generator of training batches: yields (inputs, outputs) lists.

    inputs: [images float32 [B, H, W, C] (molded), image_metas [B, M], rpn_match int32 [B, A, 1],
        rpn_bbox [B, T, 4], gt_class_ids int32 [B, G], gt_boxes [B, G, (y1, x1, y2, x2)] pixels,
        gt_masks bool [B, h, w, G]] (zero-padded to G), then rpn_rois [B, R, 4] pixels when random_rois > 0, then
        rois [B, S, 4] when detection_targets too.
    outputs: [] (the model computes its losses), or with random_rois and detection_targets Matterport's
        [mrcnn_class_ids int32 [B, S, 1], mrcnn_bbox [B, S, K, 4], mrcnn_mask [B, S, MASK_SHAPE, K]].
    B = batch_size; images without instances are skipped and unusable ones skipped with a warning. Batches come from
    mrcnn.data.generator.DataGenerator (what `train` uses; for Keras' fit pass that, not this generator).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"data_generator: batch_size must be an integer >= 1, got {batch_size!r}")
    if augment and augmentation is None:
        logger.warning("data_generator: 'augment' is deprecated (Matterport's too); pass augmentation instead")
        augmentation = _flip_left_right
    config = _with(config, GPU_COUNT=1, IMAGES_PER_GPU=int(batch_size))
    generator = DataGenerator(dataset, config, shuffle=shuffle, augmentation=augmentation,
                              no_augmentation_sources=no_augmentation_sources, random_rois=random_rois,
                              detection_targets=detection_targets)
    input_keys = ["input_image", "input_image_meta", "input_rpn_match", "input_rpn_bbox", "input_gt_class_ids",
                  "input_gt_boxes", "input_gt_masks"]
    if random_rois:
        input_keys.append("input_rpn_rois")
        if detection_targets:
            input_keys.append("rois")
    for epoch in itertools.count():
        for index in range(len(generator)):
            batch = generator.batch(epoch, index)
            outputs = []
            if random_rois and detection_targets:
                outputs = [batch["target_class_ids"][..., np.newaxis], batch["target_bbox"], batch["target_mask"]]
            yield [batch[key] for key in input_keys], outputs


def smooth_l1_loss(y_true, y_pred):
    """Elementwise smooth L1 loss (mrcnn.heads.losses.smooth_l1)."""
    return losses.smooth_l1(y_true, y_pred)


def rpn_class_loss_graph(rpn_match, rpn_class_logits):
    """RPN anchor classifier loss: rpn_match [B, A, 1], rpn_class_logits [B, A, 2] -> float32 scalar."""
    return losses.rpn_class_loss(rpn_match, rpn_class_logits)


def rpn_bbox_loss_graph(config, target_bbox, rpn_match, rpn_bbox):
    """RPN box loss: target_bbox [B, T, 4], rpn_match [B, A, 1], rpn_bbox [B, A, 4] -> float32 scalar.
    `config` is Matterport's argument (it read IMAGES_PER_GPU); the loss does not need it."""
    del config
    return losses.rpn_bbox_loss(target_bbox, rpn_match, rpn_bbox)


def mrcnn_class_loss_graph(target_class_ids, pred_class_logits, active_class_ids):
    """Classifier head loss: target_class_ids [B, S], pred_class_logits [B, S, K], active_class_ids [B, K]."""
    return losses.mrcnn_class_loss(target_class_ids, pred_class_logits, active_class_ids)


def mrcnn_bbox_loss_graph(target_bbox, target_class_ids, pred_bbox):
    """Box head loss: target_bbox [B, S, 4], target_class_ids [B, S], pred_bbox [B, S, K, 4]."""
    return losses.mrcnn_bbox_loss(target_bbox, target_class_ids, pred_bbox)


def mrcnn_mask_loss_graph(target_masks, target_class_ids, pred_masks):
    """Mask head loss: target_masks [B, S, h, w], target_class_ids [B, S], pred_masks [B, S, h, w, K]."""
    return losses.mrcnn_mask_loss(target_masks, target_class_ids, pred_masks)
