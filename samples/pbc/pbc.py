"""Mask R-CNN on the PBC blood-cell dataset: annotate, pretrain, train, average, evaluate, detect, adapt, finetune,
export, serve.

    python samples/pbc/pbc.py annotate --dataset ../shared/data/pbc --out pbc_annotations.json
    python samples/pbc/pbc.py train --dataset ../shared/data/pbc --annotations pbc_annotations.json \\
        --backbone resnet101 --weights none --logs logs
    python samples/pbc/pbc.py evaluate --dataset ../shared/data/pbc --annotations pbc_annotations.json \\
        --subset val --weights last --out out/eval
    python samples/pbc/pbc.py detect --images smear1.jpg smears/ --weights last --out out/detect
    python samples/pbc/pbc.py export --weights last --format onnx --out out/onnx   # then detect --model out/onnx
    python samples/pbc/pbc.py finetune --annotations corrections.json --images smears/ \\
        --weights out/detector.weights.h5 --out out/lab.weights.h5    # the page's verified cells, to learn a lab
    python samples/pbc/pbc.py compare out/eval_resnet50 out/eval_resnet101
    python samples/pbc/pbc.py serve --weights last          # a web page at http://127.0.0.1:8000/
    python samples/pbc/pbc.py serve --model out/onnx        # the page on an exported model (docs/export.md)

`--dataset synthetic` uses generated smears with exact masks (no download): the quick way to see everything work.
The paper's configuration (Table 2) is the default; `--preset cpu` and the size overrides make CPU runs short.
Run `pbc.py COMMAND --help` for each command's options. A mistake in the input (a missing folder, a bad JSON file, no
checkpoint to continue) is one line on stderr and exit status 2; `--debug` or MRCNN_DEBUG=1 shows the traceback.
TensorFlow's own C++ log lines are hidden unless `--verbose`.

This file is the command line only: what each command does lives in the library (mrcnn/) and in the sample's
modules (config.py: the PBC config and the stage plan; datasets.py; classes.py; annotate.py; pretrain.py;
finetune.py).
"""

import argparse
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from mrcnn import cli  # noqa: E402  (standard library only: errors are reported before TensorFlow loads)
from mrcnn.cli import UsageError  # noqa: E402
from samples.pbc.classes import CLASS_NAMES, WHITE_CELL_CLASSES  # noqa: E402
from samples.pbc.config import PbcConfig, add_model_options  # noqa: E402
from samples.pbc.datasets import load_subset  # noqa: E402
from samples.pbc.models import (exported_detector, inference_config, inference_detector, spread,  # noqa: E402
                                store_cutoff)
from samples.pbc.train import need_annotations  # noqa: E402

log = logging.getLogger("pbc")
CATEGORY_MAP = {i + 1: i + 1 for i in range(len(CLASS_NAMES))}  # COCO category id = class id in detect's outputs
DEFAULT_FLOOR = 0.05  # serve: the lowest score the model returns, where the page's threshold slider stops


# ---- commands --------------------------------------------------------------------------------------------------------

def cmd_annotate(args):
    from samples.pbc import annotate
    argv = ["--dataset", args.dataset, "--out", args.out, "--workers", str(args.workers)]
    argv += ["--contact-sheet", args.contact_sheet] if args.contact_sheet else []
    argv += ["--limit", str(args.limit)] if args.limit else []
    return annotate.main(argv)


