"""How well does `estimate_red_cell_diameter` (mrcnn/data/scale.py) measure red cells? Per source, against a reference.

Sources (../shared/data; each skipped when absent):
    bccd, raabin   other labs' fields with YOLO boxes (class 1 = red cell): the reference diameter of an image is the
                   median of max(w, h) in pixels over its red-cell boxes that do not touch the border (images without
                   such a box are left out). Errors are estimate / reference - 1.
    pbc            the PBC train images (CellaVision DM96, one magnification): no boxes, so the figures are the
                   estimates' distribution: their median is the PBC training-scale constant (samples/pbc/scale.py),
                   their spread around it measures precision (one microscope, so one true scale).
    wbc_masks      120-px crops of one white cell whose red cells are faint ghosts: the estimator should refuse
                   (diameter None) rather than guess; prints how often it does and what it says otherwise.
    synthetic      smears of samples/pbc/synthetic.py at 256 px resized by 0.5, 1 and 2: error against the specs'
                   red-cell long axes.
Per source: images, refused (no estimate), median |error|, 90th percentile |error|, median signed error (bias), wild
(|error| > 25 %), median milliseconds per image, and the same errors over the estimates marked `confident`; then the
time on one 640 x 480 field and on a 2048 x 1536 one (median and fastest of 15 runs: the fastest is the least
disturbed by other work on the machine).

Command (from the repository root):
    .venv/bin/python benchmarks/scale_estimate.py [--data ../shared/data] [--pbc-every 1] [--work-size 384]

Shape shorthand:
    H, W: image height and width; B: red-cell boxes of one image.
"""

import argparse
import glob
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.timing import timed  # noqa: E402
from mrcnn.data.scale import estimate_red_cell_diameter  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
RED_CELL_CLASS = 1
WILD = 0.25


def reference_diameter(txt_path, width, height, border=2.0):
    """Median max(w, h) in pixels of the red-cell boxes of a YOLO file that keep `border` pixels from the image edge;
    None when there is no such box. Lines: "class cx cy w h", all normalised to the image's width and height."""
    rows = np.loadtxt(txt_path, ndmin=2)
    if rows.size == 0:
        return None
    boxes = rows[rows[:, 0] == RED_CELL_CLASS, 1:]  # [B, (cx, cy, w, h)]
    x1, x2 = (boxes[:, 0] - boxes[:, 2] / 2) * width, (boxes[:, 0] + boxes[:, 2] / 2) * width
    y1, y2 = (boxes[:, 1] - boxes[:, 3] / 2) * height, (boxes[:, 1] + boxes[:, 3] / 2) * height
    inner = (x1 > border) & (y1 > border) & (x2 < width - border) & (y2 < height - border)
    sizes = np.maximum(boxes[:, 2] * width, boxes[:, 3] * height)[inner]
    return float(np.median(sizes)) if sizes.size else None


def read_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


def labelled_images(folder):
    """[(image path, reference diameter)] of a folder of NAME.jpg + NAME.txt (images without a reference left out)."""
    pairs = []
    for path in sorted(glob.glob(os.path.join(folder, "*.jpg"))):
        width, height = Image.open(path).size
        txt = os.path.splitext(path)[0] + ".txt"
        reference = reference_diameter(txt, width, height) if os.path.exists(txt) else None
        if reference is not None:
            pairs.append((path, reference))
    return pairs


def measure(items, work_size, load=read_rgb):
    """[(ScaleEstimate, reference or None, seconds)] for [(image or path, reference or None)]."""
    rows = []
    for item, reference in items:
        image = load(item)
        start = time.perf_counter()
        estimate = estimate_red_cell_diameter(image, work_size=work_size)
        rows.append((estimate, reference, time.perf_counter() - start))
    return rows


def _errors(rows):
    """Relative errors of the rows with a diameter: against the reference, or against the estimates' median."""
    found = [(e.diameter_px, r) for e, r, _ in rows if e.diameter_px is not None]
    if not found:
        return np.array([])
    if found[0][1] is not None:
        return np.array([d / r - 1 for d, r in found])
    diameters = np.array([d for d, _ in found])
    return diameters / np.median(diameters) - 1


