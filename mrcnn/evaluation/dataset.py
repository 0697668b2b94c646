"""Detect every image of a Dataset and score the detections: the one loop behind `pbc.py evaluate`, the validation
mAP during training (callback.MeanAPCallback), the shapes sample and benchmarks/pbc_accuracy_curve.py.

Shape shorthand:
    H, W: image height and width, N: ground-truth instances of one image, D: detections of one image.

    detections = detect_dataset(model, dataset)                    # a MaskRCNN in inference mode
    metrics = score_detections(detections, dataset.class_names)    # the metrics.json dict (evaluate.py)

The ground truth of an image is `dataset.load_mask(image_id)`; its name is the image's registered id
(`image_info[image_id]["id"]`, e.g. a file's path relative to its dataset folder); its image-level label, when the
dataset has one (a class per image, such as PBC's folders), is `dataset.image_label(image_id)`. Without labels the
classification tables score each image by its largest ground-truth instance (evaluate.py).
"""

import dataclasses
import time
from typing import List, Optional

import numpy as np

from mrcnn.evaluation.evaluate import evaluate_predictions


@dataclasses.dataclass
class DatasetDetections:
    """What `detect_dataset` found, one entry per image in the order detected.

    Attributes:
        gts: {"class_ids": int [N], "masks": bool [H, W, N]} per image.
        preds: MaskRCNN.detect's dict per image ({"rois" [D, 4], "class_ids" [D], "scores" [D], "masks" [H, W, D]}).
        names: the images' registered ids.
        image_labels: the image-level class id per image, or None when the dataset has none for some image.
        images: the images (uint8 [H, W, 3]) when kept (keep_images=True), else None.
    """

    gts: List[dict]
    preds: List[dict]
    names: List[str]
    image_labels: Optional[List[int]] = None
    images: Optional[List[np.ndarray]] = None

    def filtered(self, threshold):
        """A copy whose detections are those with score >= `threshold` (scoring several thresholds from one run of
        the model made with a lower DETECTION_MIN_CONFIDENCE)."""
        preds = []
        for pred in self.preds:
            keep = np.asarray(pred["scores"]) >= threshold
            preds.append({"rois": pred["rois"][keep], "class_ids": pred["class_ids"][keep],
                          "scores": pred["scores"][keep], "masks": pred["masks"][:, :, keep]})
        return dataclasses.replace(self, preds=preds)


def image_label(dataset, image_id):
    """The image-level class id of an image, when the dataset gives one (a method `image_label`), else None."""
    method = getattr(dataset, "image_label", None)
    return None if method is None else method(image_id)


def detect_dataset(model, dataset, image_ids=None, progress=None, keep_images=False):
    """Detect the images `image_ids` (default: all) of a prepared `mrcnn.utils.Dataset` with the inference MaskRCNN
    `model`, one image at a time, and collect their ground truth. Returns a DatasetDetections.

    progress: None, or `progress(done, total, start_time)` called after each image.
    keep_images: keep the images in the result (for overlays; a few dozen, not a whole test set).
    """
    ids = list(dataset.image_ids if image_ids is None else image_ids)
    gts, preds, names, labels, images = [], [], [], [], []
    start = time.time()
    for done, image_id in enumerate(ids, start=1):
        image = dataset.load_image(image_id)
        masks, class_ids = dataset.load_mask(image_id)
        gts.append({"class_ids": np.asarray(class_ids), "masks": np.asarray(masks, bool)})
        preds.append(model.detect([image])[0])
        names.append(dataset.image_info[image_id]["id"])
        labels.append(image_label(dataset, image_id))
        if keep_images:
            images.append(image)
        if progress is not None:
            progress(done, len(ids), start)
    return DatasetDetections(gts, preds, names, labels if all(label is not None for label in labels) else None,
                             images if keep_images else None)


def score_detections(detections, class_names, **options):
    """The metrics dict of `evaluate_predictions` for a DatasetDetections (its names as image ids, its image
    labels for the classification tables); `options` are evaluate_predictions' keyword arguments."""
    return evaluate_predictions(detections.gts, detections.preds, list(class_names), image_ids=detections.names,
                                image_labels=detections.image_labels, **options)
