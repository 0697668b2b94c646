"""`tiny`: a small ResNet-like backbone for tests and quick CPU demos (not from the paper).

Shape shorthand: B: batch, H, W: image height and width.

Stem: a 3x3 stride-2 conv (tiny_stem_*). Stages 2..5: each a stride-2 3x3 conv, batch norm and relu, then a residual
3x3 conv; widths 16, 32, 64, 128 by default. Outputs C2..C5 [B, H/4, W/4, 16] ... [B, H/32, W/32, 128]. Its stage
layers are named `tiny_c{stage}_*`.
"""

import keras

from mrcnn.backbones.registry import register_backbone

WIDTHS = (16, 32, 64, 128)


def _conv_bn_relu(x, filters, strides, name):
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def build_tiny(input_image, train_bn=None, widths=WIDTHS):
    """[C2, C3, C4, C5] of the tiny backbone for `input_image` [B, H, W, C]."""
    x = _conv_bn_relu(input_image, widths[0] // 2, 2, "tiny_stem")
    outputs = []
    for stage, width in zip((2, 3, 4, 5), widths):
        x = _conv_bn_relu(x, width, 2, f"tiny_c{stage}_a")
        y = _conv_bn_relu(x, width, 1, f"tiny_c{stage}_b")
        x = keras.layers.Add(name=f"tiny_c{stage}_add")([x, y])
        outputs.append(x)
    return outputs


register_backbone("tiny", build_tiny, {s: rf"tiny\_c{s}\_.*" for s in (2, 3, 4, 5)})
