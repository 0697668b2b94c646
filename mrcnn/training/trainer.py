"""The Keras model that trains Mask R-CNN: the functional graph plus a `train_step` that computes the five losses.

Shape shorthand: see mrcnn/graph.py (B: batch, A: anchors, R: ROIs, NC: classes).

Matterport attached its losses with `add_loss` on symbolic tensors, which Keras 3 removed. Here the graph outputs the
predictions and the targets (the DetectionTargetLayer's output), and `compute_losses` turns them into the five
losses; `train_step` adds LOSS_WEIGHTS and Matterport's weight decay, and the `keras.metrics.Mean` trackers make `fit`
log `loss`, each of the five losses and their `val_` twins.
"""

import keras
import tensorflow as tf

from mrcnn.config import LOSS_NAMES
from mrcnn.data.image_meta import parse_image_meta_graph
from mrcnn.heads import losses as L


def compute_losses(inputs, outputs):
    """{loss name: float32 scalar} for one batch; `inputs` and `outputs` are the dicts of mrcnn.graph."""
    active_class_ids = parse_image_meta_graph(inputs["input_image_meta"])["active_class_ids"]
    return {
        "rpn_class_loss": L.rpn_class_loss(inputs["input_rpn_match"], outputs["rpn_class_logits"]),
        "rpn_bbox_loss": L.rpn_bbox_loss(inputs["input_rpn_bbox"], inputs["input_rpn_match"], outputs["rpn_bbox"]),
        "mrcnn_class_loss": L.mrcnn_class_loss(outputs["target_class_ids"], outputs["mrcnn_class_logits"],
                                               active_class_ids),
        "mrcnn_bbox_loss": L.mrcnn_bbox_loss(outputs["target_bbox"], outputs["target_class_ids"],
                                             outputs["mrcnn_bbox"]),
        "mrcnn_mask_loss": L.mrcnn_mask_loss(outputs["target_mask"], outputs["mask_class_ids"],
                                             outputs["mrcnn_mask"]),
    }


@keras.saving.register_keras_serializable(package="mrcnn")
class MaskRCNNTrainer(keras.Model):
    """Functional Mask R-CNN training graph with Matterport's losses in `train_step` / `test_step`.

    Build it like a functional model, `MaskRCNNTrainer(inputs, outputs, name=...)`, then call
    `set_loss_settings(loss_weights, weight_decay)` before `compile(optimizer=...)`. `fit` logs `loss` (the weighted
    sum plus weight decay) and the five losses by name.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_weights = {name: 1.0 for name in LOSS_NAMES}
        self.weight_decay = 0.0
        self._trackers = {name: keras.metrics.Mean(name=name) for name in ("loss",) + LOSS_NAMES}

    def set_loss_settings(self, loss_weights, weight_decay):
        """Set LOSS_WEIGHTS ({name: weight}) and WEIGHT_DECAY."""
        missing = set(LOSS_NAMES) - set(loss_weights)
        if missing:
            raise ValueError(f"loss_weights lacks {sorted(missing)}; need all of {list(LOSS_NAMES)}")
        self.loss_weights = {name: float(loss_weights[name]) for name in LOSS_NAMES}
        self.weight_decay = float(weight_decay)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def _total(self, losses):
        total = tf.add_n([self.loss_weights[n] * losses[n] for n in LOSS_NAMES])
        if self.weight_decay:
            total = total + L.weight_decay_loss(self.trainable_weights, self.weight_decay)
        return total

    def _update(self, losses, total):
        self._trackers["loss"].update_state(total)
        for name in LOSS_NAMES:
            self._trackers[name].update_state(losses[name])
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def train_step(self, data):
        inputs = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            outputs = self(inputs, training=True)
            losses = compute_losses(inputs, outputs)
            total = self._total(losses)
        variables = self.trainable_variables
        gradients = tape.gradient(total, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self._update(losses, total)

    def test_step(self, data):
        inputs = data[0] if isinstance(data, (tuple, list)) else data
        outputs = self(inputs, training=False)
        losses = compute_losses(inputs, outputs)
        return self._update(losses, self._total(losses))
