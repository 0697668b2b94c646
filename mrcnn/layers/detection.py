"""DetectionLayer: turn the classifier head's scores and deltas into final detections (inference only;
Matterport's `DetectionLayer` and `refine_detections_graph`).

Shape shorthand:
    B: batch, R: ROIs per image, C: classes (background included), M: image meta length,
    D: detection_max_instances.

Boxes are normalized `(y1, x1, y2, x2)` and deltas `(dy, dx, log(dh), log(dw))` (convention in
`mrcnn.ops.boxes`).
"""

import keras
import numpy as np
import tensorflow as tf

from mrcnn.config import DETECTION_SCORES
from mrcnn.data.image_meta import parse_image_meta_graph
from mrcnn.ops import portable
from mrcnn.ops.boxes import apply_box_deltas_graph, clip_boxes_graph, norm_boxes_graph, overlaps_graph

# Scores of entries that must not reach NMS are set to this; NMS keeps only scores above _SCORE_FLOOR.
_DROPPED_SCORE = -1.0
_SCORE_FLOOR = -0.5
_SMALLEST_PROBABILITY = 1e-30  # P(background) is floored here before its log (ranks of score="object" up to 69)


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionLayer(keras.layers.Layer):
    """Refine and filter the classified ROIs into at most `detection_max_instances` detections per image.

    Matterport's refine_detections, batched: each ROI takes its most probable class (argmax) and that class's
    score and deltas; ROIs classified as background are dropped; the deltas, multiplied by `bbox_std_dev`, are
    applied and the boxes clipped to the image window (the meta's window, normalized with the meta's image_shape);
    ROIs scoring below `detection_min_confidence` are dropped; non-max suppression runs per class
    (`detection_nms_threshold`, at most `detection_max_instances` per class); the `detection_max_instances` best
    scores are kept, best first. One batched `tf.image.combined_non_max_suppression` does the last two steps.

    score="object" scores an ROI by the probability that it is not background, 1 - P(background), and gives it the
    most probable of the other classes (with that class's deltas); zero-padded ROIs are never kept. It keeps an
    object the classifier hesitates to name, which Matterport's score drops. nms_across_classes=True then also drops
    a detection that overlaps a better-scoring detection of another class by more than the NMS threshold, over the
    per-class survivors at once ("Fast NMS", Bolya et al. 2019: a dropped detection still counts as an overlap).

    Args:
        detection_max_instances: D (DETECTION_MAX_INSTANCES).
        detection_min_confidence: lowest score kept, in [0, 1] (DETECTION_MIN_CONFIDENCE).
        detection_nms_threshold: per-class NMS IoU threshold (DETECTION_NMS_THRESHOLD).
        bbox_std_dev: 4 numbers that scale the deltas (BBOX_STD_DEV).
        score: "class" (Matterport's) or "object" (DETECTION_SCORE).
        nms_across_classes: also suppress overlaps between classes (DETECTION_NMS_ACROSS_CLASSES).
        name: layer name; Matterport's is "mrcnn_detection".
        **kwargs: passed to `keras.layers.Layer`; the dtype defaults to "float32".

    Inputs (a list):
        rois: [B, R, (y1, x1, y2, x2)] normalized (zero padding allowed).
        mrcnn_class: [B, R, C] class probabilities.
        mrcnn_bbox: [B, R, C, (dy, dx, log(dh), log(dw))] class-specific deltas, not yet multiplied by
            bbox_std_dev.
        image_meta: [B, M] (layout in `mrcnn.data.image_meta`).

    Output:
        detections: float32 [B, D, (y1, x1, y2, x2, class_id, score)], boxes normalized, best score first,
        zero-padded on axis 1.
    """

    def __init__(self, detection_max_instances, detection_min_confidence, detection_nms_threshold, bbox_std_dev,
                 score="class", nms_across_classes=False, name="mrcnn_detection", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        if isinstance(detection_max_instances, bool) or not isinstance(detection_max_instances, (int, np.integer)) \
                or detection_max_instances < 1:
            raise ValueError(f"DetectionLayer: detection_max_instances = {detection_max_instances!r}: "
                             "must be an integer >= 1")
        if not 0 <= float(detection_min_confidence) <= 1:
            raise ValueError(f"DetectionLayer: detection_min_confidence = {detection_min_confidence!r}: "
                             "must be in [0, 1]")
        if not 0 <= float(detection_nms_threshold) <= 1:
            raise ValueError(f"DetectionLayer: detection_nms_threshold = {detection_nms_threshold!r}: "
                             "must be an IoU in [0, 1]")
        std = [float(s) for s in np.ravel(bbox_std_dev)]
        if len(std) != 4 or min(std) <= 0:
            raise ValueError(f"DetectionLayer: bbox_std_dev = {bbox_std_dev!r}: need 4 positive numbers")
        if score not in DETECTION_SCORES:
            raise ValueError(f"DetectionLayer: score = {score!r}: valid scores are {DETECTION_SCORES}")
        if not isinstance(nms_across_classes, (bool, np.bool_)):
            raise ValueError(f"DetectionLayer: nms_across_classes = {nms_across_classes!r}: must be True or False")
        self.score = score
        self.nms_across_classes = bool(nms_across_classes)
        self.detection_max_instances = int(detection_max_instances)
        self.detection_min_confidence = float(detection_min_confidence)
        self.detection_nms_threshold = float(detection_nms_threshold)
        self.bbox_std_dev = std
        # Dynamic shapes (NMS) cannot be XLA-compiled: keeps Keras' jit_compile="auto" off for the model.
        self.supports_jit = False

    def call(self, inputs):
        rois, probs, deltas, image_meta = inputs
        meta = parse_image_meta_graph(image_meta)
        return self.refine(rois, probs, deltas, norm_boxes_graph(meta["window"], meta["image_shape"][:, :2]))

    def refine(self, rois, probs, deltas, window):
        """The detections of `call` with the window given directly: rois [B, R, 4], probs [B, R, C], deltas
        [B, R, C, 4] as call's inputs, window [B, (y1, x1, y2, x2)] normalized. Returns [B, D, 6] as call."""
        rois = tf.cast(rois, tf.float32)
        probs = tf.cast(probs, tf.float32)
        deltas = tf.cast(deltas, tf.float32)
        window = tf.cast(window, tf.float32)
        num_classes = probs.shape[-1]
        if num_classes is None or num_classes < 2:
            raise ValueError(f"DetectionLayer: mrcnn_class needs a static class axis with the background and at "
                             f"least one class, got shape {probs.shape}")
        d = self.detection_max_instances

        # Best class per ROI, its score and its deltas.
        if self.score == "object":
            class_ids = tf.argmax(probs[..., 1:], axis=-1, output_type=tf.int32) + 1  # [B, R], never background
            class_scores = 1.0 - probs[..., 0]
            candidate = tf.reduce_any(tf.not_equal(rois, 0.0), axis=-1)  # not a zero-padded ROI
            # NMS ranks by -log P(background), which orders as 1 - P(background) does but does not round to one
            # value for every confident object (1 - P rounds to 1.0 in float32 below P = 6e-8)
            ranks = -tf.math.log(tf.maximum(probs[..., 0], _SMALLEST_PROBABILITY))
        else:
            class_ids = tf.argmax(probs, axis=-1, output_type=tf.int32)  # [B, R]
            class_scores = tf.gather(probs, class_ids[..., tf.newaxis], batch_dims=2)[..., 0]
            candidate = class_ids > 0
            ranks = class_scores
        class_deltas = tf.gather(deltas, class_ids, batch_dims=2)  # [B, R, 4]
        refined = apply_box_deltas_graph(rois, class_deltas * tf.constant(self.bbox_std_dev, tf.float32))
        refined = clip_boxes_graph(refined, window[:, tf.newaxis, :])

        # Scores per foreground class for the batched per-class NMS: an ROI competes only in its argmax class, and
        # only if it is not background and scores at least detection_min_confidence.
        keep = tf.logical_and(candidate, class_scores >= self.detection_min_confidence)
        # [B, R, C - 1]; a comparison rather than a boolean one_hot, which ONNX cannot express (tf2onnx: "onehot op:
        # only rank1 is supported")
        in_class = tf.equal(class_ids[..., tf.newaxis], tf.range(1, num_classes, dtype=tf.int32))
        nms_scores = tf.where(tf.logical_and(in_class, keep[..., tf.newaxis]), ranks[..., tf.newaxis],
                              _DROPPED_SCORE)
        if portable.enabled():  # a LiteRT export: one image (mrcnn/ops/portable.py)
            detections = self._portable_nms(refined, class_ids, tf.where(keep, ranks, _DROPPED_SCORE))
        else:
            detections = self._combined_nms(refined, nms_scores)
        if self.score == "object":  # the rank back to 1 - P(background); padding rows (rank 0) stay 0
            detections = tf.concat([detections[..., :5], 1.0 - tf.exp(-detections[..., 5:])], axis=-1)
        if self.nms_across_classes:
            detections = suppress_across_classes(detections, self.detection_nms_threshold)
        return tf.ensure_shape(detections, [None, d, 6])

    def _combined_nms(self, refined, nms_scores):
        """[B, D, 6] from one batched tf.image.combined_non_max_suppression over the classes' scores [B, R, C - 1]."""
        d = self.detection_max_instances
        nms = tf.image.combined_non_max_suppression(
            refined[:, :, tf.newaxis, :], nms_scores, max_output_size_per_class=d, max_total_size=d,
            iou_threshold=self.detection_nms_threshold, score_threshold=_SCORE_FLOOR, pad_per_class=False,
            clip_boxes=False)

        valid = tf.range(d)[tf.newaxis, :] < nms.valid_detections[:, tf.newaxis]  # [B, D]
        detections = tf.concat([nms.nmsed_boxes, nms.nmsed_classes[..., tf.newaxis] + 1.0,
                                nms.nmsed_scores[..., tf.newaxis]], axis=-1)
        return tf.where(valid[..., tf.newaxis], detections, 0.0)

    def _portable_nms(self, refined, class_ids, scores):
        """The per-class NMS of one image from LiteRT's built-in NMS: each box shifted by 2 * its class id, so that
        boxes of different classes never overlap and one NMS is a per-class NMS (IoU is unchanged by a shift); the
        D best kept, best first, as combined_non_max_suppression returns them."""
        d = self.detection_max_instances
        boxes, class_ids, scores = refined[0], class_ids[0], scores[0]
        shift = tf.expand_dims(tf.cast(class_ids, tf.float32) * 2.0, 1)
        kept, kept_scores, valid = portable.nms_one_image(boxes + shift, scores, d, self.detection_nms_threshold,
                                                          _SCORE_FLOOR)
        detections = tf.concat([tf.gather(boxes, kept), tf.expand_dims(tf.cast(tf.gather(class_ids, kept),
                                                                                  tf.float32), 1),
                                tf.expand_dims(kept_scores, 1)], axis=1)
        return tf.reshape(portable.keep_rows(detections, valid), [1, d, 6])

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.detection_max_instances, 6)

    def get_config(self):
        config = super().get_config()
        config.update({
            "detection_max_instances": self.detection_max_instances,
            "detection_min_confidence": self.detection_min_confidence,
            "detection_nms_threshold": self.detection_nms_threshold,
            "bbox_std_dev": list(self.bbox_std_dev),
            "score": self.score,
            "nms_across_classes": self.nms_across_classes,
        })
        return config


