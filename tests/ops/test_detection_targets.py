import numpy as np
import pytest
import tensorflow as tf

from mrcnn import utils
from mrcnn.ops.detection_targets import detection_targets_graph

STD = [0.1, 0.1, 0.2, 0.2]


def targets(proposals, class_ids, gt_boxes, gt_masks=None, t=10, ratio=0.33, mask_shape=(4, 4), mini=True,
            positive_iou=0.5, seed=None):
    proposals = np.asarray(proposals, np.float32)
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    if gt_masks is None:
        gt_masks = np.ones((6, 6, len(gt_boxes)), bool)
    out = detection_targets_graph(tf.constant(proposals), tf.constant(class_ids, tf.int32), tf.constant(gt_boxes),
                                  tf.constant(gt_masks), train_rois_per_image=t, roi_positive_ratio=ratio,
                                  bbox_std_dev=STD, mask_shape=mask_shape, use_mini_mask=mini,
                                  positive_iou=positive_iou, seed=seed)
    return [o.numpy() for o in out]


def jitter(rng, box, n, scale):
    return (np.asarray(box, np.float32) + rng.uniform(-scale, scale, size=(n, 4))).astype(np.float32)


def far_boxes(rng, n):
    """Boxes in the bottom-right corner, away from the ground truth used below (top-left)."""
    corner = rng.uniform(0.6, 0.8, size=(n, 2))
    return np.concatenate([corner, corner + 0.15], axis=1).astype(np.float32)


GT = np.array([[0.1, 0.1, 0.3, 0.3], [0.1, 0.35, 0.4, 0.5]], np.float32)


def count_rows(x):
    return int(np.sum(np.any(x.reshape(len(x), -1) != 0, axis=1)))


def test_positive_ratio_caps_positives_and_sets_negatives():
    rng = np.random.default_rng(0)
    positives = np.concatenate([jitter(rng, GT[0], 10, 0.01), jitter(rng, GT[1], 10, 0.01)])
    proposals = np.concatenate([positives, far_boxes(rng, 20), np.zeros((5, 4), np.float32)])
    rois, class_ids, deltas, masks = targets(proposals, [1, 2], GT, t=10, ratio=0.33)
    # int(10 * 0.33) = 3 positives, int(3 / 0.33) - 3 = 6 negatives, one padding row.
    assert np.count_nonzero(class_ids) == 3
    assert count_rows(rois) == 9
    assert set(class_ids[:3].tolist()) <= {1, 2} and not class_ids[3:].any()
    assert count_rows(deltas[:3]) == 3 and not deltas[3:].any()
    # The jittered ROIs stick out of their GT box a little: the part outside the (full) mini mask is 0.
    assert np.all(masks[:3].max(axis=(1, 2)) == 1) and np.all(np.isin(masks, [0, 1])) and not masks[3:].any()


def test_sampling_is_a_function_of_the_seed():
    rng = np.random.default_rng(0)
    proposals = np.concatenate([jitter(rng, GT[0], 10, 0.01), jitter(rng, GT[1], 10, 0.01), far_boxes(rng, 20)])
    draw = [targets(proposals, [1, 2], GT, t=10, ratio=0.33, seed=tf.constant(s, tf.int32))[0]
            for s in ([3, 4], [3, 4], [3, 5])]
    np.testing.assert_array_equal(draw[0], draw[1])
    assert not np.array_equal(draw[0], draw[2])
    # The same positives and negatives, in another order and another subset: both are samples of one pool.
    assert count_rows(draw[2]) == count_rows(draw[0]) == 9


def test_default_settings_fill_all_rois():
    rng = np.random.default_rng(1)
    positives = jitter(rng, GT[0], 100, 0.01)
    proposals = np.concatenate([positives, far_boxes(rng, 200)])
    rois, class_ids, _, _ = targets(proposals, [1, 0], [GT[0], [0, 0, 0, 0]], t=200, ratio=0.33)
    # 66 positives and int(66 / 0.33) - 66 = 134 negatives (float rounding must not lose one).
    assert np.count_nonzero(class_ids) == 66
    assert count_rows(rois) == 200


