"""Images per second and peak memory of one model in each runtime: Keras (MaskRCNN.detect, today's path), the
SavedModel, ONNX Runtime and LiteRT (mrcnn/export, docs/export.md).

    python benchmarks/export_speed.py                                      # tiny backbone, 128 px, random weights
    python benchmarks/export_speed.py --backbone small --image-size 256 --weights out/pbc/detector_small_256.weights.h5
    python benchmarks/export_speed.py --backbone resnet50 --image-size 512  # ResNet50-FPN at 512 px

Builds the PBC inference config (`--preset`, default cpu; `--backbone`, `--image-size`), loads `--weights` (default:
seeded random weights), exports it in every format to a temporary folder (or `--out`), then runs each runtime in a
child process of its own (so that each peak resident set size is that runtime's alone) over the same `--images`
synthetic smears of `--smear-size` px (samples/pbc/synthetic.py: the export resizes them to the model's input as
detect does), one image per call after `--warmup` calls. Prints a table: seconds to load, images/s, peak RSS (MiB),
cells found; a runtime that cannot run here says why on its row. Asserts nothing; tests never time anything.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.timing import proc_status_mib  # noqa: E402

RUNTIMES = ("keras", "savedmodel", "onnx", "litert")


def peak_rss_mib():
    """This process's peak resident set size in MiB (VmHWM)."""
    return proc_status_mib("VmHWM")


def smears(count, size, seed=0):
    """`count` synthetic smears, uint8 [size, size, 3]."""
    from samples.pbc.classes import CLASS_NAMES
    from samples.pbc.synthetic import random_spec, render_smear
    rng = np.random.default_rng(seed)
    return [render_smear(random_spec(rng, size, CLASS_NAMES[k % len(CLASS_NAMES)], cells_per_image=(1, 3)))
            for k in range(count)]


def make_config(args):
    from samples.pbc.config import make_config as pbc_config
    config = pbc_config(inference=True, preset=args.preset, backbone=args.backbone, image_size=args.image_size)
    if args.min_confidence is not None:
        config.DETECTION_MIN_CONFIDENCE = args.min_confidence
    return config


def build_model(args, weights):
    from mrcnn.model import MaskRCNN
    model = MaskRCNN("inference", make_config(args), tempfile.mkdtemp(prefix="export_speed_logs_"))
    model.load_weights(weights)
    return model


def run_child(args):
    """One runtime: load it, detect the smears one at a time; prints one JSON line."""
    start = time.perf_counter()
    if args.child == "keras":
        model = build_model(args, args.weights)
    else:
        from mrcnn.export import load_exported
        model = load_exported(os.path.join(args.out, args.child))
    loaded = time.perf_counter() - start
    images = smears(args.images + args.warmup, args.smear_size)
    for image in images[:args.warmup]:
        model.detect([image])
    start = time.perf_counter()
    cells = sum(len(model.detect([image])[0]["class_ids"]) for image in images[args.warmup:])
    seconds = time.perf_counter() - start
    print(json.dumps({"load_s": loaded, "images_per_s": args.images / seconds, "peak_rss_mib": peak_rss_mib(),
                      "cells": cells}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="a weights file (default: seeded random weights)")
    parser.add_argument("--backbone", default="tiny", help="backbone name (default: tiny)")
    parser.add_argument("--preset", default="cpu", choices=["paper", "cpu"], help="PBC preset (default: cpu)")
    parser.add_argument("--image-size", type=int, default=128, help="the model's input side (default: 128)")
    parser.add_argument("--min-confidence", type=float, default=None, help="DETECTION_MIN_CONFIDENCE")
    parser.add_argument("--images", type=int, default=30, help="images timed per runtime (default: 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default: 3)")
    parser.add_argument("--smear-size", type=int, default=360, help="side of the smears, px (default: 360, PBC's)")
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    parser.add_argument("--out", default=None, help="folder for the exports (default: a temporary one)")
    parser.add_argument("--child", default=None, choices=RUNTIMES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_child(args)

    args.out = args.out or tempfile.mkdtemp(prefix="export_speed_")
    os.makedirs(args.out, exist_ok=True)
    if args.weights is None:  # seeded random weights, saved for the Keras child
        import keras
        from mrcnn.model import MaskRCNN
        keras.utils.set_random_seed(0)
        model = MaskRCNN("inference", make_config(args), args.out)
        args.weights = os.path.join(args.out, "random.weights.h5")
        model.keras_model.save_weights(args.weights)
    model = build_model(args, args.weights)
    for runtime in args.runtimes:
        if runtime != "keras":
            start = time.perf_counter()
            model.export(os.path.join(args.out, runtime), runtime)
            print(f"exported {runtime} in {time.perf_counter() - start:.1f} s", flush=True)
    del model

    base = [sys.executable, os.path.abspath(__file__)] + [
        a for a in (argv if argv is not None else sys.argv[1:])]
    rows = []
    for runtime in args.runtimes:
        child = base + ["--child", runtime, "--out", args.out, "--weights", args.weights]
        result = subprocess.run(child, capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode == 0 and lines:
            rows.append((runtime, json.loads(lines[-1]), None))
        else:
            reason = (result.stderr.strip().splitlines() or ["failed"])[-1]
            rows.append((runtime, None, reason))
    config = make_config(args)
    print(f"\n{config.BACKBONE} at {config.IMAGE_MAX_DIM} px ({args.preset} preset, "
          f"{'weights ' + args.weights}), {args.images} smears of {args.smear_size} px, one per call, "
          f"{os.cpu_count()} CPUs")
    print(f"{'runtime':<11} {'load s':>7} {'images/s':>9} {'peak MiB':>9} {'cells':>6}")
    for runtime, row, reason in rows:
        if row is None:
            print(f"{runtime:<11} cannot run here: {reason}")
        else:
            print(f"{runtime:<11} {row['load_s']:>7.1f} {row['images_per_s']:>9.2f} {row['peak_rss_mib']:>9.0f} "
                  f"{row['cells']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
