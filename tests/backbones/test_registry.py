import re

import keras
import pytest

from mrcnn import backbones
from mrcnn.backbones.registry import HEADS_REGEX, layer_regex


def test_builtin_names_registered():
    assert {"resnet50", "resnet101", "resnet152", "tiny"} <= set(backbones.backbone_names())
    assert backbones.get_backbone("ResNet101").name == "resnet101"


def test_unknown_name_lists_registered():
    with pytest.raises(ValueError, match="resnet50"):
        backbones.get_backbone("alexnet")


@pytest.mark.parametrize("name,size,channels", [("tiny", 64, [16, 32, 64, 128]),
                                                ("resnet50", 64, [256, 512, 1024, 2048])])
def test_feature_strides(name, size, channels):
    image = keras.Input((size, size, 3))
    features = backbones.get_backbone(name).build(image)
    assert [tuple(f.shape[1:]) for f in features] == [
        (size // s, size // s, c) for s, c in zip((4, 8, 16, 32), channels)]


def _selected(names, layers, stages):
    pattern = re.compile(layer_regex(layers, stages))
    return {n for n in names if pattern.fullmatch(n)}


@pytest.mark.parametrize("name", ["tiny", "resnet50"])
def test_presets_select_the_same_stages(name):
    image = keras.Input((64, 64, 3))
    features = backbones.get_backbone(name).build(image)
    model = keras.Model(image, features)
    names = [layer.name for layer in model.layers] + ["fpn_c5p5", "rpn_conv_shared", "mrcnn_mask"]
    stages = backbones.get_backbone(name).stage_regexes
    heads = {"fpn_c5p5", "rpn_conv_shared", "mrcnn_mask"}
    assert _selected(names, "heads", stages) == heads
    assert _selected(names, "all", stages) == set(names)
    per_stage = {s: {n for n in names if re.fullmatch(stages[s], n)} for s in (2, 3, 4, 5)}
    for s in (2, 3, 4, 5):
        assert per_stage[s], f"stage {s} of {name} matches no layer"
    assert _selected(names, "3+", stages) == per_stage[3] | per_stage[4] | per_stage[5] | heads
    assert _selected(names, "5+", stages) == per_stage[5] | heads
    # The stem belongs to no stage.
    stem = set(names) - set().union(*per_stage.values()) - heads
    assert stem and not stem & _selected(names, "3+", stages)


def test_regex_passthrough_and_errors():
    assert layer_regex(r"mrcnn\_.*") == r"mrcnn\_.*"
    assert layer_regex("heads") == HEADS_REGEX
    with pytest.raises(ValueError, match="callable"):
        layer_regex("4+", None)
    with pytest.raises(ValueError, match="regex"):
        layer_regex("(unclosed")


def test_register_custom_backbone():
    def build(image, train_bn=None):
        x = image
        outs = []
        for s in (2, 3, 4, 5):
            x = keras.layers.Conv2D(4, 3, strides=4 if s == 2 else 2, padding="same", name=f"mine{s}_conv")(x)
            outs.append(x)
        return outs
    record = backbones.register_backbone("mine_test", build, {s: rf"mine{s}\_.*" for s in (2, 3, 4, 5)},
                                         overwrite=True)
    assert backbones.get_backbone("mine_test") is record
    with pytest.raises(ValueError, match="already registered"):
        backbones.register_backbone("mine_test", build, record.stage_regexes)
    with pytest.raises(ValueError, match="stage_regexes"):
        backbones.register_backbone("bad_test", build, {2: "a"})
