"""Every registered backbone of the paper in the full Mask R-CNN, through the public API: both modes build, one
training step gives finite losses, the trained weights round-trip into the inference model and detect works; plus a
user-registered backbone and a Matterport-style callable backbone."""

import keras
import numpy as np
import pytest

from mrcnn import backbones
from mrcnn.backbones import PAPER_BACKBONES
from mrcnn.config import LOSS_NAMES
from mrcnn.data.generator import DataGenerator
from mrcnn.model import MaskRCNN
from mrcnn.weights_io import weighted_layers
from samples.shapes.shapes import ShapesDataset
from tests.tiny_config import TinyConfig



class SmallConfig(TinyConfig):
    NAME = "backbones"
    IMAGES_PER_GPU = 1
    RPN_CONV_CHANNELS = 512
    MASK_HEAD_CHANNELS = 256
    STEPS_PER_EPOCH = 1
    # Frozen batch norm (Matterport's default): training and inference use the same statistics, so a model one step
    # from random initialisation stays numerically tame in inference.
    TRAIN_BN = False
    LEARNING_RATE = 0.001


@pytest.fixture(scope="module")
def shapes():
    ds = ShapesDataset()
    ds.load_shapes(4, 64, 64, seed=5)
    ds.prepare()
    return ds


def _config(backbone):
    config = SmallConfig()
    config.BACKBONE = backbone
    return config


def _check_detections(results, image):
    assert len(results) == 1
    r = results[0]
    n = len(r["class_ids"])
    assert r["rois"].shape == (n, 4) and r["rois"].dtype == np.int32
    assert r["scores"].shape == (n,) and np.all(np.isfinite(r["scores"]))
    assert r["masks"].shape == image.shape[:2] + (n,) and r["masks"].dtype == bool
    assert np.all((r["class_ids"] >= 1) & (r["class_ids"] < SmallConfig.NUM_CLASSES))


@pytest.mark.parametrize("name", PAPER_BACKBONES)
def test_backbone_trains_a_step_round_trips_and_detects(name, shapes, tmp_path):
    config = _config(name)
    training = MaskRCNN("training", config, str(tmp_path))
    # One step runs eagerly: tracing the gradient graph of a 150-layer backbone costs far more than the step itself.
    training.keras_model.compile(optimizer=keras.optimizers.SGD(config.LEARNING_RATE, momentum=0.9, clipnorm=5.0),
                                 run_eagerly=True)
    batch = DataGenerator(shapes, config, steps=1, seed=0)[0]
    stem = next(iter(weighted_layers(training.keras_model).values()))
    before = [w.copy() for w in stem.get_weights()]
    logs = training.keras_model.train_on_batch(batch, return_dict=True)
    assert set(LOSS_NAMES) <= set(logs) and all(np.isfinite(v) for v in logs.values()), logs
    assert any(not np.array_equal(a, b) for a, b in zip(before, stem.get_weights())), "the backbone did not train"

    path = str(tmp_path / f"{name}.weights.h5")
    training.keras_model.save_weights(path)
    inference = MaskRCNN("inference", config, str(tmp_path))
    report = inference.load_weights(path)
    assert not report["missing"] and not report["mismatched"]
    trained, loaded = weighted_layers(training.keras_model), weighted_layers(inference.keras_model)
    assert set(trained) == set(loaded)
    for layer_name, layer in trained.items():
        for a, b in zip(layer.get_weights(), loaded[layer_name].get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=layer_name)

    image = shapes.load_image(0)
    _check_detections(inference.detect([image]), image)


def test_preprocessing_lives_in_the_graph_of_both_modes(tmp_path):
    # VGG19's ImageNet weights expect caffe-style BGR input: the conversion is a layer of the model itself, so the
    # training graph, the inference graph and any checkpoint agree on it.
    for mode in ("training", "inference"):
        model = MaskRCNN(mode, _config("vgg19"), str(tmp_path)).keras_model
        layer = model.get_layer("backbone_preprocess")
        assert isinstance(layer, backbones.ImagePreprocess)
        assert layer.mode == "caffe" and layer.mean_pixel == pytest.approx(list(SmallConfig.MEAN_PIXEL))
        assert not layer.weights


def _user_build(input_image, train_bn=None):
    """A user's backbone in a few lines: four stride-2 stages after a stride-2 stem."""
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="user_stem")(input_image)
    outputs = []
    for stage, width in zip((2, 3, 4, 5), (8, 16, 24, 32)):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", name=f"user_c{stage}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"user_c{stage}_bn")(x)
        x = keras.layers.Activation("relu", name=f"user_c{stage}_relu")(x)
        outputs.append(x)
    return outputs


def test_user_registered_backbone_end_to_end(shapes, tmp_path):
    backbones.register_backbone("user_test_net", _user_build, {s: rf"user\_c{s}\_.*" for s in (2, 3, 4, 5)},
                                overwrite=True)
    config = _config("user_test_net")
    model = MaskRCNN("training", config, str(tmp_path))
    before = model.keras_model.get_layer("user_c3_conv").get_weights()[0].copy()
    stem_before = model.keras_model.get_layer("user_stem").get_weights()[0].copy()
    model.train(shapes, shapes, learning_rate=0.01, epochs=1, layers="4+", verbose=0, workers=1)
    # "4+" trains stages 4, 5 and the heads: stage 3 and the stem keep their weights.
    np.testing.assert_array_equal(model.keras_model.get_layer("user_c3_conv").get_weights()[0], before)
    np.testing.assert_array_equal(model.keras_model.get_layer("user_stem").get_weights()[0], stem_before)
    inference = MaskRCNN("inference", config, str(tmp_path))
    inference.load_weights(model.find_last())
    np.testing.assert_array_equal(inference.keras_model.get_layer("user_c3_conv").get_weights()[0], before)
    image = shapes.load_image(1)
    _check_detections(inference.detect([image]), image)


def test_matterport_callable_backbone_end_to_end(shapes, tmp_path):
    calls = []

    def my_backbone(input_image, stage5=True, train_bn=None):
        calls.append((stage5, train_bn))
        c2, c3, c4, c5 = _user_build(input_image)
        return [None, c2, c3, c4, c5]  # Matterport's [C1, C2, C3, C4, C5]

    config = _config(my_backbone)
    model = MaskRCNN("training", config, str(tmp_path))
    model.keras_model.compile(optimizer=keras.optimizers.SGD(0.01))
    logs = model.keras_model.train_on_batch(DataGenerator(shapes, config, steps=1, seed=1)[0], return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert calls == [(True, config.TRAIN_BN)]
    with pytest.raises(ValueError, match="callable"):
        model.train(shapes, shapes, learning_rate=0.01, epochs=1, layers="3+")
    image = shapes.load_image(2)
    _check_detections(MaskRCNN("inference", config, str(tmp_path)).detect([image]), image)
