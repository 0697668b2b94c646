"""The lab loop measured: a technologist verifies N images of one lab on the page, the model is fine-tuned on them
(`pbc.py finetune`), and the lab's other images are scored before and after (issue 27 item 5).

The lab is wbc_masks (Jiangxi Tecom: 300 crops of one white cell each, the expert's mask and class, a stain PBC's model
reads as eosinophil; benchmarks/wbc_masks.py). "Verifying N images" is simulated by writing N images of its
development half (benchmarks/other_labs.py's `in_split(name, "dev")`: even CRC-32 of the file name), drawn in a seeded
order, with their expert masks and classes as a corrections.json in the page's format (mrcnn/app/exports.py: COCO
instances, RLE masks, a "verification" per cell). Then, per setting:
    finetune  pbc.py finetune on them, alone or mixed with PBC's training images (--with-pbc)
    score     wbc_masks top-1 over its 5 classes and mean mask IoU (benchmarks/other_labs.py's figures) on
              --split: "report" (odd CRC-32: never trained on nor chosen on) or "dev-rest" (the development images
              not verified: where settings are chosen); with --pbc-val, PBC val's mask mAP@0.5 and top-1
              (`pbc.py evaluate`), to see what mixing keeps
The figures go to --out/finetune_loop.json and are printed as a Markdown table; the weights and runs stay in --out.

    .venv/bin/python benchmarks/finetune_loop.py --weights out/pbc/detector_small_256.weights.h5 --backbone small \\
        --preset cpu --image-size 256 --pbc-annotations out/pbc/annotations.json --verified 50 --mix none pbc \\
        --split report --pbc-val --out out/finetune_loop
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import other_labs  # noqa: E402
from samples.pbc.classes import CLASS_NAMES  # noqa: E402

MODEL_OPTIONS = ("backbone", "preset", "image_size")
PBC_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "pbc", "pbc.py")


def run_pbc(argv):
    """Run `pbc.py` with `argv` as a user would, in its own process (no module imports the command line:
    tests/test_imports.py)."""
    if subprocess.run([sys.executable, PBC_PY] + argv).returncode != 0:
        raise RuntimeError(f"pbc.py {' '.join(argv)} failed")


def verified_and_rest(folder, count, seed=0):
    """(the `count` development images verified, the other development images): Samples of wbc_masks in a seeded
    order."""
    dev = [s for s in other_labs.wbc_mask_samples(folder) if other_labs.in_split(s.name, "dev")]
    order = np.random.default_rng(seed).permutation(len(dev))
    if count > len(dev):
        raise ValueError(f"--verified {count}: the development half has {len(dev)} images")
    return [dev[i] for i in order[:count]], [dev[i] for i in order[count:]]


def corrections(samples):
    """A corrections.json dict in the page's format (mrcnn/app/exports.py corrections_coco) of samples with their
    expert masks and classes: as if a technologist had verified each cell."""
    from mrcnn.evaluation.coco_io import encode_mask
    from mrcnn.utils import extract_bboxes
    names = ["BG"] + CLASS_NAMES
    images, annotations = [], []
    for number, sample in enumerate(samples, start=1):
        height, width = sample.truth_mask.shape
        images.append({"id": number, "file_name": sample.name, "width": width, "height": height})
        y1, x1, y2, x2 = (int(v) for v in extract_bboxes(sample.truth_mask[..., None])[0])
        annotations.append({
            "id": number, "image_id": number, "category_id": names.index(sample.truth_class),
            "segmentation": encode_mask(sample.truth_mask), "area": int(sample.truth_mask.sum()),
            "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "iscrowd": 0,
            "verification": {"status": "added", "cell": 0, "model_class": None, "score": None}})
    return {"info": {"description": "wbc_masks development images with the expert's masks and classes "
                                    "(benchmarks/finetune_loop.py)", "min_score": 0.0},
            "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": name, "supercategory": "cell"} for i, name in enumerate(names) if i],
            "changes": []}


def model_args(args, weights):
    """The namespace samples/pbc/models.py reads (`pbc.py detect`'s model options)."""
    return argparse.Namespace(weights=weights, logs=args.logs, backbone=args.backbone, preset=args.preset,
                              image_size=args.image_size, min_confidence=None, pixel_size="auto", colour="off")


def score_wbc(args, weights, samples):
    """wbc_masks figures of `weights` on `samples` (other_labs.py's top-1 and mask IoU)."""
    from samples.pbc.models import inference_config, inference_detector
    margs = model_args(args, weights)
    config, path = inference_config(margs)
    detector = inference_detector(config, path, margs)
    figures, _ = other_labs.evaluate_source(samples, other_labs.make_detect(detector))
    return {k: figures[k] for k in ("images", "top1", "mask_iou_mean", "no_white_detection")}


def score_pbc(args, weights, out):
    """PBC val's mask mAP@0.5 (11-point) and top-1 (`pbc.py evaluate`, its metrics.json: docs/evaluation.md)."""
    argv = ["evaluate", "--dataset", args.pbc, "--annotations", args.pbc_annotations, "--subset", "val",
            "--weights", weights, "--out", out, "--logs", args.logs]
    argv += [f"--{o.replace('_', '-')}={getattr(args, o)}" for o in MODEL_OPTIONS if getattr(args, o) is not None]
    run_pbc(argv)
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    return {"mask_map50": metrics["detection"]["variants"]["11point"]["mAP"]["0.5"],
            "top1": metrics["classification"]["top1_accuracy"]}


def finetune(args, corrections_path, mix, out):
    """pbc.py finetune of the verified images, alone (mix "none") or with PBC (mix "pbc"); returns its report."""
    argv = ["finetune", "--annotations", corrections_path, "--images", args.wbc, "--weights", args.weights,
            "--out", out, "--logs", os.path.join(args.out, "logs"), "--steps", str(args.steps),
            "--learning-rate", str(args.learning_rate), "--layers", args.layers, "--seed", str(args.seed)]
    argv += [f"--{o.replace('_', '-')}={getattr(args, o)}" for o in MODEL_OPTIONS if getattr(args, o) is not None]
    if mix == "pbc":
        argv += ["--with-pbc", args.pbc, "--pbc-annotations", args.pbc_annotations]
    run_pbc(argv)
    with open(out[:-len(".weights.h5")] + ".json", encoding="utf-8") as f:
        return json.load(f)


def build_parser():
    data = other_labs.DEFAULT_DATA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="the PBC detector to fine-tune (make pbc's)")
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--logs", default="logs")
    parser.add_argument("--wbc", default=os.path.join(data, "wbc_masks"), help="the wbc_masks folder")
    parser.add_argument("--pbc", default=os.path.join(data, "pbc"), help="PBC's folder")
    parser.add_argument("--pbc-annotations", required=True, help="PBC's masks (make pbc's out/pbc/annotations.json)")
    parser.add_argument("--verified", type=int, nargs="+", default=[50], help="images verified (one run each)")
    parser.add_argument("--mix", nargs="+", default=["none", "pbc"], choices=["none", "pbc"],
                        help="fine-tune on the verified images alone (none) and/or mixed with PBC (pbc)")
    parser.add_argument("--split", default="dev-rest", choices=["dev-rest", "report"],
                        help="wbc_masks images scored: the unverified development ones (choose settings here) or "
                             "the report half")
    parser.add_argument("--pbc-val", action="store_true", help="also score PBC val (pbc.py evaluate) after")
    parser.add_argument("--no-baseline", action="store_true", help="do not score the model before fine-tuning")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--layers", default="4+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("out", "finetune_loop"))
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from mrcnn import cli
    cli.quiet_native_logs()  # TensorFlow's C++ lines, as pbc.py hides them
    os.makedirs(args.out, exist_ok=True)
    results = []
    report_samples = [s for s in other_labs.wbc_mask_samples(args.wbc) if other_labs.in_split(s.name, "report")]

    def scored(weights, rest, tag):
        samples = report_samples if args.split == "report" else rest
        row = {"wbc": score_wbc(args, weights, samples)}
        if args.pbc_val:
            row["pbc_val"] = score_pbc(args, weights, os.path.join(args.out, f"eval_{tag}"))
        return row

    for count in args.verified:
        verified, rest = verified_and_rest(args.wbc, count, args.seed)
        path = os.path.join(args.out, f"corrections_{count}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(corrections(verified), f)
        if not args.no_baseline and not results:
            results.append(dict(setting="before", verified=0, **scored(args.weights, rest, "before")))
            print(json.dumps(results[-1]), flush=True)
        for mix in args.mix:
            tag = f"{count}_{mix}"
            start = time.time()
            report = finetune(args, path, mix, os.path.join(args.out, f"detector_{tag}.weights.h5"))
            row = dict(setting=f"fine-tuned, {'alone' if mix == 'none' else 'mixed with PBC'}", verified=count,
                       seconds=round(time.time() - start), steps=report["steps"],
                       **scored(report["weights"], rest, tag))
            results.append(row)
            print(json.dumps(row), flush=True)
    with open(os.path.join(args.out, "finetune_loop.json"), "w", encoding="utf-8") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=1)
    print(f"\nwbc_masks {args.split} images; PBC val (800 images)\n")
    print("| setting | verified | wbc top-1 | wbc mask IoU | no white cell | PBC val mAP@0.5 | PBC val top-1 | "
          "fine-tune s |")
    print("|---|---|---|---|---|---|---|---|")
    for row in results:
        pbc_val = row.get("pbc_val", {})
        print(f"| {row['setting']} | {row['verified']} | {row['wbc']['top1']:.3f} | "
              f"{row['wbc']['mask_iou_mean']:.3f} | {row['wbc']['no_white_detection']} | "
              f"{_fmt(pbc_val.get('mask_map50'))} | {_fmt(pbc_val.get('top1'))} | {row.get('seconds', '')} |")
    return 0


def _fmt(value):
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
