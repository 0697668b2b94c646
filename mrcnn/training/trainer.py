"""The Keras model that trains Mask R-CNN: the functional graph plus a `train_step` that computes the five losses.

Shape shorthand: see mrcnn/graph.py (B: batch, A: anchors, R: ROIs, NC: classes); n: replicas in sync.

Matterport attached its losses with `add_loss` on symbolic tensors, which Keras 3 removed. Here the graph outputs the
predictions and the targets (the DetectionTargetLayer's output), and `compute_losses` turns them into the five
losses; `train_step` adds LOSS_WEIGHTS and Matterport's weight decay, and the `keras.metrics.Mean` trackers make `fit`
log `loss`, each of the five losses and their `val_` twins.

Under a tf.distribute strategy each of the n replicas sees B / n images. Every loss is a mean over the whole batch
(`sum / count`, mrcnn/heads/losses.py), so a replica divides its own sum by the count of all replicas together and
adds 1/n of the weight decay: the replicas' totals then add up to the total of the whole batch, and the optimizer,
which sums the replicas' gradients, applies the gradient of the whole batch (`distribute.global_gradients` keeps
gradient clipping on the summed gradient). The logged values are summed over the replicas, so `fit` logs the losses
of the whole batch. With one replica none of this runs and the step is the plain one.
"""

import keras
import tensorflow as tf

from mrcnn.config import LOSS_NAMES
from mrcnn.data.image_meta import parse_image_meta_graph
from mrcnn.heads import losses as L
from mrcnn.training import distribute


def compute_loss_terms(inputs, outputs):
    """{loss name: (sum, count) float32 scalars} for one batch (the loss is sum / count); `inputs` and `outputs` are
    the dicts of mrcnn.graph."""
    active_class_ids = parse_image_meta_graph(inputs["input_image_meta"])["active_class_ids"]
    return {
        "rpn_class_loss": L.rpn_class_loss_terms(inputs["input_rpn_match"], outputs["rpn_class_logits"]),
        "rpn_bbox_loss": L.rpn_bbox_loss_terms(inputs["input_rpn_bbox"], inputs["input_rpn_match"],
                                               outputs["rpn_bbox"]),
        "mrcnn_class_loss": L.mrcnn_class_loss_terms(outputs["target_class_ids"], outputs["mrcnn_class_logits"],
                                                     active_class_ids),
        "mrcnn_bbox_loss": L.mrcnn_bbox_loss_terms(outputs["target_bbox"], outputs["target_class_ids"],
                                                   outputs["mrcnn_bbox"]),
        "mrcnn_mask_loss": L.mrcnn_mask_loss_terms(outputs["target_mask"], outputs["mask_class_ids"],
                                                   outputs["mrcnn_mask"]),
    }


def compute_losses(inputs, outputs):
    """{loss name: float32 scalar} for one batch; `inputs` and `outputs` are the dicts of mrcnn.graph."""
    return {name: L.ratio(terms) for name, terms in compute_loss_terms(inputs, outputs).items()}


def replica_losses(inputs, outputs):
    """{loss name: float32 scalar}: this replica's share of each loss of the global batch, its own sum divided by the
    count of all replicas (all-reduced), so that the shares add up to the loss of the whole batch. With one replica
    these are `compute_losses`."""
    terms = compute_loss_terms(inputs, outputs)
    if distribute.replicas_in_sync() > 1:
        counts = distribute.sum_over_replicas([tf.stop_gradient(terms[name][1]) for name in LOSS_NAMES])
        terms = {name: (terms[name][0], count) for name, count in zip(LOSS_NAMES, counts)}
    return {name: L.ratio(pair) for name, pair in terms.items()}


@keras.saving.register_keras_serializable(package="mrcnn")
class MaskRCNNTrainer(keras.Model):
    """Functional Mask R-CNN training graph with Matterport's losses in `train_step` / `test_step`.

    Build it like a functional model, `MaskRCNNTrainer(inputs, outputs, name=...)`, then call
    `set_loss_settings(loss_weights, weight_decay)` before `compile(optimizer=...)`. `fit` logs `loss` (the weighted
    sum plus weight decay) and the five losses by name. Under a tf.distribute strategy (build and compile it inside
    `strategy.scope()`) the losses, the logged values and the update are those of the whole global batch.
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

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15's TensorFlow trainer, under a strategy, first averages a distributed batch across the replicas
        # to trace an unbuilt model: that fails on boolean inputs ("input_gt_masks") and, under
        # MultiWorkerMirroredStrategy, on any dict of inputs (keras-team/keras#20329). Our functional graph is built
        # when it is constructed, so only the optimizer is left to build, under the strategy as Keras would.
        if not distribute.is_distributed(self.distribute_strategy):
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        if self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)
        return None

    def _decay(self):
        """Matterport's weight decay of the trainable weights, or None when WEIGHT_DECAY is 0."""
        if not self.weight_decay:
            return None
        return L.weight_decay_loss(self.trainable_weights, self.weight_decay)

    def _total(self, losses, decay, share=1):
        """Weighted sum of the losses plus `share` of the weight decay."""
        total = tf.add_n([self.loss_weights[n] * losses[n] for n in LOSS_NAMES])
        if decay is not None:
            total = total + decay * share
        return total

    def _update(self, losses, total):
        self._trackers["loss"].update_state(total)
        for name in LOSS_NAMES:
            self._trackers[name].update_state(losses[name])
        results = {name: tracker.result() for name, tracker in self._trackers.items()}
        if distribute.is_multi_worker(self.distribute_strategy):
            # Keras 3.15 averages each logged value over the workers with strategy.reduce("MEAN", value, axis=0),
            # which fails on scalars (tensorflow/tensorflow#72388): give them an axis. The values are the same on
            # every replica (the trackers see the losses of the whole batch), so their mean is the value.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def _logged(self, losses, decay):
        """(losses, total) of the whole batch from this replica's shares (the shares themselves with one replica)."""
        if distribute.replicas_in_sync() > 1:
            summed = distribute.sum_over_replicas([losses[n] for n in LOSS_NAMES])
            losses = dict(zip(LOSS_NAMES, summed))
        return losses, self._total(losses, decay)

    def train_step(self, data):
        inputs = data[0] if isinstance(data, (tuple, list)) else data
        replicas = distribute.replicas_in_sync()
        with tf.GradientTape() as tape:
            outputs = self(inputs, training=True)
            losses = replica_losses(inputs, outputs)
            scaled = self.optimizer.scale_loss(self._total(losses, None))
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        # The weight decay's gradient is added per variable once that variable's gradient exists (see
        # losses.add_weight_decay_gradients): the same update, 0.36 GB less at the peak of a ResNet50-FPN step.
        gradients = L.add_weight_decay_gradients(gradients, variables, self.weight_decay,
                                                 scale=self.optimizer.scale_loss(1.0 / replicas))
        decay = self._decay()
        total = self._total(losses, decay, share=1 / replicas)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        gradients = distribute.global_gradients(self.optimizer, [g for g, _ in pairs])
        self.optimizer.apply(gradients, [v for _, v in pairs])
        if replicas == 1:
            return self._update(losses, total)
        return self._update(*self._logged(losses, decay))

    def test_step(self, data):
        inputs = data[0] if isinstance(data, (tuple, list)) else data
        outputs = self(inputs, training=False)
        return self._update(*self._logged(replica_losses(inputs, outputs), self._decay()))
