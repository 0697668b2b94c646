import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import utils
from mrcnn.data.image_meta import compose_image_meta
from mrcnn.layers.detection import DetectionLayer

STD = [0.1, 0.1, 0.2, 0.2]
NUM_CLASSES = 3


def meta(side=64, window=None):
    window = (0, 0, side, side) if window is None else window
    return compose_image_meta(0, (side, side, 3), (side, side, 3), window, 1.0, [1] * NUM_CLASSES)


def detect(rois, probs, deltas=None, metas=None, max_instances=5, min_confidence=0.7, nms_threshold=0.3, **options):
    rois = np.asarray(rois, np.float32)
    probs = np.asarray(probs, np.float32)
    if deltas is None:
        deltas = np.zeros(probs.shape + (4,), np.float32)
    if metas is None:
        metas = np.stack([meta()] * len(rois))
    layer = DetectionLayer(max_instances, min_confidence, nms_threshold, STD, **options)
    return layer([tf.constant(rois), tf.constant(probs), tf.constant(deltas, tf.float32), tf.constant(metas)]).numpy()


# Two classes and overlapping boxes. IoU(roi0, roi1) = 0.875 and IoU(roi0, roi2) = 0.875.
ROIS = np.array([[[0.1, 0.1, 0.4, 0.4],     # class 1, 0.9
                  [0.12, 0.1, 0.42, 0.4],   # class 1, 0.8: suppressed by roi0
                  [0.1, 0.12, 0.4, 0.42],   # class 2, 0.85: kept, other class
                  [0.6, 0.6, 0.9, 0.9],     # background
                  [0.6, 0.1, 0.9, 0.3]]],   # class 1, 0.75, moved by its deltas
                np.float32)
PROBS = np.array([[[0.05, 0.9, 0.05], [0.1, 0.8, 0.1], [0.1, 0.05, 0.85], [0.8, 0.1, 0.1], [0.2, 0.75, 0.05]]],
                 np.float32)
DELTAS = np.zeros((1, 5, NUM_CLASSES, 4), np.float32)
DELTAS[0, 4, 1] = [1.0, 0.0, 0.0, 0.0]  # * 0.1 * height 0.3 = 0.03 down
DELTAS[0, 4, 2] = [5.0, 5.0, 5.0, 5.0]  # deltas of a class the ROI is not: ignored
DELTAS[0, 3, 0] = [5.0, 5.0, 5.0, 5.0]  # background deltas: ignored


def test_two_classes_with_overlaps():
    out = detect(ROIS, PROBS, DELTAS)
    expected = np.zeros((1, 5, 6), np.float32)
    expected[0, 0] = [0.1, 0.1, 0.4, 0.4, 1, 0.9]
    expected[0, 1] = [0.1, 0.12, 0.4, 0.42, 2, 0.85]
    expected[0, 2] = [0.63, 0.1, 0.93, 0.3, 1, 0.75]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_matches_numpy_refinement():
    out = detect(ROIS, PROBS, DELTAS)
    refined = utils.apply_box_deltas(ROIS[0, [4]], DELTAS[0, 4, [1]] * np.array(STD))
    np.testing.assert_allclose(out[0, 2, :4], refined[0], atol=1e-6)


def test_min_confidence_is_inclusive():
    out = detect(ROIS, PROBS, DELTAS, min_confidence=0.85)
    np.testing.assert_allclose(out[0, :, 5], [0.9, 0.85, 0, 0, 0], atol=1e-6)


def test_all_scores_below_threshold_gives_zeros():
    probs = np.full((1, 5, NUM_CLASSES), 1.0 / 3, np.float32)
    probs[0, :, 1] += 0.01
    probs[0, :, 0] -= 0.01
    out = detect(ROIS, probs, DELTAS, min_confidence=0.5)
    assert np.all(np.isfinite(out)) and not out.any()


