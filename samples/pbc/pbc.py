"""Mask R-CNN on the PBC blood-cell dataset: annotate, pretrain, train, average, evaluate, detect, compare, serve.

    python samples/pbc/pbc.py annotate --dataset ../shared/data/pbc --out pbc_annotations.json
    python samples/pbc/pbc.py train --dataset ../shared/data/pbc --annotations pbc_annotations.json \\
        --backbone resnet101 --weights none --logs logs
    python samples/pbc/pbc.py evaluate --dataset ../shared/data/pbc --annotations pbc_annotations.json \\
        --subset val --weights last --out out/eval
    python samples/pbc/pbc.py detect --images smear1.jpg smears/ --weights last --out out/detect
    python samples/pbc/pbc.py compare out/eval_resnet50 out/eval_resnet101
    python samples/pbc/pbc.py serve --weights last          # a web page at http://127.0.0.1:8000/

`--dataset synthetic` uses generated smears with exact masks (no download): the quick way to see everything work.
The paper's configuration (Table 2) is the default; `--preset cpu` and the size overrides make CPU runs short.
Run `pbc.py COMMAND --help` for each command's options. A mistake in the input (a missing folder, a bad JSON file, no
checkpoint to continue) is one line on stderr and exit status 2; `--debug` or MRCNN_DEBUG=1 shows the traceback.
"""

import argparse
import json
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from mrcnn import cli  # noqa: E402  (standard library only: errors are reported before TensorFlow loads)
from mrcnn.cli import UsageError  # noqa: E402

log = logging.getLogger("pbc")

WEIGHTS_CHOICES = "none, imagenet, coco, last, or a weights file"
SYNTHETIC_COUNTS = {"train": 400, "val": 80, "test": 80}
SYNTHETIC_SEEDS = {"train": 0, "val": 1, "test": 2}


# ---- datasets ---------------------------------------------------------------------------------------------------------

def load_dataset(dataset, subset, annotations=None, image_size=128, synthetic_count=None):
    """A prepared Dataset: `dataset` is "synthetic" or a folder in PBC's layout (annotations: COCO / VIA file)."""
    if dataset == "synthetic":
        from samples.pbc.synthetic import SyntheticSmearDataset
        ds = SyntheticSmearDataset()
        count = synthetic_count or SYNTHETIC_COUNTS[subset]
        ds.load_smears(count, size=max(64, int(image_size)), seed=SYNTHETIC_SEEDS[subset])
    else:
        from samples.pbc.datasets import PbcFolderDataset
        if not os.path.isdir(dataset):
            raise FileNotFoundError(f"--dataset {dataset}: no such folder (give a folder in PBC's layout, or "
                                    "'synthetic')")
        ds = PbcFolderDataset()
        report = ds.load_folder(dataset, subset, annotations=annotations)
        if report is not None and (report.skipped_images or report.skipped_instances):
            log.warning("%s", report.summary())
    ds.prepare()
    return ds


def _need_annotations(args):
    if args.dataset != "synthetic" and not args.annotations:
        raise UsageError(f"--dataset {args.dataset} has no masks: PBC ships class folders only. Make instance "
                         "annotations first (`pbc.py annotate --dataset DIR --out FILE.json`, or label with "
                         "MakeSense) and pass them with --annotations FILE.json")


# ---- weights ----------------------------------------------------------------------------------------------------------

def find_weights(weights, logs, name="pbc"):
    """Path of `weights`: "last" -> the newest checkpoint of run `name` under `logs`, else an existing file.
    Needs no model, so a missing file is reported before TensorFlow builds anything."""
    if weights == "last":
        from mrcnn.training.checkpoints import find_last
        try:
            return find_last(logs, name)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"--weights last: {e}. Train first, or give a weights file") from None
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"--weights {weights}: no such file ({WEIGHTS_CHOICES})")
    return weights


def resolve_weights(model, weights):
    """Path of `weights` ("last" -> the newest checkpoint of this config's NAME in the model's log folder)."""
    return find_weights(weights, model.model_dir, model.config.NAME)


def _check_weights_args(args, config):
    """--weights and --weights-file name files that exist (checked before loading data or building a model)."""
    if args.weights not in ("none", "imagenet", "coco"):
        find_weights(args.weights, args.logs, config.NAME)
    if args.weights_file and not os.path.isfile(args.weights_file):
        raise FileNotFoundError(f"--weights-file {args.weights_file}: no such file")


