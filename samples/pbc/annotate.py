"""Automatic instance annotation of blood-cell images by classical image analysis (no learning, no weights).

PBC ships class folders only: no masks, no boxes. ``annotate_folder`` segments the labelled cell of each image (the
one in the middle; for platelet images every platelet of the central cluster; ``samples.pbc.segmenter``) and writes
COCO instances JSON with polygons, plus a contact sheet of overlays for human review (``samples.pbc.contact_sheet``).
Images where it is unsure are flagged, not guessed silently. ``segment_cell``, ``SegmentationResult``, ``FLAGS`` and
``contact_sheet`` are importable from here too.

    python -m samples.pbc.annotate --dataset DIR --out FILE.json [--contact-sheet PNG] [--limit N] [--workers N]

Shape shorthand:
    H, W: image height and width, N: instances of one image.
"""

import argparse
import json
import logging
import os
import sys
import time

import numpy as np
from skimage import measure

from mrcnn import cli
from mrcnn.data.annotations.masks import segmentation_rle
from mrcnn.data.image_io import IMAGE_EXTENSIONS, read_image_rgb
from samples.pbc.contact_sheet import contact_sheet
from samples.pbc.segmenter import (AREA_RATIO_MAX, EDGE_SUPPORT, FLAGS, LOW_CONTRAST, MAX_STEP, MIN_CONFIDENCE,
                                   MIN_SUPPORT, N_ANGLES, NUCLEUS_CONTRAST, PLATELET_DIAMETER, PLATELET_LINK,
                                   PURPLE_RATIO, STAIN_HIGH, STAIN_LOW, WORK_SIZE, SegmentationResult, segment_cell)

__all__ = [  # the segmenter's names stay importable from here, where they were before it had its own module
    "AREA_RATIO_MAX", "EDGE_SUPPORT", "FLAGS", "IMAGE_EXTENSIONS", "LOW_CONTRAST", "MAX_STEP", "MIN_CONFIDENCE",
    "MIN_SUPPORT", "N_ANGLES", "NUCLEUS_CONTRAST", "PLATELET_DIAMETER", "PLATELET_LINK", "PURPLE_RATIO", "STAIN_HIGH",
    "STAIN_LOW", "WORK_SIZE", "SegmentationResult", "annotate_folder", "contact_sheet", "main", "mask_to_polygons",
    "segment_cell",
]

log = logging.getLogger(__name__)


def _class_names():
    from samples.pbc.classes import CLASS_NAMES
    return list(CLASS_NAMES)


def mask_to_polygons(mask, tolerance=None):
    """COCO polygons [[x1, y1, x2, y2, ...], ...] outlining a bool mask [H, W] (one per connected outline).

    Coordinates follow COCO: pixel (row r, col c) covers [c, c + 1) x [r, r + 1), so the outline runs along pixel
    edges and rasterising it (pixel centres inside) gives the mask back. tolerance: skimage approximate_polygon
    tolerance in pixels (0 keeps every contour point); None: 0.02 x sqrt(mask area), at most 0.5, so that small
    masks (platelets) keep their detail.
    """
    padded = np.pad(np.asarray(mask, dtype=np.uint8), 1)
    if tolerance is None:
        tolerance = min(0.5, 0.02 * float(np.sqrt(padded.sum())))
    polygons = []
    for contour in measure.find_contours(padded, 0.5):
        if tolerance > 0:
            contour = measure.approximate_polygon(contour, tolerance)
        if len(contour) >= 4:  # closed: first point repeated, so >= 3 distinct points
            xy = np.stack([contour[:, 1] - 0.5, contour[:, 0] - 0.5], 1)
            polygons.append([round(float(v), 2) for v in xy[:-1].ravel()])
    return polygons


