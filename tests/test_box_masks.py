"""The mask head on boxes one gives (mrcnn/box_masks.py, MaskRCNN.masks_for_boxes)."""

import numpy as np
import pytest

from mrcnn.box_masks import BoxMaskHead
from tests.tiny_config import TinyConfig


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras

    from mrcnn.model import MaskRCNN
    keras.utils.set_random_seed(1)  # random weights that detect something (DETECTION_MIN_CONFIDENCE 0)
    return MaskRCNN("inference", TinyConfig(), str(tmp_path_factory.mktemp("logs")))


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(5).integers(0, 256, (64, 48, 3), dtype=np.uint8)


def test_boxes_map_to_their_pixel_centres_in_the_molded_image(tiny_model, image):
    # 64 x 48 moulds to 64 x 64 at scale 1, 8 columns of padding on the left: window (0, 8, 64, 56). The box
    # (10, 10, 20, 30) has its first pixel centres at (10, 10) and its last at (19, 29): molded (10, 18) and
    # (19, 37), over 63.
    normalized, window, side = BoxMaskHead(tiny_model).normalized(image, [[10, 10, 20, 30]])
    assert list(window) == [0, 8, 64, 56] and tuple(side) == (64, 64)
    np.testing.assert_allclose(normalized, [[10 / 63, 18 / 63, 19 / 63, 37 / 63]], atol=1e-6)


def test_the_head_on_the_detections_own_boxes_gives_detects_soft_masks(tiny_model, image):
    molded, metas, _ = tiny_model.mold_inputs([image])
    raw = tiny_model._run(molded, metas)
    count = int(np.sum(raw["detections"][0][:, 4] > 0))
    assert count > 0
    soft = BoxMaskHead(tiny_model).soft(image, raw["detections"][0][:count, :4])
    np.testing.assert_allclose(soft, raw["mrcnn_mask"][0][:count], atol=1e-5)


def test_masks_for_boxes_are_bool_full_size_and_follow_detect(tiny_model, image):
    result = tiny_model.detect([image])[0]
    masks = tiny_model.masks_for_boxes(image, result["rois"], result["class_ids"])
    assert masks.shape == result["masks"].shape and masks.dtype == bool
    # the rounded pixel boxes stand a fraction of a pixel from the detection's own: nearly the same masks
    assert (masks != result["masks"]).mean() < 0.02
    empty = tiny_model.masks_for_boxes(image, np.zeros((0, 4)), [])
    assert empty.shape == (64, 48, 0)


@pytest.mark.parametrize("boxes, class_ids, message", [
    ([[0, 0, 10, 10]], [1, 2], "1 boxes but 2 class ids"),
    ([[0, 0, 10, 10]], [0], r"class ids must be 1..3 \(NUM_CLASSES = 4"),
    ([[0, 0, 10, 10]], [4], "class ids must be 1..3"),
    ([[5, 0, 5, 10]], [1], "y2 > y1 and x2 > x1"),
])
def test_bad_boxes_and_classes_are_refused(tiny_model, image, boxes, class_ids, message):
    with pytest.raises(ValueError, match=message):
        tiny_model.masks_for_boxes(image, boxes, class_ids)
