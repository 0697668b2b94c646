import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import utils
from mrcnn.layers.detection_target import DetectionTargetLayer

STD = [0.1, 0.1, 0.2, 0.2]
T = 6
MAX_GT = 3


def batch_inputs():
    """Image 0: two GT boxes (one crowd) and proposals on them; image 1: no GT at all."""
    gt_boxes = np.zeros((2, MAX_GT, 4), np.float32)
    gt_boxes[0, 0] = [0.1, 0.1, 0.4, 0.4]
    gt_boxes[0, 1] = [0.6, 0.6, 0.9, 0.9]
    gt_class_ids = np.array([[2, -1, 0], [0, 0, 0]], np.int32)
    gt_masks = np.zeros((2, 8, 8, MAX_GT), bool)
    gt_masks[0, :, :, 0] = True
    proposals = np.zeros((2, 8, 4), np.float32)
    proposals[0, :5] = [[0.1, 0.1, 0.4, 0.39], [0.6, 0.6, 0.9, 0.9],
                        [0.0, 0.5, 0.1, 0.6], [0.5, 0.0, 0.6, 0.1], [0.55, 0.55, 0.65, 0.65]]
    proposals[1, :3] = [[0.0, 0.5, 0.1, 0.6], [0.5, 0.0, 0.6, 0.1], [0.2, 0.2, 0.3, 0.3]]
    return proposals, gt_class_ids, gt_boxes, gt_masks


def make_layer(**kwargs):
    args = dict(train_rois_per_image=T, roi_positive_ratio=0.25, bbox_std_dev=STD, mask_shape=(4, 4),
                use_mini_mask=True)
    args.update(kwargs)
    return DetectionTargetLayer(**args)


