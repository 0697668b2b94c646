"""Training targets of the classifier and mask heads for one image: sample ROIs from the proposals and give each
its class, box deltas and mask (Matterport's `detection_targets_graph`).

Shape shorthand:
    N: proposals (zero-padded), G: ground-truth instances (zero-padded), T: ROIs sampled per image,
    h, w: ground-truth mask height and width (mini-mask shape or image shape), mh, mw: target mask shape.

Boxes are normalized `(y1, x1, y2, x2)` and deltas `(dy, dx, log(dh), log(dw))` (convention in
`mrcnn.ops.boxes`).

Sampling, as in Matterport:
- Zero-padding rows of the proposals and of the ground truth are dropped. Ground truth with a negative class id is a
  crowd box (COCO `iscrowd`): it is never a target, and a proposal overlapping a crowd box by IoU >= 0.001 is not
  used as a negative. Ground truth with class id 0 is padding.
- A proposal is positive when its best IoU with a (non-crowd) ground-truth box is >= `positive_iou`, negative when it
  is below. At most `int(T * roi_positive_ratio)` positives are drawn at random, then `int(P / roi_positive_ratio) - P`
  negatives for the P positives drawn, so that positives make up the ratio. The draw is a pure function of the
  inputs and a `seed` (stateless shuffles), so images sampled in parallel threads draw the same as one by one.
- Each positive is assigned the ground-truth box of highest IoU (argmax; Matterport's `tf.cond` guards the case of
  no ground truth).

One addition to Matterport: an image without (non-crowd) ground truth gets T negatives (as many as there are
non-crowd proposals) instead of none, so background-only images still train the classifier on real background ROIs.
"""

import tensorflow as tf

from mrcnn.ops.boxes import box_refinement_graph, overlaps_graph, trim_zeros_graph

# Matterport: a proposal that overlaps a crowd box by this IoU or more is not a negative.
CROWD_IOU_THRESHOLD = 0.001


def _best_iou(overlaps):
    """Row-wise max of an IoU matrix [N, G]; -1 for every row when G == 0 (reduce_max of nothing is undefined)."""
    return tf.reduce_max(tf.pad(overlaps, [[0, 0], [0, 1]], constant_values=-1.0), axis=1)


def draw_sampling_seeds(count):
    """int32 [count, 2]: one seed per image for `detection_targets_graph`, from one draw of TensorFlow's global
    generator (seeded by `tf.random.set_seed`), so a seeded run draws the same seeds at every step."""
    return tf.random.uniform(tf.stack([count, 2]), maxval=tf.int32.max, dtype=tf.int32)


def max_positive_rois(train_rois_per_image, roi_positive_ratio):
    """Most positive ROIs per image: int(T * ratio). Positives fill the first rows of the targets, so the mask head
    (which learns from positives only) needs to run on no more than this many leading rows."""
    return int(int(train_rois_per_image) * roi_positive_ratio)


