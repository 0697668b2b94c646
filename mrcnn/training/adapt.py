"""Adapting a trained model to a lab's own unlabelled images: the backbone's batch-norm statistics re-estimated there.

Shape shorthand: N: images, S: the model's input side, C: channels of one batch-norm layer.

A detector trained on one microscope normalizes every feature of its backbone with the mean and variance that feature
had on that microscope's images (batch norm's moving statistics, frozen while the detector trained). Another camera,
lamp or stain shifts those features, and the normalization is off from the first layer on. Re-estimating the
statistics on the new lab's images (AdaBN: Li et al. 2016, "Revisiting Batch Normalization For Practical Domain
Adaptation") needs no labels: `adapt_batch_norm` runs the backbone over images of the lab, as the detector will see
them (at the training scale, tiled: mrcnn.detector.ScaledDetector.inputs), each batch-norm layer normalizing with the
statistics of what reaches it, and sets each layer's moving mean and variance to those of all the images
(mrcnn/training/bn_statistics.py). Every other weight is kept. Only the backbone's layers change: the heads' batch
norms (mrcnn_class_bn*, mrcnn_mask_bn*) see ROIs, not images, and keep their statistics.

The report says what moved: per layer the mean shift of the moving mean in units of the former standard deviation,
and the ratio of the new to the former standard deviation.
"""

import logging

import keras
import numpy as np

from mrcnn.backbones.classifier import detector_backbone
from mrcnn.data.mold import mold_image
from mrcnn.training.bn_statistics import recompute_moving_statistics
from mrcnn.weights_io import assign_weights, batch_norm_layers, weighted_layers

log = logging.getLogger(__name__)

MIN_IMAGES = 8


def batch_norm_statistics(model):
    """{layer name: (moving mean [C], moving variance [C])} of the batch-norm layers of a Keras model."""
    return {layer.name: (keras.ops.convert_to_numpy(layer.moving_mean).astype(np.float64),
                         keras.ops.convert_to_numpy(layer.moving_variance).astype(np.float64))
            for layer in batch_norm_layers(model)}


def adapt_batch_norm(keras_model, config, images, batch_size=8):
    """Re-estimate the moving statistics of the backbone's batch-norm layers of `keras_model` on `images`.

    Args:
        keras_model: a Mask R-CNN Keras model (MaskRCNN.keras_model, either mode) of `config`; changed in place.
        config: its Config (the backbone is rebuilt from it to run alone).
        images: uint8 [N, S, S, 3] or a list of such images, at the model's input size (ScaledDetector.inputs).
        batch_size: images per batch-norm batch.
    Returns {"layers": how many batch-norm layers were re-estimated, "images": N, "changes": {layer: {"mean_shift",
    "std_ratio"}}, "mean_shift": their mean, "std_ratio": the mean of |log ratio| turned back into a ratio,
    "weights": {layer: [arrays]} of the adapted layers (mrcnn.weights_io.replace_weights writes them into a copy of
    the weights file)}.
    Raises ValueError with fewer than MIN_IMAGES images, images of another size or a backbone without batch norm.
    """
    images = [np.asarray(image, np.uint8) for image in images]
    side = tuple(int(d) for d in config.IMAGE_SHAPE[:2])
    if len(images) < MIN_IMAGES:
        raise ValueError(f"adapting needs at least {MIN_IMAGES} images at the model's input size; got {len(images)}")
    shapes = sorted({image.shape[:2] for image in images if image.shape[:2] != side})
    if shapes:
        raise ValueError(f"images must be {side[0]} x {side[1]} (the model's input); got {shapes[:3]}")
    backbone = detector_backbone(keras_model, config)
    before = batch_norm_statistics(backbone)
    if not before:
        raise ValueError(f"backbone {config.BACKBONE!r} has no batch-norm layer: there are no statistics to adapt "
                         "(group norm takes each image's own)")
    batches = [mold_image(np.stack(images[i:i + batch_size]).astype(np.float32), config.MEAN_PIXEL)
               for i in range(0, len(images), batch_size)]
    count = recompute_moving_statistics(backbone, batches)
    after = batch_norm_statistics(backbone)
    bn_weights = {name: layer.get_weights() for name, layer in weighted_layers(backbone).items() if name in after}
    assign_weights(keras_model, bn_weights, strict=False, source="the adapted backbone")
    changes = {}
    for name, (mean, variance) in after.items():
        old_mean, old_variance = before[name]
        old_std = np.sqrt(old_variance + 1e-3)
        changes[name] = {"mean_shift": float(np.mean(np.abs(mean - old_mean) / old_std)),
                         "std_ratio": float(np.exp(np.mean(np.abs(np.log(np.sqrt(variance + 1e-3) / old_std)))))}
    log.info("adapted %d batch-norm layers on %d images", count, len(images))
    return {"layers": count, "images": len(images), "changes": changes, "weights": bn_weights,
            "mean_shift": float(np.mean([c["mean_shift"] for c in changes.values()])) if changes else 0.0,
            "std_ratio": float(np.exp(np.mean([np.log(c["std_ratio"]) for c in changes.values()])))
            if changes else 1.0}
