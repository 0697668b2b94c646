"""MeanAPCallback: validation mAP during training, written to the run's TensorBoard log next to the losses.

Shape shorthand: H, W: image height and width, N: instances of one image.

At the end of every `every`-th epoch the callback copies the training model's weights into an inference model by
layer name (mrcnn.weights_io), runs detect on the chosen validation images (their original size, as
dataset.load_image gives them) and scores them against dataset.load_mask (mrcnn/evaluation/dataset.py):
- `val_mAP50`: Matterport's evaluation, utils.compute_ap at mask IoU 0.5 per image, averaged (the "matterport"
  variant of metrics.json);
- `val_mask_mAP`: COCO-style mask AP over IoU 0.5:0.95 (the "coco_segm" variant).
Both are written with tf.summary at step = epoch number (1-based, as LossCurves does) into the run's log folder, and
added to the epoch's logs (History sees them; LossCurves, which runs before custom callbacks, does not).

Beside them, the first `overlay_images` of those images are written as TensorBoard images, tags `val_overlay/0`,
`val_overlay/1`, ... (TensorBoard's Images tab, one card per image with a slider over the epochs): the ground truth
on the left and the epoch's detections on the right, masks, boxes and "class score" captions drawn by
mrcnn.visualize.display_instances, one colour per class in both panels; uint8 [OVERLAY_HEIGHT, OVERLAY_WIDTH, 3].
"""

import logging

import keras
import numpy as np
import tensorflow as tf

from mrcnn.evaluation.dataset import detect_dataset, score_detections
from mrcnn.weights_io import assign_weights, weighted_layers

log = logging.getLogger(__name__)

OVERLAY_DPI = 100
OVERLAY_PANEL_INCHES = 4  # each panel 400 x 400 pixels, whatever the image's size
OVERLAY_HEIGHT, OVERLAY_WIDTH = OVERLAY_PANEL_INCHES * OVERLAY_DPI, 2 * OVERLAY_PANEL_INCHES * OVERLAY_DPI


