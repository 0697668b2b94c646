"""Recomputation ("gradient checkpointing"): a sub-model whose activations are recomputed in the backward pass.

Shape shorthand: whatever the wrapped sub-model takes and gives (a backbone segment: [B, h, w, C] in and out).

Training keeps every activation a gradient needs until the backward pass reaches it; for a ResNet50 backbone at
512 px, batch 2, that is about half a gigabyte. `RecomputeModel` keeps only its sub-model's input: the forward pass
runs as usual and forgets its intermediates, and the gradient function runs the sub-model forward again (under a
gradient tape) once its output gradient has arrived, then differentiates that. Cut into consecutive segments (one per
residual block, see mrcnn/backbones/segments.py), the backbone then holds its block outputs plus one block's
intermediates at a time, for one more forward pass of compute.

The second forward pass must compute the same function: the batch-norm layers (mrcnn/layers/batch_norm.py) use the
same batch statistics but must not move their moving statistics twice, so the recomputation runs under
`batch_norm.statistics_frozen()`. Layers with other side effects, or randomness (dropout), are not supported; the
registered backbones have none.

In inference (training false) the sub-model is simply called. A `SubModel` (mrcnn/layers/sub_model.py): its layers
are reachable as nested layers, for weight loading by name, set_trainable and TRAIN_BN.
"""

import keras
import tensorflow as tf

from mrcnn.layers.batch_norm import statistics_frozen
from mrcnn.layers.sub_model import SubModel


@keras.saving.register_keras_serializable(package="mrcnn")
class RecomputeModel(SubModel):
    """Calls `model` (a built functional keras.Model, one input and one output) and recomputes it for its gradient.

    Args:
        model: the sub-model; its input and output are this layer's.
    """

    def __init__(self, model, **kwargs):
        super().__init__(model, **kwargs)
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(f"RecomputeModel '{self.name}': the sub-model must have one input and one output, got "
                             f"{len(model.inputs)} and {len(model.outputs)}")

    def call(self, inputs, training=None):
        if not training:
            return self.model(inputs, training=training)
        model = self.model

        @tf.custom_gradient
        def forward(x):
            y = model(x, training=True)

            def backward(dy, variables=None):
                # Only once dy exists: without the dependency the graph could run the recomputation during the forward
                # pass, when its input is ready, and keep its activations after all.
                with tf.control_dependencies([dy]):
                    x_again = tf.identity(x)
                with tf.GradientTape() as tape:
                    tape.watch(x_again)
                    with statistics_frozen():
                        y_again = model(x_again, training=True)
                variables = list(variables or [])
                grads = tape.gradient(y_again, [x_again] + variables, output_gradients=dy,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
                return grads[0], grads[1:]
            return y, backward
        return forward(inputs)