def test_background_only_gives_zeros():
    probs = np.tile([[[0.9, 0.05, 0.05]]], (2, 5, 1)).astype(np.float32)
    out = detect(np.concatenate([ROIS, ROIS]), probs, min_confidence=0.0)
    assert out.shape == (2, 5, 6) and not out.any()


def test_zero_padded_rois_and_no_detections_are_finite():
    out = detect(np.zeros((1, 5, 4)), np.tile([[[0.9, 0.05, 0.05]]], (1, 5, 1)))
    assert np.all(np.isfinite(out)) and not out.any()


def test_window_clipping():
    # Image 64 x 64 with the picture in rows 16..47: window (16, 0, 48, 64) in pixels.
    window = utils.norm_boxes(np.array([[16, 0, 48, 64]]), (64, 64))[0]
    rois = np.array([[[0.1, 0.1, 0.5, 0.5], [0.6, 0.2, 0.9, 0.7]]], np.float32)
    probs = np.array([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], np.float32)
    out = detect(rois, probs, metas=meta(64, (16, 0, 48, 64))[None], max_instances=3)
    np.testing.assert_allclose(out[0, 0], [window[0], 0.1, 0.5, 0.5, 1, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [0.6, 0.2, window[2], 0.7, 2, 1.0], atol=1e-6)
    assert not out[0, 2].any()


def test_keeps_top_max_instances_by_score():
    rois = np.array([[[0.0, 0.0, 0.1, 0.1], [0.2, 0.2, 0.3, 0.3], [0.4, 0.4, 0.5, 0.5], [0.6, 0.6, 0.7, 0.7]]],
                    np.float32)
    probs = np.array([[[0.1, 0.9, 0.0], [0.2, 0.0, 0.8], [0.05, 0.95, 0.0], [0.15, 0.85, 0.0]]], np.float32)
    out = detect(rois, probs, max_instances=2)
    np.testing.assert_allclose(out[0], [[0.4, 0.4, 0.5, 0.5, 1, 0.95], [0.0, 0.0, 0.1, 0.1, 1, 0.9]], atol=1e-6)


def test_object_score_keeps_an_object_whose_class_is_uncertain():
    rois = np.array([[[0.1, 0.1, 0.4, 0.4], [0.6, 0.6, 0.9, 0.9], [0.0, 0.0, 0.0, 0.0]]], np.float32)
    # ROI 0: surely an object, class 1 or 2 (0.5 / 0.4); ROI 1: background; ROI 2: zero padding scored as an object
    probs = np.array([[[0.1, 0.5, 0.4], [0.8, 0.1, 0.1], [0.0, 0.35, 0.65]]], np.float32)
    assert not detect(rois, probs, max_instances=3).any()  # Matterport's score: 0.5 < 0.7
    out = detect(rois, probs, max_instances=3, score="object")
    np.testing.assert_allclose(out[0], [[0.1, 0.1, 0.4, 0.4, 1, 0.9], [0] * 6, [0] * 6], atol=1e-6)
    # a background ROI counts as an object at 1 - 0.8 = 0.2 once the threshold allows it, with its best other class
    low = detect(rois, probs, max_instances=3, min_confidence=0.15, score="object")
    np.testing.assert_allclose(low[0, 1], [0.6, 0.6, 0.9, 0.9, 1, 0.2], atol=1e-6)
    assert not low[0, 2].any()


def test_across_classes_drops_the_overlapping_detection_of_another_class():
    out = detect(ROIS, PROBS, DELTAS, nms_across_classes=True)
    expected = np.zeros((1, 5, 6), np.float32)
    expected[0, 0] = [0.1, 0.1, 0.4, 0.4, 1, 0.9]  # roi 2 (class 2, 0.85, IoU 0.875 with it) is gone
    expected[0, 1] = [0.63, 0.1, 0.93, 0.3, 1, 0.75]  # moved up, the freed rows zero
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # at an NMS threshold above their IoU both stay, as per class
    np.testing.assert_allclose(detect(ROIS, PROBS, DELTAS, nms_threshold=0.9, nms_across_classes=True),
                               detect(ROIS, PROBS, DELTAS, nms_threshold=0.9), atol=1e-6)


def test_across_classes_judges_all_pairs_at_once():
    # A (class 1, 0.9) overlaps B (class 2, 0.8) by IoU 0.6; B overlaps C (class 1, 0.7) by 0.6; A and C by 0.25.
    rois = np.array([[[0.0, 0.0, 0.4, 0.4], [0.0, 0.1, 0.4, 0.5], [0.0, 0.2, 0.4, 0.6]]], np.float32)
    probs = np.array([[[0.1, 0.9, 0.0], [0.2, 0.0, 0.8], [0.3, 0.7, 0.0]]], np.float32)
    out = detect(rois, probs, max_instances=3, nms_threshold=0.5, nms_across_classes=True, min_confidence=0.5)
    np.testing.assert_allclose(out[0, :, 5], [0.9, 0, 0], atol=1e-6)  # B drops C although B itself is dropped
    batch = detect(np.concatenate([rois, ROIS[:, :3]]), np.concatenate([probs, PROBS[:, :3]]), max_instances=3,
                   nms_threshold=0.5, nms_across_classes=True, min_confidence=0.5)
    np.testing.assert_allclose(batch[0], out[0], atol=1e-6)  # each image of a batch on its own
    np.testing.assert_allclose(batch[1, :, 5], [0.9, 0, 0], atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(detection_max_instances=0), dict(detection_min_confidence=-0.1),
                                    dict(detection_nms_threshold=2.0), dict(bbox_std_dev=[1, 1]),
                                    dict(score="logit"), dict(nms_across_classes="yes")])
