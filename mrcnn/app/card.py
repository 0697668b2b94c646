"""The model card the page shows: what model is loaded, and how well it did when it was evaluated.

From the config: backbone, input size, classes, detection settings. From the weights file: its path and, for a
checkpoint named like ours, the epoch. From an evaluation (the metrics.json that `pbc.py evaluate` writes, see
mrcnn/evaluation/report.py): the Table 4 figures of its primary AP variant (the paper's 11-point eq. 5) and the
Table 5 classification figures, with the dataset, the number of images, and whether the evaluated checkpoint is the
one loaded (the card says so when it is not). The evaluation is the metrics.json of `eval_dir` when one is given,
else a metrics.json beside the weights; without one the card says how to make it.
"""

import datetime
import logging
import os

log = logging.getLogger(__name__)

HOW_TO_EVALUATE = ("no evaluation found for these weights: run `pbc.py evaluate ... --weights FILE --out DIR` and "
                   "start the page with `--eval DIR`")


SCORE_MEANING = {"class": "the probability of the cell's class",
                 "object": "how sure the model is that a cell is there, 1 - P(background)"}


def model_card(config=None, class_names=(), weights=None, eval_dir=None, threshold=None, floor=None, title=None):
    """A JSON-ready dict describing the model. `config` may be None (a stub model): its fields are then left out.

    Raises ValueError / FileNotFoundError naming the file when `eval_dir` is given but holds no readable
    metrics.json (a metrics.json found beside the weights that cannot be read is logged and left out instead).
    """
    card = {"title": title or "Mask R-CNN", "classes": [str(c) for c in class_names[1:]],
            "threshold": threshold, "floor": floor}
    if config is not None:
        card.update({"name": config.NAME, "backbone": config.BACKBONE, "image_size": _image_size(config),
                     "max_detections": int(config.DETECTION_MAX_INSTANCES),
                     "nms_threshold": float(config.DETECTION_NMS_THRESHOLD),
                     "score": SCORE_MEANING.get(getattr(config, "DETECTION_SCORE", "class")),
                     "one_per_object": bool(getattr(config, "DETECTION_NMS_ACROSS_CLASSES", False))})
    if weights:
        from mrcnn.training.checkpoints import parse_checkpoint
        parsed = parse_checkpoint(weights)
        card["weights"] = weights
        card["epoch"] = parsed[1] if parsed else None
        if os.path.isfile(weights):
            modified = datetime.datetime.fromtimestamp(os.path.getmtime(weights))
            card["saved"] = modified.strftime("%Y-%m-%d %H:%M")
    card["evaluation"] = _evaluation(weights, eval_dir)
    if card["evaluation"] is None:
        card["evaluation_note"] = HOW_TO_EVALUATE
    return card


def _image_size(config):
    """The size the model sees: "512 x 512 px", or the range of a config that keeps aspect ratios."""
    if config.IMAGE_MIN_DIM == config.IMAGE_MAX_DIM:
        return f"{config.IMAGE_MAX_DIM} x {config.IMAGE_MAX_DIM} px"
    return f"{config.IMAGE_MIN_DIM} to {config.IMAGE_MAX_DIM} px ({config.IMAGE_RESIZE_MODE})"


def _evaluation(weights, eval_dir):
    from mrcnn.evaluation.report import load_metrics
    if eval_dir is not None:
        path = eval_dir if eval_dir.endswith(".json") else os.path.join(eval_dir, "metrics.json")
        return summarize_metrics(load_metrics(path), path, weights)
    if not weights:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(weights)), "metrics.json")
    if not os.path.isfile(path):
        return None
    try:
        return summarize_metrics(load_metrics(path), path, weights)
    except (ValueError, KeyError) as error:
        log.warning("%s: not used for the model card (%s)", path, error)
        return None


def _same_file(a, b):
    if not a or not b:
        return False
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    # metrics.json stores the path as evaluate was given it (often relative to another folder): the checkpoint's
    # name and its run folder identify it.
    return _run_and_file(a) == _run_and_file(b)


def _run_and_file(path):
    return os.path.normpath(path).split(os.sep)[-2:]


def dataset_name(dataset):
    """The name the page shows for an evaluation's dataset: the last part of a folder path ("../shared/data/pbc/"
    -> "pbc"), a name such as "synthetic" as it is, None for None."""
    if not dataset:
        return dataset
    name = os.path.basename(os.path.normpath(str(dataset).replace("\\", "/")))
    return name if name not in ("", ".", "..") else str(dataset)


def summarize_metrics(metrics, path, weights=None):
    """The card's evaluation block from a metrics dict (evaluate's schema): figures as floats or None."""
    meta, detection, classification = metrics["meta"], metrics["detection"], metrics["classification"]
    source = meta.get("source", {})
    variant = detection["variants"].get(detection.get("primary")) if detection.get("primary") else None
    block = {"file": path, "dataset": dataset_name(source.get("dataset")), "dataset_path": source.get("dataset"),
             "subset": source.get("subset"),
             "images": meta.get("num_images"), "weights": source.get("weights"),
             "same_weights": _same_file(source.get("weights"), weights) if weights else None,
             "detection": None, "classification": None, "per_class": []}
    if variant:
        block["variant"] = variant.get("label")
        block["detection"] = {"mAP@0.5": variant["mAP"].get("0.5"), "mAP@0.5:0.95": variant["mAP"].get("0.5:0.95"),
                              "mAR": variant.get("mAR"), "F1 (paper)": variant.get("F1")}
    if classification:
        macro = classification.get("macro") or {}
        block["classification"] = {"accuracy (one-vs-rest)": macro.get("ovr_accuracy"),
                                   "top-1 accuracy": classification.get("top1_accuracy"),
                                   "precision": macro.get("precision"), "recall": macro.get("recall"),
                                   "F1": macro.get("f1")}
    ap50 = (variant or {}).get("per_class_AP", {}).get("0.5", {})
    recall = (variant or {}).get("per_class_recall", {})
    for name in meta.get("class_names", [])[1:]:
        block["per_class"].append({"class": name, "AP@0.5": ap50.get(name), "recall": recall.get(name)})
    return block
