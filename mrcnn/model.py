"""MaskRCNN: Matterport's user-facing model class on Keras 3.

Shape shorthand: B: batch, H, W: image size, N: detections of one image, D: DETECTION_MAX_INSTANCES.

    model = MaskRCNN(mode="training", config=config, model_dir="logs")
    model.train(train_set, val_set, learning_rate=config.LEARNING_RATE, epochs=40, layers="heads")

    model = MaskRCNN(mode="inference", config=inference_config, model_dir="logs")
    model.load_weights(model.find_last())
    r = model.detect([image])[0]
    # r["rois"] int32 [N, (y1, x1, y2, x2)] pixels, r["class_ids"] int32 [N], r["scores"] float32 [N],
    # r["masks"] bool [H, W, N]

The graph lives in mrcnn/graph.py, the losses and train step in mrcnn/training/trainer.py, the data pipeline in
mrcnn/data/. Checkpoints go to `<model_dir>/<name><YYYYmmddTHHMM>/mask_rcnn_<name>_<epoch:04d>.weights.h5` with the
config beside them as `config.json`; loading such a checkpoint and calling `train` continues at the next epoch.
"""

import logging
import os
import re

import keras
import numpy as np

from mrcnn import backbones
from mrcnn.data.anchors import get_anchors
from mrcnn.data.generator import DataGenerator
from mrcnn.data.loader import check_dataset
from mrcnn.data.mold import mold_inputs, unmold_detections
from mrcnn.graph import build_graph
from mrcnn.training import checkpoints
from mrcnn.training.callbacks import EpochCheckpoint, LossCurves, NanGuard, NonFiniteLoss
from mrcnn.training.trainer import MaskRCNNTrainer
from mrcnn.weights_io import all_layers, assign_weights, read_weights

log = logging.getLogger(__name__)


