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
mrcnn/data/, the choice of devices in mrcnn/training/distribute.py, the training run (its folder, checkpoints, record
of stages, resume) in mrcnn/training/run.py. Checkpoints go to
`<model_dir>/<name><YYYYmmddTHHMM>/mask_rcnn_<name>_<epoch:04d>.weights.h5` with the config beside them as
`config.json`, the run's stages in `run.json` and the optimizer's state of the last two epochs as
`mask_rcnn_<name>_<epoch:04d>.optimizer.h5`; loading such a checkpoint and calling `train` continues at the next
epoch with that state. `MaskRCNN.save(path)` and
`load_model(path)` store and load a whole model (`.keras` + config JSON) without executing code from the files.
Matterport's module-level functions are re-exported here: `log`, `load_image_gt`, `mold_image`, `data_generator`, ...
from mrcnn/matterport_api.py, the graph builders (`resnet_graph`, `rpn_graph`, ...) from mrcnn/matterport_graph.py;
its inspection methods (`run_graph`, `ancestor`, ...) come from mrcnn/inspection.py.
"""

import logging
import os
import re

import keras
import numpy as np
import tensorflow as tf

from mrcnn import backbones
from mrcnn.data.anchors import get_anchors
from mrcnn.data.generator import DataGenerator
from mrcnn.data.loader import check_dataset
from mrcnn.data.mold import mold_inputs, unmold_detections
from mrcnn.graph import build_graph
from mrcnn.inspection import InspectionMixin
from mrcnn.layers.batch_norm import use_fused_batch_norm
from mrcnn.matterport_api import (  # Matterport's module-level names, re-exported: see __all__
    BatchNorm, DetectionLayer, DetectionTargetLayer, ProposalLayer, PyramidROIAlign, apply_box_deltas_graph,
    box_refinement_graph, build_detection_targets, build_rpn_model, build_rpn_targets, clip_boxes_graph,
    compose_image_meta, compute_backbone_shapes, data_generator, denorm_boxes_graph, generate_random_rois,
    load_image_gt, log, mold_image, mrcnn_bbox_loss_graph, mrcnn_class_loss_graph, mrcnn_mask_loss_graph,
    norm_boxes_graph, overlaps_graph, parse_image_meta, parse_image_meta_graph, rpn_bbox_loss_graph,
    rpn_class_loss_graph, smooth_l1_loss, trim_zeros_graph, unmold_image)
from mrcnn.matterport_graph import (  # Matterport's graph builders, re-exported: see __all__
    batch_pack_graph, build_fpn_mask_graph, conv_block, detection_targets_graph, fpn_classifier_graph, identity_block,
    log2_graph, refine_detections_graph, resnet_graph, rpn_graph)
from mrcnn.precision import resolve_policy, store_weights_in_compute_dtype
from mrcnn.training import checkpoints, distribute
from mrcnn.training.run import TrainingRun
from mrcnn.training.sgd import SGD
from mrcnn.training.trainer import MaskRCNNTrainer
from mrcnn.weights import load_weights_file
from mrcnn.weights_io import all_layers

logger = logging.getLogger(__name__)  # `log` is Matterport's print helper

# Ours, then Matterport's module-level names: mrcnn/matterport_api.py's __all__, then mrcnn/matterport_graph.py's.
__all__ = [
    "MaskRCNN", "build_optimizer", "load_model", "BatchNorm", "DetectionLayer", "DetectionTargetLayer",
    "ProposalLayer", "PyramidROIAlign", "apply_box_deltas_graph", "box_refinement_graph", "build_detection_targets",
    "build_rpn_model", "build_rpn_targets", "clip_boxes_graph", "compose_image_meta", "compute_backbone_shapes",
    "data_generator", "denorm_boxes_graph", "generate_random_rois", "load_image_gt", "log", "mold_image",
    "mrcnn_bbox_loss_graph", "mrcnn_class_loss_graph", "mrcnn_mask_loss_graph", "norm_boxes_graph",
    "overlaps_graph", "parse_image_meta", "parse_image_meta_graph", "rpn_bbox_loss_graph", "rpn_class_loss_graph",
    "smooth_l1_loss", "trim_zeros_graph", "unmold_image",
    "batch_pack_graph", "build_fpn_mask_graph", "conv_block", "detection_targets_graph", "fpn_classifier_graph",
    "identity_block", "log2_graph", "refine_detections_graph", "resnet_graph", "rpn_graph",
]


class MaskRCNN(InspectionMixin):
    """Mask R-CNN in "training" or "inference" mode; the Keras model is `self.keras_model`.

    Args:
        mode: "training" or "inference".
        config: a `mrcnn.config.Config` (validated here; a ValueError names the field that cannot work).
        model_dir: folder for training logs and checkpoints.
        strategy: training only: a tf.distribute.Strategy to build and train under. By default it is chosen from
            the config and the machine (mrcnn/training/distribute.py, docs/distributed.md): GPU_COUNT > 1 mirrors
            over that many GPUs, TF_CONFIG trains on several machines, otherwise one device; the global batch is
            BATCH_SIZE = GPU_COUNT * IMAGES_PER_GPU images in every case. `self.strategy` is the one used.
        devices: training only: or mirror over these devices, e.g. ["/gpu:0", "/gpu:1"].
    """

    def __init__(self, mode, config, model_dir, strategy=None, devices=None):
        if mode not in ("training", "inference"):
            raise ValueError(f"mode={mode!r}: valid modes are 'training' and 'inference'")
        config.validate()
        if config.NAME is None:
            raise ValueError("Config.NAME is None: give the configuration a name (it names logs and checkpoints)")
        self.mode = mode
        self.config = config
        self.model_dir = model_dir
        self.anchors = None  # pixel anchors of the last get_anchors call (Matterport's, for inspect notebooks)
        self.run = TrainingRun.new(model_dir, config.NAME)  # where `train` writes; load_weights may continue a run
        if mode == "training":
            self.strategy = distribute.choose_strategy(config, strategy=strategy, devices=devices)
        elif strategy is not None or devices is not None:
            raise ValueError("strategy= and devices= are for mode='training'; inference runs on one device")
        else:
            self.strategy = tf.distribute.get_strategy()
        with self.strategy.scope():  # the variables are created per replica
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
        # The same function through the fused kernel (mrcnn/layers/batch_norm.py); in inference it is also folded into
        # the convolutions.
        use_fused_batch_norm(model, inference=mode == "inference")
        if mode == "inference":  # 16-bit layers keep 16-bit weights: the same outputs, less memory (mrcnn/precision.py)
            store_weights_in_compute_dtype(model)
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
            logger.info("training %d layers: %s", len(trained), ", ".join(trained))
        return trained

    # ---- checkpoints -----------------------------------------------------------------------------------------------

    @property
    def epoch(self):
        """The last epoch trained (0 before training; a loaded checkpoint's epoch): `train` continues after it."""
        return self.run.epoch

    @epoch.setter
    def epoch(self, value):
        self.run.epoch = int(value)

    @property
    def log_dir(self):
        """The folder of the training run `train` writes to (mrcnn/training/run.py)."""
        return self.run.log_dir

    @log_dir.setter
    def log_dir(self, value):
        self.run.log_dir = value

    def find_last(self):
        """Path of the last checkpoint of the newest run of this config's NAME in model_dir."""
        return checkpoints.find_last(self.model_dir, self.config.NAME)

    def load_weights(self, filepath, by_name=False, exclude=None, skip_mismatch=False):
        """Load weights from a Keras 3 `.weights.h5` file or a Keras 2 HDF5 file (e.g. Matterport's).

        Args:
            filepath: the weights file.
            by_name: load the layers whose names match and skip the rest (Matterport's semantics). False demands
                that every weighted layer of the model is in the file with the same shapes.
            exclude: layer names not to load (e.g. the class-specific heads "mrcnn_class_logits", "mrcnn_bbox_fc",
                "mrcnn_bbox", "mrcnn_mask" when NUM_CLASSES differs). Implies by_name.
            skip_mismatch: skip layers whose weight shapes differ from the model's. By default such a layer raises
                ValueError naming it and both shapes, as Keras 2 did.
        Returns the report {"loaded", "excluded", "missing", "mismatched", "unused"} of layer names. When fewer
        than half of the model's layers are in the file, a WARNING says so (a checkpoint of another model). A
        checkpoint named like ours sets `self.epoch` and the log folder, so that `train` continues at the next epoch.
        """
        report = load_weights_file(self.keras_model, filepath, by_name=by_name, exclude=exclude,
                                   skip_mismatch=skip_mismatch)
        run = TrainingRun.from_checkpoint(filepath, kind="mask_rcnn")
        if run is not None:  # continue that run: same folder and curves, next epoch, its optimizer state
            self.run = TrainingRun(run.log_dir, self.config.NAME, epoch=run.epoch)
        return report

    def save(self, filepath):
        """Save the whole model, graph and weights, as a Keras `.keras` file, with its Config beside it as JSON.

        filepath: the `.keras` file (".keras" is appended when missing); the config goes to
        `<filepath without .keras>.config.json`. Both are written atomically. Returns the `.keras` path.
        `mrcnn.model.load_model(filepath)` loads them back without executing any code from the files.
        """
        keras_path, config_path = _saved_model_paths(filepath)
        checkpoints.write_atomic(keras_path, self.keras_model.save)
        checkpoints.write_text_atomic(config_path, self.config.to_json())
        logger.info("saved the %s model to %s and its config to %s", self.mode, keras_path, config_path)
        return keras_path

    def export(self, path, format="savedmodel", class_names=None, weights=None):
        """Write this inference model, with its moulding and unmoulding, for other runtimes (docs/export.md).

        path: a folder; format: "savedmodel" (TF Serving, tf.saved_model.load), "onnx" (onnxruntime) or "litert"
        (LiteRT / TFLite); class_names: names by class id, BG first, stored beside the model; weights: the weights
        file loaded, recorded beside it (the web page's model card finds its evaluation). The export takes one
        RGB uint8 image of any size and returns detect's cells (mrcnn/export/formats.py, mrcnn/export/serving.py);
        `mrcnn.export.load_exported(path).detect([image])` runs it. Returns the model file's path.
        """
        from mrcnn.export.formats import export_model
        return export_model(self, path, format, class_names=class_names, weights=weights)

    # ---- training --------------------------------------------------------------------------------------------------

    def train(self, train_dataset, val_dataset, learning_rate, epochs, layers, augmentation=None,
              custom_callbacks=None, no_augmentation_sources=None, workers=2, verbose="auto", seed=None):
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
            seed: seed of the training and validation batches (image order, augmentation, anchor sampling); None
                draws one. With `keras.utils.set_random_seed` called before the model is built, a run repeats.

        A model loaded from one of our checkpoints continues from it: next epoch, same run folder and TensorBoard
        curves, and the optimizer state saved beside the checkpoint (momentum or Adam moments, iteration count, so
        a LearningRateSchedule given as learning_rate goes on) when the same layers train; otherwise the optimizer
        starts fresh and the log says why. Each call is one stage in the run's record (run.json: epochs, layers,
        learning rate, optimizer). Before the first step the log folder is checked (writable, room for a
        checkpoint: OSError naming it otherwise). The loop itself is `TrainingRun.fit` (mrcnn/training/run.py).
        """
        if self.mode != "training":
            raise ValueError("train() needs a model built with mode='training'")
        regex = backbones.layer_regex(layers, self._stage_regexes())
        config = self.config
        check_dataset(train_dataset, config, name="train")
        check_dataset(val_dataset, config, name="val")
        random_rois = 0 if config.USE_RPN_ROIS else config.POST_NMS_ROIS_TRAINING
        train_generator = DataGenerator(train_dataset, config, shuffle=True, augmentation=augmentation,
                                        no_augmentation_sources=no_augmentation_sources, random_rois=random_rois,
                                        steps=config.STEPS_PER_EPOCH, workers=workers, seed=seed, stream=True)
        val_generator = DataGenerator(val_dataset, config, shuffle=True, random_rois=random_rois,
                                      steps=config.VALIDATION_STEPS, workers=workers, seed=seed, stream=True)
        # Endless streams (mrcnn/data/stream.py), so that batches do not depend on when Keras calls on_epoch_end; a
        # resumed run continues them where it stopped.
        train_generator.start_step = self.epoch * config.STEPS_PER_EPOCH
        val_generator.start_step = self.epoch * config.VALIDATION_STEPS
        self.set_trainable(regex)
        with self.strategy.scope():  # the optimizer's variables are created per replica
            self.keras_model.compile(optimizer=build_optimizer(config, learning_rate), jit_compile=False)
        # Under a strategy fit splits each global batch of BATCH_SIZE images across the replicas. The generator
        # shuffles the images itself, reproducibly.
        return self.run.fit(self.keras_model, train_generator, epochs, config.STEPS_PER_EPOCH,
                            validation_data=val_generator, validation_steps=config.VALIDATION_STEPS,
                            stage={"layers": layers, "learning_rate": learning_rate, "optimizer": config.OPTIMIZER},
                            config=config, callbacks=custom_callbacks or (), strategy=self.strategy, verbose=verbose)

    # ---- inference -------------------------------------------------------------------------------------------------

    def get_anchors(self, image_shape):
        """Normalized anchors [A, (y1, x1, y2, x2)] for a molded image of `image_shape`; `self.anchors` keeps the
        same anchors in pixels, as Matterport's did."""
        self.anchors = get_anchors(self.config, tuple(image_shape[:2]))
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
        "scores": float32 [N], "masks": bool [H, W, N]}. verbose=1 prints Matterport's lines ("Processing N
        images", each image, the molded inputs, each with shape, min, max and dtype).
        """
        if self.mode != "inference":
            raise ValueError("detect() needs a model built with mode='inference'")
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise ValueError("detect() takes a list of images; wrap a single image as [image]")
        return self.detect_resized(images, [np.shape(image) for image in images], verbose)

    def detect_resized(self, images, shapes, verbose=0):
        """`detect` on images that were resized from originals of `shapes` ([(H, W, ...)], one per image), with the
        results in the originals' pixels: boxes mapped there, masks pasted there from the head's soft masks (a
        binary mask resized back instead loses about 2 % of its IoU). Each image must have been resized by one
        factor per axis (original size times factor, rounded), as mrcnn/tiling.py's detect_at_scale does."""
        if self.mode != "inference":
            raise ValueError("detect_resized() needs a model built with mode='inference'")
        if len(shapes) != len(images):
            raise ValueError(f"detect_resized: {len(images)} images but {len(shapes)} shapes; give one per image")
        fixed_size = self.config.IMAGE_RESIZE_MODE in ("square", "crop")
        step = self.config.BATCH_SIZE if fixed_size else 1
        results = []
        for start in range(0, len(images), step):
            chunk = list(images[start:start + step])
            molded, metas, windows = self.mold_inputs(chunk)
            if verbose:
                self._print_detect_inputs(chunk, molded, metas)
            raw = self._run(molded, metas)
            for i, shape in enumerate(shapes[start:start + step]):
                rois, class_ids, scores, masks = self.unmold_detections(
                    raw["detections"][i], raw["mrcnn_mask"][i], tuple(shape), molded[i].shape, windows[i])
                results.append({"rois": rois, "class_ids": class_ids, "scores": scores, "masks": masks})
        return results

    def masks_for_boxes(self, image, boxes, class_ids):
        """bool [H, W, N]: the mask head's mask of class `class_ids[i]` in the pixel box `boxes[i]` [N, (y1, x1, y2,
        x2)] of `image` [H, W, C], pasted as `detect` pastes (mrcnn/box_masks.py): a mask for a box drawn by hand or
        an annotation with boxes only."""
        from mrcnn.box_masks import BoxMaskHead
        if getattr(self, "_box_mask_head", None) is None:
            self._box_mask_head = BoxMaskHead(self)
        return self._box_mask_head(np.asarray(image), boxes, class_ids)

    def detect_molded(self, molded_images, image_metas, verbose=0):
        """Detect on images already molded (Matterport's API, for evaluation on molded dataset images).

        Returns the same dicts as `detect`, in the coordinates of each image's original shape (from its meta).
        verbose=1 prints Matterport's lines: "Processing N images", then each image with its shape, min and max.
        """
        if self.mode != "inference":
            raise ValueError("detect_molded() needs a model built with mode='inference'")
        if verbose:
            log(f"Processing {len(molded_images)} images")
            for image in molded_images:
                log("image", image)
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


