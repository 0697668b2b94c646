"""How well does the classical annotator (samples/pbc/segmenter.py) segment a white cell? IoU against expert masks.

Runs ``segment_cell`` on every image of the wbc_masks set (Zheng et al. 2018, dataset 1: 300 crops of about
120 x 120 px with expert masks; a different microscope and stain from PBC, so nothing here was tuned on PBC) and
compares its mask with the expert's white-cell mask (png 128 = cytoplasm or 255 = nucleus). The class passed to
``segment_cell`` comes from classes.csv (1 neutrophil, 2 lymphocyte, 3 monocyte, 4 eosinophil, 5 basophil).
Prints the mean and median IoU, the mean per class, the fraction of images the annotator flags as unsure (and
the IoU of the sure and the unsure ones), the worst images and the time per image.

Command (from the repository root; the data folder sits beside the repository):
    .venv/bin/python benchmarks/annotator_vs_wbc_masks.py --data ../shared/data/wbc_masks

Shape shorthand:
    H, W: image height and width.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.wbc_masks import DEFAULT_DATA, WBC_CLASSES, read_classes, read_pair  # noqa: E402
from mrcnn.utils import compute_overlaps_masks  # noqa: E402
from samples.pbc.segmenter import segment_cell  # noqa: E402


def evaluate(data_dir, limit=None):
    """[(image number, class name, IoU, unsure, seconds)] for the first `limit` images (all when None)."""
    classes = read_classes(data_dir)
    rows = []
    for number in sorted(classes)[:limit]:
        image, truth = read_pair(data_dir, number)  # truth [H, W]: png 128 or 255
        start = time.time()
        result = segment_cell(image, classes[number])
        seconds = time.time() - start
        predicted = result.masks.any(-1, keepdims=True)  # [H, W, 1]
        iou = float(compute_overlaps_masks(truth[..., None], predicted)[0, 0])
        rows.append((number, classes[number], iou, result.unsure, seconds))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="the wbc_masks folder (NNN.bmp, NNN.png, classes.csv)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--worst", type=int, default=10, help="list the N worst images")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        parser.error(f"--data {args.data!r} is not a directory; point it at shared/data/wbc_masks")
    rows = evaluate(args.data, args.limit)
    iou = np.array([r[2] for r in rows])
    unsure = np.array([r[3] for r in rows])
    print(f"wbc_masks: {len(rows)} images, mean IoU {iou.mean():.4f}, median {np.median(iou):.4f}, "
          f"IoU >= 0.85 in {np.mean(iou >= 0.85):.1%}")
    for name in WBC_CLASSES.values():
        sel = [r[2] for r in rows if r[1] == name]
        if sel:
            print(f"  {name:<11} {len(sel):4d} images  mean IoU {np.mean(sel):.4f}")
    print(f"flagged unsure: {unsure.mean():.1%} of images (mean IoU {iou[unsure].mean():.4f} unsure, "
          f"{iou[~unsure].mean():.4f} sure)" if unsure.any() else "flagged unsure: none")
    worst = sorted(rows, key=lambda r: r[2])[:args.worst]
    print("worst:", ", ".join(f"{r[0]:03d} {r[1]} {r[2]:.2f}{' (unsure)' if r[3] else ''}" for r in worst))
    print(f"time: {np.mean([r[4] for r in rows]) * 1000:.0f} ms per image")


if __name__ == "__main__":
    main()
