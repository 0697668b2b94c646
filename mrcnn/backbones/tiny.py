"""`tiny` and `small`: small ResNet-like backbones for tests and CPU training (not from the paper).

Shape shorthand: B: batch, H, W: image height and width.

Stem: a 3x3 stride-2 conv (`<name>_stem_*`). Stages 2..5: each a stride-2 3x3 conv, batch norm and relu, then a
residual 3x3 conv. Outputs C2..C5 at strides 4, 8, 16, 32 with the stage widths as channels:

    tiny    16, 32, 64, 128     about 0.3 M weights; for tests and one-minute demos
    small   32, 64, 128, 256    about 1.2 M weights; the CPU recipe for PBC (samples/pbc/README.md): pretrained as a
                                classifier at 192 px it reaches 0.97 validation accuracy in about 10 minutes on 2 cores

Their stage layers are named `<name>_c{stage}_*`, so a file of one never loads into the other by mistake.
"""

import functools

import keras

from mrcnn.backbones.registry import register_backbone

WIDTHS = (16, 32, 64, 128)
SMALL_WIDTHS = (32, 64, 128, 256)


def _conv_bn_relu(x, filters, strides, name):
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def build_tiny(input_image, train_bn=None, widths=WIDTHS, name="tiny"):
    """[C2, C3, C4, C5] of the tiny backbone (stage widths `widths`, layers named `name`_...) for `input_image`
    [B, H, W, C]."""
    x = _conv_bn_relu(input_image, widths[0] // 2, 2, f"{name}_stem")
    outputs = []
    for stage, width in zip((2, 3, 4, 5), widths):
        x = _conv_bn_relu(x, width, 2, f"{name}_c{stage}_a")
        y = _conv_bn_relu(x, width, 1, f"{name}_c{stage}_b")
        x = keras.layers.Add(name=f"{name}_c{stage}_add")([x, y])
        outputs.append(x)
    return outputs


def _stages(name):
    return {s: rf"{name}\_c{s}\_.*" for s in (2, 3, 4, 5)}


register_backbone("tiny", build_tiny, _stages("tiny"))
build_small = functools.update_wrapper(functools.partial(build_tiny, widths=SMALL_WIDTHS, name="small"), build_tiny)
register_backbone("small", build_small, _stages("small"))