def build_optimizer(config, learning_rate):
    """Config.OPTIMIZER at `learning_rate`, with Config.GRADIENT_CLIP_NORM applied per gradient tensor.

    Under the "mixed_float16" policy it is wrapped in Keras' LossScaleOptimizer (dynamic loss scaling; the gradients
    are unscaled before clipping). bfloat16 needs no loss scaling.
    """
    if str(config.OPTIMIZER).upper() == "ADAM":
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=config.GRADIENT_CLIP_NORM)
    else:
        optimizer = SGD(learning_rate=learning_rate, momentum=config.LEARNING_MOMENTUM,
                        clipnorm=config.GRADIENT_CLIP_NORM)  # Keras' SGD, each update one kernel (training/sgd.py)
    if resolve_policy(config.DTYPE_POLICY) == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def load_model(filepath, model_dir=None):
    """A MaskRCNN from the files `MaskRCNN.save(filepath)` wrote, loaded without executing code from them.

    The graph and weights come from the `.keras` file through `keras.saving.load_model(..., safe_mode=True)`: only
    Keras's own layers and the layers mrcnn registers (`@keras.saving.register_keras_serializable(package="mrcnn")`)
    are built; a Lambda layer or any other class is refused (ValueError / TypeError), never run. The config comes
    from the JSON beside it through `Config.load` (plain data: an unknown field is refused) and is validated. The
    mode is the saved model's (a training model is a MaskRCNNTrainer). A config that does not describe the saved
    graph (other weight shapes) raises ValueError.
    model_dir: where `train` writes logs and checkpoints (default: the folder of the file).
    """
    import json
    import zipfile

    from mrcnn.config import Config
    from mrcnn.precision import dtype_policy_scope

    keras_path, config_path = _saved_model_paths(filepath)
    for path in (keras_path, config_path):
        if not os.path.isfile(path):
            raise ValueError(f"{path} does not exist; MaskRCNN.save({filepath!r}) writes {keras_path} and "
                             f"{config_path}")
    config = Config.load(config_path)
    try:  # the archive's own config.json (plain JSON) names the top-level class: training or inference graph
        with zipfile.ZipFile(keras_path) as archive:
            top = json.loads(archive.read("config.json"))
        mode = "training" if top.get("registered_name") == "mrcnn>MaskRCNNTrainer" else "inference"
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{keras_path} is not a Keras .keras archive: {e}") from e
    model = MaskRCNN(mode, config, model_dir or os.path.dirname(os.path.abspath(keras_path)))
    # Under the strategy and the dtype policy the graph was built with (layers without a saved policy take it).
    with getattr(model, "strategy", tf.distribute.get_strategy()).scope(), dtype_policy_scope(config.DTYPE_POLICY):
        loaded = keras.saving.load_model(keras_path, safe_mode=True, compile=False)
    expected = [tuple(w.shape) for w in model.keras_model.weights]
    if [tuple(w.shape) for w in loaded.weights] != expected or not isinstance(loaded, type(model.keras_model)):
        raise ValueError(f"{keras_path} does not hold the {mode} graph that {config_path} describes (other layers "
                         "or weight shapes); save both with MaskRCNN.save")
    if mode == "training":
        loaded.set_loss_settings(config.LOSS_WEIGHTS, config.WEIGHT_DECAY)
    model.keras_model = loaded
    return model


def _saved_model_paths(filepath):
    """(`.keras` path, config JSON path) of a whole-model save."""
    filepath = os.fspath(filepath)
    stem = filepath[:-len(".keras")] if filepath.endswith(".keras") else filepath
    return stem + ".keras", stem + ".config.json"