def test_few_positives_give_few_negatives_and_padding_at_end():
    rng = np.random.default_rng(2)
    proposals = np.concatenate([GT[:1] + 0.005, far_boxes(rng, 10)])
    rois, class_ids, deltas, masks = targets(proposals, [3], GT[:1], t=10, ratio=0.33)
    # 1 positive, int(1 / 0.33) - 1 = 2 negatives, then 7 padding rows.
    assert class_ids.tolist() == [3] + [0] * 9
    np.testing.assert_allclose(rois[0], GT[0] + 0.005, atol=1e-6)
    assert np.all(np.any(rois[:3] != 0, axis=1)) and not rois[3:].any()
    assert not deltas[1:].any() and not masks[1:].any()


def test_deltas_decode_to_the_assigned_gt_box():
    rng = np.random.default_rng(3)
    proposals = np.concatenate([jitter(rng, GT[0], 6, 0.02), jitter(rng, GT[1], 6, 0.02), far_boxes(rng, 4)])
    rois, class_ids, deltas, _ = targets(proposals, [1, 2], GT, t=12, ratio=0.5)
    positive = class_ids > 0
    assert positive.sum() == 6
    overlaps = utils.compute_overlaps(rois[positive], GT)
    best = np.argmax(overlaps, axis=1)
    assert np.all(overlaps.max(axis=1) >= 0.5)
    np.testing.assert_array_equal(class_ids[positive], np.array([1, 2])[best])
    decoded = utils.apply_box_deltas(rois[positive], deltas[positive] * np.array(STD))
    np.testing.assert_allclose(decoded, GT[best], atol=1e-5)


def test_no_ground_truth_gives_negatives_only_and_finite_values():
    rng = np.random.default_rng(4)
    proposals = np.concatenate([far_boxes(rng, 6), np.zeros((4, 4), np.float32)])
    outs = targets(proposals, [0, 0], np.zeros((2, 4)), t=8)
    rois, class_ids, deltas, masks = outs
    assert all(np.all(np.isfinite(o)) for o in outs)
    assert not class_ids.any() and not deltas.any() and not masks.any()
    assert count_rows(rois) == 6  # every non-padding proposal is a negative (T = 8 > 6)
    assert not rois[6:].any()
    # Every sampled ROI is one of the proposals.
    assert all(np.any(np.all(np.isclose(proposals, r), axis=1)) for r in rois[:6])


def test_no_proposals_and_no_ground_truth():
    outs = targets(np.zeros((5, 4)), [0], np.zeros((1, 4)), t=4)
    assert all(not o.any() and np.all(np.isfinite(o)) for o in outs)


def test_normalized_padding_rows_with_class_zero_are_ignored():
    # Pixel zero padding normalized by Matterport's rule becomes (0, 0, -1 / (h - 1), -1 / (w - 1)), not zeros.
    padded = utils.norm_boxes(np.zeros((2, 4)), (64, 64))
    gt = np.concatenate([GT[:1], padded])
    proposals = np.concatenate([GT[:1], padded[:1] + [0, 0, 0.01, 0.01], [[0.6, 0.6, 0.7, 0.7]]]).astype(np.float32)
    rois, class_ids, deltas, masks = targets(proposals, [4, 0, 0], gt, t=6, ratio=0.5)
    assert class_ids.tolist() == [4, 0, 0, 0, 0, 0]
    assert count_rows(rois) == 2 and not deltas[1:].any() and np.all(masks[0] == 1)


