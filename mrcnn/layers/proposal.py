"""ProposalLayer: turn the RPN's anchor scores and deltas into region proposals (Matterport's `ProposalLayer`).

Shape shorthand:
    B: batch, A: anchors, K: anchors kept before NMS = min(pre_nms_limit, A), P: proposal_count.

Boxes are normalized `(y1, x1, y2, x2)` and deltas `(dy, dx, log(dh), log(dw))` (convention in
`mrcnn.ops.boxes`).
"""

import keras
import numpy as np
import tensorflow as tf

from mrcnn.ops import portable
from mrcnn.ops.boxes import apply_box_deltas_graph, clip_boxes_graph


@keras.saving.register_keras_serializable(package="mrcnn")
class ProposalLayer(keras.layers.Layer):
    """Select the best anchors, refine them with the RPN deltas and thin them out with non-max suppression.

    For every image, as Matterport: the foreground score is `rpn_probs[..., 1]`; the `min(pre_nms_limit, A)`
    anchors of highest score are kept; their deltas are multiplied by `rpn_bbox_std_dev` and applied; the boxes are
    clipped to the image `[0, 0, 1, 1]`; greedy NMS at `nms_threshold` keeps at most `proposal_count` of them. The
    whole batch is processed at once (top-k, gathers and one batched NMS), so the batch size may be dynamic.

    The output carries no gradient (proposals are treated as constants by the heads, as in torchvision and
    Detectron; batched NMS has no gradient).

    Args:
        proposal_count: P, the most proposals per image (POST_NMS_ROIS_TRAINING or POST_NMS_ROIS_INFERENCE).
        nms_threshold: IoU above which the lower-scoring of two boxes is dropped (RPN_NMS_THRESHOLD).
        pre_nms_limit: most anchors kept by score before NMS (PRE_NMS_LIMIT).
        rpn_bbox_std_dev: 4 numbers that scale the RPN deltas (RPN_BBOX_STD_DEV).
        name: layer name; Matterport's is "ROI".
        **kwargs: passed to `keras.layers.Layer`. The dtype defaults to "float32": box coordinates stay float32
            under a mixed-precision policy.

    Inputs (a list):
        rpn_probs: [B, A, (background, foreground)] probabilities.
        rpn_bbox: [B, A, (dy, dx, log(dh), log(dw))] deltas, not yet multiplied by rpn_bbox_std_dev.
        anchors: [B, A, (y1, x1, y2, x2)] normalized.

    Output:
        proposals: float32 [B, P, (y1, x1, y2, x2)] normalized, inside [0, 1], best score first, zero-padded on
        axis 1 when fewer than P boxes survive NMS.
    """

    def __init__(self, proposal_count, nms_threshold, pre_nms_limit, rpn_bbox_std_dev, name="ROI", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        if isinstance(proposal_count, bool) or not isinstance(proposal_count, (int, np.integer)) \
                or proposal_count < 1:
            raise ValueError(f"ProposalLayer: proposal_count = {proposal_count!r}: must be an integer >= 1")
        if isinstance(pre_nms_limit, bool) or not isinstance(pre_nms_limit, (int, np.integer)) or pre_nms_limit < 1:
            raise ValueError(f"ProposalLayer: pre_nms_limit = {pre_nms_limit!r}: must be an integer >= 1")
        if not 0 <= float(nms_threshold) <= 1:
            raise ValueError(f"ProposalLayer: nms_threshold = {nms_threshold!r}: must be an IoU in [0, 1]")
        std = [float(s) for s in np.ravel(rpn_bbox_std_dev)]
        if len(std) != 4 or min(std) <= 0:
            raise ValueError(f"ProposalLayer: rpn_bbox_std_dev = {rpn_bbox_std_dev!r}: need 4 positive numbers")
        self.proposal_count = int(proposal_count)
        self.nms_threshold = float(nms_threshold)
        self.pre_nms_limit = int(pre_nms_limit)
        self.rpn_bbox_std_dev = std
        # Dynamic shapes (NMS) cannot be XLA-compiled: keeps Keras' jit_compile="auto" off for the model.
        self.supports_jit = False

    def call(self, inputs):
        _, scores, _, boxes = self._refined(inputs)
        # One class per image: combined NMS is plain greedy NMS per image, batched; it zero-pads to P and sorts
        # by score, like tf.image.non_max_suppression + tf.pad per image.
        if portable.enabled():  # a LiteRT export: one image, NMS from LiteRT's built-in op (mrcnn/ops/portable.py)
            # Every probability is above -1; LiteRT's NMS mishandles a threshold of -inf.
            kept, _, valid = portable.nms_one_image(boxes[0], scores[0], self.proposal_count, self.nms_threshold, -1.0)
            rois = portable.keep_rows(tf.gather(boxes[0], kept), valid)
            return tf.stop_gradient(tf.reshape(rois, [1, self.proposal_count, 4]))
        nms = tf.image.combined_non_max_suppression(
            boxes[:, :, tf.newaxis, :], scores[:, :, tf.newaxis],
            max_output_size_per_class=self.proposal_count, max_total_size=self.proposal_count,
            iou_threshold=self.nms_threshold, score_threshold=float("-inf"), pad_per_class=False,
            clip_boxes=False)
        return tf.stop_gradient(tf.ensure_shape(nms.nmsed_boxes, [None, self.proposal_count, 4]))

    def _refined(self, inputs):
        """(pre_nms_anchors [B, K, 4], their scores [B, K], refined boxes [B, K, 4], the same clipped to the
        image)."""
        rpn_probs, rpn_bbox, anchors = inputs
        scores = tf.cast(rpn_probs[:, :, 1], tf.float32)  # [B, A]
        deltas = tf.cast(rpn_bbox, tf.float32) * tf.constant(self.rpn_bbox_std_dev, tf.float32)
        anchors = tf.cast(anchors, tf.float32)

        # Best anchors by foreground score.
        k = tf.minimum(self.pre_nms_limit, tf.shape(anchors)[1])
        top = tf.math.top_k(scores, k=k, sorted=True)
        deltas = tf.gather(deltas, top.indices, batch_dims=1)  # [B, K, 4]
        pre_nms_anchors = tf.gather(anchors, top.indices, batch_dims=1)
        refined = apply_box_deltas_graph(pre_nms_anchors, deltas)
        return pre_nms_anchors, top.values, refined, clip_boxes_graph(refined, tf.constant([0.0, 0.0, 1.0, 1.0]))

    def intermediates(self, inputs):
        """The steps of `call` on concrete inputs, for inspection (Matterport's "ROI/<name>:0" graph nodes).

        Returns a dict of tensors: "pre_nms_anchors" [B, K, (y1, x1, y2, x2)] normalized, the K anchors of highest
        foreground score, best first; "refined_anchors" [B, K, 4] those anchors moved by their deltas;
        "refined_anchors_clipped" [B, K, 4] the same clipped to [0, 1]; "post_nms_anchor_ix" int32 [n], the indices
        into image 0's K rows that non-max suppression keeps, best first (Matterport's NMS node ran per image).
        """
        pre_nms_anchors, scores, refined, clipped = self._refined(inputs)
        keep = tf.image.non_max_suppression(clipped[0], scores[0], self.proposal_count, self.nms_threshold)
        return {"pre_nms_anchors": pre_nms_anchors, "refined_anchors": refined,
                "refined_anchors_clipped": clipped, "post_nms_anchor_ix": tf.cast(keep, tf.int32)}

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.proposal_count, 4)

    def get_config(self):
        config = super().get_config()
        config.update({
            "proposal_count": self.proposal_count,
            "nms_threshold": self.nms_threshold,
            "pre_nms_limit": self.pre_nms_limit,
            "rpn_bbox_std_dev": list(self.rpn_bbox_std_dev),
        })
        return config