class MaskRCNN:
    """Mask R-CNN in "training" or "inference" mode; the Keras model is `self.keras_model`.

    Args:
        mode: "training" or "inference".
        config: a `mrcnn.config.Config` (validated here; a ValueError names the field that cannot work).
        model_dir: folder for training logs and checkpoints.
    """

    def __init__(self, mode, config, model_dir):
        if mode not in ("training", "inference"):
            raise ValueError(f"mode={mode!r}: valid modes are 'training' and 'inference'")
        config.validate()
        if config.NAME is None:
            raise ValueError("Config.NAME is None: give the configuration a name (it names logs and checkpoints)")
        self.mode = mode
        self.config = config
        self.model_dir = model_dir
        self.epoch = 0
        self.log_dir = checkpoints.new_log_dir(model_dir, config.NAME)
        self.keras_model = self.build(mode, config)

    # ---- building --------------------------------------------------------------------------------------------------

    def build(self, mode, config):
        """The Keras model of `mode` (a MaskRCNNTrainer in training, a plain functional model in inference)."""
        inputs, outputs = build_graph(mode, config)
        if mode == "training":
            model = MaskRCNNTrainer(inputs, outputs, name="mask_rcnn")
            model.set_loss_settings(config.LOSS_WEIGHTS, config.WEIGHT_DECAY)
        else:
            model = keras.Model(inputs, outputs, name="mask_rcnn")
        if config.TRAIN_BN is False:
            for layer in all_layers(model):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        return model

    def _stage_regexes(self):
        if callable(self.config.BACKBONE):
            return None
        return backbones.get_backbone(self.config.BACKBONE).stage_regexes

    def set_trainable(self, layer_regex, verbose=0):
        """Make the layers whose names fully match `layer_regex` trainable and freeze the rest.

        Batch norm stays frozen when Config.TRAIN_BN is False. Returns the names of the trainable layers with weights.
        """
        pattern = re.compile(layer_regex)
        trained = []
        for layer in all_layers(self.keras_model):
            if isinstance(layer, keras.Model):
                layer.trainable = True  # containers pass the flag down; their layers are set one by one below
                continue
            on = bool(pattern.fullmatch(layer.name))
            if isinstance(layer, keras.layers.BatchNormalization) and self.config.TRAIN_BN is False:
                on = False
            layer.trainable = on
            if on and layer.weights:
                trained.append(layer.name)
        if verbose:
            log.info("training %d layers: %s", len(trained), ", ".join(trained))
        return trained

    # ---- checkpoints -----------------------------------------------------------------------------------------------

    def find_last(self):
        """Path of the last checkpoint of the newest run of this config's NAME in model_dir."""
        return checkpoints.find_last(self.model_dir, self.config.NAME)

    def load_weights(self, filepath, by_name=False, exclude=None):
        """Load weights from a Keras 3 `.weights.h5` file or a Keras 2 HDF5 file (e.g. Matterport's).

        Args:
            filepath: the weights file.
            by_name: load the layers whose names match and skip the rest (Matterport's semantics). False demands
                that every weighted layer of the model is in the file with the same shapes.
            exclude: layer names not to load (e.g. the class-specific heads "mrcnn_class_logits", "mrcnn_bbox_fc",
                "mrcnn_bbox", "mrcnn_mask" when NUM_CLASSES differs). Implies by_name.
        Returns the report {"loaded", "excluded", "missing", "mismatched", "unused"} of layer names. A checkpoint
        named like ours sets `self.epoch` and the log folder, so that `train` continues at the next epoch.
        """
        from mrcnn.backbones import pretrained
        if pretrained.weights_file_kind(filepath) == "matterport":
            # Matterport's own file (e.g. mask_rcnn_coco.h5): its ResNet layer names are mapped to ours.
            report = pretrained.load_coco_weights(self.keras_model, filepath, exclude=exclude or ())
            if not (by_name or exclude) and (report["missing"] or report["mismatched"]):
                raise ValueError(f"{filepath}: layers not loaded: {report['missing'] + report['mismatched']}; "
                                 "load by_name=True to skip them")
        else:
            weights = read_weights(filepath)
            report = assign_weights(self.keras_model, weights, exclude=exclude, strict=not (by_name or exclude),
                                    source=filepath)
        log.info("loaded %d layers from %s (%d excluded, %d missing, %d shape-mismatched, %d unused in the file)",
                 len(report["loaded"]), filepath, len(report["excluded"]), len(report["missing"]),
                 len(report["mismatched"]), len(report["unused"]))
        parsed = checkpoints.parse_checkpoint(filepath)
        if parsed:
            self.log_dir, self.epoch = parsed
        return report

    # ---- training --------------------------------------------------------------------------------------------------

    def train(self, train_dataset, val_dataset, learning_rate, epochs, layers, augmentation=None,
              custom_callbacks=None, no_augmentation_sources=None, workers=2, verbose="auto"):
        """Train until epoch `epochs` (the final epoch number, Matterport's meaning) from `self.epoch`.

        Args:
            train_dataset, val_dataset: prepared `mrcnn.utils.Dataset`s.
            learning_rate: SGD learning rate for this call.
            epochs: the epoch number to stop at; a model loaded from epoch 10 with epochs=12 trains 2 epochs.
            layers: "heads", "3+", "4+", "5+", "all" or a regex over layer names.
            augmentation: an imgaug augmenter, an albumentations transform or `f(image, mask, rng)`; geometric
                augmenters move the masks too, photometric ones touch the image only.
            custom_callbacks: extra Keras callbacks.
            no_augmentation_sources: dataset sources never augmented.
            workers: threads loading batches.
        """
        if self.mode != "training":
            raise ValueError("train() needs a model built with mode='training'")
        regex = backbones.layer_regex(layers, self._stage_regexes())
        config = self.config
        check_dataset(train_dataset, config, name="train")
        check_dataset(val_dataset, config, name="val")
        if epochs <= self.epoch:
            log.warning("epochs=%d is not past the current epoch %d: nothing to train", epochs, self.epoch)
            return None
        self._prepare_log_dir()

        random_rois = 0 if config.USE_RPN_ROIS else config.POST_NMS_ROIS_TRAINING
        train_generator = DataGenerator(train_dataset, config, shuffle=True, augmentation=augmentation,
                                        no_augmentation_sources=no_augmentation_sources, random_rois=random_rois,
                                        steps=config.STEPS_PER_EPOCH, workers=workers)
        val_generator = DataGenerator(val_dataset, config, shuffle=True, random_rois=random_rois,
                                      steps=config.VALIDATION_STEPS, workers=workers)
        # A resumed run continues the data stream where it stopped.
        train_generator.epoch = val_generator.epoch = self.epoch
        callbacks = [NanGuard(), LossCurves(self.log_dir), EpochCheckpoint(self.log_dir, config.NAME)]
        callbacks += list(custom_callbacks or [])

        _report_devices(config)
        log.info("starting at epoch %d, learning rate %s, layers %r; checkpoints in %s", self.epoch, learning_rate,
                 layers, self.log_dir)
        self.set_trainable(regex)
        self.keras_model.compile(optimizer=build_optimizer(config, learning_rate), jit_compile=False)
        try:
            history = self.keras_model.fit(train_generator, initial_epoch=self.epoch, epochs=epochs,
                                           validation_data=val_generator, callbacks=callbacks, verbose=verbose)
        except NonFiniteLoss as e:
            try:
                last = self.find_last()
            except FileNotFoundError:
                last = None
            raise NonFiniteLoss(f"{e}. Training stopped; the weights in memory are broken. The last good checkpoint "
                                f"is {last or 'none (no epoch finished)'}: resume from it (load_weights, or "
                                "pbc.py --weights last) with a lower learning rate.") from None
        self.epoch = max(self.epoch, epochs)
        return history

    def _prepare_log_dir(self):
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            checkpoints.write_text_atomic(os.path.join(self.log_dir, "config.json"), self.config.to_json())
        except OSError as e:
            raise OSError(f"cannot write to the log folder {self.log_dir!r}: {e}") from e

    # ---- inference -------------------------------------------------------------------------------------------------

    def get_anchors(self, image_shape):
        """Normalized anchors [A, (y1, x1, y2, x2)] for a molded image of `image_shape`."""
        return get_anchors(self.config, tuple(image_shape[:2]), normalized=True)

    def mold_inputs(self, images):
        """(molded_images [B, H, W, C], image_metas [B, M], windows [B, 4]) for a list of images."""
        return mold_inputs(images, self.config)

    def unmold_detections(self, detections, mrcnn_mask, original_image_shape, image_shape, window):
        """(rois, class_ids, scores, masks) of one image in its original pixel coordinates."""
        return unmold_detections(detections, mrcnn_mask, original_image_shape, image_shape, window)

    def detect(self, images, verbose=0):
        """Detect instances in a list of RGB images (any number; run in batches of BATCH_SIZE).

        Returns one dict per image: {"rois": int32 [N, (y1, x1, y2, x2)] pixels, "class_ids": int32 [N],
        "scores": float32 [N], "masks": bool [H, W, N]}.
        """
        if self.mode != "inference":
            raise ValueError("detect() needs a model built with mode='inference'")
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise ValueError("detect() takes a list of images; wrap a single image as [image]")
        fixed_size = self.config.IMAGE_RESIZE_MODE in ("square", "crop")
        step = self.config.BATCH_SIZE if fixed_size else 1
        results = []
        for start in range(0, len(images), step):
            chunk = list(images[start:start + step])
            molded, metas, windows = self.mold_inputs(chunk)
            raw = self._run(molded, metas)
            for i, image in enumerate(chunk):
                rois, class_ids, scores, masks = self.unmold_detections(
                    raw["detections"][i], raw["mrcnn_mask"][i], image.shape, molded[i].shape, windows[i])
                results.append({"rois": rois, "class_ids": class_ids, "scores": scores, "masks": masks})
            if verbose:
                log.info("detected %d of %d images", len(results), len(images))
        return results

    def detect_molded(self, molded_images, image_metas, verbose=0):
        """Detect on images already molded (Matterport's API, for evaluation on molded dataset images).

        Returns the same dicts as `detect`, in the coordinates of each image's original shape (from its meta).
        """
        if self.mode != "inference":
            raise ValueError("detect_molded() needs a model built with mode='inference'")
        from mrcnn.data.image_meta import parse_image_meta
        molded_images = np.asarray(molded_images, dtype=np.float32)
        image_metas = np.asarray(image_metas, dtype=np.float32)
        meta = parse_image_meta(image_metas)
        raw = self._run(molded_images, image_metas)
        results = []
        for i in range(len(molded_images)):
            original = tuple(int(v) for v in meta["original_image_shape"][i])
            rois, class_ids, scores, masks = self.unmold_detections(
                raw["detections"][i], raw["mrcnn_mask"][i], original, molded_images[i].shape, meta["window"][i])
            results.append({"rois": rois, "class_ids": class_ids, "scores": scores, "masks": masks})
        return results

    def _run(self, molded, metas):
        anchors = self.get_anchors(molded.shape[1:3])
        anchors = np.broadcast_to(anchors, (molded.shape[0],) + anchors.shape)
        outputs = self.keras_model.predict_on_batch({
            "input_image": molded.astype(np.float32), "input_image_meta": metas.astype(np.float32),
            "input_anchors": np.ascontiguousarray(anchors, dtype=np.float32)})
        return {k: np.asarray(v) for k, v in outputs.items()}


_DEVICES_REPORTED = set()


def _report_devices(config):
    """Say once when GPU_COUNT asks for more GPUs than the machine has: the same global batch runs on what is there."""
    import tensorflow as tf
    gpus = len(tf.config.list_physical_devices("GPU"))
    key = (config.GPU_COUNT, gpus)
    if config.GPU_COUNT > max(gpus, 1) and key not in _DEVICES_REPORTED:
        _DEVICES_REPORTED.add(key)
        log.warning("GPU_COUNT = %d but this machine has %d GPU(s): training on %s with the same global batch of %d "
                    "images", config.GPU_COUNT, gpus, "the CPU" if not gpus else f"{gpus} GPU(s)", config.BATCH_SIZE)


def build_optimizer(config, learning_rate):
    """Config.OPTIMIZER at `learning_rate`, with Config.GRADIENT_CLIP_NORM applied per gradient tensor."""
    if str(config.OPTIMIZER).upper() == "ADAM":
        return keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=config.GRADIENT_CLIP_NORM)
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=config.LEARNING_MOMENTUM,
                                clipnorm=config.GRADIENT_CLIP_NORM)
