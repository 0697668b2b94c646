"""Detection at the scale the model knows: each image brought to the training scale first, and its scale reported.

Shape shorthand: H, W: image height and width, N: detections of one image.

    detector = ScaledDetector(model)              # model: an inference MaskRCNN; model.config.RED_CELL_DIAMETER
    r = detector.detect([image])[0]               # Matterport's dict, in the image's coordinates, plus r["scale"]

A model trained on one microscope's images knows cells at one size: Config.RED_CELL_DIAMETER, the red cells'
diameter in pixels of its input. For every image the detector finds how large its red cells are
(mrcnn/data/scale.py: measured on the image, or from a pixel size the user knows), resizes the image by the factor
that brings them to that size, and detects on the result: in one call when it fits the model's input (padded, not
resized again), through overlapping tiles when it is larger (mrcnn/tiling.py: a cell cut by a tile border is counted
once). Boxes and masks come back in the image's own pixels. An image whose scale cannot be had (too few red cells, or
ones that disagree) and a model without RED_CELL_DIAMETER are detected as Matterport does: resized whole to the input.

One microscope gives all its images one scale, and one image's estimate is noisy (a median error of 5-9 %,
docs/scale.md): `calibrate(images)` measures a sample of a set's images and uses their median for every image of the
set (each image's own estimate is still reported). Measured on PBC val with a PBC model (192 px): per-image factors
gave mask mAP@0.5 0.893 and top-1 0.961, one pooled factor 0.917 and 0.970 (the same as PBC's own pixel size).

An image within FIT_TOLERANCE of the input after rescaling is fitted into one tile instead of two: a few percent of
scale is within the estimate's own error (docs/scale.md), two tiles would double the work.

`r["scale"]`, reported per image by `pbc.py detect` (results.jsonl, counts.csv), `evaluate` and the web page:
    {"source": "red cells" | "pixel size" | "none", "factor": resize factor applied or None,
     "pixel_size_um": µm per pixel of the image or None, "red_cell_diameter_px": the image's red cells or None,
     "red_cells": cells measured, "confident": bool, "reason": why there is no scale, or None,
     "pooled_diameter_px": the set's median diameter the factor came from (after calibrate), else absent}
"""

import logging

import numpy as np

from mrcnn.data.scale import RED_CELL_DIAMETER_UM, rescale_factor
from mrcnn.tiling import detect_at_scale

log = logging.getLogger(__name__)

FIT_TOLERANCE = 0.1
CALIBRATION_IMAGES = 50  # images of a set measured by calibrate


