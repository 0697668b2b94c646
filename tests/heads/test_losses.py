import math

import numpy as np
import keras
import pytest
import tensorflow as tf

from mrcnn.heads import losses

LN = math.log


def _value(t):
    return float(t.numpy())


def _assert_exact_zero_with_finite_grads(loss_fn, variables):
    """loss_fn(*variables) is exactly 0.0 (float32 scalar) and its gradients are finite."""
    with tf.GradientTape() as tape:
        loss = loss_fn(*variables)
    assert loss.dtype == tf.float32 and loss.shape == ()
    assert _value(loss) == 0.0
    for grad in tape.gradient(loss, variables):
        if grad is not None:
            grad = tf.convert_to_tensor(grad)
            assert np.all(np.isfinite(grad.numpy()))


def test_smooth_l1_hand_values():
    y_pred = tf.constant([0.5, -0.5, 1.0, 2.0, -3.0, 0.0])
    got = losses.smooth_l1(tf.zeros(6), y_pred).numpy()
    np.testing.assert_allclose(got, [0.125, 0.125, 0.5, 1.5, 2.5, 0.0], rtol=1e-6)


# ---------------------------------------------------------------- rpn_class_loss

def test_rpn_class_loss_hand_value():
    # anchor 0: positive, p(fg) = 3/4; anchor 1: negative, p(bg) = 3/4; anchor 2: neutral (ignored, would be huge);
    # image 1, anchor 0: positive with p(fg) = 1/2; the rest neutral.
    rpn_match = tf.constant([[[1], [-1], [0]], [[1], [0], [0]]], tf.int32)
    logits = tf.constant([[[0.0, LN(3)], [LN(3), 0.0], [100.0, -100.0]],
                          [[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]])
    expected = (-LN(0.75) - LN(0.75) + LN(2)) / 3
    assert _value(losses.rpn_class_loss(rpn_match, logits)) == pytest.approx(expected, rel=1e-5)
    # [B, A] match (no trailing axis) and float match values give the same.
    flat = tf.cast(tf.squeeze(rpn_match, -1), tf.float32)
    assert _value(losses.rpn_class_loss(flat, logits)) == pytest.approx(expected, rel=1e-5)


def test_rpn_class_loss_all_neutral_is_zero():
    logits = tf.Variable(tf.random.normal([2, 5, 2]))
    rpn_match = tf.zeros([2, 5, 1], tf.int32)
    _assert_exact_zero_with_finite_grads(lambda lg: losses.rpn_class_loss(rpn_match, lg), [logits])


# ---------------------------------------------------------------- rpn_bbox_loss

def test_rpn_bbox_loss_packs_two_images_with_different_positive_counts():
    t01, t02, t11 = [0.1, 0.2, 0.3, 0.4], [-0.5, 0.5, 0.0, 1.0], [1.0, -1.0, 0.2, 0.0]
    junk = [100.0, 100.0, 100.0, 100.0]
    # Image 0 has 2 positives (anchors 1, 3), image 1 has 1 (anchor 4). Padding rows hold junk on purpose.
    target_bbox = tf.constant([[t01, t02, junk], [t11, junk, junk]])
    rpn_match = tf.constant([[[-1], [1], [0], [1], [-1]], [[-1], [0], [-1], [0], [1]]], tf.int32)
    pred = np.full((2, 5, 4), -50.0, "float32")
    pred[0, 1] = np.add(t01, [0.5, 0, 0, 0])   # smooth L1 0.125
    pred[0, 3] = np.add(t02, [0, 2.0, 0, 0])   # 1.5
    pred[1, 4] = np.add(t11, [0, 0, -1.0, 0])  # 0.5
    expected = (0.125 + 1.5 + 0.5) / 12  # mean over [3 positives, 4]
    assert _value(losses.rpn_bbox_loss(target_bbox, rpn_match, tf.constant(pred))) == pytest.approx(expected, 1e-5)


def test_rpn_bbox_loss_without_static_batch_size():
    fn = tf.function(losses.rpn_bbox_loss, input_signature=[
        tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, None, 1], tf.int32), tf.TensorSpec([None, None, 4])])
    target_bbox = tf.constant([[[1.0, 0, 0, 0], [0, 0, 0, 0]], [[0, 0, 0, 0], [0, 0, 0, 0]],
                               [[0, 0.5, 0, 0], [0, 0, 0, 0]]])
    rpn_match = tf.constant([[[0], [1], [-1]], [[-1], [-1], [0]], [[1], [0], [0]]], tf.int32)
    rpn_bbox = tf.zeros([3, 3, 4])
    # Positives: image 0 anchor 1 (|d| = 1 -> 0.5), image 2 anchor 0 (|d| = 0.5 -> 0.125); image 1 has none.
    assert _value(fn(target_bbox, rpn_match, rpn_bbox)) == pytest.approx((0.5 + 0.125) / 8, rel=1e-6)