def cmd_evaluate(args):
    need_annotations(args)
    config, weights = inference_config(args)  # a missing file fails before the images are read
    dataset = load_subset(args.dataset, args.subset, args.annotations, config.IMAGE_MAX_DIM)
    os.makedirs(args.out, exist_ok=True)  # an --out that cannot be a folder fails now, not after the detections
    model = inference_detector(config, weights, args,
                             sample=lambda: (dataset.load_image(i) for i in spread(list(dataset.image_ids))))
    from mrcnn.evaluation import read_losses, write_report
    from mrcnn.evaluation.dataset import detect_dataset, score_detections
    from mrcnn.training.run import run_folder
    detections = detect_dataset(model, dataset, progress=cli.progress_line("detecting"))
    try:
        losses = read_losses(run_folder(weights))
    except (FileNotFoundError, ValueError) as e:
        log.warning("no loss curves next to %s (%s): Table 3 is left out", weights, e)
        losses = None
    scores = [(pred.get("unlike_training") or {}).get("score") for pred in detections.preds]
    if args.subset == "val" and any(score is not None for score in scores):  # images like the training ones
        from mrcnn.familiarity import cutoff
        print(f"'unlike the training images' cut-off: {cutoff(scores)} (99 % of the val images score below it), "
              f"stored in {store_cutoff(weights, cutoff(scores))}")
    metrics = score_detections(detections, dataset.class_names, losses=losses,
                               source={"backbone": config.BACKBONE, "weights": weights, "dataset": args.dataset,
                                       "subset": args.subset, "image_size": config.IMAGE_MAX_DIM,
                                       "pixel_size": str(args.pixel_size),
                                       "red_cell_diameter": config.RED_CELL_DIAMETER})
    paths = write_report(metrics, args.out, title=f"PBC {args.subset}: {config.BACKBONE}")
    with open(paths["report"], encoding="utf-8") as f:
        print(f.read())
    print(f"wrote {', '.join(sorted(paths.values()))}")
    return 0


