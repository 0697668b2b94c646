"""Tests for mrcnn/evaluation/callback.py: validation mAP written to TensorBoard from a tiny model (64 px)."""

import glob
import io
import os

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

from mrcnn import visualize  # noqa: E402
from mrcnn.evaluation.callback import OVERLAY_HEIGHT, OVERLAY_WIDTH, MeanAPCallback  # noqa: E402
from mrcnn.evaluation.losses import read_scalars  # noqa: E402
from mrcnn.model import MaskRCNN  # noqa: E402
from mrcnn.weights_io import weighted_layers  # noqa: E402
from samples.shapes.shapes import ShapesDataset  # noqa: E402
from tests.tiny_config import TinyConfig as SharedTinyConfig  # noqa: E402


class TinyConfig(SharedTinyConfig):
    """The shared tiny test model on the three shape classes, one image per batch, one step per epoch."""
    NAME = "meanap"
    IMAGES_PER_GPU = 1
    STEPS_PER_EPOCH = 1
    RPN_ANCHOR_SCALES = (4, 8, 16, 32, 64)
    PRE_NMS_LIMIT = 500
    MAX_GT_INSTANCES = 8
    DETECTION_MIN_CONFIDENCE = 0.7


class TinyInferenceConfig(TinyConfig):
    DETECTION_MIN_CONFIDENCE = 0.0  # an untrained model: keep whatever it finds


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    logs = str(tmp_path_factory.mktemp("logs"))
    dataset = ShapesDataset()
    dataset.load_shapes(2, 64, 64, seed=0)
    dataset.prepare()
    train = MaskRCNN("training", TinyConfig(), logs)
    inference = MaskRCNN("inference", TinyInferenceConfig(), logs)
    return train, inference, dataset


def test_epoch_end_copies_weights_and_writes_scalars(tiny):
    train, inference, dataset = tiny
    callback = MeanAPCallback(inference, dataset, dataset.image_ids, log_dir=train, every=1)
    # The protocol Keras's fit follows: set_model, on_train_begin, on_epoch_end(epoch, logs), on_train_end.
    callback.set_model(train.keras_model)
    layer = weighted_layers(train.keras_model)["mrcnn_class_logits"]
    marked = [np.full_like(w, 0.01 * (i + 1)) for i, w in enumerate(layer.get_weights())]
    layer.set_weights(marked)
    callback.on_train_begin()
    logs = {}
    callback.on_epoch_end(0, logs)
    callback.on_epoch_end(1, logs)
    callback.on_train_end()
    for got, want in zip(weighted_layers(inference.keras_model)["mrcnn_class_logits"].get_weights(), marked):
        np.testing.assert_array_equal(got, want)
    scalars = read_scalars(train.log_dir)
    assert set(scalars["val_mAP50"]) == {1, 2} and set(scalars["val_mask_mAP"]) == {1, 2}
    assert 0.0 <= scalars["val_mAP50"][1] <= 1.0
    assert "val_mAP50" in logs and [h["epoch"] for h in callback.history] == [1, 2]


def read_images(log_dir):
    """{tag: {step: [decoded uint8 images]}} of the image summaries in the event files of `log_dir`."""
    out = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    width, height, *pngs = tf.make_ndarray(value.tensor)
                    pictures = [np.asarray(Image.open(io.BytesIO(png))) for png in pngs]
                    assert all(p.shape[:2] == (int(height), int(width)) for p in pictures)
                    out.setdefault(value.tag, {})[int(event.step)] = pictures
    return out


def test_epoch_end_writes_overlays_of_truth_and_detections(tiny, tmp_path):
    train, inference, dataset = tiny
    callback = MeanAPCallback(inference, dataset, dataset.image_ids, log_dir=str(tmp_path), overlay_images=1)
    callback.set_model(train.keras_model)
    callback.on_train_begin()
    callback.on_epoch_end(2, {})
    callback.on_train_end()
    images = read_images(str(tmp_path))
    assert set(images) == {"val_overlay/0"} and set(images["val_overlay/0"]) == {3}
    (picture,) = images["val_overlay/0"][3]
    assert picture.shape == (OVERLAY_HEIGHT, OVERLAY_WIDTH, 3) == (400, 800, 3) and picture.dtype == np.uint8

    # The left panel is the ground truth: each instance's mask blended with its class's colour (apply_mask:
    # image / 2 + colour * 255 / 2), the same colour for a class in every epoch and in both panels.
    image, gt = callback.detections.images[0], callback.detections.gts[0]
    palette = visualize.random_colors(len(dataset.class_names), seed=0)
    left = picture[:, :OVERLAY_WIDTH // 2].reshape(-1, 3).astype(int)
    for i, class_id in enumerate(gt["class_ids"]):
        ys, xs = np.nonzero(gt["masks"][..., i])
        y, x = ys[len(ys) // 2], xs[len(xs) // 2]
        blended = image[y, x] * 0.5 + 0.5 * 255 * np.asarray(palette[class_id][:3])
        assert np.abs(left - blended).max(axis=1).min() <= 3, (class_id, blended)


def test_every_and_errors(tiny):
    train, inference, dataset = tiny
    callback = MeanAPCallback(lambda: inference, dataset, [0], log_dir="/nonexistent-not-used", every=2)
    callback.on_epoch_end(0, {})  # epoch 1 of every 2: nothing evaluated, nothing written
    assert callback.history == []
    with pytest.raises(ValueError, match="every"):
        MeanAPCallback(inference, dataset, [0], log_dir="x", every=0)
    with pytest.raises(ValueError, match="image_ids"):
        MeanAPCallback(inference, dataset, [], log_dir="x")
    with pytest.raises(TypeError, match="log_dir"):
        MeanAPCallback(inference, dataset, [0], log_dir=3).on_train_begin()
    with pytest.raises(ValueError, match="overlay_images"):
        MeanAPCallback(inference, dataset, [0], log_dir="x", overlay_images=-1)
    with pytest.raises(ValueError, match="evaluate"):
        MeanAPCallback(inference, dataset, [0], log_dir="x").overlays()


@pytest.mark.slow
def test_one_epoch_of_training_writes_val_map(tiny):
    train, inference, dataset = tiny
    callback = MeanAPCallback(inference, dataset, dataset.image_ids, log_dir=train)
    train.train(dataset, dataset, learning_rate=0.001, epochs=train.epoch + 1, layers="all",
                custom_callbacks=[callback], workers=0, verbose=0)
    scalars = read_scalars(train.log_dir)
    assert train.epoch in scalars["val_mAP50"] and train.epoch in scalars["loss"]
    images = read_images(train.log_dir)
    assert set(images) == {"val_overlay/0", "val_overlay/1"}  # 4 by default, but the dataset has 2 images
    assert [p.shape for p in images["val_overlay/1"][train.epoch]] == [(OVERLAY_HEIGHT, OVERLAY_WIDTH, 3)]
