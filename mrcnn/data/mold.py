"""Moulding images into network inputs and detections back into image coordinates (inference side).

Shape shorthand:
    B: batch (images), H, W: image height and width, C: image channels, M: meta length (see image_meta),
    D: detection slots (DETECTION_MAX_INSTANCES, zero-padded), N: real detections, h, w: mask-head output size,
    K: NUM_CLASSES (background included).

`mold_inputs` resizes each image with the Config's resize mode, subtracts the mean pixel and builds its meta vector;
`unmold_detections` turns the zero-padded normalized detections of one image into pixel boxes, class ids, scores and
full-size binary masks of the original image. Both keep Matterport's semantics (they were methods of its MaskRCNN).
"""

import numpy as np

from mrcnn import utils
from mrcnn.data.image_meta import compose_image_meta
from mrcnn.data.paste import paste_masks


def mold_image(images, mean_pixel):
    """Subtract the mean pixel: the normalization every image gets before the backbone.

    images: [..., C] any numeric dtype (one image [H, W, C] or a batch [B, H, W, C]).
    mean_pixel: [C] per-channel mean (Config.MEAN_PIXEL).
    Returns: float32 [..., C].
    """
    return np.asarray(images).astype(np.float32) - np.asarray(mean_pixel, dtype=np.float32)


def unmold_image(normalized_images, mean_pixel):
    """Inverse of `mold_image`: add the mean back and return uint8 pixels.

    normalized_images: float [..., C]; mean_pixel: [C].
    Returns: uint8 [..., C], rounded to the nearest integer and clipped to 0..255 (Matterport truncated, which turns
        e.g. 199.99998 into 199 after a float32 round trip).
    """
    images = np.asarray(normalized_images, dtype=np.float32) + np.asarray(mean_pixel, dtype=np.float32)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def mold_inputs(images, config):
    """Resize, mean-subtract and describe a list of images for the inference model (Matterport's mold_inputs).

    images: list of [H_i, W_i, C] arrays; sizes may differ, but every image must have IMAGE_CHANNEL_COUNT channels
        and all must mould to the same size (they do in the "square" and "crop" modes).
    config: a Config (IMAGE_MIN_DIM, IMAGE_MAX_DIM, IMAGE_MIN_SCALE, IMAGE_RESIZE_MODE, IMAGE_CHANNEL_COUNT,
        MEAN_PIXEL, NUM_CLASSES are read). Mode "crop" is a training-time mode: here it becomes "square", as in
        Matterport.
    Returns:
        molded_images: float32 [B, H, W, C], resized, padded and mean-subtracted.
        image_metas: float32 [B, M] (image_id 0, active_class_ids all 0, as in Matterport).
        windows: int32 [B, (y1, x1, y2, x2)] pixels of the molded image that hold the image (padding excluded).
    """
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise ValueError(f"images must be a list of [H, W, C] arrays (or a [B, H, W, C] array), got one image of "
                         f"shape {images.shape}; wrap it in a list")
    if len(images) == 0:
        raise ValueError("images is empty: mold_inputs needs at least one [H, W, C] image")
    mode = "square" if config.IMAGE_RESIZE_MODE == "crop" else config.IMAGE_RESIZE_MODE
    molded_images, image_metas, windows = [], [], []
    for index, image in enumerate(images):
        image = np.asarray(image)
        channels = config.IMAGE_CHANNEL_COUNT
        if image.ndim != 3 or image.shape[-1] != channels:
            raise ValueError(f"images[{index}] has shape {image.shape}; expected [height, width, {channels}] "
                             f"(Config.IMAGE_CHANNEL_COUNT = {channels})")
        molded, window, scale, _, _ = utils.resize_image(
            image, min_dim=config.IMAGE_MIN_DIM, min_scale=config.IMAGE_MIN_SCALE,
            max_dim=config.IMAGE_MAX_DIM, mode=mode)
        molded = mold_image(molded, config.MEAN_PIXEL)
        meta = compose_image_meta(0, image.shape, molded.shape, window, scale,
                                  np.zeros([config.NUM_CLASSES], dtype=np.int32))
        molded_images.append(molded)
        image_metas.append(meta)
        windows.append(window)
    shapes = sorted({m.shape for m in molded_images})
    if len(shapes) > 1:
        raise ValueError(f"the images mould to different sizes {shapes} with IMAGE_RESIZE_MODE = "
                         f"{config.IMAGE_RESIZE_MODE!r}; a batch needs one size: use mode 'square', or pass images "
                         "of one size (or one image per call)")
    return (np.stack(molded_images).astype(np.float32), np.stack(image_metas).astype(np.float32),
            np.asarray(windows, dtype=np.int32))


def unmold_detections(detections, mrcnn_mask, original_image_shape, image_shape, window):
    """Turn one image's network detections into results on the original image (Matterport's unmold_detections).

    detections: [D, (y1, x1, y2, x2, class_id, score)] normalized coordinates of the molded image, zero-padded:
        the first row with class_id 0 ends the list.
    mrcnn_mask: [D', h, w, K] soft masks per detection and class; D' may be smaller than D (the inference graph
        runs the mask head on the valid detections only) but not smaller than the number of detections.
    original_image_shape: [(H, W, C)] of the image before moulding.
    image_shape: [(H', W', C)] of the molded image.
    window: [(y1, x1, y2, x2)] pixels of the molded image that hold the image.
    Returns:
        boxes: int32 [N, (y1, x1, y2, x2)] pixels of the original image; detections of zero area are dropped.
        class_ids: int32 [N].
        scores: float32 [N].
        masks: bool [H, W, N], full-size masks of the original image, each pixel reading the soft mask where the
            head looked (data/paste.py; Matterport resized the mask onto the rounded box, a few pixels too small).
        With no detections the shapes are [0, 4], [0], [0] and [H, W, 0].
    """
    detections = np.asarray(detections)
    if detections.ndim != 2 or detections.shape[1] != 6:
        raise ValueError(f"detections must have shape [D, (y1, x1, y2, x2, class_id, score)], "
                         f"got {detections.shape}")
    zero_ix = np.where(detections[:, 4] == 0)[0]
    count = int(zero_ix[0]) if zero_ix.size else detections.shape[0]
    mrcnn_mask = np.asarray(mrcnn_mask)
    if mrcnn_mask.ndim != 4 or mrcnn_mask.shape[0] < count:
        raise ValueError(f"mrcnn_mask must have shape [D, h, w, num_classes] with D >= {count} "
                         f"(one per detection), got {mrcnn_mask.shape}")

    molded_boxes = detections[:count, :4]
    class_ids = detections[:count, 4].astype(np.int32)
    scores = detections[:count, 5].astype(np.float32)
    masks = mrcnn_mask[np.arange(count), :, :, class_ids]

    # Normalized coordinates of the molded image -> normalized coordinates of the window -> original pixels.
    wy1, wx1, wy2, wx2 = utils.norm_boxes(np.asarray(window, dtype=np.float32)[None], image_shape[:2])[0]
    shift = np.array([wy1, wx1, wy1, wx1])
    wh, ww = wy2 - wy1, wx2 - wx1
    boxes = (molded_boxes - shift) / np.array([wh, ww, wh, ww])
    boxes = utils.denorm_boxes(boxes, original_image_shape[:2]).reshape(-1, 4)

    keep = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) > 0
    boxes, class_ids, scores, masks = boxes[keep], class_ids[keep], scores[keep], masks[keep]
    full_masks = paste_masks(masks, molded_boxes[keep], window, image_shape, original_image_shape)
    return boxes.astype(np.int32), class_ids, scores, full_masks
