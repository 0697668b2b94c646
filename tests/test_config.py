import json

import numpy as np
import pytest

from mrcnn.config import LOSS_NAMES, Config


class TinyConfig(Config):
    NAME = "tiny"
    NUM_CLASSES = 3
    IMAGE_MIN_DIM = IMAGE_MAX_DIM = 128


MATTERPORT_DEFAULTS = {
    "GPU_COUNT": 1, "IMAGES_PER_GPU": 2, "STEPS_PER_EPOCH": 1000, "VALIDATION_STEPS": 50, "BACKBONE": "resnet101",
    "COMPUTE_BACKBONE_SHAPE": None, "BACKBONE_STRIDES": [4, 8, 16, 32, 64], "FPN_CLASSIF_FC_LAYERS_SIZE": 1024,
    "TOP_DOWN_PYRAMID_SIZE": 256, "NUM_CLASSES": 1, "RPN_ANCHOR_SCALES": (32, 64, 128, 256, 512),
    "RPN_ANCHOR_RATIOS": [0.5, 1, 2], "RPN_ANCHOR_STRIDE": 1, "RPN_NMS_THRESHOLD": 0.7,
    "RPN_TRAIN_ANCHORS_PER_IMAGE": 256, "PRE_NMS_LIMIT": 6000, "POST_NMS_ROIS_TRAINING": 2000,
    "POST_NMS_ROIS_INFERENCE": 1000, "USE_MINI_MASK": True, "MINI_MASK_SHAPE": (56, 56),
    "IMAGE_RESIZE_MODE": "square", "IMAGE_MIN_DIM": 800, "IMAGE_MAX_DIM": 1024, "IMAGE_MIN_SCALE": 0,
    "IMAGE_CHANNEL_COUNT": 3, "TRAIN_ROIS_PER_IMAGE": 200, "ROI_POSITIVE_RATIO": 0.33, "POOL_SIZE": 7,
    "MASK_POOL_SIZE": 14, "MASK_SHAPE": [28, 28], "MAX_GT_INSTANCES": 100, "DETECTION_MAX_INSTANCES": 100,
    "DETECTION_MIN_CONFIDENCE": 0.7, "DETECTION_NMS_THRESHOLD": 0.3, "LEARNING_RATE": 0.001,
    "LEARNING_MOMENTUM": 0.9, "WEIGHT_DECAY": 0.0001, "USE_RPN_ROIS": True, "TRAIN_BN": False,
    "GRADIENT_CLIP_NORM": 5.0, "RPN_CONV_CHANNELS": 512, "OPTIMIZER": "SGD", "MASK_HEAD_CHANNELS": 256, "RPN_POSITIVE_IOU": 0.7, "RPN_NEGATIVE_IOU": 0.3, "ROI_POSITIVE_IOU": 0.5,
}


def test_matterport_defaults():
    config = Config()
    for name, value in MATTERPORT_DEFAULTS.items():
        assert getattr(config, name) == value, name
    np.testing.assert_allclose(config.MEAN_PIXEL, [123.7, 116.8, 103.9])
    np.testing.assert_allclose(config.RPN_BBOX_STD_DEV, [0.1, 0.1, 0.2, 0.2])
    np.testing.assert_allclose(config.BBOX_STD_DEV, [0.1, 0.1, 0.2, 0.2])
    assert set(config.LOSS_WEIGHTS) == set(LOSS_NAMES)


def test_derived_values_follow_overrides():
    config = TinyConfig()
    assert config.BATCH_SIZE == 2
    assert list(config.IMAGE_SHAPE) == [128, 128, 3]
    assert config.IMAGE_META_SIZE == 12 + 3
    config.GPU_COUNT = 3
    config.IMAGE_RESIZE_MODE = "crop"
    config.IMAGE_MIN_DIM = 64
    assert config.BATCH_SIZE == 6
    assert list(config.IMAGE_SHAPE) == [64, 64, 3]
    config.IMAGE_RESIZE_MODE = "none"
    assert list(config.IMAGE_SHAPE) == [None, None, 3]


