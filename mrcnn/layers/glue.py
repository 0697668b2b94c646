"""Small layers that connect the graph's parts where Matterport used `Lambda` layers.

Shape shorthand: B: batch, H, W: image height and width, A: anchors, N: boxes, D: detections.
"""

import keras
import numpy as np
import tensorflow as tf

from mrcnn.ops.boxes import norm_boxes_graph
from mrcnn.precision import FLOAT32


@keras.saving.register_keras_serializable(package="mrcnn")
class NormBoxes(keras.layers.Layer):
    """Pixel boxes [B, N, (y1, x1, y2, x2)] -> normalized boxes, using the height and width of `image` [B, H, W, C].

    Inputs: [boxes, image]. Zero padding stays zero after shifting only if the caller masks it; as in Matterport,
    padded rows become small negative numbers that downstream layers drop by their class id 0.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", FLOAT32)  # boxes stay float32 under mixed precision
        super().__init__(**kwargs)

    def call(self, inputs):
        boxes, image = inputs
        shape = tf.shape(image)[1:3]
        return norm_boxes_graph(tf.cast(boxes, tf.float32), shape)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


@keras.saving.register_keras_serializable(package="mrcnn")
class ConstantAnchors(keras.layers.Layer):
    """The anchors of a fixed image size, tiled over the batch: output [B, A, (y1, x1, y2, x2)] normalized.

    Args:
        anchors: [A, 4] normalized anchors (mrcnn.data.anchors.get_anchors(..., normalized=True)), stored as a
            constant, not a variable.
    The layer's input is any tensor with the batch on axis 0 (the image); only its batch size is read.
    """

    def __init__(self, anchors, **kwargs):
        kwargs.setdefault("dtype", FLOAT32)
        super().__init__(**kwargs)
        self.anchors = np.asarray(anchors, dtype=np.float32)

    def call(self, reference):
        batch = tf.shape(reference)[0]
        anchors = tf.constant(self.anchors)
        return tf.tile(anchors[None], [batch, 1, 1])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.anchors.shape[0], 4)

    def get_config(self):
        config = super().get_config()
        config.update({"anchors": self.anchors.tolist()})
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionBoxes(keras.layers.Layer):
    """Detections [B, D, (y1, x1, y2, x2, class_id, score)] -> boxes [B, D', (y1, x1, y2, x2)] normalized.

    D' = max(1, the largest number of detections of an image in the batch): detections are packed at the front and
    zero-padded, so the mask head, which runs on these boxes, skips the padding (with a few cells per image, most of
    the DETECTION_MAX_INSTANCES rows).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", FLOAT32)
        super().__init__(**kwargs)

    def call(self, detections):
        valid = tf.reduce_sum(tf.cast(detections[..., 4] > 0, tf.int32), axis=1)
        keep = tf.maximum(tf.reduce_max(valid), 1)
        return detections[:, :keep, :4]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, 4)


@keras.saving.register_keras_serializable(package="mrcnn")
class LeadingRois(keras.layers.Layer):
    """The first `count` rows of the ROI axis: [B, R, ...] -> [B, count, ...].

    In training the positive ROIs fill the first rows of the detection targets, so the mask head runs on the leading
    max_positive_rois(T, ratio) rows only: the mask loss is unchanged and the mask head, the most expensive part of a
    training step, does a third of Matterport's work at the default ratio.
    """

    def __init__(self, count, **kwargs):
        kwargs.setdefault("autocast", False)  # rows are selected, never converted: boxes stay float32, ids int32
        super().__init__(**kwargs)
        self.count = int(count)

    def call(self, x):
        return x[:, :self.count]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.count) + tuple(input_shape[2:])

    def compute_output_spec(self, x):
        return keras.KerasTensor(self.compute_output_shape(x.shape), dtype=x.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"count": self.count})
        return config