def test_crowd_boxes_are_not_targets_and_block_negatives():
    crowd = [0.5, 0.5, 0.9, 0.9]
    far = np.array([[0.0, 0.7, 0.1, 0.8], [0.7, 0.0, 0.8, 0.1], [0.0, 0.9, 0.05, 0.95]], np.float32)
    on_crowd = np.array([[0.5, 0.5, 0.9, 0.9], [0.45, 0.45, 0.6, 0.6]], np.float32)
    proposals = np.concatenate([GT[:1], on_crowd, far])
    # ratio 0.1: 1 positive allows int(1 / 0.1) - 1 = 9 negatives, more than there are.
    rois, class_ids, _, _ = targets(proposals, [1, -1], [GT[0], crowd], t=10, ratio=0.1)
    assert class_ids.tolist() == [1] + [0] * 9
    np.testing.assert_allclose(rois[0], GT[0])
    kept = {tuple(r) for r in rois[1:4].tolist()}
    assert kept == {tuple(r) for r in far.tolist()}
    assert not rois[4:].any()
    # A crowd box alone: no targets; negatives avoid it.
    rois, class_ids, _, _ = targets(np.concatenate([on_crowd, far, np.zeros((1, 4), np.float32)]), [-1], [crowd], t=10)
    assert not class_ids.any()
    assert {tuple(r) for r in rois[:3].tolist()} == {tuple(r) for r in far.tolist()} and not rois[3:].any()


def test_positive_iou_argument():
    proposal = np.array([[0.1, 0.1, 0.3, 0.36]], np.float32)  # IoU 0.2 * 0.2 / (0.2 * 0.26) = 0.77 with GT[0]
    _, class_ids, _, _ = targets(proposal, [1], GT[:1], t=4, positive_iou=0.7)
    assert class_ids[0] == 1
    _, class_ids, _, _ = targets(proposal, [1], GT[:1], t=4, positive_iou=0.8)
    assert class_ids[0] == 0


def test_mini_mask_crop():
    mini = np.zeros((8, 8, 2), bool)
    mini[:, :, 0] = True  # full rectangle
    mini[:, :4, 1] = True  # left half
    proposals = GT.copy()
    _, class_ids, _, masks = targets(proposals, [1, 2], GT, gt_masks=mini, t=4, ratio=0.5, mask_shape=(4, 4))
    by_class = {int(c): m for c, m in zip(class_ids, masks) if c > 0}
    np.testing.assert_array_equal(by_class[1], np.ones((4, 4)))
    # crop_and_resize samples x = 0, 7/3, 14/3, 7 of the 8-wide mini mask: the first two are inside the half.
    np.testing.assert_array_equal(by_class[2], np.tile([1.0, 1.0, 0.0, 0.0], (4, 1)))
    assert masks.dtype == np.float32


def test_mini_mask_crop_of_roi_inside_the_box():
    mini = np.zeros((8, 8, 1), bool)
    mini[4:, :, 0] = True  # bottom half of the GT box
    gt = np.array([[0.2, 0.2, 0.6, 0.6]], np.float32)
    bottom = np.array([[0.42, 0.2, 0.6, 0.6]], np.float32)  # IoU 0.45 -> not positive with the default 0.5
    _, class_ids, _, masks = targets(bottom, [1], gt, gt_masks=mini, t=2, ratio=0.5, positive_iou=0.4)
    assert class_ids[0] == 1
    np.testing.assert_array_equal(masks[0], np.ones((4, 4)))


def test_full_mask_crop():
    image = np.zeros((16, 16, 1), np.float32)
    image[4:12, 2:10, 0] = 1.0
    gt = utils.norm_boxes(np.array([[4, 2, 12, 10]]), (16, 16))
    _, class_ids, _, masks = targets(gt, [1], gt, gt_masks=image, t=2, ratio=0.5, mini=False, mask_shape=(5, 5))
    assert class_ids[0] == 1
    np.testing.assert_array_equal(masks[0], np.ones((5, 5)))
    # A box twice as wide: its right half lies outside the mask.
    wide = utils.norm_boxes(np.array([[4, 2, 12, 18]]), (16, 16))
    wide = np.minimum(wide, 1.0)
    _, class_ids, _, masks = targets(wide, [1], gt, gt_masks=image, t=2, ratio=0.5, mini=False, mask_shape=(4, 4),
                                     positive_iou=0.4)
    assert class_ids[0] == 1
    np.testing.assert_array_equal(masks[0], np.tile([1.0, 1.0, 0.0, 0.0], (4, 1)))


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_mask_dtypes(dtype):
    mini = np.ones((6, 6, 1), dtype)
    _, _, _, masks = targets(GT[:1], [1], GT[:1], gt_masks=mini, t=2, ratio=0.5)
    np.testing.assert_array_equal(masks[0], np.ones((4, 4)))
