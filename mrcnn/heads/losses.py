"""The five Mask R-CNN losses and the weight decay, with Matterport's semantics, as plain TensorFlow functions.

Every loss returns a float32 scalar, and returns exactly 0.0 (never NaN) when there is nothing to learn from
(no non-neutral anchors, no positive anchors, all ROIs background, all predicted classes inactive). Means are
written as `sum / count` with `tf.math.divide_no_nan`, so the empty case is 0 and its gradient is 0, not NaN.

Each loss `x_loss(...)` is `divide_no_nan(*x_loss_terms(...))`: the `_terms` twin returns the float32 scalars
(sum, count) of the mean. Every loss is a mean over the whole batch (over its non-neutral anchors, positive anchors,
active ROIs or positive ROIs, whose number differs per image), so when the batch is split across replicas
(mrcnn/training/distribute.py) the trainer adds up the counts of all replicas first and divides each replica's sum
by that global count: the replicas' shares then add up to exactly the loss of the whole batch.
Inputs may be any float dtype (e.g. bfloat16 outputs of a mixed-precision model); the losses compute in float32.

Differences from Matterport, on purpose:
- `rpn_bbox_loss` packs the targets without a static batch size (Matterport's `batch_pack_graph` looped over
  IMAGES_PER_GPU in Python).
- `mrcnn_class_loss` reads each image's own row of `active_class_ids`; Matterport used row 0 for the whole batch,
  which is wrong when a batch mixes images from datasets with different class sets.

Shape shorthand:
    B: batch, A: anchors (all pyramid levels), T: RPN_TRAIN_ANCHORS_PER_IMAGE (rows of the RPN box targets),
    R: ROIs per image (TRAIN_ROIS_PER_IMAGE, zero-padded), NC: number of classes including the background,
    h, w: mask height and width (MASK_SHAPE)
"""

import numbers

import tensorflow as tf

# Clipping of probabilities before the logarithm of the binary cross-entropy (Keras' default epsilon).
BCE_EPSILON = 1e-7


def _sum_count(values):
    """(sum, number) of all elements of `values` (float32 scalars); (0.0, 0.0) when `values` is empty."""
    return tf.reduce_sum(values), tf.cast(tf.size(values), tf.float32)


def ratio(terms):
    """A loss from its (sum, count) terms: sum / count, 0.0 when count is 0 (its gradient is 0, not NaN)."""
    total, count = terms
    return tf.math.divide_no_nan(total, count)


def _anchor_match(rpn_match):
    """[B, A, 1] or [B, A] anchor match values -> int32 [B, A]."""
    return tf.reshape(tf.cast(rpn_match, tf.int32), tf.shape(rpn_match)[:2])


def smooth_l1(y_true, y_pred):
    """Elementwise smooth L1 (Huber with delta 1): 0.5 d**2 where |d| < 1, |d| - 0.5 elsewhere; d = y_true - y_pred.

    Args:
        y_true, y_pred: tensors of the same shape (any float dtype).

    Returns:
        float32 tensor of that shape.
    """
    diff = tf.abs(tf.cast(y_true, tf.float32) - tf.cast(y_pred, tf.float32))
    less_than_one = tf.cast(diff < 1.0, tf.float32)
    return less_than_one * 0.5 * tf.square(diff) + (1.0 - less_than_one) * (diff - 0.5)


def rpn_class_loss(rpn_match, rpn_class_logits):
    """RPN anchor classifier loss: softmax cross-entropy over the non-neutral anchors, averaged over them.

    Args:
        rpn_match: [B, A, 1] (or [B, A]) anchor match type: 1 positive, -1 negative, 0 neutral (ignored).
        rpn_class_logits: [B, A, (bg logit, fg logit)].

    Returns:
        float32 scalar; 0.0 when no anchor is positive or negative.
    """
    return ratio(rpn_class_loss_terms(rpn_match, rpn_class_logits))


