"""ResNeXt-50 (32x4d), written here because keras.applications has none (Xie et al. 2017, "Aggregated Residual
Transformations for Deep Neural Networks").

Shape shorthand: B: batch, H, W: image height and width, Ci: input channels, Co: output channels, G: groups.

Architecture: ResNet-50's stem and stage layout (3, 4, 6, 3 blocks) with ResNeXt bottlenecks: 1x1 conv to width w,
3x3 grouped conv (32 groups of w/32 channels, stride 2 in the first block of stages 3-5, as in the paper), 1x1 conv
to 2w; w = 128, 256, 512, 1024 per stage, so C2..C5 have 256, 512, 1024, 2048 channels. Convolutions have no bias;
batch norm follows each (epsilon 1.001e-5, as keras.applications' ResNets).

Layer names follow keras.applications' ResNets, so the stage regexes `conv{s}_*` and the preset meaning are shared:
stem `conv1_pad, conv1_conv, conv1_bn, conv1_relu, pool1_pad, pool1_pool`; block `conv{s}_block{i}_{0..3}_{conv,bn}`
(0 = projection shortcut), `conv{s}_block{i}_2_pad`, `_add`, `_out`. Taps: conv2_block3_out, conv3_block4_out,
conv4_block6_out, conv5_block3_out. No ImageNet weights exist in keras.applications, so no preprocessing is declared:
the backbone sees the molded image (RGB minus MEAN_PIXEL).
"""

import keras
import tensorflow as tf

from mrcnn.backbones.registry import register_backbone

STAGES = {s: rf"conv{s}\_.*" for s in (2, 3, 4, 5)}
TAPS = ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out")
CARDINALITY = 32
BLOCKS = (3, 4, 6, 3)
WIDTHS = (128, 256, 512, 1024)
BN_EPSILON = 1.001e-5


def _conv_output_length(length, kernel, stride, padding):
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1


@keras.saving.register_keras_serializable(package="mrcnn")
class GroupedConv2D(keras.layers.Layer):
    """A 2-D convolution in `groups` independent channel groups (ResNeXt's cardinality).

    Same weights as `keras.layers.Conv2D(filters, kernel_size, groups=groups)`: kernel
    [kh, kw, Ci / G, Co], output channels g * Co / G ... (g + 1) * Co / G computed from input channels
    g * Ci / G ... (g + 1) * Ci / G. It runs as G ordinary convolutions on channel slices: TensorFlow's grouped
    convolution needs XLA on the CPU, where a training step of one such layer took 10+ s against 0.15 s here.

    Args:
        filters: Co, output channels (a multiple of groups).
        kernel_size: int or (kh, kw).
        groups: G; the input channels Ci must be a multiple of it.
        strides: int or (sh, sw).
        padding: "valid" or "same" (TensorFlow's SAME).
        use_bias: add a bias [Co].
        kernel_initializer: a Keras initializer (name or object).
    Input [B, H, W, Ci]; output [B, H', W', Co].
    """

    def __init__(self, filters, kernel_size, groups, strides=1, padding="valid", use_bias=False,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        pair = (lambda v: (int(v), int(v)) if isinstance(v, int) else tuple(int(x) for x in v))
        if padding not in ("valid", "same"):
            raise ValueError(f"GroupedConv2D: padding={padding!r}; valid values are 'valid' and 'same'")
        if groups < 1 or filters % groups:
            raise ValueError(f"GroupedConv2D: filters={filters} must be a positive multiple of groups={groups}")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size)
        self.groups = int(groups)
        self.strides = pair(strides)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(f"GroupedConv2D {self.name!r}: input channels {channels} must be a multiple of "
                             f"groups={self.groups}")
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (channels // self.groups, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None

    def call(self, inputs):
        kernel = tf.cast(self.kernel, inputs.dtype)
        strides = (1,) + self.strides + (1,)
        padding = self.padding.upper()
        outputs = [tf.nn.conv2d(x, k, strides, padding)
                   for x, k in zip(tf.split(inputs, self.groups, axis=-1), tf.split(kernel, self.groups, axis=-1))]
        outputs = tf.concat(outputs, axis=-1)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, outputs.dtype))
        return outputs

    def compute_output_shape(self, input_shape):
        rows = _conv_output_length(input_shape[1], self.kernel_size[0], self.strides[0], self.padding)
        cols = _conv_output_length(input_shape[2], self.kernel_size[1], self.strides[1], self.padding)
        return (input_shape[0], rows, cols, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": list(self.kernel_size), "groups": self.groups,
                       "strides": list(self.strides), "padding": self.padding, "use_bias": self.use_bias,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


def _conv_bn(x, filters, kernel, strides, name, relu=True):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def resnext_block(x, width, stride, projection, name, groups=CARDINALITY):
    """One ResNeXt bottleneck: [B, H, W, Ci] -> [B, H / stride, W / stride, 2 * width]."""
    if projection:
        shortcut = _conv_bn(x, 2 * width, 1, stride, f"{name}_0", relu=False)
    else:
        shortcut = x
    x = _conv_bn(x, width, 1, 1, f"{name}_1")
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_2_pad")(x)
    x = GroupedConv2D(width, 3, groups, strides=stride, name=f"{name}_2_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = _conv_bn(x, 2 * width, 1, 1, f"{name}_3", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def build_resnext50(input_image, train_bn=None, blocks=BLOCKS, widths=WIDTHS, groups=CARDINALITY):
    """[C2, C3, C4, C5] of ResNeXt-50 (32x4d) for `input_image` [B, H, W, C]: [B, H/4, W/4, 256] ...
    [B, H/32, W/32, 2048]. `blocks`, `widths` and `groups` allow smaller variants (tests)."""
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(input_image)
    x = _conv_bn(x, 64, 7, 2, "conv1")
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    outputs = []
    for stage, (count, width) in enumerate(zip(blocks, widths), start=2):
        for i in range(count):
            stride = 2 if (i == 0 and stage > 2) else 1
            x = resnext_block(x, width, stride, projection=(i == 0), name=f"conv{stage}_block{i + 1}", groups=groups)
        outputs.append(x)
    return outputs


register_backbone("resnext50", build_resnext50, STAGES, taps=TAPS)
