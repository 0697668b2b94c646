import json
import os
import re
import subprocess
import sys

import keras
import pytest

from mrcnn import backbones
from mrcnn.backbones.registry import HEADS_REGEX, layer_regex


ALL_BUILTIN = ("resnet50", "resnet101", "resnet152", "resnext50", "vgg19", "densenet121", "densenet169", "small", "small_gn",
               "tiny")


def test_builtin_names_registered():
    assert set(ALL_BUILTIN) <= set(backbones.backbone_names())
    assert backbones.get_backbone("ResNet101").name == "resnet101"


LOAD_EACH_MODULE = """
import importlib, json, sys
from mrcnn.backbones import registry
names = registry.backbone_names()
assert "keras" not in sys.modules, "listing the names loaded Keras"
added = {}
for module in sorted(set(registry.BUILTIN.values())):
    before = set(registry._REGISTRY)
    importlib.import_module(module)
    added[module] = sorted(set(registry._REGISTRY) - before)
print(json.dumps({"names": names, "added": added}))
"""


def test_each_builtin_module_registers_exactly_its_names():
    # In a fresh process: listing the names loads no backbone module (nor Keras), and importing each module
    # registers the names BUILTIN gives it and no others.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", LOAD_EACH_MODULE], capture_output=True, text=True, timeout=300,
                          cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["names"] == sorted(backbones.BUILTIN)
    for module, added in result["added"].items():
        assert added == sorted(name for name, home in backbones.BUILTIN.items() if home == module), module


def test_paper_backbones_are_builtin():
    assert set(backbones.PAPER_BACKBONES) <= set(backbones.BUILTIN) and len(backbones.PAPER_BACKBONES) == 7


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


@pytest.mark.parametrize("name", ALL_BUILTIN)
def test_presets_select_the_same_stages(name, backbone_model):
    record = backbones.get_backbone(name)
    model, features = backbone_model(name)
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
    # Stages are disjoint, each holds weights, and each stage's tap (its C output) lies in that stage.
    for s in (2, 3, 4, 5):
        for t in (2, 3, 4, 5):
            assert s == t or not per_stage[s] & per_stage[t], (s, t)
        assert any(model.get_layer(n).weights for n in per_stage[s]), f"stage {s} of {name} has no weights"
    for s, tap in zip((2, 3, 4, 5), record.taps):
        assert tap in per_stage[s]
    # No layer named after stages 2..5 is left in the stem.
    assert not [n for n in stem if n.startswith(("conv2", "conv3", "conv4", "conv5", "block2", "block5"))]


@pytest.mark.parametrize("name", ALL_BUILTIN)
def test_taps_are_the_features(name, backbone_model):
    record = backbones.get_backbone(name)
    model, features = backbone_model(name)
    if record.taps:
        assert [model.get_layer(t).output for t in record.taps] == features
    assert [tuple(f.shape[1:3]) for f in features] == [(16, 16), (8, 8), (4, 4), (2, 2)]


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


def _four_maps(image, strides=(4, 8, 16, 32)):
    return [keras.layers.Conv2D(2, 1, strides=s, name=f"cb_{s}")(image) for s in strides]


def test_backbone_features_accepts_matterport_callables():
    image = keras.Input((64, 64, 3))
    seen = []

    def matterport_style(input_image, stage5=True, train_bn=None):
        seen.append((stage5, train_bn))
        return [None] + _four_maps(input_image)

    features = backbones.backbone_features(matterport_style, image, train_bn=False)
    assert seen == [(True, False)] and [f.shape[1] for f in features] == [16, 8, 4, 2]
    four = backbones.backbone_features(lambda x, stage5, train_bn: _four_maps(x), keras.Input((64, 64, 3)))
    assert len(four) == 4


def test_backbone_features_rejects_wrong_outputs():
    with pytest.raises(ValueError, match="returned 3 feature maps"):
        backbones.backbone_features(lambda x, stage5, train_bn: _four_maps(x)[:3], keras.Input((64, 64, 3)))
    with pytest.raises(ValueError, match="C3 is 16x16"):
        backbones.backbone_features(lambda x, stage5, train_bn: _four_maps(x, (4, 4, 16, 32)),
                                    keras.Input((64, 64, 3)))
    with pytest.raises(TypeError, match="BACKBONE"):
        backbones.backbone_features(42, keras.Input((64, 64, 3)))
    with pytest.raises(ValueError, match="unknown backbone"):
        backbones.backbone_features("alexnet", keras.Input((64, 64, 3)))
    # Unknown image sizes cannot be checked and are let through.
    assert len(backbones.backbone_features(lambda x, stage5, train_bn: _four_maps(x, (4, 4, 4, 4)),
                                           keras.Input((None, None, 3)))) == 4


def test_preprocessing_backbone_needs_mean_pixel_and_rgb():
    with pytest.raises(ValueError, match="mean_pixel"):
        backbones.get_backbone("vgg19").features(keras.Input((64, 64, 3)))
    with pytest.raises(ValueError, match="3 channels"):
        backbones.get_backbone("vgg19").features(keras.Input((64, 64, 4)), mean_pixel=[1, 2, 3, 4])
    # Backbones without keras.applications weights take the molded image as it is, any channel count.
    features = backbones.get_backbone("tiny").features(keras.Input((64, 64, 4)))
    assert features[0].shape[-1] == 16


def test_register_validates_its_arguments():
    build = backbones.get_backbone("tiny").build
    stages = backbones.get_backbone("tiny").stage_regexes
    with pytest.raises(ValueError, match="preprocessing"):
        backbones.register_backbone("bad_test", build, stages, preprocessing="bgr")
    with pytest.raises(ValueError, match="taps"):
        backbones.register_backbone("bad_test", build, stages, taps=("a", "b"))
    with pytest.raises(ValueError, match=r"stage_regexes\[3\]"):
        backbones.register_backbone("bad_test", build, {**stages, 3: "(open"})
    with pytest.raises(TypeError, match="callable"):
        backbones.register_backbone("bad_test", "not a function", stages)
    assert "bad_test" not in backbones.backbone_names()