def pretrained_file(weights, backbone, weights_file=None, offline=None):
    """The file behind --weights imagenet / coco: --weights-file, else the Keras cache's, downloaded there first when
    missing unless `offline` (None: the MRCNN_OFFLINE environment variable decides). Other --weights: weights_file.
    Called before the model is built, so that a missing file fails (naming its URL and path) within seconds."""
    from mrcnn.backbones.pretrained import coco_weights_path, imagenet_weights_path
    try:
        if weights == "imagenet":
            return imagenet_weights_path(backbone, weights_file, offline=offline)
        if weights == "coco":
            return coco_weights_path(weights_file, offline=offline)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(f"--weights {weights}: {e}") from None
    return weights_file


def start_weights(model, weights, weights_file=None):
    """Load the starting weights of a training run and log what loaded."""
    if weights == "none":
        log.info("training from scratch (random initialisation)")
        return None
    if weights == "imagenet":
        from mrcnn.backbones.pretrained import load_imagenet_weights
        report = load_imagenet_weights(model.keras_model, model.config.BACKBONE, path=weights_file)
    elif weights == "coco":
        from mrcnn.backbones.pretrained import coco_weights_path, load_coco_weights
        path = coco_weights_path(weights_file)
        report = load_coco_weights(model.keras_model, path, num_classes_match=model.config.NUM_CLASSES == 81)
    else:
        path = resolve_weights(model, weights)
        report = model.load_weights(path, by_name=True)
        if not report["loaded"]:
            raise UsageError(f"--weights {path}: no layer of this model ({model.config.BACKBONE} backbone) is in the "
                             f"file; it holds {len(report['unused'])} other layers (another backbone?)")
        _describe_pretrained(path, model.config, report)
    log.info("loaded %d layers (%d not in the file, %d shape-mismatched, %d excluded)", len(report["loaded"]),
             len(report["missing"]), len(report["mismatched"]), len(report["excluded"]))
    return report


def _describe_pretrained(path, config, report):
    """Say what a backbone file from `pbc.py pretrain` (its report beside it) brought into the detector."""
    summary = path[:-len(".weights.h5")] + ".json" if path.endswith(".weights.h5") else None
    if not summary or not os.path.isfile(summary):
        return
    try:
        with open(summary, encoding="utf-8") as f:
            pretrained = json.load(f)
        accuracy, size = float(pretrained["val_accuracy"]), int(pretrained["image_shape"][0])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return
    print(f"pretrained backbone {pretrained.get('backbone')} ({size} px, val accuracy {accuracy:.4f} as a "
          f"classifier): {len(report['loaded'])} layers loaded from {path}; {len(report['missing'])} layers (FPN, "
          f"RPN, heads) start from random weights")
    if size != config.IMAGE_MAX_DIM:
        log.warning("%s was pretrained on %d px images and this model takes %d px: cells appear at another size",
                    path, size, config.IMAGE_MAX_DIM)


# ---- commands ---------------------------------------------------------------------------------------------------------

def cmd_annotate(args):
    from samples.pbc import annotate
    argv = ["--dataset", args.dataset, "--out", args.out]
    if args.contact_sheet:
        argv += ["--contact-sheet", args.contact_sheet]
    if args.limit:
        argv += ["--limit", str(args.limit)]
    argv += ["--workers", str(args.workers)]
    return annotate.main(argv)


def _resumed_run_config(args):
    """The saved config.json values of the run that --weights continues (last, or a checkpoint with config.json
    beside it), or None when it starts a new run."""
    from mrcnn.training.checkpoints import find_last, read_run_config
    if args.weights == "last":
        try:
            path = find_last(args.logs, "pbc")
        except FileNotFoundError:
            return None
    elif os.path.isfile(args.weights):
        path = args.weights
    else:
        return None
    return read_run_config(os.path.dirname(os.path.abspath(path)))


def _config_from_args(args, inference=False):
    """The config of this command line. A continued training run keeps its batch-norm mode (trained from scratch:
    batch norm on), optimizer and learning rate unless the command line names them."""
    from samples.pbc.config import make_config
    from_scratch, optimizer, learning_rate = False, None, None
    if not inference:
        saved = _resumed_run_config(args) or {}
        from_scratch = args.weights == "none" or saved.get("TRAIN_BN") is True
        optimizer = args.optimizer or saved.get("OPTIMIZER")
        learning_rate = args.learning_rate if args.learning_rate is not None else saved.get("LEARNING_RATE")
    return make_config(inference=inference, preset=args.preset, backbone=args.backbone, image_size=args.image_size,
                       images_per_gpu=getattr(args, "images_per_gpu", None),
                       gpu_count=getattr(args, "gpu_count", None),
                       steps_per_epoch=getattr(args, "steps_per_epoch", None),
                       validation_steps=getattr(args, "validation_steps", None),
                       from_scratch=from_scratch,
                       recompute_backbone=getattr(args, "recompute_backbone", False),
                       learning_rate=learning_rate, optimizer=optimizer)


