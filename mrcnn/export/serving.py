"""The exported model's function: one RGB uint8 image in, its cells out, moulding and unmoulding inside the graph.

Shape shorthand (declared once for the module):
    H, W: the input image's height and width; C: its channels (IMAGE_CHANNEL_COUNT);
    h, w: the image resized (before padding); S: the molded side, IMAGE_MAX_DIM (mode "square");
    A: anchors; M: meta length; D: DETECTION_MAX_INSTANCES; D': detections the mask head ran on;
    N: detections returned; MS: the mask head's side (MASK_SHAPE, 28); K: NUM_CLASSES (background included).

`serving_function(model)` is what `MaskRCNN.export` writes: a tf.function of one uint8 image [H, W, C] returning
    boxes     int32 [N, (y1, x1, y2, x2)] pixels of the input image, (y2, x2) exclusive
    class_ids int32 [N]
    scores    float32 [N]
    masks     bool [H, W, N] full-size masks
the same as `MaskRCNN.detect([image])[0]`'s rois, class_ids, scores and masks. The NumPy steps `detect` runs around
the Keras model (mrcnn/data/mold.py and mrcnn/utils/resize.py) are written here once in TensorFlow, and
tests/export/test_serving.py checks each against its NumPy original:
    `resize_image_graph`       utils.resize_image in mode "square" (and "crop", which inference runs as "square")
    `mold_image_graph`         data.mold.mold_inputs for one image (resize, mean pixel, meta)
    `unmold_detections_graph`  data.mold.unmold_detections (boxes back to the image, masks pasted full size)
Both resizes are scipy.ndimage.zoom's linear interpolation as skimage.transform.resize calls it (order 1, no
anti-aliasing, grid_mode=True, mode "grid-constant": samples outside the input read 0), written as two matrix
products with the interpolation weights (`zoom_matrix`): no loop, and ops every format has.
"""

import numpy as np
import tensorflow as tf

from mrcnn.data.anchors import get_anchors
from mrcnn.data.paste import EDGE_TOLERANCE, MASK_THRESHOLD
from mrcnn.ops.boxes import denorm_boxes_graph, norm_boxes_graph


def zoom_matrix(in_size, out_size):
    """float32 [out_size, in_size]: row i holds the weights that linear interpolation gives each input sample for
    output sample i, as scipy.ndimage.zoom(order=1, grid_mode=True, mode="grid-constant") computes them: output i
    reads the input at s = (i + 0.5) * in_size / out_size - 0.5, input k weighs max(0, 1 - |s - k|); the samples
    beyond the input's ends are 0, so near the border a row sums to less than 1 (skimage's darker rim)."""
    in_size = tf.cast(in_size, tf.float32)
    out_size = tf.cast(out_size, tf.float32)
    s = (tf.range(out_size) + 0.5) * (in_size / out_size) - 0.5
    return tf.maximum(0.0, 1.0 - tf.abs(tf.expand_dims(s, 1) - tf.expand_dims(tf.range(in_size), 0)))


def resize_graph(image, height, width):
    """utils.resize(image, (height, width), preserve_range=True) in float32: image [h0, w0, C] -> [height, width, C].
    """
    image = tf.transpose(tf.cast(image, tf.float32), [2, 0, 1])  # [C, h0, w0]
    rows = zoom_matrix(tf.shape(image)[1], height)  # [height, h0]
    cols = zoom_matrix(tf.shape(image)[2], width)  # [width, w0]
    resized = tf.matmul(tf.matmul(tf.expand_dims(rows, 0), image), tf.expand_dims(cols, 0), transpose_b=True)
    return tf.transpose(resized, [1, 2, 0])


def square_scale(height, width, min_dim, max_dim, min_scale):
    """utils.resize_image's scale in mode "square" for an image of height x width (float32 scalars)."""
    short, long = tf.minimum(height, width), tf.maximum(height, width)
    scale = tf.constant(1.0)
    if min_dim:
        scale = tf.maximum(1.0, min_dim / short)
    if min_scale:
        scale = tf.maximum(scale, float(min_scale))
    return tf.where(tf.round(long * scale) > max_dim, max_dim / long, scale)


