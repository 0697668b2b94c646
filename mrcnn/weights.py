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
one-line summary for the command line to print. `load_weights_file` is `MaskRCNN.load_weights`: any of those files
into a Keras model, by layer name, with Matterport's checks.
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


def load_weights_file(keras_model, filepath, by_name=False, exclude=None, skip_mismatch=False):
    """Load a Keras 3 `.weights.h5` file or a Keras 2 HDF5 file (Matterport's layout mapped onto ours) into
    `keras_model` by layer name; the arguments and the report are those of `MaskRCNN.load_weights`.

    A shape mismatch raises ValueError (the layer and both shapes) unless `skip_mismatch`; a strict load (neither
    by_name nor exclude) also raises on a missing layer. When fewer than half of the model's weighted layers (those
    not excluded) are in the file, a WARNING names the file and the count: a checkpoint of another backbone or model
    loads "by name" almost nothing.
    """
    from mrcnn.backbones import pretrained
    from mrcnn.weights_io import assign_weights, read_weights, weighted_layers

    strict = not (by_name or exclude)
    if pretrained.weights_file_kind(filepath) == "matterport":
        # Matterport's own file (e.g. mask_rcnn_coco.h5): its ResNet layer names are mapped to ours.
        report = pretrained.load_coco_weights(keras_model, filepath, exclude=exclude or (),
                                              skip_mismatch=skip_mismatch and not strict)
        if strict and report["missing"]:
            raise ValueError(f"{filepath}: layers not loaded: {report['missing']}; load by_name=True to skip them")
    else:
        report = assign_weights(keras_model, read_weights(filepath), exclude=exclude, strict=strict,
                                source=filepath, skip_mismatch=skip_mismatch)
    total = len(weighted_layers(keras_model)) - len(report["excluded"])
    found = total - len(report["missing"])
    if found * 2 < total:
        log.warning("only %d of the model's %d weighted layers were found in %s (missing e.g. %s); the others keep "
                    "their current weights. Right for a backbone-only file (pbc.py pretrain, ImageNet); otherwise it "
                    "is not a checkpoint of this model (another backbone or heads)", found, total, filepath,
                    ", ".join(report["missing"][:3]))
    log.info("loaded %d layers from %s (%d excluded, %d missing, %d shape-mismatched, %d unused in the file)",
             len(report["loaded"]), filepath, len(report["excluded"]), len(report["missing"]),
             len(report["mismatched"]), len(report["unused"]))
    return report


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
        # Any file by name: a backbone from `pbc.py pretrain` (the heads missing), a checkpoint of other classes (the
        # class heads mismatched): what did not load is in the summary, the caller prints it.
        report = model.load_weights(path, by_name=True, skip_mismatch=True)
        if report["mismatched"]:
            log.warning("%s: %d layers have other shapes than this model's and keep their initialisation: %s", path,
                        len(report["mismatched"]), ", ".join(report["mismatched"][:8]))
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
