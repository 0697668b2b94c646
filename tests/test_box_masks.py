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


class WindowModel:
    """Stands in for a MaskRCNN in masks_at_scale: records the windows and boxes it is given; each mask fills its
    box."""

    def __init__(self, side=64):
        self.config = type("Config", (), {"IMAGE_MAX_DIM": side})()
        self.seen = []

    def masks_for_boxes(self, image, boxes, class_ids):
        self.seen.append((image.shape[:2], [int(v) for v in np.asarray(boxes)[0]], int(class_ids[0])))
        masks = np.zeros(image.shape[:2] + (len(boxes),), bool)
        for i, (y1, x1, y2, x2) in enumerate(np.asarray(boxes, int)):
            masks[y1:y2, x1:x2, i] = True
        return masks


def test_masks_at_scale_cut_a_window_the_model_input_covers_at_that_scale():
    from mrcnn.box_masks import masks_at_scale
    model, image = WindowModel(64), np.zeros((200, 300, 3), np.uint8)
    boxes = [[50, 60, 70, 100], [190, 290, 200, 300], [0, 0, 150, 150]]
    masks = masks_at_scale(model, image, boxes, [1, 2, 1], factor=0.5)
    # factor 0.5: 64 / 0.5 = 128 px of the image; centred on each box, moved inside the image; the 150 px box
    # gets a window of its own size
    assert model.seen == [((128, 128), [50, 44, 70, 84], 1), ((128, 128), [118, 118, 128, 128], 2),
                          ((150, 150), [0, 0, 150, 150], 1)]
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        expected = np.zeros((200, 300), bool)
        expected[y1:y2, x1:x2] = True
        assert np.array_equal(masks[..., i], expected)
    assert masks_at_scale(model, image, np.zeros((0, 4)), [], factor=0.5).shape == (200, 300, 0)


def test_masks_at_scale_pad_a_small_image_and_leave_the_factor_none_to_the_model():
    from mrcnn.box_masks import masks_at_scale
    model = WindowModel(64)
    image = np.full((40, 30, 3), 200, np.uint8)
    masks = masks_at_scale(model, image, [[10, 5, 30, 25]], [3], factor=0.5)  # a 128 px window, padded
    assert model.seen == [((128, 128), [10, 5, 30, 25], 3)] and masks.shape == (40, 30, 1)
    assert masks[10:30, 5:25, 0].all() and masks.sum() == 400
    model.seen.clear()
    masks_at_scale(model, image, [[10, 5, 30, 25]], [3], factor=None)
    assert model.seen == [((40, 30), [10, 5, 30, 25], 3)]  # the whole image, resized by the model
    with pytest.raises(ValueError, match="factor must be a positive number or None"):
        masks_at_scale(model, image, [[10, 5, 30, 25]], [3], factor=0)


def test_scaled_detector_masks_boxes_at_the_scale_of_its_detection(tiny_model, image):
    from mrcnn.detector import ScaledDetector
    model = WindowModel(64)
    model.config.RED_CELL_DIAMETER = 10.0
    detector = ScaledDetector(model, pixel_size=0.375)  # red cells 20 px, the model knows 10: factor 0.5
    detector.masks_for_boxes(np.zeros((300, 300, 3), np.uint8), [[100, 100, 120, 130]], [1])
    detector.masks_for_boxes(np.zeros((300, 300, 3), np.uint8), [[100, 100, 120, 130]], [1], scale={"factor": 2.0})
    assert [shape for shape, _, _ in model.seen] == [(128, 128), (32, 32)]
    with pytest.raises(NotImplementedError, match="cannot run its mask head"):
        ScaledDetector(object()).masks_for_boxes(image, [[0, 0, 5, 5]], [1])
    # a real model: a bool mask in the image's pixels, inside the box
    real = ScaledDetector(tiny_model, rescale=False).masks_for_boxes(image, [[10, 10, 40, 30]], [2])
    assert real.shape == (64, 48, 1) and real.dtype == bool and not real[:10].any() and not real[:, 30:].any()