class MeanAPCallback(keras.callbacks.Callback):
    """Per-epoch validation mAP to TensorBoard (see the module docstring).

    Args:
        inference_model: a MaskRCNN built with mode="inference" (same config apart from the inference settings),
            or a callable without arguments returning one (built at the first evaluation).
        dataset: a prepared mrcnn.utils.Dataset (load_image, load_mask, class_names).
        image_ids: the dataset's image ids to evaluate (a few dozen keep the epoch end short).
        log_dir: the folder to write to, or the training MaskRCNN (its `.log_dir` is read when training starts,
            after load_weights may have moved it).
        every: evaluate every `every` epochs (1 = each epoch).
        overlay_images: how many of `image_ids` (the first ones) to draw as TensorBoard images at each evaluation;
            0 writes none.
    """

    def __init__(self, inference_model, dataset, image_ids, log_dir, every=1, overlay_images=4):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every}")
        if int(overlay_images) < 0:
            raise ValueError(f"overlay_images must be 0 (none) or a positive number of images, got {overlay_images}")
        if len(image_ids) == 0:
            raise ValueError("image_ids is empty: give the validation images to evaluate")
        self.inference_model = inference_model
        self.dataset = dataset
        self.image_ids = list(image_ids)
        self.log_dir = log_dir
        self.every = int(every)
        self.overlay_images = int(overlay_images)
        self.detections = None
        self._writer = None
        self._inference = None
        self.history = []

    def _resolve_log_dir(self):
        log_dir = getattr(self.log_dir, "log_dir", self.log_dir)
        if not isinstance(log_dir, str):
            raise TypeError(f"log_dir must be a folder path or a MaskRCNN with .log_dir, got {self.log_dir!r}")
        return log_dir

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(self._resolve_log_dir())

    def _get_inference_model(self):
        if self._inference is None:
            model = self.inference_model if hasattr(self.inference_model, "detect") else self.inference_model()
            if getattr(model, "mode", "inference") != "inference" or not hasattr(model, "detect"):
                raise ValueError("inference_model must be a MaskRCNN built with mode='inference' (or a callable "
                                 "returning one)")
            self._inference = model
        return self._inference

    def evaluate(self):
        """{"val_mAP50": float, "val_mask_mAP": float} of the current training weights (the images, ground truth and
        detections stay in `self.detections`, a mrcnn.evaluation.dataset.DatasetDetections)."""
        model = self._get_inference_model()
        weights = {name: layer.get_weights() for name, layer in weighted_layers(self.model).items()}
        report = assign_weights(model.keras_model, weights, source="training model")
        if report["missing"] or report["mismatched"]:
            log.warning("MeanAPCallback: inference layers not updated: missing %s, mismatched %s",
                        report["missing"][:5], report["mismatched"][:5])
        self.detections = detect_dataset(model, self.dataset, self.image_ids,
                                         keep_images=self.overlay_images > 0)
        metrics = score_detections(self.detections, self.dataset.class_names, semantic_metrics=False,
                                   object_metrics=False)
        variants = metrics["detection"]["variants"]
        return {"val_mAP50": variants["matterport"]["mAP"]["0.5"],
                "val_mask_mAP": variants["coco_segm"]["mAP"]["0.5:0.95"]}

    def overlays(self, title=""):
        """uint8 [K, OVERLAY_HEIGHT, OVERLAY_WIDTH, 3] for the first K = overlay_images images (fewer if fewer were
        evaluated): ground truth beside the latest evaluation's detections (see the module docstring)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from mrcnn import visualize
        from mrcnn.utils import extract_bboxes

        if self.detections is None:
            raise ValueError("overlays come from the detections of evaluate(): call it first")
        names = list(self.dataset.class_names)
        palette = visualize.random_colors(len(names), seed=0)
        pictures = []
        shown = self.detections
        for image, gt, pred in list(zip(shown.images or [], shown.gts, shown.preds))[:self.overlay_images]:
            fig = Figure(figsize=(2 * OVERLAY_PANEL_INCHES, OVERLAY_PANEL_INCHES), dpi=OVERLAY_DPI)
            FigureCanvasAgg(fig)
            truth_ax, detected_ax = fig.subplots(1, 2)
            real = gt["class_ids"] > 0  # crowd regions (negative ids) are not drawn
            masks, class_ids = gt["masks"][..., real], gt["class_ids"][real]
            visualize.display_instances(image, extract_bboxes(masks), masks, class_ids, names, title="ground truth",
                                        ax=truth_ax, colors=[palette[c] for c in class_ids])
            visualize.display_instances(image, pred["rois"], pred["masks"], pred["class_ids"], names, pred["scores"],
                                        title=f"{title}{len(pred['class_ids'])} detections", ax=detected_ax,
                                        colors=[palette[c] for c in pred["class_ids"]])
            fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.93, wspace=0.02)
            pictures.append(visualize.figure_to_array(fig))
        return np.stack(pictures) if pictures else np.zeros((0, OVERLAY_HEIGHT, OVERLAY_WIDTH, 3), np.uint8)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        if self._writer is None:
            self.on_train_begin()
        values = self.evaluate()
        with self._writer.as_default():
            for tag, value in values.items():
                if value is not None:  # None: no ground truth among the images
                    tf.summary.scalar(tag, float(value), step=epoch + 1)
            if self.overlay_images:
                for k, picture in enumerate(self.overlays(title=f"epoch {epoch + 1}: ")):
                    tf.summary.image(f"val_overlay/{k}", picture[None], step=epoch + 1)
        self._writer.flush()
        if logs is not None:
            logs.update({k: v for k, v in values.items() if v is not None})
        self.history.append({"epoch": epoch + 1, **values})
        log.info("epoch %d: val_mAP50 %s, val_mask_mAP %s", epoch + 1, values["val_mAP50"], values["val_mask_mAP"])

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