def cmd_train(args):
    from samples.pbc.config import schedule

    _need_annotations(args)
    config = _config_from_args(args)
    _check_weights_args(args, config)
    weights_file = pretrained_file(args.weights, config.BACKBONE, args.weights_file, offline=args.offline or None)
    train_set = load_dataset(args.dataset, "train", args.annotations, config.IMAGE_MAX_DIM, args.synthetic_count)
    val_set = load_dataset(args.dataset, "val", args.annotations, config.IMAGE_MAX_DIM)
    from mrcnn.training.preflight import check_log_dir
    check_log_dir(args.logs, 0)  # writable; the free space is checked once the checkpoint's size is known
    from mrcnn.model import MaskRCNN  # TensorFlow loads here, once the inputs have passed their checks
    from mrcnn.training import distribute
    print(f"train: {train_set.num_images} images, val: {val_set.num_images} images; backbone {config.BACKBONE}, "
          f"{config.IMAGE_MAX_DIM} px, global batch {config.BATCH_SIZE}, {config.STEPS_PER_EPOCH} steps x "
          f"{args.epochs} epochs")
    if args.seed is not None:  # the initial weights, the in-graph ROI sampling, deterministic kernels
        from mrcnn.training.determinism import seed_everything
        seed_everything(args.seed)
    model = MaskRCNN("training", config, args.logs)
    start_weights(model, args.weights, weights_file)
    from samples.pbc.augment import SmearAugmentation
    augmentation = None if args.no_augmentation else SmearAugmentation()
    callbacks = []
    if args.val_map_images and distribute.is_chief(model.strategy):  # one writer of the mAP curve
        from mrcnn.evaluation import MeanAPCallback
        inference_config = _config_from_args(args, inference=True)
        callbacks.append(MeanAPCallback(lambda: MaskRCNN("inference", inference_config, args.logs), val_set,
                                        val_set.image_ids[:args.val_map_images], log_dir=model))
    start = time.time()
    plan = schedule("none" if config.TRAIN_BN is True else "pretrained", args.epochs)
    for end, layers, factor in plan:
        if end <= model.epoch:
            continue
        print(f"epochs {model.epoch + 1}-{end}: layers {layers}, learning rate {config.LEARNING_RATE * factor:g}")
        model.train(train_set, val_set, learning_rate=config.LEARNING_RATE * factor, epochs=end, layers=layers,
                    augmentation=augmentation, custom_callbacks=callbacks, verbose=args.verbose, seed=args.seed)
    print(f"trained to epoch {model.epoch} in {time.time() - start:.0f} s; checkpoints and TensorBoard logs in "
          f"{model.log_dir} (tensorboard --logdir {args.logs})")
    return 0


def cmd_pretrain(args):
    from samples.pbc import pretrain
    from samples.pbc.config import make_config
    config = make_config(preset=args.preset, backbone=args.backbone, image_size=args.image_size, from_scratch=True)
    pretrain.run(args, config, _progress)
    return 0


def _inference_config(args):
    config = _config_from_args(args, inference=True)
    if args.min_confidence is not None:
        config.DETECTION_MIN_CONFIDENCE = args.min_confidence
    return config


def _inference_model(args, config=None):
    """(model with the --weights loaded, weights path); the weights are found before the model is built."""
    config = config or _inference_config(args)
    path = find_weights(args.weights, args.logs, config.NAME)
    from mrcnn.model import MaskRCNN
    model = MaskRCNN("inference", config, args.logs)
    model.load_weights(path)
    return model, path


