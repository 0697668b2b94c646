"""Backbones from keras.applications, tapped at the last layer of each stage.

Shape shorthand: B: batch, H, W: image height and width.

Every builder takes `input_image` [B, H, W, 3] and returns [C2, C3, C4, C5] at strides 4, 8, 16, 32. The layers tapped
(keras.applications names) are:

    resnet50    conv2_block3_out   conv3_block4_out   conv4_block6_out    conv5_block3_out   (256/512/1024/2048 ch)
    resnet101   conv2_block3_out   conv3_block4_out   conv4_block23_out   conv5_block3_out
    resnet152   conv2_block3_out   conv3_block8_out   conv4_block36_out   conv5_block3_out

Weights are never downloaded here: builders create random weights (`weights=None`); ImageNet weights are loaded
afterwards from a local file by `MaskRCNN.load_weights`.
"""

import keras

from mrcnn.backbones.registry import register_backbone

RESNET_STAGES = {s: rf"conv{s}\_.*" for s in (2, 3, 4, 5)}


def _tap(model, names):
    return [model.get_layer(name).output for name in names]


def _resnet(constructor, c3, c4):
    def build(input_image, train_bn=None):
        model = constructor(include_top=False, weights=None, input_tensor=input_image)
        return _tap(model, ["conv2_block3_out", c3, c4, "conv5_block3_out"])
    return build


register_backbone("resnet50", _resnet(keras.applications.ResNet50, "conv3_block4_out", "conv4_block6_out"),
                  RESNET_STAGES, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
register_backbone("resnet101", _resnet(keras.applications.ResNet101, "conv3_block4_out", "conv4_block23_out"),
                  RESNET_STAGES, "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5")
register_backbone("resnet152", _resnet(keras.applications.ResNet152, "conv3_block8_out", "conv4_block36_out"),
                  RESNET_STAGES, "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5")