class ScaledDetector:
    """`detect` of an inference MaskRCNN, with each image first brought to the training scale (module notes).

    Args:
        model: anything with `config` (its RED_CELL_DIAMETER, IMAGE_MAX_DIM) and Matterport's `detect`.
        pixel_size: µm per pixel of every image (a known microscope), or None to measure each image's red cells.
        rescale: False detects every image as it comes (the scale is still measured and reported).
        familiarity: None, or a mrcnn.familiarity.FamiliarityScorer: each result then also says how unlike the
            training images its image is, r["unlike_training"] = {"score", "unlike", "cutoff"}.
        colour: None, or f(image) -> image applied to every image first (mrcnn/data/colour.py: ColourNormalizer,
            BackgroundBalancer).
    `config` is the model's, so the detector stands in for the model (streaming, the web page, evaluation);
    `reports` names what it adds to each result (mrcnn/streaming.py writes it per image).
    """


    def __init__(self, model, pixel_size=None, rescale=True, familiarity=None, colour=None):
        if pixel_size is not None and not (isinstance(pixel_size, (int, float)) and not isinstance(pixel_size, bool)
                                           and pixel_size > 0):
            raise ValueError(f"pixel_size must be a positive number of µm per pixel, or None, got {pixel_size!r}")
        self.model = model
        self.pixel_size = None if pixel_size is None else float(pixel_size)
        self.rescale = bool(rescale)
        self.pooled = None  # the calibration: {"diameter_px", "images", "measured", "spread"}
        self.familiarity = familiarity
        self.colour = colour
        self.reports = ("scale",) if familiarity is None else ("scale", "unlike_training")

    @property
    def config(self):
        return self.model.config

    @property
    def target_diameter(self):
        """The red-cell diameter (pixels) the model trained at, or None."""
        return getattr(self.model.config, "RED_CELL_DIAMETER", None)

    def scale_of(self, image):
        """(factor or None, the image's scale record as in the module notes)."""
        target = self.target_diameter
        if self.pixel_size is not None:
            factor = None if target is None else rescale_factor(target_diameter_px=target,
                                                                pixel_size=self.pixel_size)[0]
            return factor, {"source": "pixel size", "factor": factor, "pixel_size_um": self.pixel_size,
                            "red_cell_diameter_px": round(RED_CELL_DIAMETER_UM / self.pixel_size, 2),
                            "red_cells": None, "confident": True, "reason": None}
        if target is None:
            return None, {"source": "none", "factor": None, "pixel_size_um": None, "red_cell_diameter_px": None,
                          "red_cells": None, "confident": False,
                          "reason": "the model has no training scale (Config.RED_CELL_DIAMETER)"}
        factor, estimate = rescale_factor(image, target_diameter_px=target)
        record = {"source": "red cells" if factor is not None else "none", "factor": factor}
        record.update(estimate.to_dict())
        if self.pooled is not None:  # the set's median: one microscope, one scale
            factor = target / self.pooled["diameter_px"]
            record.update(source="red cells", factor=factor, pooled_diameter_px=self.pooled["diameter_px"],
                          pixel_size_um=round(RED_CELL_DIAMETER_UM / self.pooled["diameter_px"], 5))
        return factor, record

    def calibrate(self, images):
        """Measure the red cells of `images` (an iterable; one microscope's) and use their median diameter for every
        image from now on. Returns the calibration {"diameter_px" (None when no image could be measured), "images",
        "measured", "spread"} and keeps it in `self.pooled`. Nothing to do with a pixel size given."""
        from mrcnn.data.scale import estimate_red_cell_diameter
        if self.pixel_size is not None:
            return None
        estimates = [estimate_red_cell_diameter(self.colour(image) if self.colour is not None else image)
                     for image in images]
        measured = [e for e in estimates if e.diameter_px is not None]
        chosen = [e for e in measured if e.confident]
        chosen = chosen if len(chosen) >= 3 else measured
        diameters = np.array([e.diameter_px for e in chosen])
        median = float(np.median(diameters)) if len(diameters) else None
        spread = float(np.median(np.abs(diameters - median)) / median) if median else None
        self.pooled = {"diameter_px": None if median is None else round(median, 2), "images": len(estimates),
                       "measured": len(measured), "spread": None if spread is None else round(spread, 4)}
        log.info("scale calibrated on %d images: red cells %s px (%d measured, %d used)", len(estimates),
                 self.pooled["diameter_px"], len(measured), len(chosen))
        if median is None:
            self.pooled = None
        return self.pooled or {"diameter_px": None, "images": len(estimates), "measured": 0, "spread": None}

    def detect(self, images, verbose=0):
        """Matterport's detect over a list of images, each at the training scale; every dict also has "scale" (and
        "unlike_training" with a familiarity scorer)."""
        results = []
        for image in images:
            image = self.colour(image) if self.colour is not None else image
            factor, scale = self._factor(image)
            result = self._run(image, self.model, factor)
            result["scale"] = scale
            if self.familiarity is not None:
                result["unlike_training"] = self.familiarity.judge(self._inputs(image, factor))
            results.append(result)
            if verbose:
                log.info("detected %d of %d images", len(results), len(images))
        return results

    def masks_for_boxes(self, image, boxes, class_ids, scale=None):
        """bool [H, W, N]: the model's mask head on pixel boxes [N, (y1, x1, y2, x2)] of `image`, each seen at the
        scale its detection had (mrcnn/box_masks.py, masks_at_scale): a cell drawn by hand gets the outline the model
        would have drawn. scale: the image's r["scale"] from `detect` (its "factor" is used as it is); None measures
        the image again. NotImplementedError for a model without a mask head of its own (an exported model)."""
        from mrcnn.box_masks import masks_at_scale
        if not hasattr(self.model, "masks_for_boxes"):
            raise NotImplementedError(f"{type(self.model).__name__} cannot run its mask head on given boxes")
        image = self.colour(image) if self.colour is not None else image
        factor = self._factor(image)[0] if scale is None else scale.get("factor")
        return masks_at_scale(self.model, image, boxes, class_ids, factor)

    def inputs(self, image):
        """What detecting `image` feeds the model: uint8 [S, S, 3] images of the model's input size (the image at the
        training scale, tiled and padded, or resized whole), e.g. to re-estimate batch norm on a lab's images."""
        image = self.colour(image) if self.colour is not None else image
        return self._inputs(image, self._factor(image)[0])

    def _factor(self, image):
        """(the factor applied, or None for the model's own resize; the image's scale record)."""
        factor, scale = self.scale_of(image)
        if factor is not None and self.rescale:
            factor = self._fitted(factor, image.shape[:2])
            scale["factor"] = round(factor, 5)
        else:
            factor = scale["factor"] = None
        return factor, scale

    def _inputs(self, image, factor):
        recorder = _InputRecorder(self.model.config)
        self._run(image, recorder, factor)
        return recorder.inputs

    @staticmethod
    def _run(image, model, factor):
        return model.detect([image])[0] if factor is None else detect_at_scale(model, image, factor)

    def _fitted(self, factor, shape):
        """`factor`, lowered to fit the image into one input when it overshoots by at most FIT_TOLERANCE."""
        side = int(self.model.config.IMAGE_MAX_DIM)
        longest = max(shape) * factor
        if side < longest <= side * (1 + FIT_TOLERANCE):
            return side / max(shape)
        return factor


class _InputRecorder:
    """A stand-in model that keeps the images it is given, resized as MaskRCNN.detect resizes them, and finds
    nothing."""

    def __init__(self, config):
        self.config = config
        self.inputs = []

    def detect(self, images):
        from mrcnn.utils import resize_image
        config, results = self.config, []
        for image in images:
            resized = resize_image(image, min_dim=config.IMAGE_MIN_DIM, max_dim=config.IMAGE_MAX_DIM,
                                   min_scale=config.IMAGE_MIN_SCALE, mode=config.IMAGE_RESIZE_MODE)[0]
            self.inputs.append(np.asarray(resized, np.uint8))
            results.append({"rois": np.zeros((0, 4), np.int32), "class_ids": np.zeros(0, np.int32),
                            "scores": np.zeros(0, np.float32), "masks": np.zeros(image.shape[:2] + (0,), bool)})
        return results