def test_bad_arguments(kwargs):
    args = dict(detection_max_instances=10, detection_min_confidence=0.7, detection_nms_threshold=0.3,
                bbox_std_dev=STD)
    args.update(kwargs)
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        DetectionLayer(**args)


def test_functional_model_dynamic_batch_save_and_load(tmp_path):
    num_rois = ROIS.shape[1]
    inputs = [keras.Input((num_rois, 4)), keras.Input((num_rois, NUM_CLASSES)),
              keras.Input((num_rois, NUM_CLASSES, 4)), keras.Input((len(meta()),))]
    layer = DetectionLayer(5, 0.7, 0.3, np.array(STD), score="object", nms_across_classes=True)
    assert layer.get_config()["score"] == "object" and layer.get_config()["nms_across_classes"] is True
    layer = DetectionLayer(5, 0.7, 0.3, np.array(STD))
    out = layer(inputs)
    assert tuple(out.shape) == (None, 5, 6)
    model = keras.Model(inputs, out)
    # Image 1 is image 0 with the background ROI scored as class 2.
    probs = np.concatenate([PROBS, PROBS])
    probs[1, 3] = [0.06, 0.06, 0.88]
    data = [np.concatenate([ROIS, ROIS]), probs, np.concatenate([DELTAS, DELTAS]), np.stack([meta(), meta()])]
    result = model.predict(data, verbose=0)
    np.testing.assert_allclose(result[0], detect(ROIS, PROBS, DELTAS)[0], atol=1e-6)
    np.testing.assert_allclose(result[1, 0], [0.1, 0.1, 0.4, 0.4, 1, 0.9], atol=1e-6)
    np.testing.assert_allclose(result[1, 1], [0.6, 0.6, 0.9, 0.9, 2, 0.88], atol=1e-6)

    path = tmp_path / "detection.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"DetectionLayer": DetectionLayer}, safe_mode=True)
    assert loaded.get_layer("mrcnn_detection").get_config() == layer.get_config()
    assert not loaded.get_layer("mrcnn_detection").supports_jit
    np.testing.assert_allclose(loaded.predict(data, verbose=0), result, atol=1e-6)
