"""DetectionTargetLayer: sample ROIs from the proposals and give them class, box and mask targets (training only;
Matterport's `DetectionTargetLayer`).

Shape shorthand:
    B: batch, N: proposals per image, G: MAX_GT_INSTANCES, T: train_rois_per_image, h, w: ground-truth mask
    height and width (MINI_MASK_SHAPE or the image size), mh, mw: mask_shape.

Boxes are normalized `(y1, x1, y2, x2)` and deltas `(dy, dx, log(dh), log(dw))` (convention in
`mrcnn.ops.boxes`). The per-image math is `mrcnn.ops.detection_targets.detection_targets_graph`.
"""

import keras
import numpy as np
import tensorflow as tf

from mrcnn.ops.detection_targets import detection_targets_graph, draw_sampling_seeds


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionTargetLayer(keras.layers.Layer):
    """Sample `train_rois_per_image` ROIs per image from the proposals and compute their training targets.

    Matterport's semantics (see `mrcnn.ops.detection_targets` for the details): crowd boxes (negative class ids)
    are not targets and proposals touching them are not negatives; positives have IoU >= `positive_iou` with a
    ground-truth box, at most `int(T * roi_positive_ratio)` of them, plus `int(P / roi_positive_ratio) - P`
    negatives; an image without ground truth gets T negatives. `tf.map_fn` samples the images in parallel, each from
    its own seed (drawn for the whole batch by one op of the global generator), so a seeded run samples the same
    ROIs whichever thread runs first. The outputs carry no gradient.

    Args:
        train_rois_per_image: T (TRAIN_ROIS_PER_IMAGE).
        roi_positive_ratio: highest share of positive ROIs, in (0, 1] (ROI_POSITIVE_RATIO).
        bbox_std_dev: 4 numbers that divide the box deltas (BBOX_STD_DEV).
        mask_shape: (mh, mw) of the mask targets (MASK_SHAPE).
        use_mini_mask: True when gt_masks are mini masks (USE_MINI_MASK).
        positive_iou: IoU from which a proposal is positive (ROI_POSITIVE_IOU).
        name: layer name; Matterport's is "proposal_targets".
        **kwargs: passed to `keras.layers.Layer`; the dtype defaults to "float32".

    Inputs (a list):
        proposals: [B, N, (y1, x1, y2, x2)] normalized, zero-padded on axis 1.
        gt_class_ids: int [B, G]; 0 = padding, negative = crowd.
        gt_boxes: [B, G, (y1, x1, y2, x2)] normalized, zero-padded on axis 1.
        gt_masks: bool or float [B, h, w, G]: mini masks when use_mini_mask, else full-image masks.

    Outputs (a list), zero-padded on axis 1 (positives first, then negatives):
        rois: float32 [B, T, (y1, x1, y2, x2)] normalized.
        target_class_ids: int32 [B, T].
        target_deltas: float32 [B, T, (dy, dx, log(dh), log(dw))], divided by bbox_std_dev.
        target_masks: float32 [B, T, mh, mw] of 0/1.
    """

    def __init__(self, train_rois_per_image, roi_positive_ratio, bbox_std_dev, mask_shape, use_mini_mask,
                 positive_iou=0.5, name="proposal_targets", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        if isinstance(train_rois_per_image, bool) or not isinstance(train_rois_per_image, (int, np.integer)) \
                or train_rois_per_image < 1:
            raise ValueError(f"DetectionTargetLayer: train_rois_per_image = {train_rois_per_image!r}: "
                             "must be an integer >= 1")
        if not 0 < float(roi_positive_ratio) <= 1:
            raise ValueError(f"DetectionTargetLayer: roi_positive_ratio = {roi_positive_ratio!r}: must be in (0, 1]")
        if not 0 <= float(positive_iou) <= 1:
            raise ValueError(f"DetectionTargetLayer: positive_iou = {positive_iou!r}: must be an IoU in [0, 1]")
        std = [float(s) for s in np.ravel(bbox_std_dev)]
        if len(std) != 4 or min(std) <= 0:
            raise ValueError(f"DetectionTargetLayer: bbox_std_dev = {bbox_std_dev!r}: need 4 positive numbers")
        shape = [int(s) for s in np.ravel(mask_shape)]
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"DetectionTargetLayer: mask_shape = {mask_shape!r}: need (height, width), both >= 1")
        self.train_rois_per_image = int(train_rois_per_image)
        self.roi_positive_ratio = float(roi_positive_ratio)
        self.bbox_std_dev = std
        self.mask_shape = shape
        self.use_mini_mask = bool(use_mini_mask)
        self.positive_iou = float(positive_iou)
        # Boolean masks and map_fn make dynamic shapes that XLA cannot compile: keeps jit_compile="auto" off.
        self.supports_jit = False

    def call(self, inputs):
        proposals, gt_class_ids, gt_boxes, gt_masks = inputs
        t = self.train_rois_per_image
        mh, mw = self.mask_shape

        def one_image(args):
            *image, seed = args
            return detection_targets_graph(*image, train_rois_per_image=t,
                                           roi_positive_ratio=self.roi_positive_ratio,
                                           bbox_std_dev=self.bbox_std_dev, mask_shape=self.mask_shape,
                                           use_mini_mask=self.use_mini_mask, positive_iou=self.positive_iou,
                                           seed=seed)

        # One stateful draw for the batch, then stateless sampling per image: a stateful shuffle inside map_fn
        # would hand out its random numbers to the images in whatever order their threads reach it.
        seeds = draw_sampling_seeds(tf.shape(proposals)[0])
        outputs = tf.map_fn(
            one_image,
            (tf.cast(proposals, tf.float32), tf.cast(gt_class_ids, tf.int32), tf.cast(gt_boxes, tf.float32),
             gt_masks, seeds),
            fn_output_signature=(tf.TensorSpec([t, 4], tf.float32), tf.TensorSpec([t], tf.int32),
                                 tf.TensorSpec([t, 4], tf.float32), tf.TensorSpec([t, mh, mw], tf.float32)))
        return [tf.stop_gradient(o) for o in outputs]

    def compute_output_shape(self, input_shape):
        batch = input_shape[0][0]
        t = self.train_rois_per_image
        return [(batch, t, 4), (batch, t), (batch, t, 4), (batch, t) + tuple(self.mask_shape)]

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape([tuple(x.shape) for x in inputs])
        dtypes = ["float32", "int32", "float32", "float32"]
        return [keras.KerasTensor(s, dtype=d) for s, d in zip(shapes, dtypes)]

    def get_config(self):
        config = super().get_config()
        config.update({
            "train_rois_per_image": self.train_rois_per_image,
            "roi_positive_ratio": self.roi_positive_ratio,
            "bbox_std_dev": list(self.bbox_std_dev),
            "mask_shape": list(self.mask_shape),
            "use_mini_mask": self.use_mini_mask,
            "positive_iou": self.positive_iou,
        })
        return config
