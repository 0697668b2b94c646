"""Batch normalization through TensorFlow's fused kernel, for every batch-norm layer of the model.

Shape shorthand: N: crops or images, H, W: feature-map size, C: channels.

Keras 3's BatchNormalization is not fused. In training it casts a 16-bit input to float32, computes the moments,
normalizes and casts back, each a pass over the activation, and as many again in the backward pass; TensorFlow's
graph optimizer then keeps the float32 copy alive until the backward pass. On this project's CPU (ResNet50 backbone,
512 px, batch 2, bfloat16) that made a training step 1.6 times slower than with the fused kernel, and held about
220 MB more.

`BatchNorm` computes the same function with the fused kernel (`FusedBatchNormV3`: oneDNN's on CPUs, cuDNN's on
GPUs): a 16-bit activation goes in as it is and the statistics are float32 inside the kernel. Its weights, their
names and order, its arguments and its `get_config` are those of `keras.layers.BatchNormalization`, so weight files,
layer regexes and TRAIN_BN's freezing do not change. Training with batch statistics (training=True on a trainable
layer) takes the fused path. A frozen layer, or any layer in inference, normalizes with the moving statistics
through Keras' own code (its gradient keeps no activation alive), except in a model that only runs forward
(`use_fused_batch_norm(model, inference=True)`, MaskRCNN's inference model), where the fused kernel lets the graph
optimizer fold the normalization into the convolution before it. The cases the kernel does not cover (inputs other
than [N, H, W, C] normalized over C, masks, renormalization, synchronized statistics) always run Keras' code.

In training it normalizes with the batch mean and the biased batch variance, and moves `moving_mean` and
`moving_variance` towards the mean and the *biased* variance by `momentum`, exactly as Keras does (the kernel itself
reports the Bessel-corrected variance, which is converted back). One difference, on purpose: an empty batch leaves
the moving statistics as they are, where Keras' layer turns them into NaN.

`use_fused_batch_norm(model)` switches the plain `keras.layers.BatchNormalization` layers of a built model,
keras.applications backbones and user backbones included, to this class in place.
"""

import contextlib
import threading

import keras
import tensorflow as tf

from mrcnn.weights_io import all_layers

# Activation dtypes the fused kernel takes directly (its statistics, scale and offset are float32 in every case).
FUSED_DTYPES = (tf.float32, tf.bfloat16, tf.float16)

_FROZEN = threading.local()


@contextlib.contextmanager
def statistics_frozen():
    """Within it, `BatchNorm` layers called in training still normalize with the batch statistics but leave their
    moving statistics alone: for the second forward pass of a recomputed segment (mrcnn/layers/recompute.py), which
    would otherwise move them twice per step. It acts while the graph is traced."""
    before = getattr(_FROZEN, "on", False)
    _FROZEN.on = True
    try:
        yield
    finally:
        _FROZEN.on = before


@keras.saving.register_keras_serializable(package="mrcnn")
class BatchNorm(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` (same arguments, weights and semantics) trained through the fused kernel.

    Input and output: [N, H, W, C], normalized over C (axis -1 or 3); other inputs run Keras' computation.
    Output dtype: the layer's compute dtype (bfloat16 under "mixed_bfloat16"), as Keras' layer.
    Takes exactly the arguments of `keras.layers.BatchNormalization`; `get_config` is its.
    """

    def _fusable(self, inputs, mask):
        return (mask is None and not self.renorm and not self.synchronized and len(inputs.shape) == 4
                and self.axis in (-1, 3))

    # Set by `use_fused_batch_norm(model, inference=True)` on models that only run forward (MaskRCNN's inference
    # model): there the moving statistics also go through the fused kernel, which TensorFlow's graph optimizer folds
    # into the convolution before it (oneDNN's fused Conv2D + batch norm + ReLU): 10 % off a 512 px detection here.
    # Never in a training graph: the kernel's gradient keeps its input alive (+400 MB in a frozen-BN training step),
    # where Keras' multiply-add keeps nothing.
    inference_kernel = False

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        if not (training and self.trainable):
            if self.inference_kernel and inputs.dtype in FUSED_DTYPES:
                return self._normalize_with_moving_statistics(inputs)
            return super().call(inputs, training=training, mask=mask)
        x = inputs if inputs.dtype in FUSED_DTYPES else tf.cast(inputs, tf.float32)
        gamma, beta = self._gamma_beta(tf.shape(x)[-1:])
        y, mean, corrected = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon,
                                                                 is_training=True)[:3]
        # Keras moves the statistics towards the biased variance; the kernel reports the Bessel-corrected one. An
        # empty batch (no crops) has no statistics: the moving ones stay as they are (Keras' layer would make them NaN).
        count = tf.cast(tf.size(x, out_type=tf.int64) // tf.cast(tf.shape(x)[-1], tf.int64), tf.float32)
        variance = corrected * (tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0))
        keep = tf.where(count > 0.0, self.momentum, 1.0)
        mean = tf.where(count > 0.0, tf.stop_gradient(mean), 0.0)
        variance = tf.where(count > 0.0, tf.stop_gradient(variance), 0.0)
        if not getattr(_FROZEN, "on", False):
            self.moving_mean.assign(self.moving_mean * keep + mean * (1.0 - keep))
            self.moving_variance.assign(self.moving_variance * keep + variance * (1.0 - keep))
        return tf.cast(y, self.compute_dtype)

    def _gamma_beta(self, channels):
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones(channels, tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros(channels, tf.float32)
        return gamma, beta

    def _normalize_with_moving_statistics(self, x):
        gamma, beta = self._gamma_beta(tf.shape(x)[-1:])
        y = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, mean=tf.cast(self.moving_mean, tf.float32),
                                             variance=tf.cast(self.moving_variance, tf.float32),
                                             epsilon=self.epsilon, is_training=False)[0]
        return tf.cast(y, self.compute_dtype)


def use_fused_batch_norm(model, inference=False):
    """Switch every plain `keras.layers.BatchNormalization` of `model` (nested models included) to `BatchNorm`.

    The layers keep their names, weights, settings and place in the graph; only their class changes, to a subclass
    without state of its own. Subclasses of BatchNormalization other than Keras' own are left alone. With
    `inference=True` (for a model that is only run forward) every `BatchNorm` of the model, switched now or before,
    also normalizes with its moving statistics through the fused kernel (`BatchNorm.inference_kernel`). Returns the
    number of layers switched.
    """
    switched = 0
    for layer in all_layers(model):
        if type(layer) is keras.layers.BatchNormalization:
            layer.__class__ = BatchNorm
            switched += 1
        if inference and isinstance(layer, BatchNorm):
            layer.inference_kernel = True
    return switched