def test_validate_accepts_tiny_config():
    assert TinyConfig().validate() is not None


@pytest.mark.parametrize("field,value,words", [
    ("IMAGE_MAX_DIM", 500, ["IMAGE_MAX_DIM", "divisible by 64", "448", "512"]),
    ("NUM_CLASSES", 1, ["NUM_CLASSES", ">= 2"]),
    ("IMAGE_RESIZE_MODE", "stretch", ["IMAGE_RESIZE_MODE", "pad64"]),
    ("DETECTION_MIN_CONFIDENCE", 1.5, ["DETECTION_MIN_CONFIDENCE", "[0, 1]"]),
    ("TRAIN_ROIS_PER_IMAGE", 5000, ["TRAIN_ROIS_PER_IMAGE", "POST_NMS_ROIS_TRAINING"]),
    ("MASK_SHAPE", [32, 32], ["MASK_SHAPE", "[28, 28]"]),
    ("MEAN_PIXEL", np.array([1.0, 2.0]), ["MEAN_PIXEL", "IMAGE_CHANNEL_COUNT"]),
    ("IMAGES_PER_GPU", 0, ["IMAGES_PER_GPU", ">= 1"]),
    ("TRAIN_BN", "yes", ["TRAIN_BN"]),
    ("RPN_NEGATIVE_IOU", 0.8, ["RPN_NEGATIVE_IOU", "RPN_POSITIVE_IOU"]),
    ("LOSS_WEIGHTS", {"rpn_class_loss": 1.0}, ["LOSS_WEIGHTS", "mrcnn_mask_loss"]),
    ("BACKBONE", 42, ["BACKBONE"]),
    ("OPTIMIZER", "rmsprop", ["OPTIMIZER", "ADAM"]),
    ("LEARNING_RATE", "fast", ["LEARNING_RATE", "number >= 0"]),
    ("WEIGHT_DECAY", -0.1, ["WEIGHT_DECAY", "number >= 0"]),
    ("DTYPE_POLICY", "float8", ["DTYPE_POLICY", "mixed_bfloat16"]),
])
def test_validate_names_the_bad_field(field, value, words):
    config = TinyConfig()
    setattr(config, field, value)
    with pytest.raises(ValueError) as info:
        config.validate()
    for word in words:
        assert word in str(info.value)


def test_crop_mode_checks_min_dim():
    config = TinyConfig()
    config.IMAGE_RESIZE_MODE = "crop"
    config.IMAGE_MIN_DIM = 100
    with pytest.raises(ValueError, match="IMAGE_MIN_DIM = 100"):
        config.validate()


def test_dict_round_trip_through_json(tmp_path):
    config = TinyConfig()
    config.RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    config.MEAN_PIXEL = np.array([1.0, 2.0, 3.0])
    path = tmp_path / "config.json"
    config.save(path)
    data = json.loads(path.read_text())
    assert data["IMAGE_SHAPE"] == [128, 128, 3] and data["BATCH_SIZE"] == 2
    loaded = TinyConfig.load(path)
    assert loaded.to_dict() == config.to_dict()
    assert isinstance(loaded.MEAN_PIXEL, np.ndarray)
    assert loaded.RPN_ANCHOR_SCALES == (8, 16, 32, 64, 128)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="IMAGE_MAXDIM"):
        Config.from_dict({"IMAGE_MAXDIM": 512})
    with pytest.raises(TypeError):
        Config.from_dict([("NAME", "x")])


def test_load_rejects_broken_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        Config.load(path)


def test_display_lists_every_field(capsys):
    TinyConfig().display()
    out = capsys.readouterr().out
    for name in list(MATTERPORT_DEFAULTS) + ["BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE", "NAME"]:
        assert name in out