def resize_image_graph(image, min_dim, max_dim, min_scale):
    """utils.resize_image(image, min_dim, max_dim, min_scale, mode="square") for a uint8 image [H, W, C].

    Returns (image uint8 [S, S, C] with S = max_dim, window int32 [(y1, x1, y2, x2)], scale float32 scalar). As in
    NumPy the resized values are truncated to integers.
    """
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    scale = square_scale(height, width, min_dim, max_dim, min_scale)
    h = tf.cast(tf.round(height * scale), tf.int32)
    w = tf.cast(tf.round(width * scale), tf.int32)
    resized = resize_graph(image, h, w)
    resized = tf.floor(tf.clip_by_value(resized, 0.0, 255.0))
    top, left = (max_dim - h) // 2, (max_dim - w) // 2
    # Padded in float32 and shaped by a reshape: LiteRT's built-in PAD and RESHAPE take these (a uint8 pad and
    # ensure_shape would need TensorFlow's select ops).
    padded = tf.pad(resized, [[top, max_dim - h - top], [left, max_dim - w - left], [0, 0]])
    padded = tf.cast(tf.reshape(padded, [max_dim, max_dim, image.shape[-1]]), tf.uint8)
    return padded, tf.stack([top, left, h + top, w + left]), scale


def mold_image_graph(image, config):
    """data.mold.mold_inputs([image], config) for one uint8 image [H, W, C], in the graph.

    Returns (molded float32 [S, S, C] mean-subtracted, image_meta float32 [M], window int32 [4]); the meta has
    image_id 0 and no active classes, as mold_inputs writes it.
    """
    check_exportable(config)
    resized, window, scale = resize_image_graph(image, config.IMAGE_MIN_DIM, int(config.IMAGE_MAX_DIM),
                                                config.IMAGE_MIN_SCALE)
    molded = tf.cast(resized, tf.float32) - tf.constant(np.asarray(config.MEAN_PIXEL, np.float32))
    meta = tf.concat([
        [0.0], tf.cast(tf.shape(image), tf.float32), tf.cast(tf.shape(molded), tf.float32),
        tf.cast(window, tf.float32), [scale], tf.zeros([config.NUM_CLASSES])], axis=0)
    return molded, meta, window


def paste_masks_graph(masks, boxes, window, molded_shape, height, width):
    """data.paste.paste_masks for every detection at once: masks float [N, MS, MS] soft masks, boxes float32
    [N, (y1, x1, y2, x2)] normalized boxes of the molded image, window [(y1, x1, y2, x2)] molded pixels, molded_shape
    (S, S) -> bool [N, height, width], thresholded at 0.5.

    One matrix per axis (data/paste.py's formula): pixel y of the image, centred at molded c = (y + 0.5) sy - 0.5 +
    wy1 with sy = (wy2 - wy1) / height, reads mask row s = (c - y1 (S - 1)) (MS - 1) / ((y2 - y1) (S - 1)), clipped
    to the grid, bilinearly, when c lies within the box's molded pixels, and nothing elsewhere; a box of zero height
    or width gives an empty mask.
    """
    side = tf.cast(tf.shape(masks)[1], tf.float32)
    window = tf.cast(window, tf.float32)

    def axis_weights(start, stop, window_start, window_stop, molded_side, size):  # [N] -> [N, size, MS]
        first = tf.expand_dims(start, 1) * (molded_side - 1)
        last = tf.expand_dims(stop, 1) * (molded_side - 1)
        size_f = tf.cast(size, tf.float32)
        centres = (tf.expand_dims(tf.range(size_f), 0) + 0.5) * ((window_stop - window_start) / size_f) - 0.5 \
            + window_start
        reach = 0.5 + EDGE_TOLERANCE
        inside = tf.logical_and(tf.logical_and(centres >= first - reach, centres <= last + reach), last > first)
        s = tf.clip_by_value((centres - first) * (side - 1) / tf.maximum(last - first, 1e-9), 0.0, side - 1)
        hat = tf.maximum(0.0, 1.0 - tf.abs(tf.expand_dims(s, 2) - tf.reshape(tf.range(side), [1, 1, -1])))
        return hat * tf.expand_dims(tf.cast(inside, tf.float32), 2)

    boxes = tf.cast(boxes, tf.float32)
    rows = axis_weights(boxes[:, 0], boxes[:, 2], window[0], window[2], float(molded_shape[0]), height)  # [N, H, MS]
    cols = axis_weights(boxes[:, 1], boxes[:, 3], window[1], window[3], float(molded_shape[1]), width)  # [N, W, MS]
    full = tf.matmul(tf.matmul(rows, tf.cast(masks, tf.float32)), cols, transpose_b=True)
    return full >= MASK_THRESHOLD


