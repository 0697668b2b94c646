"""The web page's mask for a cell drawn by hand (mrcnn/app/drawn.py), against the annotation: the mask head on the
box, the ellipse inscribed in it, and what the page keeps (the head's mask when it fills the box, else the ellipse).

Each annotated cell's box is "drawn" twice: tight (the annotation's own box) and 1.1 times too large about its
centre (a hand is not exact); the detector is built as `pbc.py serve` builds it (the image at the model's scale,
mrcnn/detector.py) and each box gets `ScaledDetector.masks_for_boxes` at the scale the image's detection had.
Prints, per box, the mean mask IoU with the annotation and the share at IoU >= 0.9 of the three masks, and how
often the page keeps the head's.

Sources: `--source pbc` (a subset of a PBC-style folder: --dataset, --annotations, --subset) or `--source wbc_masks`
(another lab's crops with the expert's masks; --split dev / report: the halves of benchmarks/other_labs.py).

Command (the model options as given to `pbc.py evaluate`):
    .venv/bin/python benchmarks/drawn_cells.py --source wbc_masks --split report \\
        --backbone small --preset cpu --image-size 256 --weights out/pbc/detector_small_256.weights.h5
    .venv/bin/python benchmarks/drawn_cells.py --source pbc --dataset ../shared/data/pbc \\
        --annotations out/pbc/annotations.json --subset val --backbone small --preset cpu --image-size 256 \\
        --weights out/pbc/detector_small_256.weights.h5

Shape shorthand: H, W: the image.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.mask_stages import grow, iou  # noqa: E402
from mrcnn.app.drawn import MODEL, choose_mask, ellipse_mask  # noqa: E402
from mrcnn.utils import extract_bboxes  # noqa: E402

BOXES = {"tight": 1.0, "1.1x": 1.1}


def drawn_box(truth, factor):
    """The pixel box (y1, x1, y2, x2) of the annotation `truth` [H, W] grown `factor` times, rounded, in the image."""
    box = extract_bboxes(truth[..., None])[0]
    return tuple(int(v) for v in np.rint(grow(box, factor, truth.shape)))


def score_cells(detector, cells):
    """[{"box", "head", "ellipse", "page", "kept"}] for `cells`: an iterable of (image, [(truth bool [H, W], class
    id)]); one row per cell and drawn box."""
    rows = []
    for image, truths in cells:
        scale = detector.detect([image])[0].get("scale") if getattr(detector, "reports", ()) else None
        for truth, class_id in truths:
            for name, factor in BOXES.items():
                box = drawn_box(truth, factor)
                kwargs = {"scale": scale} if scale is not None else {}
                head = np.asarray(detector.masks_for_boxes(image, [box], [class_id], **kwargs))[..., 0]
                ellipse = ellipse_mask(*truth.shape, box)
                page, source = choose_mask(head, box, ellipse)
                rows.append({"box": name, "head": iou(head, truth), "ellipse": iou(ellipse, truth),
                             "page": iou(page, truth), "kept": source == MODEL})
    return rows


def summarize(rows):
    print("| box | cells | mask head | ellipse | the page | head kept |\n|---|---|---|---|---|---|")
    for name in BOXES:
        picked = [r for r in rows if r["box"] == name]
        if not picked:
            continue
        cols = []
        for key in ("head", "ellipse", "page"):
            v = np.array([r[key] for r in picked])
            cols.append(f"{v.mean():.3f} ({np.mean(v >= 0.9):.2f} >= 0.9)")
        print(f"| {name} | {len(picked)} | " + " | ".join(cols) + f" | {np.mean([r['kept'] for r in picked]):.2f} |")


def pbc_cells(dataset):
    for image_id in dataset.image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        yield dataset.load_image(image_id), [(np.asarray(masks[..., k], bool), int(c))
                                             for k, c in enumerate(class_ids)]


def wbc_cells(data_dir, split, class_names):
    from benchmarks.other_labs import in_split
    from benchmarks.wbc_masks import read_classes, read_pair
    for number, name in sorted(read_classes(data_dir).items()):
        if split == "all" or in_split(f"{number:03d}.bmp", split):
            image, truth = read_pair(data_dir, number)
            yield image, [(truth, class_names.index(name))]


def main(argv=None):
    from samples.pbc.config import add_model_options
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, choices=["pbc", "wbc_masks"])
    parser.add_argument("--dataset", help="pbc: the PBC-style folder")
    parser.add_argument("--annotations", help="pbc: its COCO annotations")
    parser.add_argument("--subset", default="val", help="pbc: the subset (default val)")
    parser.add_argument("--data", default=None, help="wbc_masks: its folder (default: beside the repository)")
    parser.add_argument("--split", default="report", choices=["dev", "report", "all"], help="wbc_masks: the half")
    parser.add_argument("--weights", required=True, help="the detector's weights file")
    add_model_options(parser, training=False)
    args = parser.parse_args(argv)
    from samples.pbc.classes import CLASS_NAMES
    from samples.pbc.models import inference_config, inference_detector
    config, weights = inference_config(args)
    detector = inference_detector(config, weights, args)
    if args.source == "pbc":
        if not (args.dataset and args.annotations):
            parser.error("--source pbc needs --dataset and --annotations")
        from samples.pbc.datasets import load_subset
        cells = pbc_cells(load_subset(args.dataset, args.subset, args.annotations, config.IMAGE_MAX_DIM))
    else:
        from benchmarks.wbc_masks import DEFAULT_DATA
        cells = wbc_cells(args.data or DEFAULT_DATA, args.split, ["BG"] + CLASS_NAMES)
    summarize(score_cells(detector, cells))


if __name__ == "__main__":
    sys.exit(main())
