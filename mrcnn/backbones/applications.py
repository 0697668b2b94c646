"""Backbones built from keras.applications: ResNet50/101/152, VGG19, DenseNet121/169.

Shape shorthand: B: batch, H, W: image height and width.

Every builder takes the (preprocessed) image [B, H, W, 3] and returns [C2, C3, C4, C5] at strides 4, 8, 16, 32: the
output of the last layer of each stage (stage s = the layers computing Cs from C(s-1); the stem is before C2's stage).

    backbone     C2 (stride 4)          C3 (8)                C4 (16)                C5 (32)           channels
    resnet50     conv2_block3_out       conv3_block4_out      conv4_block6_out       conv5_block3_out  256/512/1024/2048
    resnet101    conv2_block3_out       conv3_block4_out      conv4_block23_out      conv5_block3_out  256/512/1024/2048
    resnet152    conv2_block3_out       conv3_block8_out      conv4_block36_out      conv5_block3_out  256/512/1024/2048
    vgg19        block2_pool            block3_pool           block4_pool            block5_pool       128/256/512/512
    densenet121  conv2_block6_concat    conv3_block12_concat  conv4_block24_concat   relu              256/512/1024/1024
    densenet169  conv2_block6_concat    conv3_block12_concat  conv4_block32_concat   relu              256/512/1280/1664

Stages (regexes over keras.applications' layer names):

    resnet*      stem conv1_*, pool1_*    stage s: conv{s}_*
    vgg19        stem block1_*            stage s: block{s}_*  (block s ends with the pool to stride 2^s)
    densenet*    stem conv1_*, pool1      stage 2: conv2_*; stage s > 2: pool{s-1}_* (the transition) and conv{s}_*;
                                          stage 5 also the final `bn` and `relu`

Builders create random weights (`weights=None`); ImageNet weights are loaded afterwards from a file (the Keras
cache, downloaded when missing: download.py) by `mrcnn.backbones.pretrained.load_imagenet_weights`, through the same
keras.applications constructor. Each declares
keras.applications' preprocessing mode ("caffe" for ResNet and VGG, "torch" for DenseNet), applied by the
"backbone_preprocess" layer (see preprocess.py).
"""

import keras

from mrcnn.backbones.registry import register_backbone

RESNET_STAGES = {s: rf"conv{s}\_.*" for s in (2, 3, 4, 5)}
VGG_STAGES = {s: rf"block{s}\_.*" for s in (2, 3, 4, 5)}
DENSENET_STAGES = {
    2: r"conv2\_.*",
    3: r"(pool2\_.*)|(conv3\_.*)",
    4: r"(pool3\_.*)|(conv4\_.*)",
    5: r"(pool4\_.*)|(conv5\_.*)|(bn)|(relu)",
}


def application_builder(constructor, taps):
    """A `build(input_image, train_bn=None)` that builds `constructor` on the image and returns the `taps` outputs."""
    def build(input_image, train_bn=None):
        model = constructor(include_top=False, weights=None, input_tensor=input_image)
        return [model.get_layer(name).output for name in taps]
    build.__name__ = f"build_{constructor.__name__.lower()}"
    return build


def _register(name, constructor, taps, stage_regexes, preprocessing):
    register_backbone(name, application_builder(constructor, taps), stage_regexes,
                      imagenet_weights=f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      preprocessing=preprocessing, application=constructor, taps=taps)


_register("resnet50", keras.applications.ResNet50,
          ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"), RESNET_STAGES, "caffe")
_register("resnet101", keras.applications.ResNet101,
          ("conv2_block3_out", "conv3_block4_out", "conv4_block23_out", "conv5_block3_out"), RESNET_STAGES, "caffe")
_register("resnet152", keras.applications.ResNet152,
          ("conv2_block3_out", "conv3_block8_out", "conv4_block36_out", "conv5_block3_out"), RESNET_STAGES, "caffe")
_register("vgg19", keras.applications.VGG19,
          ("block2_pool", "block3_pool", "block4_pool", "block5_pool"), VGG_STAGES, "caffe")
_register("densenet121", keras.applications.DenseNet121,
          ("conv2_block6_concat", "conv3_block12_concat", "conv4_block24_concat", "relu"), DENSENET_STAGES, "torch")
_register("densenet169", keras.applications.DenseNet169,
          ("conv2_block6_concat", "conv3_block12_concat", "conv4_block32_concat", "relu"), DENSENET_STAGES, "torch")