def rpn_class_loss_terms(rpn_match, rpn_class_logits):
    """(sum, count) of `rpn_class_loss` (same arguments): the cross-entropy summed over the non-neutral anchors,
    and their number."""
    match = _anchor_match(rpn_match)
    non_neutral = tf.not_equal(match, 0)
    labels = tf.boolean_mask(tf.cast(tf.equal(match, 1), tf.int32), non_neutral)
    logits = tf.boolean_mask(tf.cast(rpn_class_logits, tf.float32), non_neutral)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return _sum_count(loss)


def rpn_bbox_loss(target_bbox, rpn_match, rpn_bbox):
    """RPN box regression loss: smooth L1 between the positive anchors' predicted deltas and their targets.

    The targets are packed: row j of image b's `target_bbox` is the target of image b's j-th positive anchor in
    anchor order (Matterport's `build_rpn_targets`), the remaining rows are zero padding. So the k_b positive
    predictions of image b (in anchor order) are matched with the first k_b target rows of image b. Positives
    beyond the T target rows (which `build_rpn_targets` never produces) have no target and are ignored.

    Args:
        target_bbox: [B, T, (dy, dx, log(dh), log(dw))] packed targets, zero-padded after each image's positives.
        rpn_match: [B, A, 1] (or [B, A]) anchor match type: 1 positive, -1 negative, 0 neutral.
        rpn_bbox: [B, A, (dy, dx, log(dh), log(dw))] predicted deltas.

    Returns:
        float32 scalar: mean of the smooth L1 over the 4 coordinates of all positive anchors of the batch
        (Matterport's `K.mean` over [positives, 4]); 0.0 when there is no positive anchor.
    """
    return ratio(rpn_bbox_loss_terms(target_bbox, rpn_match, rpn_bbox))


def rpn_bbox_loss_terms(target_bbox, rpn_match, rpn_bbox):
    """(sum, count) of `rpn_bbox_loss` (same arguments): the smooth L1 summed over [positives, 4], and 4 x positives."""
    target_bbox = tf.cast(target_bbox, tf.float32)
    positive = tf.equal(_anchor_match(rpn_match), 1)
    num_targets = tf.shape(target_bbox)[1]
    # 1-based rank of each positive anchor within its image; keep the positives that have a target row.
    rank = tf.cumsum(tf.cast(positive, tf.int32), axis=1)
    used = tf.logical_and(positive, rank <= num_targets)
    pred = tf.boolean_mask(tf.cast(rpn_bbox, tf.float32), used)
    counts = tf.reduce_sum(tf.cast(used, tf.int32), axis=1)
    target_rows = tf.range(num_targets)[tf.newaxis, :] < counts[:, tf.newaxis]
    target = tf.boolean_mask(target_bbox, target_rows)
    return _sum_count(smooth_l1(target, pred))


def mrcnn_class_loss(target_class_ids, pred_class_logits, active_class_ids):
    """Classifier head loss: softmax cross-entropy over the ROIs, ignoring predictions of inactive classes.

    A ROI whose predicted class (argmax of the logits) is not active in its image's dataset gets weight 0, so the
    model is not penalised for classes that the image's source cannot label. Each image uses its own row of
    `active_class_ids` (Matterport used row 0 for the whole batch). Zero-padded ROIs have target class 0
    (background) and count as background ROIs, as in Matterport.

    Args:
        target_class_ids: [B, R] integer class ids (int or float dtype), zero-padded.
        pred_class_logits: [B, R, NC] class logits.
        active_class_ids: [B, NC] 1 for the classes of the image's source dataset, 0 otherwise.

    Returns:
        float32 scalar: sum(CE * active) / sum(active); 0.0 when the weights sum to 0.
    """
    return ratio(mrcnn_class_loss_terms(target_class_ids, pred_class_logits, active_class_ids))


