"""Masks for boxes one gives: the inference model's mask head run on them.

Shape shorthand: H, W: the image; N: the boxes; h, w: MASK_SHAPE; K: NUM_CLASSES (background included);
S: the molded side.

    masks = model.masks_for_boxes(image, boxes, class_ids)   # bool [H, W, N]

The image is molded as `detect` molds it and the backbone and FPN run once; then ROIAlign and the mask head run on
the boxes (pixels of the image, (y2, x2) exclusive), and each box's mask, the channel of its class, is pasted as
`detect` pastes (mrcnn/data/paste.py). A box's first and last pixel centres become the first and last cells of the
head's grid, as for an annotated box in training (utils.norm_boxes). Uses: a cell drawn by hand, masks for box-only
annotations, and benchmarks/mask_stages.py (the head on the annotation's own box).

    masks = masks_at_scale(model, image, boxes, class_ids, factor)    # the image seen at a scale, as detect_at_scale

`masks_at_scale` gives each box the view `mrcnn.tiling.detect_at_scale` gives a cell: the model's input covers
IMAGE_MAX_DIM / factor pixels of the image, so each box is cut out with a square window of that side around it
(padded with the image's median colour where the image is smaller, as a tile is), and the model's own resize of
the window is the factor. The mask is pasted at the image's resolution, as `detect_resized` pastes.
"""

import keras
import numpy as np

from mrcnn.data.paste import paste_masks
from mrcnn.tiling import pad_colour, pad_tile

# The mask head's layers after ROIAlign, in order (mrcnn/heads/mask.py); "mrcnn_mask" itself takes [x, pooled].
MASK_HEAD_LAYERS = (["mrcnn_mask_merge_rois"]
                    + [f"mrcnn_mask_{kind}{i}" for i in range(1, 5) for kind in ("conv", "bn", "relu")]
                    + ["mrcnn_mask_deconv"])


class BoxMaskHead:
    """The mask head of an inference MaskRCNN, callable on boxes of one's choosing."""

    def __init__(self, model):
        if model.mode != "inference":
            raise ValueError("masks_for_boxes() needs a model built with mode='inference'")
        graph = model.keras_model
        self.align = graph.get_layer("roi_align_mask")
        self.features = keras.Model(graph.inputs, list(self.align.input[2:]))  # the FPN maps ROIAlign reads
        self.layers = [graph.get_layer(name) for name in MASK_HEAD_LAYERS]
        self.final = graph.get_layer("mrcnn_mask")
        self.model = model

    def normalized(self, image, boxes, inputs=None):
        """(the pixel `boxes` [N, (y1, x1, y2, x2)] of `image` as normalized boxes of its molded image [N, 4], the
        window (y1, x1, y2, x2), the molded shape (S, S)): a box's first and last pixel centres, through the resize
        that moulds the image, on the molded pixel grid. inputs: mold_inputs([image]) when already made."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        molded, _, windows = inputs or self.model.mold_inputs([image])
        window, side = windows[0], molded.shape[1:3]
        height, width = image.shape[:2]
        scale = np.array([(window[2] - window[0]) / height, (window[3] - window[1]) / width] * 2)
        offset = np.array([window[0], window[1]] * 2, dtype=np.float64)
        centres = boxes + np.array([0.5, 0.5, -0.5, -0.5])  # the first and last pixels' centres
        normalized = (centres * scale - 0.5 + offset) / (np.array(side * 2, dtype=np.float64) - 1)
        return normalized.astype(np.float32), window, side

    def soft(self, image, normalized, inputs=None):
        """float32 [N, h, w, K]: the head's soft masks of `image` in the normalized boxes [N, 4] of its molded
        image. inputs: mold_inputs([image]) when already made."""
        model = self.model
        normalized = np.asarray(normalized, dtype=np.float32).reshape(-1, 4)
        if len(normalized) == 0:
            h, w = model.config.MASK_SHAPE
            return np.zeros((0, h, w, model.config.NUM_CLASSES), np.float32)
        molded, metas, _ = inputs or model.mold_inputs([image])
        anchors = model.get_anchors(molded.shape[1:3])[None]
        maps = self.features({"input_image": molded, "input_image_meta": metas, "input_anchors": anchors},
                             training=False)
        pooled = self.align([normalized[None], metas.astype(np.float32)] + list(maps))
        x = pooled
        for layer in self.layers:
            x = layer(x, training=False)
        return np.asarray(self.final([x, pooled]))[0]

    def __call__(self, image, boxes, class_ids):
        """bool [H, W, N]: the mask of each box's class, pasted into the image."""
        class_ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(class_ids) != len(boxes):
            raise ValueError(f"masks_for_boxes: {len(boxes)} boxes but {len(class_ids)} class ids; give one per box")
        classes = self.model.config.NUM_CLASSES
        if len(class_ids) and (class_ids.min() < 1 or class_ids.max() >= classes):
            raise ValueError(f"masks_for_boxes: class ids must be 1..{classes - 1} (NUM_CLASSES = {classes}, 0 is "
                             f"the background), got {sorted(set(class_ids.tolist()))}")
        if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
            raise ValueError("masks_for_boxes: every box must be (y1, x1, y2, x2) pixels with y2 > y1 and x2 > x1")
        inputs = self.model.mold_inputs([image])  # moulded once for the boxes and the head
        normalized, window, side = self.normalized(image, boxes, inputs)
        soft = self.soft(image, normalized, inputs)
        return paste_masks(soft[np.arange(len(class_ids)), :, :, class_ids], normalized, window, side, image.shape)


def masks_at_scale(model, image, boxes, class_ids, factor):
    """bool [H, W, N]: `model.masks_for_boxes` on each pixel box [N, (y1, x1, y2, x2)] of `image` [H, W, C] seen at
    `factor` (> 1 enlarges; None: the model's own resize of the whole image, as `detect`), see the module notes.
    A box larger than the window gets a window of its own size (the model then shrinks it a little more)."""
    image = np.asarray(image)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    class_ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    if factor is None:
        return model.masks_for_boxes(image, boxes, class_ids)
    if not (isinstance(factor, (int, float, np.number)) and np.isfinite(factor) and factor > 0):
        raise ValueError(f"masks_at_scale: factor must be a positive number or None, got {factor!r}")
    if len(class_ids) != len(boxes):
        raise ValueError(f"masks_at_scale: {len(boxes)} boxes but {len(class_ids)} class ids; give one per box")
    height, width = image.shape[:2]
    masks = np.zeros((height, width, len(boxes)), bool)
    fill = None
    for i, (box, class_id) in enumerate(zip(boxes, class_ids)):
        extent = max(box[2] - box[0], box[3] - box[1])
        side = int(max(round(model.config.IMAGE_MAX_DIM / factor), np.ceil(extent)))
        y0 = int(np.clip(round((box[0] + box[2] - side) / 2), 0, max(0, height - side)))
        x0 = int(np.clip(round((box[1] + box[3] - side) / 2), 0, max(0, width - side)))
        crop = image[y0:y0 + side, x0:x0 + side]
        if fill is None and crop.shape[:2] != (side, side):  # the image is smaller than the window on a side
            fill = pad_colour(image)
        window = pad_tile(crop, side, fill)
        mask = model.masks_for_boxes(window, (box - [y0, x0, y0, x0])[None], [class_id])[..., 0]
        masks[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1], i] = mask[:crop.shape[0], :crop.shape[1]]
    return masks