def suppress_across_classes(detections, iou_threshold):
    """Detections [B, D, (y1, x1, y2, x2, class_id, score)] sorted best first and zero-padded on axis 1 (class_id 0),
    without those that overlap an earlier (better-scoring) detection by more than `iou_threshold`, the others moved
    up in their order and the freed rows zero-padded. All pairs are judged at once ("Fast NMS"): a detection dropped
    here still drops the later ones it overlaps."""
    d = detections.shape[1]
    valid = detections[..., 4] > 0  # [B, D]
    overlaps = overlaps_graph(detections[..., :4], detections[..., :4])  # [B, D, D]: row i, column j
    earlier = tf.linalg.band_part(tf.ones([d, d], tf.bool), 0, -1)  # i <= j
    earlier = tf.logical_and(earlier, tf.logical_not(tf.eye(d, dtype=tf.bool)))  # i < j
    suppresses = tf.logical_and(tf.logical_and(valid[:, :, tf.newaxis], earlier), overlaps > iou_threshold)
    keep = tf.logical_and(valid, tf.logical_not(tf.reduce_any(suppresses, axis=1)))  # [B, D]
    # Kept rows first, in their order: rank d - index for a kept row, -1 for the others, and take the top d.
    rank = tf.where(keep, tf.cast(d - tf.range(d), tf.float32)[tf.newaxis, :], -1.0)
    _, order = tf.math.top_k(rank, k=d)
    kept = tf.gather(detections, order, batch_dims=1)
    return tf.where(tf.gather(keep, order, batch_dims=1)[..., tf.newaxis], kept, 0.0)