def mrcnn_class_loss_terms(target_class_ids, pred_class_logits, active_class_ids):
    """(sum(CE * active), sum(active)) of `mrcnn_class_loss` (same arguments)."""
    target = tf.cast(target_class_ids, tf.int64)
    logits = tf.cast(pred_class_logits, tf.float32)
    pred_class_ids = tf.argmax(logits, axis=2)
    pred_active = tf.gather(tf.cast(active_class_ids, tf.float32), pred_class_ids, batch_dims=1)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits) * pred_active
    return tf.reduce_sum(loss), tf.reduce_sum(pred_active)


def _positive_rois(target_class_ids):
    """[B, R] class ids -> (int64 [P] flat indices of the positive ROIs, int64 [P] their class ids)."""
    class_ids = tf.reshape(tf.cast(target_class_ids, tf.int64), [-1])
    positive_ix = tf.where(class_ids > 0)[:, 0]
    return positive_ix, tf.gather(class_ids, positive_ix)


def mrcnn_bbox_loss(target_bbox, target_class_ids, pred_bbox):
    """Box head loss: smooth L1 on the positive ROIs, using each ROI's prediction for its own target class.

    Args:
        target_bbox: [B, R, (dy, dx, log(dh), log(dw))] target deltas, zero-padded.
        target_class_ids: [B, R] integer class ids (int or float dtype); > 0 marks a positive ROI.
        pred_bbox: [B, R, NC, (dy, dx, log(dh), log(dw))] predicted deltas for every class.

    Returns:
        float32 scalar: mean of the smooth L1 over [positive ROIs, 4]; 0.0 when no ROI is positive.
    """
    return ratio(mrcnn_bbox_loss_terms(target_bbox, target_class_ids, pred_bbox))


def mrcnn_bbox_loss_terms(target_bbox, target_class_ids, pred_bbox):
    """(sum, count) of `mrcnn_bbox_loss` (same arguments): the smooth L1 summed over [positive ROIs, 4], and
    4 x positive ROIs."""
    positive_ix, positive_class_ids = _positive_rois(target_class_ids)
    target = tf.gather(tf.reshape(tf.cast(target_bbox, tf.float32), [-1, 4]), positive_ix)
    num_classes = tf.shape(pred_bbox)[2]
    pred = tf.reshape(tf.cast(pred_bbox, tf.float32), tf.stack([-1, num_classes, 4]))
    pred = tf.gather_nd(pred, tf.stack([positive_ix, positive_class_ids], axis=1))
    return _sum_count(smooth_l1(target, pred))


def mrcnn_mask_loss(target_masks, target_class_ids, pred_masks):
    """Mask head loss: binary cross-entropy on the positive ROIs, using each ROI's mask for its own target class.

    Args:
        target_masks: [B, R, h, w] target masks in {0, 1} (any dtype), zero-padded.
        target_class_ids: [B, R] integer class ids (int or float dtype); > 0 marks a positive ROI.
        pred_masks: [B, R, h, w, NC] predicted mask probabilities (sigmoid outputs, not logits).

    Returns:
        float32 scalar: mean binary cross-entropy over [positive ROIs, h, w], with the probabilities clipped to
        [BCE_EPSILON, 1 - BCE_EPSILON] as Keras does; 0.0 when no ROI is positive.
    """
    return ratio(mrcnn_mask_loss_terms(target_masks, target_class_ids, pred_masks))


