import numpy as np
import keras
import pytest

from mrcnn.heads.classifier import fpn_classifier_head

EXPECTED_LAYERS = [
    "pooled", "mrcnn_class_merge_rois", "mrcnn_class_conv1", "mrcnn_class_bn1", "mrcnn_class_relu1",
    "mrcnn_class_conv2", "mrcnn_class_bn2", "mrcnn_class_relu2", "mrcnn_class_split_rois", "pool_squeeze",
    "mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_class", "mrcnn_bbox",
]


def _head_model(rois=3):
    pooled = keras.Input(shape=(rois, 7, 7, 8), name="pooled")
    return keras.Model(pooled, list(fpn_classifier_head(pooled, num_classes=4, fc_layers_size=16)))


def test_shapes_names_and_weight_shapes():
    model = _head_model()
    assert sorted(layer.name for layer in model.layers) == sorted(EXPECTED_LAYERS)
    assert model.get_layer("mrcnn_class_conv1").kernel.shape == (7, 7, 8, 16)
    assert model.get_layer("mrcnn_class_conv2").kernel.shape == (1, 1, 16, 16)
    assert model.get_layer("mrcnn_class_logits").kernel.shape == (16, 4)
    assert model.get_layer("mrcnn_bbox_fc").kernel.shape == (16, 16)
    for name in ("mrcnn_class_bn1", "mrcnn_class_bn2"):
        assert type(model.get_layer(name)) is keras.layers.BatchNormalization
    pooled = np.random.default_rng(0).normal(size=(2, 3, 7, 7, 8)).astype("float32")
    logits, probs, bbox = model.predict(pooled, verbose=0)
    assert logits.shape == (2, 3, 4) and probs.shape == (2, 3, 4) and bbox.shape == (2, 3, 4, 4)
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    # mrcnn_bbox is mrcnn_bbox_fc reshaped class by class.
    probe = keras.Model(model.input, model.get_layer("mrcnn_bbox_fc").output)
    np.testing.assert_array_equal(bbox, probe.predict(pooled, verbose=0).reshape(2, 3, 4, 4))


def test_rois_are_independent_and_unknown_roi_count():
    model = _head_model(rois=None)
    rng = np.random.default_rng(1)
    pooled = rng.normal(size=(2, 5, 7, 7, 8)).astype("float32")
    logits, _, bbox = model.predict(pooled, verbose=0)
    assert logits.shape == (2, 5, 4) and bbox.shape == (2, 5, 4, 4)
    # Inference mode: each ROI's output depends on that ROI's crop only, and lands at its (image, roi) slot.
    single_logits, _, single_bbox = model.predict(pooled[1:2, 3:4], verbose=0)
    np.testing.assert_allclose(single_logits[0, 0], logits[1, 3], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(single_bbox[0, 0], bbox[1, 3], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"num_classes": 0}, {"num_classes": 4, "fc_layers_size": 2.0}])
def test_bad_arguments(kwargs):
    pooled = keras.Input(shape=(3, 7, 7, 8))
    with pytest.raises(ValueError, match="fpn_classifier_head"):
        fpn_classifier_head(pooled, **kwargs)


def test_bad_pooled_rank():
    with pytest.raises(ValueError, match="pooled"):
        fpn_classifier_head(keras.Input(shape=(7, 7, 8)), num_classes=4)


def test_frozen_batch_norm_runs_in_inference_mode():
    """What the model builder relies on when Config.TRAIN_BN is False: trainable=False freezes the statistics."""
    model = _head_model()
    for name in ("mrcnn_class_bn1", "mrcnn_class_bn2"):
        model.get_layer(name).trainable = False
    pooled = np.random.default_rng(2).normal(size=(2, 3, 7, 7, 8)).astype("float32")
    trained = [keras.ops.convert_to_numpy(t) for t in model(pooled, training=True)]
    inferred = [keras.ops.convert_to_numpy(t) for t in model(pooled, training=False)]
    for a, b in zip(trained, inferred):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    moving_mean = model.get_layer("mrcnn_class_bn1").moving_mean
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(moving_mean), np.zeros(16, "float32"))