def cmd_detect(args):
    from mrcnn.data.image_io import list_image_files
    files = list_image_files(args.images)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    from mrcnn.streaming import detect_files, readable_images
    sample = lambda: readable_images(spread(files))  # noqa: E731
    if args.model:  # an exported model (pbc.py export): its config and class names are beside it
        if args.min_confidence is not None:
            raise UsageError("--min-confidence: an exported model keeps the threshold it was exported with "
                             "(pbc.py export --min-confidence)")
        model = exported_detector(args, sample=sample)
    else:
        config, weights = inference_config(args)
        model = inference_detector(config, weights, args, sample=sample)
    progress = cli.progress_line("detecting")
    start = time.time()
    summary = detect_files(model, files, args.out, ["BG"] + CLASS_NAMES, category_map=CATEGORY_MAP,
                           overlays=not args.no_overlays, resume=args.resume,
                           progress=lambda done, total, _: progress(done, total, start))
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
    try:
        require_dependencies()
        if args.eval:
            load_metrics(args.eval)
        from mrcnn.app.disk import default_work_dir, prepare_work_dir
        args.work = prepare_work_dir(args.work or default_work_dir())  # before the model loads: a bad folder fails fast
    except (ImportError, FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None  # one line, "pbc.py serve: error: ..." (mrcnn/cli.py)
    if args.model:  # an exported model: it returns cells down to the threshold it was exported with
        model = exported_detector(args)
        floor = float(model.config.DETECTION_MIN_CONFIDENCE)
        if args.floor is not None:
            raise UsageError(f"--floor: the exported model {args.model} returns cells down to the threshold it was "
                             f"exported with, {floor:g}; for a lower floor, export again with pbc.py export "
                             f"--min-confidence {args.floor:g}")
        threshold = PbcConfig.DETECTION_MIN_CONFIDENCE if args.min_confidence is None else args.min_confidence
        if threshold < floor:
            raise UsageError(f"--min-confidence {threshold:g}: the exported model {args.model} has no cells below "
                             f"{floor:g}, the threshold it was exported with; give one from {floor:g} to 1")
        weights, title = model.model.weights, f"PBC Mask R-CNN ({model.model.format} export)"
    else:
        config, weights = inference_config(args)
        threshold = config.DETECTION_MIN_CONFIDENCE
        config.DETECTION_MIN_CONFIDENCE = min(DEFAULT_FLOOR if args.floor is None else args.floor, threshold)
        model, title = inference_detector(config, weights, args), "PBC Mask R-CNN"
    serve(model, ["BG"] + CLASS_NAMES, weights=weights, eval_dir=args.eval, threshold=threshold, host=args.host,
          port=args.port, title=title, category_map=CATEGORY_MAP, work_dir=args.work,
          differential={"classes": WHITE_CELL_CLASSES, "label": "white cells"})
    return 0


# ---- command line ----------------------------------------------------------------------------------------------------

def build_parser():
    from samples.pbc import adapt, average, export, finetune, pretrain, train
    parser = argparse.ArgumentParser(prog="pbc.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log more, with Keras' per-step progress and TensorFlow's C++ log lines")
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
    train.add_parser(sub).set_defaults(func=train.cmd_train)
    pretrain.add_parser(sub).set_defaults(func=pretrain.cmd_pretrain)
    average.add_parser(sub).set_defaults(func=average.cmd_average)
    adapt.add_parser(sub).set_defaults(func=adapt.cmd_adapt)
    finetune.add_parser(sub).set_defaults(func=finetune.cmd_finetune)
    export.add_parser(sub).set_defaults(func=export.cmd_export)

    p = sub.add_parser("evaluate", help="score a checkpoint: the paper's Tables 3-6 and more, as JSON and Markdown",
                       description="Detect on a subset and write metrics.json, report.md (laid out like the paper's "
                                   "tables, the paper's values beside ours), precision-recall curves and the "
                                   "confusion matrix as PNGs.")
    p.add_argument("--dataset", required=True, help="'synthetic' or a folder in PBC's layout")
    p.add_argument("--annotations", default=None, help="COCO or VIA JSON with the subset's instances")
    p.add_argument("--subset", default="val", choices=["val", "test"], help="subset to score (default: val)")
    p.add_argument("--weights", required=True, help="a checkpoint, or 'last'")
    p.add_argument("--out", required=True, help="folder for metrics.json, report.md and the PNGs")
    add_model_options(p, training=False)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("detect", help="detect cells in images: overlays, COCO results JSON, per-class counts CSV",
                       description="Detect and segment the cells of each image; write an overlay PNG per image, "
                                   "results.json (COCO results: bbox, RLE segmentation, score) and counts.csv "
                                   "(a differential count: cells per class per image).")
    p.add_argument("--images", nargs="+", required=True, help="image files or folders")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", help="a checkpoint, or 'last'")
    source.add_argument("--model", help="a folder written by pbc.py export (any format), run instead of the weights")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-overlays", action="store_true", help="do not write an overlay PNG per image")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out: images already in its results.jsonl are skipped")
    add_model_options(p, training=False)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("compare", help="Tables 4 and 5 with a row per run (one evaluate folder per backbone)")
    p.add_argument("runs", nargs="+", help="evaluate output folders (or their metrics.json)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("serve", help="a local web page: drop smear images, see the cells, get the differential count",
                       description="Serve a web page on this computer (127.0.0.1) where smear images are dropped, "
                                   "detected with the model, drawn with their cells, and counted; the counts and COCO "
                                   "results download in detect's formats. Needs `pip install -e .[app]`.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--weights", default="last", help="a checkpoint, or 'last' (default)")
    source.add_argument("--model", help="a folder written by pbc.py export (any format), run instead of the weights; "
                                        "export it with --min-confidence 0.05 for the threshold slider to reach down")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; there is no login)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--eval", default=None,
                   help="an evaluate --out folder (or its metrics.json) for the model card; default: a metrics.json "
                        "beside the weights, if any")
    p.add_argument("--work", default=None,
                   help="folder where batches are kept (images, cells, corrections), so that a restart loses nothing "
                        "(default: $MRCNN_WORK_DIR, else the user's data folder, e.g. ~/.local/share/mrcnn/work)")
    p.add_argument("--floor", type=float, default=None,
                   help="lowest score the model returns: the page's threshold slider goes down to it (default "
                        f"{DEFAULT_FLOOR}; an exported model's is the threshold it was exported with)")
    add_model_options(p, training=False)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv=None, quiet_native_logs=False):
    """Run a command; a mistake in its input ends it with one line on stderr and exit status 2 (mrcnn.cli).
    quiet_native_logs: hide TensorFlow's C++ log lines unless --verbose (the script does; a caller in-process may
    not want its stderr rerouted)."""
    args = cli.parse_args(build_parser(), argv)
    if quiet_native_logs and not args.verbose:
        cli.quiet_native_logs()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    args.verbose = "auto" if args.verbose else 2  # Keras' fit: a progress bar per step, or a line per epoch
    return cli.run(args.func, args)


if __name__ == "__main__":
    sys.exit(main(quiet_native_logs=True))