def _figures(errors):
    if errors.size == 0:
        return "no estimate"
    return (f"median|err| {100 * np.median(np.abs(errors)):5.1f}%  p90 {100 * np.percentile(np.abs(errors), 90):5.1f}%"
            f"  bias {100 * np.median(errors):+5.1f}%  wild {int(np.sum(np.abs(errors) > WILD)):3d}")


def summary(name, rows):
    """Two lines of figures for a source: all estimates, then the confident ones."""
    ms = 1000 * np.median([s for _, _, s in rows])
    refused = sum(e.diameter_px is None for e, _, _ in rows)
    found = [e.diameter_px for e, _, _ in rows if e.diameter_px is not None]
    what = ("vs reference" if rows and rows[0][1] is not None else
            f"vs own median {np.median(found):.1f} px" if found else "")
    confident = [row for row in rows if row[0].confident]
    return (f"{name:10s} images {len(rows):4d}  refused {refused:4d}  {_figures(_errors(rows))}  {ms:5.1f} ms/image"
            f"  ({what})\n{'':10s} confident {len(confident):4d}            {_figures(_errors(confident))}")


def synthetic_items(count=8):
    """[(image, reference)]: synthetic smears at 256 px, resized by 0.5, 1 and 2."""
    import cv2

    from samples.pbc.classes import CLASS_NAMES
    from samples.pbc.synthetic import random_spec, render_smear
    rng = np.random.default_rng(0)
    items = []
    for i in range(count):
        spec = random_spec(rng, 256, CLASS_NAMES[i % len(CLASS_NAMES)], red_cells=(14, 22))
        image = render_smear(spec)
        truth = float(np.median([2 * max(red["radii"]) for red in spec["red_cells"]]))
        for zoom in (0.5, 1.0, 2.0):
            side = round(256 * zoom)
            scaled = image if zoom == 1.0 else cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA
                                                          if zoom < 1 else cv2.INTER_LINEAR)
            items.append((scaled, truth * side / 256))
    return items


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--pbc-every", type=int, default=1, help="measure every n-th PBC train image")
    parser.add_argument("--work-size", type=int, default=384)
    args = parser.parse_args(argv)
    print(summary("synthetic", measure(synthetic_items(), args.work_size, load=lambda image: image)))
    for name in ("bccd", "raabin"):
        folder = os.path.join(args.data, "other_labs", name)
        if os.path.isdir(folder):
            print(summary(name, measure(labelled_images(folder), args.work_size)))
    pbc = sorted(glob.glob(os.path.join(args.data, "pbc", "train", "*", "*.jpg")))[::args.pbc_every]
    if pbc:
        rows = measure([(p, None) for p in pbc], args.work_size)
        print(summary("pbc", rows))
        found = np.array([e.diameter_px for e, _, _ in rows if e.diameter_px is not None])
        quartiles = np.percentile(found, [25, 50, 75])
        print(f"{'':10s} PBC native red-cell diameter: median {quartiles[1]:.1f} px (IQR {quartiles[0]:.1f}-"
              f"{quartiles[2]:.1f}) over {found.size} images")
    wbc = sorted(glob.glob(os.path.join(args.data, "wbc_masks", "*.bmp")))
    if wbc:
        print(summary("wbc_masks", measure([(p, None) for p in wbc], args.work_size)))
    bccd = os.path.join(args.data, "other_labs", "bccd")
    if os.path.isdir(bccd):
        field = read_rgb(labelled_images(bccd)[0][0])
        for name, image in (("640 x 480 BCCD field", field),
                            ("2048 x 1536 field (BCCD tiled)", np.tile(field, (4, 4, 1))[:1536, :2048])):
            median, fastest, _ = timed(lambda: estimate_red_cell_diameter(image, work_size=args.work_size), 15)
            print(f"{name}: median {1000 * median:.1f} ms, fastest {1000 * fastest:.1f} ms of 15 runs")

if __name__ == "__main__":
    main()
