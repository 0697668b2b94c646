"""A cell the technologist draws: its mask from the model's mask head on the box drawn, else the ellipse in the box.

Shape shorthand: H, W: the image's height and width.

    mask, mask_from = drawn_mask(model, worker, entry, (y1, x1, y2, x2), class_id)   # bool [H, W], "model"

The page sends a box; the model is asked for the outline it would have drawn there: `masks_for_boxes` of a MaskRCNN
(mrcnn/box_masks.py), or of a ScaledDetector, which sees the box at the scale the image was detected at (the image's
"scale" record). It runs on the model's thread (DetectionWorker.run), before the queued images. The decoded pixels
are gone by then (the worker drops them after detection), so the image is read back from the batch folder: the
image itself when its sides are at most uploads.DISPLAY_MAX_SIDE (a lossless PNG), else its JPEG copy scaled down to
that side, whose mask is resized back to the image.

The ellipse inscribed in the box stands in when the model has no mask head of its own to run (a stub, an exported
model), when it fails, when it is still busy after `timeout` seconds, and when its mask does not fill the box as a
cell does: a box is drawn around a cell, and a cell, round or not, covers about as much of its box as the inscribed
ellipse; a mask under MIN_FILL of the ellipse's area is the nucleus alone or a fragment (what a model trained on one
lab's stain draws on another lab's pale cytoplasm). `mask_from` says which the cell got, "model" or "ellipse", and
the cell keeps it.

MIN_FILL was chosen on development images (wbc_masks' development half with make pbc's model, a development split
of PBC's train/ with a model trained on the rest; boxes drawn tight and 1.1x too large) and measured on others:
samples/pbc/README.md, "The web page".
"""

import concurrent.futures
import logging

import numpy as np

log = logging.getLogger(__name__)

MODEL, ELLIPSE = "model", "ellipse"
MASK_TIMEOUT = 60.0  # seconds a drawn cell waits for the model (an image being detected goes first)
MIN_FILL = 0.7  # the model's mask must cover this share of the ellipse's area in the box, else the ellipse is used


def ellipse_mask(height, width, box):
    """bool [H, W]: the ellipse inscribed in box (y1, x1, y2, x2), y2 and x2 exclusive."""
    y1, x1, y2, x2 = box
    ys, xs = np.ogrid[:height, :width]
    cy, cx, ry, rx = (y1 + y2 - 1) / 2, (x1 + x2 - 1) / 2, (y2 - y1) / 2, (x2 - x1) / 2
    return ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1.0


def drawn_mask(model, worker, entry, box, class_id, timeout=MASK_TIMEOUT):
    """(bool [H, W], "model" | "ellipse"): the mask of a cell drawn as pixel box (y1, x1, y2, x2) of `entry`'s image
    (an ImageEntry whose detection is done), class `class_id` (module notes)."""
    height, width = entry.height, entry.width
    ellipse = ellipse_mask(height, width, box)
    if not hasattr(model, "masks_for_boxes"):
        return ellipse, ELLIPSE
    try:
        job = _mask_job(model, entry, box, class_id)
    except (OSError, ValueError) as error:  # the display image cannot be read back
        log.warning("the mask of the cell drawn on %s is an ellipse: %s", entry.name, error)
        return ellipse, ELLIPSE
    future = worker.run(job)
    try:
        mask = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        log.warning("the mask of the cell drawn on %s is an ellipse: the model was busy for %.0f s", entry.name,
                    timeout)
        return ellipse, ELLIPSE
    except Exception as error:  # noqa: BLE001 - any failure of the model: the cell is kept with an ellipse
        log.warning("the mask of the cell drawn on %s is an ellipse: the mask head failed (%s: %s)", entry.name,
                    type(error).__name__, error)
        return ellipse, ELLIPSE
    chosen, mask_from = choose_mask(mask, box, ellipse)
    if mask_from == ELLIPSE:
        log.info("the mask head's outline of the cell drawn on %s does not fill its box: its mask is the ellipse",
                 entry.name)
    return chosen, mask_from


def choose_mask(mask, box, ellipse=None):
    """(bool [H, W], "model" | "ellipse"): the model's `mask` [H, W] of a cell drawn as `box` (y1, x1, y2, x2), cut to
    the box, when it covers at least MIN_FILL of the ellipse inscribed in the box; else that ellipse."""
    height, width = mask.shape
    ellipse = ellipse_mask(height, width, box) if ellipse is None else ellipse
    y1, x1, y2, x2 = box
    inside = np.zeros((height, width), bool)
    inside[y1:y2, x1:x2] = mask[y1:y2, x1:x2]
    if inside.sum() < MIN_FILL * ellipse.sum():
        return ellipse, ELLIPSE
    return inside, MODEL


def _mask_job(model, entry, box, class_id):
    """The job for the model's thread: () -> bool [H, W], the mask head's mask of `box` in entry's image."""
    import cv2
    from PIL import Image

    with Image.open(entry.display_path()) as shown:
        image = np.asarray(shown.convert("RGB"))
    height, width = entry.height, entry.width
    ratio = np.array([image.shape[0] / height, image.shape[1] / width] * 2)
    shown_box = np.asarray(box, np.float64) * ratio
    kwargs = {}
    if "scale" in getattr(model, "reports", ()):  # a ScaledDetector: the scale the image was detected at
        scale = entry.info.get("scale")
        if scale is not None and scale.get("factor") is not None:
            scale = dict(scale, factor=scale["factor"] / ratio[1])  # the display copy is already smaller
        kwargs["scale"] = scale

    def job():
        mask = np.asarray(model.masks_for_boxes(image, shown_box[None], [class_id], **kwargs))[..., 0]
        if mask.shape != (height, width):
            mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        return mask.astype(bool)
    return job