def test_rpn_bbox_loss_ignores_positives_beyond_the_target_rows():
    target_bbox = tf.zeros([1, 2, 4])
    rpn_match = tf.constant([[[1], [1], [1]]], tf.int32)
    rpn_bbox = tf.constant([[[0.5, 0, 0, 0], [0, 0, 0, 0], [9.0, 9.0, 9.0, 9.0]]])
    assert _value(losses.rpn_bbox_loss(target_bbox, rpn_match, rpn_bbox)) == pytest.approx(0.125 / 8, rel=1e-6)


def test_rpn_bbox_loss_no_positives_is_zero():
    rpn_bbox = tf.Variable(tf.random.normal([2, 6, 4]))
    rpn_match = tf.constant([[-1, 0, -1, 0, 0, -1], [0] * 6], tf.int32)[..., tf.newaxis]
    target_bbox = tf.zeros([2, 3, 4])
    _assert_exact_zero_with_finite_grads(lambda b: losses.rpn_bbox_loss(target_bbox, rpn_match, b), [rpn_bbox])


# ---------------------------------------------------------------- mrcnn_class_loss

def test_mrcnn_class_loss_uses_each_images_active_classes():
    target = tf.constant([[1, 0], [0, 1]], tf.int32)
    logits = tf.constant([[[0.0, LN(2), 0.0], [LN(3), 0.0, 0.0]],     # CE ln 2 (argmax 1), ln(5/3) (argmax 0)
                          [[0.0, 0.0, LN(2)], [0.0, 0.0, 0.0]]])      # argmax 2: inactive in image 1 (CE ln 4); CE ln 3
    active = tf.constant([[1, 1, 1], [1, 1, 0]], tf.int32)
    expected = (LN(2) + LN(5 / 3) + LN(3)) / 3
    assert _value(losses.mrcnn_class_loss(target, logits, active)) == pytest.approx(expected, rel=1e-5)
    # With image 0's row for both images (Matterport's behaviour), the third ROI would count: a different value.
    matterport = (LN(2) + LN(5 / 3) + LN(4) + LN(3)) / 4
    same_rows = tf.constant([[1, 1, 1], [1, 1, 1]], tf.int32)
    assert _value(losses.mrcnn_class_loss(target, logits, same_rows)) == pytest.approx(matterport, rel=1e-5)
    # Float class ids (as a graph layer may emit) give the same.
    assert _value(losses.mrcnn_class_loss(tf.cast(target, tf.float32), logits, active)) == pytest.approx(
        expected, rel=1e-5)


def test_mrcnn_class_loss_all_inactive_is_zero():
    logits = tf.Variable(tf.random.normal([2, 4, 3]))
    target = tf.constant([[1, 2, 0, 0], [2, 0, 0, 0]])
    active = tf.zeros([2, 3])
    _assert_exact_zero_with_finite_grads(lambda lg: losses.mrcnn_class_loss(target, lg, active), [logits])


# ---------------------------------------------------------------- mrcnn_bbox_loss

