"""`tiny`, `small` and `small_gn`: small ResNet-like backbones for tests and CPU training (not from the paper).

Shape shorthand: B: batch, H, W: image height and width.

Stem: a 3x3 stride-2 conv (`<name>_stem_*`). Stages 2..5: each a stride-2 3x3 conv, a normalization and relu, then
a residual 3x3 conv. Outputs C2..C5 at strides 4, 8, 16, 32 with the stage widths as channels:

    tiny    16, 32, 64, 128     about 0.3 M weights; for tests and one-minute demos
    small   32, 64, 128, 256    about 1.2 M weights; the CPU recipe for PBC (samples/pbc/README.md): pretrained as a
                                classifier at 192 px it reaches 0.97 validation accuracy in about 10 minutes on 2 cores
    small_gn                    `small` with group norm (8 groups) in place of batch norm: no statistics learnt from
                                one lab's images to freeze (docs/other_labs.md), so no `adapt` and no familiarity flag

The normalization is batch norm (`<name>_..._bn`) or, for `small_gn`, group norm (`<name>_..._gn`).

Their stage layers are named `<name>_c{stage}_*`, so a file of one never loads into the other by mistake.
"""

import functools

import keras

from mrcnn.backbones.registry import register_backbone

WIDTHS = (16, 32, 64, 128)
SMALL_WIDTHS = (32, 64, 128, 256)
GROUPS = 8  # of group norm; every width above divides by it
NORMS = ("batch", "group")


def _conv_norm_relu(x, filters, strides, name, norm):
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    if norm == "group":
        x = keras.layers.GroupNormalization(GROUPS, name=f"{name}_gn")(x)
    else:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def build_tiny(input_image, train_bn=None, widths=WIDTHS, name="tiny", norm="batch"):
    """[C2, C3, C4, C5] of the tiny backbone (stage widths `widths`, layers named `name`_..., normalization `norm`:
    one of NORMS) for `input_image` [B, H, W, C]."""
    if norm not in NORMS:
        raise ValueError(f"backbone {name!r}: norm={norm!r}; valid: {NORMS}")
    x = _conv_norm_relu(input_image, widths[0] // 2, 2, f"{name}_stem", norm)
    outputs = []
    for stage, width in zip((2, 3, 4, 5), widths):
        x = _conv_norm_relu(x, width, 2, f"{name}_c{stage}_a", norm)
        y = _conv_norm_relu(x, width, 1, f"{name}_c{stage}_b", norm)
        x = keras.layers.Add(name=f"{name}_c{stage}_add")([x, y])
        outputs.append(x)
    return outputs


def _stages(name):
    return {s: rf"{name}\_c{s}\_.*" for s in (2, 3, 4, 5)}


register_backbone("tiny", build_tiny, _stages("tiny"))
build_small = functools.update_wrapper(functools.partial(build_tiny, widths=SMALL_WIDTHS, name="small"), build_tiny)
register_backbone("small", build_small, _stages("small"))
build_small_gn = functools.update_wrapper(
    functools.partial(build_tiny, widths=SMALL_WIDTHS, name="small_gn", norm="group"), build_tiny)
register_backbone("small_gn", build_small_gn, _stages("small_gn"))