def unmold_detections_graph(detections, mrcnn_mask, original_shape, molded_shape, window):
    """data.mold.unmold_detections in the graph, for one image.

    detections: [D, (y1, x1, y2, x2, class_id, score)] normalized, zero-padded (the first class_id 0 ends them).
    mrcnn_mask: [D', MS, MS, K] soft masks, D' >= the number of detections.
    original_shape: int32 [(H, W, ...)]; molded_shape: (S, S) ints; window: [(y1, x1, y2, x2)] molded pixels.
    Returns (boxes int32 [N, 4] pixels of the original image, class_ids int32 [N], scores float32 [N],
    masks bool [H, W, N]); detections of zero area are dropped.
    """
    d = tf.shape(detections)[0]
    positions = tf.range(d)
    count = tf.reduce_min(tf.where(detections[:, 4] == 0, positions, d))
    # tf.slice rather than [:count]: LiteRT's built-in SLICE takes a size computed in the graph.
    valid = tf.slice(detections, [0, 0], tf.stack([count, 6]))
    molded_boxes = valid[:, :4]
    class_ids = tf.cast(valid[:, 4], tf.int32)
    scores = tf.cast(valid[:, 5], tf.float32)
    soft = tf.slice(mrcnn_mask, [0, 0, 0, 0], tf.concat([[count], tf.shape(mrcnn_mask)[1:]], axis=0))
    soft = tf.gather(tf.transpose(soft, [0, 3, 1, 2]), class_ids, batch_dims=1)  # [N, MS, MS]

    # Normalized coordinates of the molded image -> of the window -> pixels of the original image.
    wy1, wx1, wy2, wx2 = tf.unstack(norm_boxes_graph(window, tf.constant(molded_shape[:2])))
    wh, ww = wy2 - wy1, wx2 - wx1
    boxes = (molded_boxes - tf.stack([wy1, wx1, wy1, wx1])) / tf.stack([wh, ww, wh, ww])
    boxes = denorm_boxes_graph(boxes, original_shape[:2])

    keep = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) > 0
    boxes, class_ids = tf.boolean_mask(boxes, keep), tf.boolean_mask(class_ids, keep)
    scores, soft = tf.boolean_mask(scores, keep), tf.boolean_mask(soft, keep)
    masks = paste_masks_graph(soft, tf.boolean_mask(molded_boxes, keep), window, molded_shape, original_shape[0],
                              original_shape[1])
    return boxes, class_ids, scores, tf.transpose(masks, [1, 2, 0])


def check_exportable(config):
    """ValueError unless the config moulds every image to one size (anchors are then a constant of the export)."""
    if config.IMAGE_RESIZE_MODE not in ("square", "crop"):
        raise ValueError(f"Config.IMAGE_RESIZE_MODE = {config.IMAGE_RESIZE_MODE!r}: export needs 'square' (or "
                         "'crop', which inference runs as 'square'): the exported model moulds every image to "
                         "IMAGE_MAX_DIM x IMAGE_MAX_DIM")


def serving_function(keras_model, config):
    """A tf.function of one uint8 image [H, W, C] (any size) -> {"boxes", "class_ids", "scores", "masks"} (module
    notes), running `keras_model` (an inference Mask R-CNN of `config`) between moulding and unmoulding."""
    check_exportable(config)
    side = int(config.IMAGE_MAX_DIM)
    anchors = get_anchors(config, (side, side), normalized=True)[np.newaxis].astype(np.float32)  # [1, A, 4]
    signature = tf.TensorSpec([None, None, config.IMAGE_CHANNEL_COUNT], tf.uint8, name="image")

    @tf.function(input_signature=[signature])
    def serve(image):
        molded, meta, window = mold_image_graph(image, config)
        outputs = keras_model({"input_image": tf.expand_dims(molded, 0),
                               "input_image_meta": tf.expand_dims(meta, 0),
                               # a constant of the graph (a tensor made outside would be captured: an input to ONNX)
                               "input_anchors": tf.constant(anchors)}, training=False)
        boxes, class_ids, scores, masks = unmold_detections_graph(
            outputs["detections"][0], outputs["mrcnn_mask"][0], tf.shape(image), (side, side), window)
        return {"boxes": boxes, "class_ids": class_ids, "scores": scores, "masks": masks}

    return serve