def detection_targets_graph(proposals, gt_class_ids, gt_boxes, gt_masks, train_rois_per_image, roi_positive_ratio,
                            bbox_std_dev, mask_shape, use_mini_mask, positive_iou=0.5, seed=None):
    """Sample T ROIs of one image and compute their targets.

    proposals: [N, (y1, x1, y2, x2)] normalized, zero-padded on axis 0.
    gt_class_ids: int [G], 0 = padding, negative = crowd.
    gt_boxes: [G, (y1, x1, y2, x2)] normalized, zero-padded on axis 0.
    gt_masks: bool or float [h, w, G]: mini masks (the part of each mask inside its box, resized to h x w) when
        `use_mini_mask`, else masks of the full molded image.
    train_rois_per_image: T. roi_positive_ratio: highest share of positives. bbox_std_dev: 4 numbers that divide the
    deltas. mask_shape: (mh, mw). positive_iou: IoU from which a proposal is positive.
    seed: int32 or int64 [2], the seed of this image's sampling; None draws one from TensorFlow's global generator.

    Returns a tuple, every tensor zero-padded on axis 0 up to T (positives first, then negatives, then padding):
        rois: float32 [T, (y1, x1, y2, x2)] normalized.
        roi_gt_class_ids: int32 [T]; 0 for negatives and padding.
        deltas: float32 [T, (dy, dx, log(dh), log(dw))] / bbox_std_dev; 0 for negatives and padding.
        masks: float32 [T, mh, mw] of 0/1 (bilinear crop of the ground-truth mask, rounded); 0 for negatives.
    """
    t = int(train_rois_per_image)
    max_positives = max_positive_rois(t, roi_positive_ratio)
    proposals = tf.cast(proposals, tf.float32)
    gt_boxes = tf.cast(gt_boxes, tf.float32)
    gt_class_ids = tf.cast(gt_class_ids, tf.int32)

    # Drop zero padding, then split the ground truth into crowd boxes and targets.
    proposals, _ = trim_zeros_graph(proposals)
    gt_boxes, non_zeros = trim_zeros_graph(gt_boxes)
    gt_class_ids = tf.boolean_mask(gt_class_ids, non_zeros)
    gt_channels = tf.boolean_mask(tf.range(tf.shape(non_zeros)[0]), non_zeros)  # index into gt_masks' last axis
    crowd_boxes = tf.boolean_mask(gt_boxes, gt_class_ids < 0)
    is_target = gt_class_ids > 0
    gt_class_ids = tf.boolean_mask(gt_class_ids, is_target)
    gt_boxes = tf.boolean_mask(gt_boxes, is_target)
    gt_channels = tf.boolean_mask(gt_channels, is_target)
    num_gt = tf.shape(gt_boxes)[0]

    # Positives and negatives by IoU.
    overlaps = overlaps_graph(proposals, gt_boxes)  # [N, G]
    no_crowd = _best_iou(overlaps_graph(proposals, crowd_boxes)) < CROWD_IOU_THRESHOLD
    roi_iou_max = _best_iou(overlaps)
    positive_indices = tf.where(roi_iou_max >= positive_iou)[:, 0]
    negative_indices = tf.where(tf.logical_and(roi_iou_max < positive_iou, no_crowd))[:, 0]

    # Sample: at most max_positives positives, then negatives to reach the ratio (T of them without ground truth).
    if seed is None:
        seed = draw_sampling_seeds(1)[0]
    positive_seed, negative_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    positive_indices = tf.random.experimental.stateless_shuffle(positive_indices, positive_seed)[:max_positives]
    positive_count = tf.shape(positive_indices)[0]
    ratio_count = tf.cast(tf.cast(positive_count, tf.float64) / float(roi_positive_ratio), tf.int32)
    negative_count = tf.where(num_gt > 0, ratio_count - positive_count, t)
    negative_count = tf.minimum(negative_count, t - positive_count)
    negative_indices = tf.random.experimental.stateless_shuffle(negative_indices, negative_seed)[:negative_count]
    positive_rois = tf.gather(proposals, positive_indices)
    negative_rois = tf.gather(proposals, negative_indices)

    # Assign each positive to the ground-truth box it overlaps most.
    positive_overlaps = tf.gather(overlaps, positive_indices)
    assignment = tf.cond(num_gt > 0,
                         lambda: tf.argmax(positive_overlaps, axis=1, output_type=tf.int32),
                         lambda: tf.zeros([0], tf.int32))
    roi_gt_boxes = tf.gather(gt_boxes, assignment)
    roi_gt_class_ids = tf.gather(gt_class_ids, assignment)
    std = tf.constant([float(s) for s in bbox_std_dev], tf.float32)
    deltas = box_refinement_graph(positive_rois, roi_gt_boxes) / std

    # Mask targets: crop each positive ROI out of its ground-truth mask.
    crop_boxes = positive_rois
    if use_mini_mask:
        # The mini mask spans its ground-truth box: express the ROI in that box's frame.
        gy1, gx1, gy2, gx2 = tf.unstack(roi_gt_boxes, axis=1)
        gt_h = gy2 - gy1
        gt_w = gx2 - gx1
        y1, x1, y2, x2 = tf.unstack(positive_rois, axis=1)
        crop_boxes = tf.stack([tf.math.divide_no_nan(y1 - gy1, gt_h), tf.math.divide_no_nan(x1 - gx1, gt_w),
                               tf.math.divide_no_nan(y2 - gy1, gt_h), tf.math.divide_no_nan(x2 - gx1, gt_w)],
                              axis=1)
    if gt_masks.dtype == tf.bool:
        gt_masks = tf.cast(gt_masks, tf.uint8)  # crop_and_resize takes uint8 (not bool), 4x smaller than float32
    # Crop all G channels of the [1, h, w, G] mask stack at once and keep each ROI's own channel: this avoids
    # transposing (copying) full-size masks.
    crops = tf.image.crop_and_resize(gt_masks[tf.newaxis], crop_boxes, tf.zeros_like(assignment), list(mask_shape),
                                     method="bilinear")  # [P, mh, mw, G]
    channels = tf.gather(gt_channels, assignment)
    masks = tf.gather(crops, channels[:, tf.newaxis], axis=3, batch_dims=1)
    masks = tf.round(masks[..., 0])

    # Pad everything to T rows.
    rois = tf.concat([positive_rois, negative_rois], axis=0)
    pad = t - tf.shape(rois)[0]
    pad_targets = t - positive_count
    rois = tf.pad(rois, [[0, pad], [0, 0]])
    roi_gt_class_ids = tf.pad(roi_gt_class_ids, [[0, pad_targets]])
    deltas = tf.pad(deltas, [[0, pad_targets], [0, 0]])
    masks = tf.pad(masks, [[0, pad_targets], [0, 0], [0, 0]])
    return (tf.ensure_shape(rois, [t, 4]),
            tf.ensure_shape(roi_gt_class_ids, [t]),
            tf.ensure_shape(deltas, [t, 4]),
            tf.ensure_shape(masks, [t, mask_shape[0], mask_shape[1]]))
