"""Which weights a model starts from or runs with: a spec turned into a file, and a training model started from it.

Shape shorthand: none (files and layer names).

A weights spec is what the command lines' `--weights` takes:

    none        no file: the model keeps its random initialisation
    last        the newest checkpoint of the config's NAME under the log folder (mrcnn/training/run.py)
    imagenet    the backbone's keras.applications ImageNet weights (the Keras cache; downloaded there once)
    coco        Matterport's mask_rcnn_coco.h5 (idem; mrcnn/backbones/download.py)
    a path      a weights file: a checkpoint, an averaged model (`pbc.py average`), a pretrained backbone
                (`pbc.py pretrain`), or any Keras 3 / Keras 2 file that shares layer names

`resolve_weights` finds the file without building any model (so a missing file fails within seconds, before
TensorFlow is loaded) and `load_start_weights` loads it into a training MaskRCNN, returning what loaded with a
one-line summary for the command line to print.
"""

import json
import logging
import os

log = logging.getLogger(__name__)

SPECS = ("none", "last", "imagenet", "coco")
CHOICES = "none, last, imagenet, coco, or a weights file"


def resolve_weights(spec, model_dir=None, name=None, backbone=None, weights_file=None, offline=None,
                    flag="--weights"):
    """The file behind the weights spec `spec` (see the module notes), or None for "none".

    Args:
        spec: "none", "last", "imagenet", "coco" or a path.
        model_dir, name: where "last" looks: the newest run of `name` (Config.NAME) under `model_dir`.
        backbone: Config.BACKBONE, for "imagenet".
        weights_file: for "imagenet" and "coco": this file instead of the Keras cache's.
        offline: for "imagenet" and "coco": never download (None: the MRCNN_OFFLINE environment variable decides).
        flag: how messages name the spec's source (a command line's option).
    Raises FileNotFoundError (or ValueError for a backbone without ImageNet weights) whose message starts with
    `<flag> <spec>:` and says what would work.
    """
    spec = os.fspath(spec)
    try:
        if spec == "none":
            return None
        if spec == "last":
            from mrcnn.training.run import TrainingRun
            if model_dir is None or name is None:
                raise ValueError("needs the log folder and the run's name to look in")
            return TrainingRun.last(model_dir, name).checkpoint_path()
        if spec == "imagenet":
            from mrcnn.backbones.pretrained import imagenet_weights_path
            return imagenet_weights_path(backbone, weights_file, offline=offline)
        if spec == "coco":
            from mrcnn.backbones.pretrained import coco_weights_path
            return coco_weights_path(weights_file, offline=offline)
    except (FileNotFoundError, ValueError) as e:
        advice = ". Train first, or give a weights file" if spec == "last" else ""
        raise type(e)(f"{flag} {spec}: {e}{advice}") from None
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"{flag} {spec}: no such file ({CHOICES})")
    return spec


def load_start_weights(model, spec, path):
    """Load the starting weights of a training run into the training MaskRCNN `model`.

    Args:
        spec: the weights spec; path: its file, from resolve_weights (None for "none").
    Returns None for "none", else the report of what loaded ({"loaded", "excluded", "missing", "mismatched",
    "unused"} layer names) with "summary": one line saying so (and, for a backbone from `pbc.py pretrain`, its
    classification accuracy). Raises ValueError when no layer of the model is in the file.
    """
    config = model.config
    if spec == "none":
        log.info("training from scratch (random initialisation)")
        return None
    if spec == "imagenet":
        from mrcnn.backbones.pretrained import load_imagenet_weights
        report = load_imagenet_weights(model.keras_model, config.BACKBONE, path=path)
    elif spec == "coco":
        from mrcnn.backbones.pretrained import load_coco_weights
        report = load_coco_weights(model.keras_model, path, num_classes_match=config.NUM_CLASSES == 81)
    else:
        report = model.load_weights(path, by_name=True)
        if not report["loaded"]:
            raise ValueError(f"--weights {path}: no layer of this model ({config.BACKBONE} backbone) is in the file; "
                             f"it holds {len(report['unused'])} other layers (another backbone?)")
    report = dict(report, summary=_summary(path, config, report))
    return report


def _summary(path, config, report):
    """One line on what `path` brought into the model; a backbone from `pbc.py pretrain` (its report beside it) is
    described with its accuracy as a classifier, and a size other than the model's is warned about."""
    counts = (f"{len(report['loaded'])} layers loaded from {path} ({len(report['missing'])} not in the file, "
              f"{len(report['mismatched'])} shape-mismatched, {len(report['excluded'])} excluded)")
    from mrcnn.training.checkpoints import report_path
    try:
        with open(report_path(path), encoding="utf-8") as f:
            pretrained = json.load(f)
        accuracy, size = float(pretrained["val_accuracy"]), int(pretrained["image_shape"][0])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return counts
    if size != config.IMAGE_MAX_DIM:
        log.warning("%s was pretrained on %d px images and this model takes %d px: cells appear at another size",
                    path, size, config.IMAGE_MAX_DIM)
    return (f"pretrained backbone {pretrained.get('backbone')} ({size} px, val accuracy {accuracy:.4f} as a "
            f"classifier): {len(report['loaded'])} layers loaded from {path}; {len(report['missing'])} layers (FPN, "
            "RPN, heads) start from random weights")