def test_mrcnn_bbox_loss_uses_own_class_of_positive_rois():
    target_class_ids = tf.constant([[2.0, 0.0, 1.0]])  # float ids, as DetectionTargetLayer may give
    target_bbox = tf.constant([[[0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]])
    pred = np.full((1, 3, 3, 4), 10.0, "float32")
    pred[0, 0, 2] = [0.6, 0.2, 0.3, 0.4]  # 0.125
    pred[0, 2, 1] = [1.0, 1.0, 1.0, 4.0]  # 2.5
    expected = (0.125 + 2.5) / 8
    got = losses.mrcnn_bbox_loss(target_bbox, target_class_ids, tf.constant(pred))
    assert _value(got) == pytest.approx(expected, rel=1e-5)


def test_mrcnn_bbox_loss_all_background_is_zero():
    pred = tf.Variable(tf.random.normal([2, 3, 4, 4]))
    target_bbox = tf.zeros([2, 3, 4])
    target_class_ids = tf.zeros([2, 3], tf.int32)
    _assert_exact_zero_with_finite_grads(
        lambda p: losses.mrcnn_bbox_loss(target_bbox, target_class_ids, p), [pred])


# ---------------------------------------------------------------- mrcnn_mask_loss

def test_mrcnn_mask_loss_hand_value():
    target_class_ids = tf.constant([[0, 1]])
    target_masks = tf.constant([[[[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]]])
    pred = np.full((1, 2, 2, 2, 2), 0.999, "float32")  # junk for ROI 0 and for class 0
    pred[0, 1, :, :, 1] = [[0.8, 0.2], [0.5, 0.9]]
    expected = (-LN(0.8) - LN(0.8) - LN(0.5) - LN(0.9)) / 4
    got = losses.mrcnn_mask_loss(target_masks, target_class_ids, tf.constant(pred))
    assert _value(got) == pytest.approx(expected, rel=1e-5)


def test_mrcnn_mask_loss_clips_saturated_probabilities():
    target_masks = tf.constant([[[[1.0, 0.0]]]])  # [1, 1, 1, 2]
    pred = tf.Variable([[[[[0.0, 0.0], [1.0, 1.0]]]]])  # [1, 1, 1, 2, 2]: the worst possible predictions
    with tf.GradientTape() as tape:
        loss = losses.mrcnn_mask_loss(target_masks, tf.constant([[1]]), pred)
    # Probabilities clipped to [eps, 1 - eps] (1 - eps rounded to float32).
    expected = (-LN(losses.BCE_EPSILON) - LN(1.0 - float(np.float32(1.0 - losses.BCE_EPSILON)))) / 2
    assert _value(loss) == pytest.approx(expected, rel=1e-4)
    assert np.all(np.isfinite(tape.gradient(loss, pred).numpy()))


def test_mrcnn_mask_loss_all_background_is_zero():
    pred = tf.Variable(tf.random.uniform([2, 3, 4, 4, 3]))
    target_masks = tf.ones([2, 3, 4, 4])
    target_class_ids = tf.zeros([2, 3])
    _assert_exact_zero_with_finite_grads(
        lambda p: losses.mrcnn_mask_loss(target_masks, target_class_ids, p), [pred])


# ---------------------------------------------------------------- weight_decay_loss

def test_weight_decay_hand_value_skips_gamma_and_beta():
    dense = keras.layers.Dense(1, name="dense")
    dense.build((None, 2))
    dense.set_weights([np.array([[1.0], [2.0]], "float32"), np.array([3.0], "float32")])
    bn = keras.layers.BatchNormalization(name="bn")
    bn.build((None, 2))
    bn.set_weights([np.full(2, 5.0, "float32"), np.full(2, 7.0, "float32"), np.zeros(2, "float32"),
                    np.ones(2, "float32")])
    gamma_named = keras.Variable(np.array([4.0, 4.0], "float32"), name="gamma")
    weights = dense.trainable_weights + bn.trainable_weights + [gamma_named]
    with tf.GradientTape() as tape:
        loss = losses.weight_decay_loss(weights, 0.01)
    # kernel: (1 + 4) / 2 = 2.5; bias: 9 / 1 = 9; gamma/beta skipped.
    assert _value(loss) == pytest.approx(0.01 * (2.5 + 9.0), rel=1e-6)
    grads = tape.gradient(loss, [dense.kernel, dense.bias])
    np.testing.assert_allclose(tf.convert_to_tensor(grads[0]).numpy(), [[0.01], [0.02]], rtol=1e-6)
    np.testing.assert_allclose(tf.convert_to_tensor(grads[1]).numpy(), [0.06], rtol=1e-6)
    # A plain tf.Variable is accepted and read by name.
    tf_var = tf.Variable([2.0, 0.0], name="conv_kernel")
    assert _value(losses.weight_decay_loss([tf_var], 0.5)) == pytest.approx(0.5 * 4 / 2)


def test_weight_decay_empty_and_bad():
    assert _value(losses.weight_decay_loss([], 0.01)) == 0.0
    with pytest.raises(ValueError, match="weight_decay"):
        losses.weight_decay_loss([], -0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        losses.weight_decay_loss([], "0.1")


def test_weight_decay_gradients_are_the_losses_gradients():
    """add_weight_decay_gradients(g) == g + d weight_decay_loss / dw, gamma and beta untouched, None -> decay alone."""
    rng = np.random.default_rng(5)
    kernel = keras.Variable(rng.normal(size=(3, 2)).astype("float32"), name="kernel")
    bias = keras.Variable(rng.normal(size=(2,)).astype("float32"), name="bias")
    gamma = keras.Variable(np.ones(2, "float32"), name="gamma")
    weights = [kernel, bias, gamma]
    with tf.GradientTape() as tape:
        loss = losses.weight_decay_loss(weights, 0.01)
    expected = tape.gradient(loss, [kernel, bias])
    others = [tf.ones((3, 2)), None, tf.fill((2,), 3.0)]
    added = losses.add_weight_decay_gradients(others, weights, 0.01, scale=0.5)
    np.testing.assert_allclose(added[0].numpy(), 1.0 + 0.5 * expected[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(added[1].numpy(), 0.5 * expected[1].numpy(), rtol=1e-6)  # no other gradient
    np.testing.assert_allclose(added[2].numpy(), [3.0, 3.0])  # gamma: no decay
    # hand value: 2 * 0.01 * w / 6 for the kernel
    np.testing.assert_allclose(expected[0].numpy(), 2 * 0.01 * kernel.numpy() / 6, rtol=1e-6)
    assert losses.add_weight_decay_gradients(others, weights, 0.0) == others
    with pytest.raises(ValueError, match="weight_decay"):
        losses.add_weight_decay_gradients(others, weights, -1.0)