def _coco_annotations(masks, category_id):
    """Annotation dicts (no ids) of masks [H, W, N]: polygons, and the area and bbox of the polygons' mask as the
    project's decoder (pycocotools) rasterises them."""
    from pycocotools import mask as mask_utils

    height, width = masks.shape[:2]
    annotations = []
    for i in range(masks.shape[-1]):
        polygons = mask_to_polygons(masks[..., i])
        if not polygons:
            continue
        rle = segmentation_rle(polygons, height, width)
        annotations.append({"category_id": category_id, "segmentation": polygons, "iscrowd": 0,
                            "area": float(mask_utils.area(rle)),
                            "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)]})
    return annotations


def _find_images(root, subsets, limit, class_names):
    """[(relative path, class name)] of root/<subset>/<class>/* or, when no subset folder exists, root/<class>/*."""
    if not os.path.isdir(root):
        raise ValueError(f"--dataset {root!r} is not a directory; give the folder holding train/ and val/ "
                         f"(or the class folders {class_names})")
    parents = [s for s in subsets if os.path.isdir(os.path.join(root, s))] or [""]
    found = []
    for parent in parents:
        folder = os.path.join(root, parent)
        for name in sorted(os.listdir(folder)):
            if not os.path.isdir(os.path.join(folder, name)):
                continue
            if name not in class_names:
                log.warning("%s: folder %r is not a class %s; skipped", folder, name, class_names)
                continue
            files = sorted(f for f in os.listdir(os.path.join(folder, name)) if f.lower().endswith(IMAGE_EXTENSIONS))
            found += [(os.path.join(parent, name, f).replace(os.sep, "/"), name) for f in files[:limit]]
    if not found:
        raise ValueError(f"no images found under {root!r}: expected <subset>/<class>/*.jpg for subsets {subsets} "
                         f"or <class>/*.jpg, with class folders among {class_names}")
    return found


def _annotate_one(job):
    """Worker: (root, relative path, class name, category id) -> (image entry without id, annotations), or None
    when the image cannot be read (mrcnn.data.image_io.read_image_rgb's reason is logged)."""
    root, rel, class_name, category_id = job
    try:
        image = read_image_rgb(os.path.join(root, rel))
    except ValueError as error:
        log.warning("%s: cannot read the image (%s); skipped", rel, error)
        return None
    result = segment_cell(image, class_name)
    entry = {"file_name": rel, "width": int(image.shape[1]), "height": int(image.shape[0]),
             "mrcnn_flags": list(result.flags), "mrcnn_confidence": result.confidence, "mrcnn_notes": result.notes}
    return entry, _coco_annotations(result.masks, category_id)


def _progress(done, total, start):
    elapsed = time.time() - start
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else 0.0
    sys.stderr.write(f"\rannotate: {done}/{total} images, {rate:.1f} img/s, ETA {int(eta // 60)}m{int(eta % 60):02d}s ")
    sys.stderr.flush()


def annotate_folder(root, out_json, subsets=("train", "val"), contact_sheet=None, limit=None, workers=1,
                    progress=True):
    """Annotate every image of a PBC-layout folder; write COCO instances JSON (and a contact sheet PNG).

    root: folder with <subset>/<class>/*.jpg (or <class>/*.jpg); class = folder name, one of CLASS_NAMES.
    out_json: the COCO file: images (file_name relative to root, width, height, plus "mrcnn_flags",
        "mrcnn_confidence" and "mrcnn_notes"), categories (CLASS_NAMES, ids 1..8), annotations (polygons, bbox
        [x, y, w, h], area, iscrowd 0), and "unsure_images": the file names of the flagged images.
    contact_sheet: PNG path or None; see ``contact_sheet``. limit: at most this many images per class folder.
    workers: processes (1 = in this process). progress: a counter with ETA on stderr.
    Returns a summary dict: images, instances, unsure, unreadable, flags {name: count}, per_class, seconds.
    """
    class_names = _class_names()
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None; got {limit!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int; got {workers!r}")
    found = _find_images(root, tuple(subsets), limit, class_names)
    jobs = [(root, rel, name, class_names.index(name) + 1) for rel, name in found]
    start, results = time.time(), []
    if workers == 1:
        outputs = map(_annotate_one, jobs)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        # spawn, not fork: a caller that already runs TensorFlow threads (pbc.py) must not be forked
        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        outputs = executor.map(_annotate_one, jobs, chunksize=8)
    try:
        for done, output in enumerate(outputs, 1):
            results.append(output)
            if progress and (done == len(jobs) or done % 10 == 0):
                _progress(done, len(jobs), start)
    finally:
        if workers > 1:
            executor.shutdown()
    if progress:
        sys.stderr.write("\n")
    images, annotations, unsure = [], [], []
    summary = {"images": 0, "instances": 0, "unsure": 0, "unreadable": 0, "flags": {},
               "per_class": {name: {"images": 0, "unsure": 0} for name in class_names}}
    for (rel, name), output in zip(found, results):
        if output is None:
            summary["unreadable"] += 1
            continue
        entry, instances = output
        entry["id"] = len(images) + 1
        images.append(entry)
        for instance in instances:
            annotations.append({"id": len(annotations) + 1, "image_id": entry["id"], **instance})
        summary["per_class"][name]["images"] += 1
        if entry["mrcnn_flags"]:
            unsure.append(rel)
            summary["per_class"][name]["unsure"] += 1
            for flag in entry["mrcnn_flags"]:
                summary["flags"][flag] = summary["flags"].get(flag, 0) + 1
    coco = {"info": {"description": f"Automatic instance annotations of {os.path.abspath(root)} by "
                                    "samples/pbc/annotate.py (classical image analysis); review unsure_images",
                     "date_created": time.strftime("%Y-%m-%dT%H:%M:%S")},
            "licenses": [], "images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n, "supercategory": "cell"} for i, n in enumerate(class_names)],
            "unsure_images": unsure, "flag_meanings": FLAGS}
    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    with open(out_json + ".tmp", "w") as f:
        json.dump(coco, f)
    os.replace(out_json + ".tmp", out_json)
    summary.update(images=len(images), instances=len(annotations), unsure=len(unsure),
                   seconds=round(time.time() - start, 1), out_json=out_json, contact_sheet=contact_sheet)
    log.info("annotate %s: %d images, %d instances, %d unsure (%s), %d unreadable, %.0f s -> %s", root,
             len(images), len(annotations), len(unsure), summary["flags"], summary["unreadable"],
             summary["seconds"], out_json)
    if contact_sheet:
        _write_contact_sheet(out_json, root, contact_sheet)
    return summary


_write_contact_sheet = contact_sheet  # annotate_folder's argument of the same name hides the function


def main(argv=None):
    """Command line: annotate --dataset DIR --out FILE.json [--contact-sheet PNG] [--limit N] [--workers N].
    A mistake in the input is one line on stderr and exit status 2 (mrcnn.cli)."""
    parser = argparse.ArgumentParser(prog="python -m samples.pbc.annotate", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="folder with <subset>/<class>/*.jpg (or <class>/*.jpg)")
    parser.add_argument("--out", required=True, help="COCO instances JSON to write")
    parser.add_argument("--contact-sheet", default=None, help="PNG of overlays for review (unsure images first)")
    parser.add_argument("--limit", type=int, default=None, help="at most N images per class folder")
    parser.add_argument("--subsets", nargs="+", default=["train", "val"], help="subset folders (default train val)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress counter")
    args = cli.parse_args(parser, argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return cli.run(_run, args)


def _run(args):
    summary = annotate_folder(args.dataset, args.out, subsets=args.subsets, contact_sheet=args.contact_sheet,
                              limit=args.limit, workers=args.workers, progress=not args.quiet)
    print(f"{summary['images']} images, {summary['instances']} instances, {summary['unsure']} unsure "
          f"{summary['flags']} -> {args.out}" + (f", {args.contact_sheet}" if args.contact_sheet else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
