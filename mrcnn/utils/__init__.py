"""Matterport's NumPy helpers and the ``Dataset`` base class (names and semantics kept), one module per idea.

    from mrcnn import utils
    utils.compute_overlaps(boxes1, boxes2); utils.resize_image(image, max_dim=512); utils.Dataset

Everything here runs outside the graph on NumPy arrays; no TensorFlow is imported (but by ``batch_slice``, Matterport's
graph helper, when it is called). Every public name is importable
from ``mrcnn.utils`` as in Matterport; the modules behind them:
    boxes      extract_bboxes, compute_iou, compute_overlaps, compute_overlaps_masks, non_max_suppression,
               box_refinement, apply_box_deltas, norm_boxes, denorm_boxes, trim_zeros
    resize     resize, resize_image, resize_mask, minimize_mask, expand_mask, mold_mask, unmold_mask
    anchors    generate_anchors, generate_pyramid_anchors
    matching   compute_matches, compute_ap, compute_ap_range, compute_recall
    Dataset    (mrcnn/data/dataset.py, re-exported here under Matterport's name)
Differences from Matterport: clear ``ValueError`` messages instead of asserts, no crash or NaN on empty inputs,
``compute_matches`` no longer lets a second prediction match a ground truth already matched to prediction 0,
verbose output goes through ``logging``, and ``download_trained_weights`` checks the file's hash.

Shape shorthand: see each module.
"""

import os

from mrcnn.backbones.download import COCO_WEIGHTS_URL as COCO_MODEL_URL  # Matterport's name for the address
from mrcnn.utils.anchors import generate_anchors, generate_pyramid_anchors
from mrcnn.utils.boxes import (apply_box_deltas, box_refinement, compute_iou, compute_overlaps, compute_overlaps_masks,
                               denorm_boxes, extract_bboxes, non_max_suppression, norm_boxes, trim_zeros)
from mrcnn.data.dataset import Dataset  # lives with the input pipeline; Matterport imported it from utils
from mrcnn.utils.matching import compute_ap, compute_ap_range, compute_matches, compute_recall
from mrcnn.utils.resize import (expand_mask, minimize_mask, mold_mask, resize, resize_image, resize_mask,
                                unmold_mask)

__all__ = [
    "COCO_MODEL_URL", "Dataset", "apply_box_deltas", "batch_slice", "box_refinement", "compute_ap", "compute_ap_range",
    "compute_iou", "compute_matches", "compute_overlaps", "compute_overlaps_masks", "compute_recall", "denorm_boxes",
    "download_trained_weights", "expand_mask", "extract_bboxes", "generate_anchors", "generate_pyramid_anchors",
    "minimize_mask", "mold_mask", "non_max_suppression", "norm_boxes", "resize", "resize_image", "resize_mask",
    "trim_zeros", "unmold_mask",
]

def download_trained_weights(coco_model_path, verbose=1):
    """Put Matterport's COCO weights (mask_rcnn_coco.h5, release v2.0) at `coco_model_path` and return that path.

    The file comes from the Keras cache, downloaded there once and hash-checked when missing (as `--weights coco`
    gets it: mrcnn/backbones/download.py), then copied to `coco_model_path`. Offline (MRCNN_OFFLINE=1), or when the
    download fails, FileNotFoundError names the URL and the path to put the file at. `verbose` is Matterport's flag
    and is ignored (progress goes through logging).
    """
    import shutil

    from mrcnn.backbones.download import COCO_WEIGHTS_FILE, cached_or_download

    source = cached_or_download(COCO_WEIGHTS_FILE)
    if os.path.abspath(source) != os.path.abspath(coco_model_path):
        shutil.copyfile(source, coco_model_path)
    return coco_model_path


def batch_slice(inputs, graph_fn, batch_size, names=None):
    """Matterport's batch_slice: `graph_fn` on each item of a batch, the results stacked.

    inputs: a tensor or array [B, ...], or a list of them; item i of each is graph_fn's i-th argument.
    graph_fn: returns one tensor or a tuple/list of them, each of the same shape for every item.
    batch_size: B (the items taken: 0 .. B - 1). names: optional names of the stacked outputs.
    Returns one tensor [B, ...] when graph_fn returns one output, else a list of them (one per output).
    Every layer of this package works on whole batches; this is for Matterport code that slices its own.
    """
    import tensorflow as tf

    if not isinstance(inputs, list):
        inputs = [inputs]
    outputs = []
    for i in range(batch_size):
        output = graph_fn(*[x[i] for x in inputs])
        outputs.append(output if isinstance(output, (tuple, list)) else [output])
    outputs = list(zip(*outputs))  # per output, its B items
    names = names if names is not None else [None] * len(outputs)
    result = [tf.stack(items, axis=0, name=name) for items, name in zip(outputs, names)]
    return result[0] if len(result) == 1 else result
