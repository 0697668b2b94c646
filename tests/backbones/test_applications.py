"""The keras.applications backbones: taps, channels, and which concrete layers each training preset selects."""

import re

import pytest

from mrcnn import backbones
from mrcnn.backbones.registry import layer_regex

CHANNELS = {
    "resnet50": [256, 512, 1024, 2048], "resnet101": [256, 512, 1024, 2048], "resnet152": [256, 512, 1024, 2048],
    "resnext50": [256, 512, 1024, 2048], "vgg19": [128, 256, 512, 512], "densenet121": [256, 512, 1024, 1024],
    "densenet169": [256, 512, 1280, 1664],
}

# (preset, layers it must train, layers it must leave alone) on each backbone.
EXPECTED = {
    "resnet101": [("4+", {"conv4_block1_0_conv", "conv4_block23_3_bn", "conv5_block3_3_conv"},
                   {"conv3_block4_3_conv", "conv1_conv", "conv2_block1_0_bn"}),
                  ("3+", {"conv3_block1_1_conv"}, {"conv2_block3_3_conv", "conv1_bn"})],
    "resnet152": [("4+", {"conv4_block36_3_conv"}, {"conv3_block8_3_conv"})],
    "resnext50": [("5+", {"conv5_block1_2_conv", "conv5_block3_3_bn"}, {"conv4_block6_2_conv"})],
    "vgg19": [("5+", {"block5_conv1", "block5_conv4"}, {"block4_conv4", "block1_conv1"}),
              ("3+", {"block3_conv1", "block4_conv4"}, {"block2_conv2"})],
    "densenet121": [("4+", {"pool3_conv", "pool3_bn", "conv4_block24_2_conv", "bn"},
                     {"pool2_conv", "conv3_block12_2_conv", "conv1_conv"}),
                    ("5+", {"pool4_conv", "conv5_block16_2_conv", "bn"}, {"conv4_block24_2_conv"})],
    "densenet169": [("4+", {"conv4_block32_2_conv"}, {"conv3_block12_2_conv"})],
}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_channels_per_stage(name, backbone_model):
    _, features = backbone_model(name)
    assert [f.shape[-1] for f in features] == CHANNELS[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_presets_select_the_expected_layers(name, backbone_model):
    model, _ = backbone_model(name)
    names = {layer.name for layer in model.layers}
    stages = backbones.get_backbone(name).stage_regexes
    for preset, trained, frozen in EXPECTED[name]:
        pattern = re.compile(layer_regex(preset, stages))
        selected = {n for n in names if pattern.fullmatch(n)}
        assert trained <= names and frozen <= names
        assert trained <= selected, (preset, trained - selected)
        assert not frozen & selected, (preset, frozen & selected)
    assert not {n for n in names if re.compile(layer_regex("heads", stages)).fullmatch(n)}


@pytest.mark.parametrize("name,mode,file_name", [
    ("resnet101", "caffe", "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("vgg19", "caffe", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("densenet169", "torch", "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("resnext50", None, None),
])
def test_declared_preprocessing_and_weights_file(name, mode, file_name):
    record = backbones.get_backbone(name)
    assert record.preprocessing == mode and record.imagenet_weights == file_name
    assert (record.application is None) == (mode is None)
