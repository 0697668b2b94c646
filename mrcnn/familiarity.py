"""How unlike the training images an image is: a score from the statistics batch norm keeps, and a flag above a cut-off.

Shape shorthand: N: model inputs of one image (tiles), S: the input side, C: channels of one batch-norm layer,
L: batch-norm layers of the backbone.

Every batch-norm layer of the backbone keeps the mean and variance of what reached it during training (its moving
statistics: the training images' features). An image from the same microscope and stain gives features whose means,
over the image, fall where the training images' did; another camera, stain or magnification moves them. For the
model inputs of an image (as the detector feeds it: mrcnn.detector.ScaledDetector.inputs), the backbone runs in
inference and each layer's input is averaged over the image's pixels; per channel the distance of that mean from the
moving mean is counted in moving standard deviations; a layer's distance is the root mean square over its channels,
and the score is the mean of the layers' distances, each layer counting alike (the first layers see colour and
texture, the last ones cells):

    d_l = sqrt(mean over channels c of ((mean of x_lc over the image - moving_mean_lc) / sqrt(moving_variance_lc
          + eps))^2),   score = mean over layers l of d_l

How it was chosen, on the development halves of bccd, raabin, wbc_masks and PBC val with make pbc's model
(benchmarks/other_labs.py --split dev; AUROC of the score against an image the model gets wrong, all sources pooled):
the mean of the layers' distances 0.80, the root mean square over all channels at once (deep layers, with more
channels, weigh more) 0.75, the largest layer distance 0.76, the first two layers 0.78, the last three 0.66. Within one
source no pooling foresees which images go wrong (AUROC 0.3-0.6): the score tells a lab's images from the training
lab's, not a hard image from an easy one.

No extra file and no training images are needed: the model carries its statistics. The cut-off that turns the score
into a yes / no comes from images known to be like the training ones: `cutoff(scores)` is a high quantile (QUANTILE)
of their scores; `pbc.py evaluate` computes it on the validation images and writes it beside the weights. A backbone
without batch norm (VGG19, `small_gn`) keeps no statistics: `familiarity_scorer` gives None and its images get no score.
"""

import logging

import keras
import numpy as np

from mrcnn.backbones.classifier import detector_backbone
from mrcnn.data.mold import mold_image
from mrcnn.weights_io import batch_norm_layers

log = logging.getLogger(__name__)

EPSILON = 1e-3
QUANTILE = 0.99  # of the in-distribution images' scores: about 1 in 100 of them is flagged


def familiarity_scorer(keras_model, config, cutoff=None):
    """The FamiliarityScorer of a detector, or None (logged once) when its backbone has no batch-norm layer."""
    backbone = detector_backbone(keras_model, config)
    if not batch_norm_layers(backbone):
        log.info("backbone %r has no batch norm: images get no 'unlike the training images' score", config.BACKBONE)
        return None
    return FamiliarityScorer(keras_model, config, cutoff=cutoff, backbone=backbone)


class FamiliarityScorer:
    """The score of the module notes for a detector's backbone.

    Args:
        keras_model: the detector's Keras model (its backbone's weights and statistics are copied now).
        config: its Config.
        cutoff: the score above which an image is "unlike the training images", or None (no flag, score only).
        backbone: `detector_backbone(keras_model, config)` when the caller has built it already, else None.
    """

    def __init__(self, keras_model, config, cutoff=None, backbone=None):
        backbone = detector_backbone(keras_model, config) if backbone is None else backbone
        layers = batch_norm_layers(backbone)
        if not layers:
            raise ValueError(f"backbone {config.BACKBONE!r} has no batch-norm layer: no statistics to compare with")
        self.config, self.cutoff = config, cutoff
        self._probe = keras.Model(backbone.input, [layer.input for layer in layers])
        self._means = [keras.ops.convert_to_numpy(layer.moving_mean).astype(np.float64) for layer in layers]
        self._stds = [np.sqrt(keras.ops.convert_to_numpy(layer.moving_variance).astype(np.float64) + EPSILON)
                      for layer in layers]

    def score(self, inputs):
        """The score of one image from its model inputs: uint8 [N, S, S, 3] (or a list of such images)."""
        return self.distances(inputs)[0]

    def distances(self, inputs):
        """(the score, [L] the same root mean square per layer, first layer first) of one image's model inputs."""
        batch = mold_image(np.stack([np.asarray(x) for x in inputs]).astype(np.float32), self.config.MEAN_PIXEL)
        outputs = self._probe(batch, training=False)
        squares = []
        for output, mean, std in zip(outputs, self._means, self._stds):
            values = keras.ops.convert_to_numpy(keras.ops.cast(output, "float32")).astype(np.float64)
            image_mean = values.reshape(-1, values.shape[-1]).mean(axis=0)
            squares.append(((image_mean - mean) / std) ** 2)
        per_layer = [float(np.sqrt(np.mean(s))) for s in squares]
        return float(np.mean(per_layer)), per_layer

    def judge(self, inputs):
        """{"score": float, "unlike": True / False, or None without a cut-off, "cutoff": the cut-off or None,
        "layers": [L] the per-layer distances}."""
        score, per_layer = self.distances(inputs)
        unlike = None if self.cutoff is None else bool(score > self.cutoff)
        return {"score": round(score, 4), "unlike": unlike, "cutoff": self.cutoff,
                "layers": [round(d, 4) for d in per_layer]}


def cutoff(scores, quantile=QUANTILE):
    """The cut-off from scores of images like the training ones: their `quantile` (ValueError without scores)."""
    scores = np.asarray([s for s in scores if s is not None], dtype=np.float64)
    if scores.size == 0:
        raise ValueError("a cut-off needs the scores of some images like the training ones; got none")
    return round(float(np.quantile(scores, quantile)), 4)


def auroc(scores, positives):
    """Area under the ROC curve of `scores` for telling `positives` (bool per item) from the rest: the probability
    that a positive scores higher than a negative, ties counted half. None when either group is empty."""
    scores, positives = np.asarray(scores, np.float64), np.asarray(positives, bool)
    pos, neg = scores[positives], scores[~positives]
    if pos.size == 0 or neg.size == 0:
        return None
    ranks = _average_ranks(np.concatenate([pos, neg]))
    return float((ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def _average_ranks(values):
    """1-based ranks of `values`, ties sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks
