"""Batch normalization through TensorFlow's fused kernel, for the backbones' and heads' batch-norm layers.

Shape shorthand: B: batch, H, W: feature map size, C: channels.

Keras 3's BatchNormalization is not fused: it casts a 16-bit input to float32, computes the moments, normalizes and
casts back, each a pass over the activation (and as many in the backward pass). On this project's CPU that made a
ResNet50 training step at 512 px about 1.5 times slower in bfloat16 and kept float32 copies of every activation.
`FusedBatchNormalization` computes the same function with `tf.nn.fused_batch_norm` (oneDNN's kernel on CPUs,
cuDNN's on GPUs): bfloat16 activations go in directly on the CPU, statistics stay float32. Its weights, their names
and its configuration are those of `keras.layers.BatchNormalization`, so weight files and layer regexes do not
change. Cases the fused kernel does not cover (inputs that are not [B, H, W, C] normalized over C, masks,
renormalization, synchronized statistics) run Keras' own code.

`use_fused_batch_norm(model)` switches every `keras.layers.BatchNormalization` of a built model, keras.applications
backbones included, to this class.
"""

import keras
import tensorflow as tf

from mrcnn.weights_io import all_layers


@keras.saving.register_keras_serializable(package="mrcnn")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` (same arguments, weights and semantics) computed by the fused kernel.

    Input and output [B, H, W, C] normalized over C (axis -1 or 3); other inputs fall back to Keras' computation.
    In training (training=True and the layer trainable) it normalizes with the batch's mean and biased variance and
    moves `moving_mean` / `moving_variance` towards them by `momentum`, as Keras does; frozen or in inference it runs
    Keras' own code (the moving statistics: a multiply-add per channel). 16-bit inputs: bfloat16 goes to the kernel as is on a machine without GPUs, anything else is
    normalized in float32; the output has the layer's compute dtype.
    """

    def _fusable(self, inputs, mask):
        axis = self.axis if isinstance(self.axis, int) else (self.axis[0] if len(self.axis) == 1 else None)
        return (mask is None and not self.renorm and not self.synchronized and len(inputs.shape) == 4
                and axis in (-1, 3))

    def call(self, inputs, training=None, mask=None):
        # Frozen or inference batch norm is a per-channel multiply-add, which Keras' code does as fast; the fused
        # kernel is used where it pays, for the batch statistics and their gradients in training.
        if not (training and self.trainable) or not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        x = inputs
        if not (x.dtype == tf.float32 or (x.dtype == tf.bfloat16 and not tf.config.list_physical_devices("GPU"))):
            x = tf.cast(x, tf.float32)
        channels = tf.shape(x)[-1:]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones(channels, tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros(channels, tf.float32)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon, is_training=True)
        # The kernel returns the Bessel-corrected variance; Keras' moving variance follows the biased one.
        count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(y, self.compute_dtype)


def use_fused_batch_norm(model):
    """Switch every `keras.layers.BatchNormalization` of `model` (nested models included) to the fused computation.

    The layers keep their names, weights, settings and place in the graph; only the class changes, to
    `FusedBatchNormalization`, a subclass without state of its own. Returns the number of layers switched.
    """
    switched = 0
    for layer in all_layers(model):
        if type(layer) is keras.layers.BatchNormalization:
            layer.__class__ = FusedBatchNormalization
            switched += 1
    return switched