def mrcnn_mask_loss_terms(target_masks, target_class_ids, pred_masks):
    """(sum, count) of `mrcnn_mask_loss` (same arguments): the binary cross-entropy summed over
    [positive ROIs, h, w], and positive ROIs x h x w."""
    positive_ix, positive_class_ids = _positive_rois(target_class_ids)
    mask_shape = tf.shape(target_masks)
    y_true = tf.reshape(tf.cast(target_masks, tf.float32), tf.concat([[-1], mask_shape[2:4]], axis=0))
    y_true = tf.gather(y_true, positive_ix)
    pred_shape = tf.shape(pred_masks)
    y_pred = tf.reshape(tf.cast(pred_masks, tf.float32), tf.concat([[-1], pred_shape[2:5]], axis=0))
    y_pred = tf.gather(tf.gather(y_pred, positive_ix), positive_class_ids, axis=3, batch_dims=1)
    y_pred = tf.clip_by_value(y_pred, BCE_EPSILON, 1.0 - BCE_EPSILON)
    bce = -(y_true * tf.math.log(y_pred) + (1.0 - y_true) * tf.math.log(1.0 - y_pred))
    return _sum_count(bce)


def _variable_label(variable):
    """The variable's path (Keras 3: "layer_name/gamma") or, failing that, its name."""
    return getattr(variable, "path", None) or variable.name


def _check_weight_decay(weight_decay, caller):
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real) or not weight_decay >= 0:
        raise ValueError(f"{caller}: weight_decay must be a non-negative number, got {weight_decay!r}")


def _decayed(variable):
    """Whether Matterport's weight decay covers `variable` (not batch norm's scale and offset)."""
    label = _variable_label(variable)
    return not ("gamma" in label or "beta" in label)


def weight_decay_loss(weights, weight_decay):
    """Matterport's L2 weight decay: sum over the variables of weight_decay * sum(w**2) / size(w).

    Batch-norm scale and offset are skipped: any variable whose path or name contains "gamma" or "beta".
    (Keras 2's `l2(weight_decay)(w)` is weight_decay * sum(w**2); Matterport divided it by `tf.size(w)`, so every
    tensor contributes its mean square, whatever its size.) Pass the model's trainable weights, as Matterport did.

    Args:
        weights: iterable of variables (keras.Variable or tf.Variable).
        weight_decay: non-negative float (Config.WEIGHT_DECAY).

    Returns:
        float32 scalar; 0.0 when no variable remains.
    """
    _check_weight_decay(weight_decay, "weight_decay_loss")
    total = tf.constant(0.0, tf.float32)
    for variable in weights:
        if not _decayed(variable):
            continue
        value = tf.cast(tf.convert_to_tensor(variable), tf.float32)
        total += weight_decay * tf.reduce_sum(tf.square(value)) / tf.cast(tf.size(value), tf.float32)
    return total


def add_weight_decay_gradients(gradients, weights, weight_decay, scale=1.0):
    """`gradients` of the other losses plus `scale` times the gradient of `weight_decay_loss(weights, weight_decay)`,
    2 * weight_decay * w / size(w) for each decayed variable (None gradients become that term alone).

    The same update as differentiating the loss with the decay in it, but each term is computed only once its
    variable's other gradient exists (a control dependency). Differentiated with the loss, every term was ready at
    the start of the backward pass, and the graph computed them all then and held them, a float32 copy of every
    weight, until the other gradients arrived: 0.36 GB more at the peak of a ResNet50-FPN step.

    Args:
        gradients: list, one tensor or None per variable of `weights` (in the same order).
        weights: the variables, as passed to `weight_decay_loss`.
        weight_decay: non-negative float (Config.WEIGHT_DECAY); 0 returns `gradients` as they are.
        scale: float or scalar tensor multiplying the decay's gradient (a replica's share, the loss scale).
    Returns:
        the list of gradients.
    """
    _check_weight_decay(weight_decay, "add_weight_decay_gradients")
    if not weight_decay:
        return list(gradients)
    out = []
    for gradient, variable in zip(gradients, weights):
        if not _decayed(variable):
            out.append(gradient)
            continue
        with tf.control_dependencies([] if gradient is None else [gradient]):
            value = tf.convert_to_tensor(variable)
        size = tf.cast(tf.size(value), value.dtype)
        term = tf.cast(2.0 * weight_decay * scale, value.dtype) * value / size
        out.append(term if gradient is None else gradient + tf.cast(term, gradient.dtype))
    return out
