"""Folding the ROI axis into the batch axis, so per-ROI convolutions run as one batched convolution.

Matterport wrapped every per-ROI layer of the heads in `TimeDistributed`. In Keras 3, `TimeDistributed` loops over
the ROI axis in Python (one convolution call per ROI), which is very slow for 100..1000 ROIs. These two layers
replace it: `MergeRoiAxis` reshapes [B, R, ...] to [B * R, ...], the per-ROI layers (Conv2D, BatchNormalization,
Conv2DTranspose) run once on all crops, and `SplitRoiAxis` reshapes back to [B, R, ...], taking B and R from a
reference tensor at run time so R need not be known when the model is built. The result is the same as
`TimeDistributed` (batch norm statistics are over B * R crops in both).

`SplitRoiConv2D` is a `Conv2D` that also does `SplitRoiAxis`'s reshape: the last per-ROI convolution of a head, so
that the layer holding the weights (e.g. Matterport's `mrcnn_mask`) outputs Matterport's [B, R, ...] layout itself,
while everything before it runs on the merged crops.

Shape shorthand:
    B: batch, R: ROIs per image, ...: the per-ROI shape (e.g. pool, pool, channels)
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="mrcnn")
class MergeRoiAxis(keras.layers.Layer):
    """Merges the batch and ROI axes: [B, R, ...] -> [B * R, ...], image 0's ROIs first.

    Input: a tensor of rank >= 2, [B, R, ...] (e.g. pooled ROI features [B, R, pool, pool, C]).
    Output: [B * R, ...], row b * R + r holding ROI r of image b. The static B * R is known only when both B
    and R are; otherwise it is None. Takes no constructor arguments beyond the standard layer ones.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("autocast", False)  # a reshape: the dtype passes through (float32 crops, float32 masks)
        super().__init__(**kwargs)

    def call(self, inputs):
        shape = tf.shape(inputs)
        return tf.reshape(inputs, tf.concat([[-1], shape[2:]], axis=0))

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"MergeRoiAxis '{self.name}': input must have rank >= 2 ([B, R, ...]), "
                             f"got shape {tuple(input_shape)}")
        batch, rois = input_shape[0], input_shape[1]
        merged = batch * rois if batch is not None and rois is not None else None
        return (merged,) + tuple(input_shape[2:])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=inputs.dtype)

    def get_config(self):
        return super().get_config()


@keras.saving.register_keras_serializable(package="mrcnn")
class SplitRoiAxis(keras.layers.Layer):
    """Splits the merged axis back into batch and ROI axes: [B * R, ...] -> [B, R, ...].

    Inputs: [x, reference]
        x: [B * R, ...], the per-ROI results, row b * R + r for ROI r of image b (as `MergeRoiAxis` made them).
        reference: [B, R, ...], any tensor whose first two axes are the batch and ROI axes (typically the input
            of the matching `MergeRoiAxis`); only its dynamic shape is read.
    Output: [B, R, ...] with the per-ROI shape of x. Takes no constructor arguments beyond the standard layer ones.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("autocast", False)  # a reshape: the dtype passes through
        super().__init__(**kwargs)

    def call(self, inputs):
        x, reference = inputs
        batch_and_rois = tf.shape(reference)[:2]
        return tf.reshape(x, tf.concat([batch_and_rois, tf.shape(x)[1:]], axis=0))

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(f"SplitRoiAxis '{self.name}': expects two inputs [x, reference], got {input_shape}")
        x_shape, reference_shape = input_shape
        if len(reference_shape) < 2:
            raise ValueError(f"SplitRoiAxis '{self.name}': reference must have rank >= 2 ([B, R, ...]), "
                             f"got shape {tuple(reference_shape)}")
        return (reference_shape[0], reference_shape[1]) + tuple(x_shape[1:])

    def compute_output_spec(self, inputs):
        x, reference = inputs
        return keras.KerasTensor(self.compute_output_shape([x.shape, reference.shape]), dtype=x.dtype)

    def get_config(self):
        return super().get_config()


@keras.saving.register_keras_serializable(package="mrcnn")
class SplitRoiConv2D(keras.layers.Conv2D):
    """A `keras.layers.Conv2D` on merged crops whose output is split back into batch and ROI axes.

    Takes Conv2D's arguments (filters, kernel_size, strides, padding, activation, ...) and has Conv2D's weights
    (kernel [kh, kw, Ci, filters], bias [filters]) in Conv2D's order, so a Conv2D's weights load into it by name and
    back. It stands for Matterport's `TimeDistributed(Conv2D)`: same weights, same 5-D output.

    Inputs: [x, reference]
        x: [B * R, h, w, Ci], the merged crops (row b * R + r is ROI r of image b, as `MergeRoiAxis` made them).
        reference: [B, R, ...], whose first two axes give B and R (only its dynamic shape is read).
    Output: [B, R, h', w', filters], the convolution of each crop.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.input_spec = None  # two inputs; Conv2D's spec describes x only and is checked in build

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or \
                not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"SplitRoiConv2D '{self.name}': expects two inputs [x, reference], got {input_shape}")
        super().build(tuple(input_shape[0]))
        self.input_spec = None

    def call(self, inputs):
        x, reference = inputs
        y = super().call(x)
        batch_and_rois = tf.shape(reference)[:2]
        return tf.reshape(y, tf.concat([batch_and_rois, tf.shape(y)[1:]], axis=0))

    def compute_output_shape(self, input_shape):
        if input_shape and not isinstance(input_shape[0], (list, tuple)):  # x alone (Conv2D.build checks it)
            return super().compute_output_shape(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"SplitRoiConv2D '{self.name}': expects two inputs [x, reference], got {input_shape}")
        x_shape, reference_shape = input_shape
        if len(reference_shape) < 2:
            raise ValueError(f"SplitRoiConv2D '{self.name}': reference must have rank >= 2 ([B, R, ...]), "
                             f"got shape {tuple(reference_shape)}")
        per_roi = super().compute_output_shape(tuple(x_shape))[1:]
        return (reference_shape[0], reference_shape[1]) + tuple(per_roi)

    def compute_output_spec(self, inputs):
        x, reference = inputs
        return keras.KerasTensor(self.compute_output_shape([x.shape, reference.shape]), dtype=self.compute_dtype)

    def get_config(self):
        return super().get_config()  # Conv2D's arguments; nothing of its own