def _progress(done, total, start, what):
    """A progress line on stderr: redrawn in place on a terminal, every tenth of the work in a log file."""
    tty = sys.stderr.isatty()
    if not tty and done != total and done % max(1, total // 10):
        return
    elapsed = time.time() - start
    eta = elapsed / done * (total - done) if done else 0.0
    print(f"{chr(13) if tty else ''}{what} {done}/{total}  {elapsed:.0f} s elapsed, ~{eta:.0f} s left",
          end="" if tty else "\n", file=sys.stderr, flush=True)
    if tty and done == total:
        print(file=sys.stderr)


def detect_subset(model, dataset, progress=True):
    """(ground truths, detections, image labels or None, image names) of every image of `dataset`, for
    `mrcnn.evaluation.evaluate_predictions`. PBC's image-level label is the image's folder; synthetic smears have
    none (they are scored by their largest cell)."""
    gts, preds, labels, names = [], [], [], []
    start = time.time()
    for i, image_id in enumerate(dataset.image_ids):
        masks, class_ids = dataset.load_mask(image_id)
        gts.append({"class_ids": class_ids, "masks": masks})
        preds.append(model.detect([dataset.load_image(image_id)])[0])
        names.append(dataset.image_info[image_id]["id"])
        labels.append(dataset.folder_class_id(image_id) if hasattr(dataset, "folder_class_id") else None)
        if progress:
            _progress(i + 1, dataset.num_images, start, "detecting")
    return gts, preds, (labels if all(label is not None for label in labels) else None), names


def cmd_evaluate(args):
    from mrcnn.evaluation import evaluate_predictions, read_losses, write_report
    from samples.pbc.average import run_folder
    from samples.pbc.classes import CLASS_NAMES

    _need_annotations(args)
    config = _inference_config(args)
    find_weights(args.weights, args.logs, config.NAME)
    dataset = load_dataset(args.dataset, args.subset, args.annotations, config.IMAGE_MAX_DIM)
    os.makedirs(args.out, exist_ok=True)  # an --out that cannot be a folder fails now, not after the detections
    model, weights = _inference_model(args, config)
    gts, preds, image_labels, names = detect_subset(model, dataset)
    try:
        losses = read_losses(run_folder(weights))
    except (FileNotFoundError, ValueError) as e:
        log.warning("no loss curves next to %s (%s): Table 3 is left out", weights, e)
        losses = None
    metrics = evaluate_predictions(gts, preds, ["BG"] + CLASS_NAMES, image_ids=names, image_labels=image_labels,
                                   losses=losses,
                                   source={"backbone": model.config.BACKBONE, "weights": weights,
                                           "dataset": args.dataset, "subset": args.subset,
                                           "image_size": model.config.IMAGE_MAX_DIM})
    paths = write_report(metrics, args.out, title=f"PBC {args.subset}: {model.config.BACKBONE}")
    with open(paths["report"], encoding="utf-8") as f:
        print(f.read())
    print(f"wrote {', '.join(sorted(paths.values()))}")
    return 0


def _expand_images(paths):
    from mrcnn.data.image_io import IMAGE_EXTENSIONS
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                files += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(IMAGE_EXTENSIONS)]
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f"--images {path}: no such file or folder")
    if not files:
        raise UsageError(f"--images {' '.join(paths)}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def cmd_detect(args):
    from mrcnn.data.annotated import AnnotatedDataset
    from mrcnn.streaming import detect_files
    from samples.pbc.classes import CLASS_NAMES, SOURCE

    unique = {}
    for path in _expand_images(args.images):  # a file named twice (alone and in its folder) is detected once
        unique.setdefault(os.path.realpath(path), path)
    files = list(unique.values())
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    model, _ = _inference_model(args)
    loader = AnnotatedDataset(SOURCE)  # its load_image refuses oversized headers before decoding
    for path in files:
        loader.add_image(SOURCE, image_id=path, path=path)
    index = {path: i for i, path in enumerate(files)}
    start = time.time()
    summary = detect_files(model, files, args.out, ["BG"] + CLASS_NAMES,
                           category_map={i + 1: i + 1 for i in range(len(CLASS_NAMES))},
                           overlays=not args.no_overlays, read_image=lambda path: loader.load_image(index[path]),
                           progress=lambda done, total, _: _progress(done, total, start, "detecting"),
                           resume=args.resume)
    skipped = summary["skipped"]
    resumed = f" ({summary['resumed']} from the earlier run)" if summary["resumed"] else ""
    print(f"{summary['images']} images{resumed}: {'' if args.no_overlays else 'overlays, '}results.json (COCO "
          f"results, image_id = file name), results.jsonl (one line per image) and counts.csv (cells per class per "
          f"image) in {args.out}; {summary['detections']} cells, {summary['images_per_second']:.2f} images/s"
          + (f"; skipped {len(skipped)} unreadable" if skipped else ""))
    return 0


def cmd_compare(args):
    from mrcnn.evaluation import compare_runs
    print(compare_runs(args.runs))
    return 0


def cmd_serve(args):
    from mrcnn.app import require_dependencies, serve
    from mrcnn.evaluation.report import load_metrics
    from samples.pbc.classes import CLASS_NAMES
    try:
        require_dependencies()
        if args.eval:
            load_metrics(args.eval)
    except (ImportError, FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None  # one line, "pbc.py serve: error: ..." (mrcnn/cli.py)
    threshold = args.min_confidence
    if threshold is None:
        threshold = _config_from_args(args, inference=True).DETECTION_MIN_CONFIDENCE
    args.min_confidence = min(args.floor, threshold)  # the model returns cells down to the floor; the page filters
    model, weights = _inference_model(args)
    white_cells = [c for c in CLASS_NAMES if c not in ("erythroblast", "platelet")]  # the differential's 100 %
    serve(model, ["BG"] + CLASS_NAMES, weights=weights, eval_dir=args.eval, threshold=threshold, host=args.host,
          port=args.port, title="PBC Mask R-CNN", category_map={i + 1: i + 1 for i in range(len(CLASS_NAMES))},
          differential={"classes": white_cells, "label": "white cells"})
    return 0


# ---- command line -----------------------------------------------------------------------------------------------------

def _model_options(p, training):
    p.add_argument("--backbone", default=None,
                   help="backbone name (resnet50, resnet101, resnet152, resnext50, vgg19, densenet121, densenet169, "
                        "tiny); default: the paper's resnet101")
    p.add_argument("--preset", default="paper", choices=["paper", "cpu"],
                   help="paper: Table 2 as published; cpu: narrow heads and fewer ROIs for CPU runs")
    p.add_argument("--image-size", type=int, default=None,
                   help="IMAGE_MIN_DIM = IMAGE_MAX_DIM = N (multiple of 64; the paper: 512)")
    p.add_argument("--logs", default="logs", help="folder of training runs and checkpoints (default: logs)")
    if not training:
        p.add_argument("--min-confidence", type=float, default=None,
                       help="DETECTION_MIN_CONFIDENCE (the paper: 0.75)")


def build_parser():
    parser = argparse.ArgumentParser(prog="pbc.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("annotate", help="make instance annotations (COCO JSON) for a PBC folder by image analysis",
                       description="Segment the labelled cell of every image (class = folder name) by classical "
                                   "image analysis and write COCO instances JSON with polygons; unsure images are "
                                   "flagged in the JSON and listed. A contact sheet PNG shows the overlays.")
    p.add_argument("--dataset", required=True, help="folder in PBC's layout: DIR/{train,val}/<class>/*.jpg")
    p.add_argument("--out", required=True, help="COCO instances JSON to write")
    p.add_argument("--contact-sheet", default=None, help="PNG of overlays for review")
    p.add_argument("--limit", type=int, default=None, help="annotate at most N images per class (for a quick look)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("train", help="train Mask R-CNN (the paper's config and 240-epoch schedule by default)",
                       description="Train with the paper's Table 2 configuration. With --weights none every layer "
                                   "trains from the first step with Adam and batch norm on; from pretrained weights "
                                   "the heads train first (1/6 of the epochs), then stages 4+ (to 1/2), then all "
                                   "layers at a tenth of the rate. TensorBoard logs (the five losses, their val_ "
                                   "twins, the total and the learning rate) go to the run's folder under --logs.")
    p.add_argument("--dataset", required=True, help="'synthetic' or a folder in PBC's layout")
    p.add_argument("--annotations", default=None, help="COCO or VIA JSON with the instances of the folder's images")
    p.add_argument("--weights", default="none", help=f"starting weights: {WEIGHTS_CHOICES} (default: none)")
    p.add_argument("--weights-file", default=None,
                   help="with --weights imagenet: the keras.applications file (default: ~/.keras/models/..., "
                        "downloaded there when missing); "
                        "with --weights coco: mask_rcnn_coco.h5")
    p.add_argument("--offline", action="store_true",
                   help="never download: --weights imagenet / coco must be in the Keras cache (~/.keras/models/) or "
                        "--weights-file (also MRCNN_OFFLINE=1); by default a missing file is downloaded there once")
    p.add_argument("--epochs", type=int, default=240, help="final epoch number (the paper: 240)")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="STEPS_PER_EPOCH (the paper: 100)")
    p.add_argument("--validation-steps", type=int, default=None, help="VALIDATION_STEPS")
    p.add_argument("--images-per-gpu", type=int, default=None, help="IMAGES_PER_GPU (the paper: 2)")
    p.add_argument("--gpu-count", type=int, default=None,
                   help="GPU_COUNT (the paper: 2); with fewer devices the same global batch runs on what is there")
    p.add_argument("--synthetic-count", type=int, default=None, help="training images of --dataset synthetic")
    p.add_argument("--no-augmentation", action="store_true",
                   help="no flips, 90-degree rotations, zoom or colour jitter (samples/pbc/augment.py)")
    p.add_argument("--recompute-backbone", action="store_true",
                   help="recompute the backbone's activations in the backward pass: less memory, a slower step "
                        "(Config.RECOMPUTE_BACKBONE; ResNet50 at 512 px, batch 2: -12%% memory, +15%% time on a CPU)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="LEARNING_RATE of the first stage (default: 0.001; later stages of the pretrained plan use "
                        "a tenth of it)")
    p.add_argument("--optimizer", default=None, choices=["sgd", "adam"],
                   help="OPTIMIZER (default: adam from scratch, Matterport's sgd from pretrained weights)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed Python, NumPy, TensorFlow and the data order, with deterministic kernels, so that a "
                        "run repeats bit for bit on the same machine (default: none, a new draw every run)")
    p.add_argument("--val-map-images", type=int, default=0,
                   help="after each epoch, score mask mAP on the first N validation images and write val_mAP50 and "
                        "val_mask_mAP to TensorBoard, with overlays of up to 4 of them (ground truth beside the "
                        "detections) as images val_overlay/0.. (default: 0, off)")
    _model_options(p, training=True)
    p.set_defaults(func=cmd_train)

    from samples.pbc.pretrain import add_parser as add_pretrain_parser
    add_pretrain_parser(sub, _model_options).set_defaults(func=cmd_pretrain)
    from samples.pbc.average import add_parser as add_average_parser, cmd_average
    add_average_parser(sub).set_defaults(func=cmd_average)

    p = sub.add_parser("evaluate", help="score a checkpoint: the paper's Tables 3-6 and more, as JSON and Markdown",
                       description="Detect on a subset and write metrics.json, report.md (laid out like the paper's "
                                   "tables, the paper's values beside ours), precision-recall curves and the "
                                   "confusion matrix as PNGs.")
    p.add_argument("--dataset", required=True, help="'synthetic' or a folder in PBC's layout")
    p.add_argument("--annotations", default=None, help="COCO or VIA JSON with the subset's instances")
    p.add_argument("--subset", default="val", choices=["val", "test"], help="subset to score (default: val)")
    p.add_argument("--weights", required=True, help="a checkpoint, or 'last'")
    p.add_argument("--out", required=True, help="folder for metrics.json, report.md and the PNGs")
    _model_options(p, training=False)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("detect", help="detect cells in images: overlays, COCO results JSON, per-class counts CSV",
                       description="Detect and segment the cells of each image; write an overlay PNG per image, "
                                   "results.json (COCO results: bbox, RLE segmentation, score) and counts.csv "
                                   "(a differential count: cells per class per image).")
    p.add_argument("--images", nargs="+", required=True, help="image files or folders")
    p.add_argument("--weights", required=True, help="a checkpoint, or 'last'")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-overlays", action="store_true", help="do not write an overlay PNG per image")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out: images already in its results.jsonl are skipped")
    _model_options(p, training=False)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("compare", help="Tables 4 and 5 with a row per run (one evaluate folder per backbone)")
    p.add_argument("runs", nargs="+", help="evaluate output folders (or their metrics.json)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("serve", help="a local web page: drop smear images, see the cells, get the differential count",
                       description="Serve a web page on this computer (127.0.0.1) where smear images are dropped, "
                                   "detected with the model, drawn with their cells, and counted; the counts and COCO "
                                   "results download in detect's formats. Needs `pip install -e .[app]`.")
    p.add_argument("--weights", default="last", help="a checkpoint, or 'last' (default)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; there is no login)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--eval", default=None,
                   help="an evaluate --out folder (or its metrics.json) for the model card; default: a metrics.json "
                        "beside the weights, if any")
    p.add_argument("--floor", type=float, default=0.05,
                   help="lowest score the model returns: the page's threshold slider goes down to it (default 0.05)")
    _model_options(p, training=False)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv=None):
    """Run a command; a mistake in its input ends it with one line on stderr and exit status 2 (mrcnn.cli)."""
    args = cli.parse_args(build_parser(), argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "verbose"):
        args.verbose = False
    args.verbose = "auto" if args.verbose else 2
    return cli.run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
