"""How accuracy grows with training time, and what the detection threshold does: a PBC run's checkpoints scored.

For every `--every`-th checkpoint of one training run (and its last), detects on a subset with the detection
threshold at 0 and scores the detections at `--thresholds` (the paper's 0.75 among them), without re-running the
model: per threshold, top-1 accuracy (the class of the top-scoring detection against the folder), the fraction of
images with no detection, and 11-point mask mAP@0.5 (mrcnn.evaluation, as `pbc.py evaluate`); per checkpoint, the
class-agnostic recall (annotated instances that some detection covers with mask IoU >= 0.5: what the RPN and anchors
find, whatever the class). Training time is the checkpoint's modification time minus the creation time of the run's
first TensorBoard event file (opened just before the first step), so it includes validation and checkpointing.
Writes a table (stdout and `curve.json`) and `curve.png` (accuracy and mAP against minutes of training).

Command (the model options as given to `pbc.py train` / `evaluate`):
    .venv/bin/python benchmarks/pbc_accuracy_curve.py --run logs/pbc/pbc20261204T1800 --every 4 \\
        --dataset ../shared/data/pbc --annotations out/pbc/annotations.json \\
        --backbone small --preset cpu --image-size 256 --out out/pbc/curve

Shape shorthand: I: images, N: detections of one image, G: annotated instances of one image.
"""

import argparse
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mrcnn.training.run import TrainingRun  # noqa: E402
from samples.pbc.config import PbcConfig, add_model_options, config_from_args  # noqa: E402
from samples.pbc.datasets import load_subset  # noqa: E402


def checkpoints_of(run, every):
    """[(epoch, path)] of every `every`-th checkpoint of the run folder, and its last."""
    run = TrainingRun(run, PbcConfig.NAME)
    found = run.saved_epochs()
    if not found:
        raise SystemExit(f"--run {run.log_dir}: no mask_rcnn_pbc_NNNN.weights.h5 checkpoint in it")
    chosen = [epoch for epoch in found if epoch % every == 0]
    chosen = chosen if chosen and chosen[-1] == found[-1] else chosen + [found[-1]]
    return [(epoch, run.checkpoint_path(epoch)) for epoch in chosen]


def run_start(run):
    """When the run's first training call started: the earliest TensorBoard event file's creation time, which its
    name carries (`events.out.tfevents.<unix time>.<host>...`; each `MaskRCNN.train` call opens one)."""
    pattern = re.compile(r"^events\.out\.tfevents\.(\d+)\.")
    stamps = [int(m.group(1)) for m in map(pattern.match, os.listdir(run)) if m]
    if not stamps:
        raise SystemExit(f"--run {run}: no TensorBoard event file, so no start time")
    return min(stamps)


def class_agnostic_recall(gts, preds):
    """Fraction of annotated instances covered by some detection with mask IoU >= 0.5 (any class, any score)."""
    from mrcnn.utils import compute_overlaps_masks
    covered = total = 0
    for gt, pred in zip(gts, preds):
        count = gt["masks"].shape[-1]
        total += count
        if count and pred["masks"].shape[-1]:
            covered += int(np.sum(compute_overlaps_masks(pred["masks"], gt["masks"]).max(axis=0) >= 0.5))
    return covered / max(total, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a training run folder (logs/pbc/pbcYYYYmmddTHHMM)")
    parser.add_argument("--every", type=int, default=4, help="score every N-th epoch's checkpoint (default: 4)")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.75, 0.9],
                        help="detection thresholds to score at (default: 0.5 0.75 0.9)")
    parser.add_argument("--out", required=True, help="folder for curve.json and curve.png")
    parser.add_argument("--dataset", required=True, help="the folder in PBC's layout the run trained on")
    parser.add_argument("--annotations", required=True, help="its COCO instances JSON (pbc.py annotate)")
    parser.add_argument("--subset", default="val", choices=["val", "test"], help="subset to score (default: val)")
    add_model_options(parser, training=True)  # --backbone, --preset, --image-size, --logs: as given to train
    args = parser.parse_args(argv)
    from mrcnn.evaluation.dataset import detect_dataset, score_detections

    args.min_confidence = 0.0  # every detection, scored at each threshold below
    config = config_from_args(args, inference=True)
    dataset = load_subset(args.dataset, args.subset, args.annotations, config.IMAGE_MAX_DIM)
    os.makedirs(args.out, exist_ok=True)
    from mrcnn.model import MaskRCNN
    model = MaskRCNN("inference", config, args.logs)
    start = run_start(args.run)
    rows = []
    for epoch, path in checkpoints_of(args.run, args.every):
        model.load_weights(path)
        detections = detect_dataset(model, dataset)
        row = {"epoch": epoch, "minutes": round((os.path.getmtime(path) - start) / 60, 1),
               "class_agnostic_recall": class_agnostic_recall(detections.gts, detections.preds)}
        for threshold in args.thresholds:
            metrics = score_detections(detections.filtered(threshold), dataset.class_names)
            classification = metrics["classification"]
            row[f"{threshold:g}"] = {
                "top1": classification["top1_accuracy"],
                "ovr_accuracy": classification["macro"]["ovr_accuracy"],
                "no_detection": classification["no_detection"] / max(classification["num_images"], 1),
                "mAP50_11point": metrics["detection"]["variants"]["11point"]["mAP"]["0.5"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    with open(os.path.join(args.out, "curve.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
    _print_table(rows, args.thresholds)
    _plot(rows, args.thresholds, os.path.join(args.out, "curve.png"))
    return 0


def _print_table(rows, thresholds):
    header = ["epoch", "minutes", "recall (any class)"] + [f"{name} @{t:g}" for t in thresholds
                                                          for name in ("top-1", "none", "mAP@0.5")]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        cells = [str(row["epoch"]), f"{row['minutes']:.1f}", f"{row['class_agnostic_recall']:.4f}"]
        for t in thresholds:
            r = row[f"{t:g}"]
            cells += [f"{r['top1']:.4f}", f"{r['no_detection']:.4f}", f"{r['mAP50_11point']:.4f}"]
        print("| " + " | ".join(cells) + " |")


def _plot(rows, thresholds, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    minutes = [row["minutes"] for row in rows]
    figure, axis = plt.subplots(figsize=(7, 4))
    for t in thresholds:
        axis.plot(minutes, [row[f"{t:g}"]["top1"] for row in rows], marker="o", label=f"top-1 accuracy @{t:g}")
    paper = "0.75" if "0.75" in rows[0] else f"{thresholds[0]:g}"
    axis.plot(minutes, [row[paper]["mAP50_11point"] for row in rows], marker="s", linestyle="--",
              label=f"mask mAP@0.5, 11-point @{paper}")
    axis.set_xlabel("minutes of training (2 CPU cores here)")
    axis.set_ylabel("validation")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