def check_batch_outputs(outputs, proposals, gt_boxes):
    rois, class_ids, deltas, masks = (np.asarray(o) for o in outputs)
    assert rois.shape == (2, T, 4) and class_ids.shape == (2, T) and deltas.shape == (2, T, 4)
    assert masks.shape == (2, T, 4, 4)
    assert class_ids.dtype == np.int32 and masks.dtype == np.float32
    assert all(np.all(np.isfinite(o)) for o in (rois, deltas, masks))
    # Image 0: one positive (the crowd box is not a target); int(1 / 0.25) - 1 = 3 negatives, the proposal on the
    # crowd box and the one overlapping it (IoU 0.026 > 0.001) are not negatives; padding at the end.
    assert class_ids[0].tolist() == [2, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(rois[0, 0], proposals[0, 0])
    np.testing.assert_allclose(utils.apply_box_deltas(rois[0, :1], deltas[0, :1] * np.array(STD)), gt_boxes[0, :1],
                               atol=1e-5)
    assert {tuple(r) for r in rois[0, 1:3].tolist()} == {tuple(r) for r in proposals[0, 2:4].tolist()}
    assert not rois[0, 3:].any() and not deltas[0, 1:].any() and not masks[0, 1:].any()
    np.testing.assert_array_equal(masks[0, 0], np.ones((4, 4)))
    # Image 1: no GT: every proposal is a negative, no positive targets.
    assert not class_ids[1].any() and not deltas[1].any() and not masks[1].any()
    assert {tuple(r) for r in rois[1, :3].tolist()} == {tuple(r) for r in proposals[1, :3].tolist()}
    assert not rois[1, 3:].any()


def test_batch_with_crowd_and_empty_image():
    proposals, gt_class_ids, gt_boxes, gt_masks = batch_inputs()
    outputs = make_layer()([tf.constant(proposals), tf.constant(gt_class_ids), tf.constant(gt_boxes),
                            tf.constant(gt_masks)])
    check_batch_outputs([o.numpy() for o in outputs], proposals, gt_boxes)


def test_symbolic_output_spec():
    layer = make_layer(mask_shape=(5, 3))
    outs = layer([keras.Input((8, 4)), keras.Input((MAX_GT,), dtype="int32"), keras.Input((MAX_GT, 4)),
                  keras.Input((8, 8, MAX_GT), dtype="bool")])
    assert [tuple(o.shape) for o in outs] == [(None, T, 4), (None, T), (None, T, 4), (None, T, 5, 3)]
    assert [o.dtype for o in outs] == ["float32", "int32", "float32", "float32"]


@pytest.mark.parametrize("kwargs", [dict(train_rois_per_image=0), dict(roi_positive_ratio=0.0),
                                    dict(bbox_std_dev=[0.1, 0.1, 0.2, -0.2]), dict(mask_shape=(28,)),
                                    dict(positive_iou=1.2)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        make_layer(**kwargs)


def test_functional_model_dynamic_batch_save_and_load(tmp_path):
    layer = make_layer(positive_iou=0.5)
    inputs = [keras.Input((8, 4)), keras.Input((MAX_GT,), dtype="int32"), keras.Input((MAX_GT, 4)),
              keras.Input((8, 8, MAX_GT), dtype="bool")]
    model = keras.Model(inputs, layer(inputs))
    proposals, gt_class_ids, gt_boxes, gt_masks = batch_inputs()
    data = [proposals, gt_class_ids, gt_boxes, gt_masks]
    check_batch_outputs(model.predict(data, verbose=0), proposals, gt_boxes)

    path = tmp_path / "targets.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"DetectionTargetLayer": DetectionTargetLayer},
                                     safe_mode=True)
    assert loaded.get_layer("proposal_targets").get_config() == layer.get_config()
    assert not loaded.get_layer("proposal_targets").supports_jit
    check_batch_outputs(loaded.predict(data, verbose=0), proposals, gt_boxes)


def crowded_batch(batch=16, proposals=64, seed=0):
    """`batch` images, each with 4 ground-truth boxes and `proposals` proposals of which about half are positive: many
    ways to sample every image."""
    rng = np.random.default_rng(seed)
    gt_boxes = np.zeros((batch, MAX_GT + 1, 4), np.float32)
    corners = rng.uniform(0.0, 0.6, size=(batch, MAX_GT + 1, 2))
    gt_boxes[..., :2], gt_boxes[..., 2:] = corners, corners + 0.3
    gt_class_ids = np.ones((batch, MAX_GT + 1), np.int32)
    gt_masks = np.ones((batch, 8, 8, MAX_GT + 1), bool)
    which = rng.integers(0, MAX_GT + 1, size=(batch, proposals))
    near = np.take_along_axis(gt_boxes, which[..., None], axis=1) + rng.uniform(-0.05, 0.05, (batch, proposals, 4))
    far = np.concatenate([np.full((batch, proposals, 2), 0.92), np.full((batch, proposals, 2), 0.99)], axis=2)
    props = np.where(rng.uniform(size=(batch, proposals, 1)) < 0.5, near, far - rng.uniform(0, 0.02, (batch, proposals, 4)))
    return [tf.constant(x) for x in (props.astype(np.float32), gt_class_ids, gt_boxes, gt_masks)]


def test_seeded_sampling_repeats_in_a_compiled_graph():
    """The images of a batch are sampled in parallel (tf.map_fn): with the global seed set, a compiled train step's
    samples must not depend on which image's thread draws first (it did with a shared stateful shuffle)."""
    inputs = crowded_batch()
    runs = []
    for _ in range(4):
        keras.utils.set_random_seed(7)
        layer = make_layer(train_rois_per_image=16, roi_positive_ratio=0.5)
        step = tf.function(lambda x: layer(x))
        runs.append([[o.numpy() for o in step(inputs)] for _ in range(3)])  # three steps of one "run"
    for run in runs[1:]:
        for step_a, step_b in zip(runs[0], run):
            for a, b in zip(step_a, step_b):
                np.testing.assert_array_equal(a, b)
    # Not one fixed sample: the steps of a run differ, and so do the images of a step.
    assert not np.array_equal(runs[0][0][0], runs[0][1][0])
    assert not np.array_equal(runs[0][0][0][0], runs[0][0][0][1])
