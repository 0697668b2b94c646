"""How a model trained on PBC finds white cells on other labs' smears: the measuring stick of issue 26.

Sources (under --data, the shared data folder; its README describes them):
    bccd, raabin   other_labs/{bccd,raabin}: fields / crops of other labs with YOLO boxes (TXL-PBC: 0 WBC, 1 RBC,
                   2 platelets), read by mrcnn.data.yolo
    wbc_masks      300 crops of one white cell each, with the expert's mask and class (benchmarks/wbc_masks.py); its
                   ground-truth box is the mask's box
Figures per source (mrcnn.evaluation.box_truth, box IoU 0.5, greedy one-to-one by score):
    white-cell recall and precision, class-agnostic: a detection of any of PBC's six white-cell classes (basophil,
        eosinophil, ig, lymphocyte, monocyte, neutrophil) counts as a white-cell detection
    white-cell box AP@0.5, 11-point (the paper's eq. 5) and all-point, over the detections the model returned
    platelet recall and precision (PBC "platelet" against TXL-PBC class 2), where the source has platelet boxes
    where every detection lands (overlap table: e.g. erythroblast detections on a white cell or a red cell)
    wbc_masks only: top-1 class = the class of the highest-scoring white-cell detection against classes.csv ("none"
        without one); mask IoU = the expert mask against the mask of the white-cell detection that overlaps it most
        (0 without one; the top-scoring detection's mask IoU is in the JSON too)
Beside them, the issue's targets: bccd and raabin white-cell recall >= 0.95 at precision >= 0.90; wbc_masks top-1
>= 0.85 and mean mask IoU >= 0.88.

Detection is what `pbc.py detect` does (samples/pbc/models.py, mrcnn/detector.py): every image brought to the scale
the model trained at, from its red cells (--pixel-size auto: the median of up to 50 images of each source, one
microscope each; each: every image alone; off: the model's own resize to --image-size; or the µm per pixel), tiled
when larger than the model's input. Each image's scale is in the JSON.

Development and report halves: --split dev / report keeps the images whose file name's CRC-32 is even / odd, so that
settings chosen on one half are reported on the other (the default, all, scores both). --adapt adapts the model to
each source before scoring it (what `pbc.py adapt` does: batch-norm statistics re-estimated on up to 200 of the
source's development images, no labels used; the weights are reloaded for the next source): use it with --split
report, so that no scored image was seen.

Command (from the repository root; model options as `pbc.py evaluate` takes them):
    .venv/bin/python benchmarks/other_labs.py --weights out/pbc/detector_small_256.weights.h5 --backbone small \\
        --preset cpu --image-size 256 --out out/other_labs [--min-confidence 0.3] [--split report]
Writes into --out: other_labs.json (every figure, per image too) and sheet_<source>.png (the worst images,
benchmarks/other_labs_sheet.py: ground-truth white cells, boxes or the expert's mask outline, green when found, red
when missed; detections with their masks: white cells cyan, erythroblasts magenta, platelets yellow, others grey).

Shape shorthand:
    H, W: image height and width, N: ground-truth boxes of one image, D: detections of one image.
"""

import argparse
import json
import os
import sys
import time
import zlib
from collections import namedtuple

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import wbc_masks  # noqa: E402
from benchmarks.other_labs_sheet import draw_tile, save_sheet  # noqa: E402
from mrcnn.data.yolo import TXL_PBC_CLASSES, read_yolo_folder  # noqa: E402
from mrcnn.evaluation.box_truth import Target, score_box_detections  # noqa: E402
from mrcnn.evaluation.evaluate import to_jsonable  # noqa: E402
from samples.pbc.classes import CLASS_NAMES, WHITE_CELL_CLASSES  # noqa: E402
from samples.pbc.config import add_model_options  # noqa: E402
from samples.pbc.models import inference_config, inference_detector, spread  # noqa: E402

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data")
SOURCES = {"bccd": os.path.join("other_labs", "bccd"), "raabin": os.path.join("other_labs", "raabin"),
           "wbc_masks": "wbc_masks", "pbc": "pbc"}
DEFAULT_SOURCES = ["bccd", "raabin", "wbc_masks"]  # "pbc" (its val images: the training lab) needs --pbc-annotations
PRED_NAMES = ["BG"] + CLASS_NAMES  # the model's class ids
WHITE_IDS = [PRED_NAMES.index(n) for n in WHITE_CELL_CLASSES]
TARGETS = (Target("white_cells", [TXL_PBC_CLASSES.index("WBC")], WHITE_IDS),
           Target("platelets", [TXL_PBC_CLASSES.index("platelets")], [PRED_NAMES.index("platelet")]))
# The targets, {figure: lower bound}, for sources with boxes only and for wbc_masks.
GOALS = {"boxes": {"white_recall": 0.95, "white_precision": 0.90}, "masks": {"top1": 0.85, "mask_iou_mean": 0.88}}

# One image of a source: its ground truth in TXL-PBC class ids, and (wbc_masks) the expert's class and mask.
Sample = namedtuple("Sample", "name path gt truth_class truth_mask")


# ---- sources ---------------------------------------------------------------------------------------------------------

def yolo_samples(folder, limit=None):
    """Samples of a folder of images with YOLO labels (TXL-PBC classes)."""
    for item in read_yolo_folder(folder, TXL_PBC_CLASSES, limit=limit):
        gt = {"boxes": item.boxes, "class_ids": item.class_ids}
        yield Sample(os.path.basename(item.image_path), item.image_path, gt, None, None)


def wbc_mask_samples(folder, limit=None):
    """Samples of the wbc_masks folder: one white cell each, its box the mask's box."""
    from mrcnn.utils import extract_bboxes
    classes = wbc_masks.read_classes(folder)
    for number in sorted(classes)[:limit]:
        image_path, _ = wbc_masks.paths_of(folder, number)
        _, mask = wbc_masks.read_pair(folder, number)
        gt = {"boxes": extract_bboxes(mask[..., None]).astype(np.float64), "class_ids": np.zeros(1, np.int64)}
        yield Sample(os.path.basename(image_path), image_path, gt, classes[number], mask)


def pbc_samples(folder, annotations, limit=None):
    """Samples of PBC's val images of the six white-cell classes, from `pbc.py annotate`'s masks: the folder's class
    and the union of the image's annotated masks (its labelled cell)."""
    from mrcnn.utils import extract_bboxes
    from samples.pbc.datasets import load_subset
    dataset = load_subset(folder, "val", annotations)
    count = 0
    for image_id in dataset.image_ids:
        truth_class = dataset.image_info[image_id]["folder_class"]
        if truth_class not in WHITE_CELL_CLASSES:
            continue
        masks, _ = dataset.load_mask(image_id)
        mask = masks.any(axis=-1)
        gt = {"boxes": extract_bboxes(mask[..., None]).astype(np.float64), "class_ids": np.zeros(1, np.int64)}
        path = dataset.image_info[image_id]["path"]
        yield Sample(os.path.relpath(path, folder), path, gt, truth_class, mask)
        count += 1
        if limit and count >= limit:
            return


def source_samples(data, source, limit=None, pbc_annotations=None):
    folder = os.path.join(data, SOURCES[source])
    if source == "pbc":
        return pbc_samples(folder, pbc_annotations, limit)
    return wbc_mask_samples(folder, limit) if source == "wbc_masks" else yolo_samples(folder, limit)


def read_rgb(path):
    from mrcnn.data.image_io import read_image_rgb
    return read_image_rgb(path)


# ---- detection -------------------------------------------------------------------------------------------------------

def make_detect(model):
    """detect(image [H, W, 3]) -> {"rois", "class_ids", "scores", "masks" [H, W, D], "scale"?} in the image's
    pixels, from anything with Matterport's detect (a mrcnn.detector.ScaledDetector adds the image's "scale")."""
    return lambda image: model.detect([image])[0]


def in_split(name, split):
    """Whether an image (by its file name) belongs to the split: all, dev (even CRC-32) or report (odd)."""
    if split == "all":
        return True
    return (zlib.crc32(name.encode("utf-8")) % 2 == 0) == (split == "dev")


# ---- one source ------------------------------------------------------------------------------------------------------

def _mask_ious(truth_mask, pred):
    """(IoU of the best-overlapping white-cell detection, IoU of the top-scoring one); 0 without one."""
    from mrcnn.utils import compute_overlaps_masks
    white = np.where(np.isin(pred["class_ids"], WHITE_IDS))[0]
    if white.size == 0:
        return 0.0, 0.0
    ious = compute_overlaps_masks(truth_mask[..., None], pred["masks"][..., white])[0]
    return float(ious.max()), float(ious[int(np.argmax(pred["scores"][white]))])


def top_white_class(pred):
    """Name of the class of the highest-scoring white-cell detection, or "none"."""
    white = np.where(np.isin(pred["class_ids"], WHITE_IDS))[0]
    if white.size == 0:
        return "none"
    return PRED_NAMES[int(pred["class_ids"][white[int(np.argmax(pred["scores"][white]))]])]


def run_source(samples, detect, progress=None):
    """[{"name", "path", "gt", "pred" (no masks), "seconds", and for masked sources "truth_class", "truth_mask",
    "top1", "mask_iou_best", "mask_iou_top"}] of every sample. progress(done) is called after each image."""
    rows = []
    for sample in samples:
        image = read_rgb(sample.path)
        start = time.perf_counter()
        pred = detect(image)
        row = {"name": sample.name, "path": sample.path, "gt": sample.gt, "seconds": time.perf_counter() - start,
               "pred": {k: np.asarray(pred[k]) for k in ("rois", "class_ids", "scores")}, "scale": pred.get("scale"),
               "unlike": pred.get("unlike_training")}
        if sample.truth_mask is not None:
            row["truth_class"], row["truth_mask"] = sample.truth_class, sample.truth_mask
            row["top1"] = top_white_class(pred)
            row["mask_iou_best"], row["mask_iou_top"] = _mask_ious(sample.truth_mask, pred)
        rows.append(row)
        if progress:
            progress(len(rows))
    return rows


def score_rows(rows):
    """The figures of one source from run_source's rows (see the module docstring)."""
    scored = score_box_detections([r["gt"] for r in rows], [r["pred"] for r in rows], TARGETS, PRED_NAMES,
                                  TXL_PBC_CLASSES)
    white, platelets = scored["targets"]["white_cells"], scored["targets"]["platelets"]
    seconds = [r["seconds"] for r in rows]
    out = {"images": len(rows), "white_boxes": white["boxes"], "white_detections": white["detections"],
           "white_recall": white["recall"], "white_precision": white["precision"],
           "white_ap50_11point": white["ap_11point"], "white_ap50_allpoint": white["ap_allpoint"],
           "platelet_boxes": platelets["boxes"], "platelet_recall": platelets["recall"],
           "platelet_precision": platelets["precision"], "overlaps": scored["overlaps"],
           "seconds_per_image": float(np.mean(seconds)) if seconds else None,
           "per_image": [{"name": r["name"], "white": _counts(w), "platelets": _counts(p)}
                         for r, w, p in zip(rows, white["per_image"], platelets["per_image"])]}
    if rows and "truth_class" in rows[0]:
        out.update(_classification(rows))
        for entry, r in zip(out["per_image"], rows):
            entry.update({k: r[k] for k in ("truth_class", "top1", "mask_iou_best", "mask_iou_top")})
    for entry, r in zip(out["per_image"], rows):
        entry["error"] = image_error(entry)
        entry["unlike"] = r.get("unlike")
    out.update(flag_figures(out["per_image"]))
    return out


def image_error(entry):
    """Whether the model got an image wrong: the top white cell's class wrong, none found, or its mask IoU under 0.5
    (images with a classed cell); a white cell missed or a white detection on nothing (fields with boxes)."""
    if "truth_class" in entry:
        return entry["top1"] != entry["truth_class"] or entry["mask_iou_best"] < 0.5
    return bool(entry["white"]["missed"]) or entry["white"]["detections"] > entry["white"]["matched"]


def flag_figures(per_image):
    """How well the "unlike the training images" score foresees a wrong image (AUROC) and how often it flags."""
    from mrcnn.familiarity import auroc
    judged = [e for e in per_image if e.get("unlike")]
    if not judged:
        return {"flag_auroc": None, "flagged": None, "errors": sum(bool(e["error"]) for e in per_image)}
    flagged = [e["unlike"]["unlike"] for e in judged if e["unlike"]["unlike"] is not None]
    return {"flag_auroc": auroc([e["unlike"]["score"] for e in judged], [e["error"] for e in judged]),
            "flagged": (sum(flagged) / len(flagged)) if flagged else None,
            "unlike_score_median": float(np.median([e["unlike"]["score"] for e in judged])),
            "errors": sum(bool(e["error"]) for e in per_image)}


def _counts(per_image):
    return {k: per_image[k] for k in ("boxes", "detections", "matched", "missed")}


def _classification(rows):
    """Top-1 over the expert's classes (confusion matrix: truth rows, PBC's white classes + "none" columns) and the
    mask IoUs."""
    from mrcnn.evaluation.classification import confusion_matrix
    ids = {name: i + 1 for i, name in enumerate(WHITE_CELL_CLASSES)}
    truth = [ids[r["truth_class"]] for r in rows]
    predicted = [ids.get(r["top1"], 0) for r in rows]
    cm = confusion_matrix(truth, predicted, len(WHITE_CELL_CLASSES) + 1)
    best = np.array([r["mask_iou_best"] for r in rows])
    return {"top1": float(np.trace(cm[:, :-1]) / len(rows)), "top1_correct": int(np.trace(cm[:, :-1])),
            "no_white_detection": int(cm[:, -1].sum()),
            "confusion": {"rows": WHITE_CELL_CLASSES, "columns": WHITE_CELL_CLASSES + ["none"],
                          "matrix": cm.tolist()},
            "mask_iou_mean": float(best.mean()), "mask_iou_median": float(np.median(best)),
            "mask_iou_top_mean": float(np.mean([r["mask_iou_top"] for r in rows]))}


def evaluate_source(samples, detect, progress=None):
    """(figures, rows) of one source: run_source then score_rows."""
    rows = run_source(samples, detect, progress)
    return score_rows(rows), rows


# ---- output ----------------------------------------------------------------------------------------------------------

def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def goals_of(source):
    return {"wbc_masks": GOALS["masks"], "pbc": {}}.get(source, GOALS["boxes"])


def met(figures, goals):
    """True when every goal is reached, None when a figure is missing."""
    values = [figures.get(k) for k in goals]
    return None if any(v is None for v in values) else all(v >= goals[k] for v, k in zip(values, goals))


def source_table(source, figures, setting):
    """A Markdown table of one source's figures with the issue's targets beside them."""
    goals = goals_of(source)
    lines = [f"### {source}: {figures['images']} images, {setting}", "", "| figure | value | target |", "|---|---|---|"]

    def row(label, key, value):
        target = f">= {goals[key]:g}" if key in goals else ""
        lines.append(f"| {label} | {value} | {target} |")

    f = figures
    row("white-cell recall @ box IoU 0.5", "white_recall",
        f"{_fmt(f['white_recall'])} ({round((f['white_recall'] or 0) * f['white_boxes'])} of {f['white_boxes']})")
    row("white-cell precision", "white_precision", f"{_fmt(f['white_precision'])} ({f['white_detections']} "
        "white-cell detections)")
    row("white-cell box AP@0.5, 11-point / all-point", "",
        f"{_fmt(f['white_ap50_11point'])} / {_fmt(f['white_ap50_allpoint'])}")
    if f["platelet_boxes"]:
        row("platelet recall / precision", "", f"{_fmt(f['platelet_recall'])} / {_fmt(f['platelet_precision'])} "
            f"({f['platelet_boxes']} boxes)")
    if "top1" in f:
        row("top-1 class (top white-cell detection)", "top1",
            f"{_fmt(f['top1'])} ({f['top1_correct']} of {f['images']}; {f['no_white_detection']} without one)")
        row("mask IoU mean (best white-cell detection)", "mask_iou_mean",
            f"{_fmt(f['mask_iou_mean'])} (median {_fmt(f['mask_iou_median'])}; top detection "
            f"{_fmt(f['mask_iou_top_mean'])})")
    row("time per image", "", f"{f['seconds_per_image'] * 1000:.0f} ms" if f["seconds_per_image"] else "-")
    lines += ["", "Where detections land (box IoU >= 0.5 with the box they overlap most):", "",
              "| predicted | " + " | ".join(TXL_PBC_CLASSES) + " | none |", "|---" * (len(TXL_PBC_CLASSES) + 2) + "|"]
    for name, counts in f["overlaps"].items():
        lines.append(f"| {name} | " + " | ".join(str(v) for v in counts.values()) + " |")
    if "confusion" in f:
        c = f["confusion"]
        lines += ["", "Top-1 confusion (rows: expert's class, columns: top white-cell detection):", "",
                  "| truth | " + " | ".join(c["columns"]) + " |", "|---" * (len(c["columns"]) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(str(v) for v in counts) + " |"
                  for name, counts in zip(c["rows"], c["matrix"]) if sum(counts)]
    return "\n".join(lines)


def summary_table(results):
    """One Markdown row per source: the headline figures, the targets and whether they are met."""
    lines = ["| source | images | scale | white recall | white precision | white AP@0.5 (11-pt) | platelet recall | "
             "top-1 | mask IoU | target | met | flagged unlike | s / image |", "|---" * 13 + "|"]
    for source, r in results.items():
        f = r["figures"]
        goals = goals_of(source)
        target = ", ".join(f"{k.replace('white_', '')} >= {v:g}" for k, v in goals.items())
        ok = met(f, goals)
        lines.append(" | ".join([f"| {source}", str(f["images"]), r["scale"], _fmt(f["white_recall"]),
                                 _fmt(f["white_precision"]), _fmt(f["white_ap50_11point"]),
                                 _fmt(f["platelet_recall"]), _fmt(f.get("top1")), _fmt(f.get("mask_iou_mean")),
                                 target, "-" if ok is None else ("yes" if ok else "no"), _fmt(f.get("flagged")),
                                 _fmt(r["seconds"] / max(f["images"], 1), 2)]) + " |")
    pooled = flag_figures([e for r in results.values() for e in r["figures"]["per_image"]])
    lines.append(f"\n'Unlike the training images' score against a wrong image (all sources pooled, "
                 f"{pooled['errors']} wrong of {sum(r['figures']['images'] for r in results.values())}): AUROC "
                 f"{_fmt(pooled['flag_auroc'])}; per source: "
                 + ", ".join(f"{s} {_fmt(r['figures'].get('flag_auroc'))}" for s, r in results.items()))
    return "\n".join(lines)


def worst_rows(rows, figures, count):
    """Indices of up to `count` rows to show: most missed plus falsely detected white cells first (wbc_masks: a
    wrong or missing class first, then the lowest mask IoU); images without a problem are left out."""
    def badness(i):
        white = figures["per_image"][i]["white"]
        errors = (white["boxes"] - white["matched"]) + (white["detections"] - white["matched"])
        if "top1" in rows[i]:
            return (rows[i]["top1"] != rows[i]["truth_class"]) + errors, 1.0 - rows[i]["mask_iou_best"]
        return errors, 0.0
    order = sorted(range(len(rows)), key=lambda i: badness(i), reverse=True)
    return [i for i in order if badness(i) > (0, 0.15)][:count]


COLOURS = {"white": (0.0, 0.9, 1.0), "erythroblast": (1.0, 0.0, 1.0), "platelet": (1.0, 0.85, 0.0),
           "other": (0.6, 0.6, 0.6)}


def contact_sheet(rows, figures, indices, detect, out_png, tile=256, columns=4):
    """The chosen rows, detected again, as a PNG grid (benchmarks/other_labs_sheet.py) captioned with the file name
    and what went wrong. Returns the path, or None with nothing to show."""
    tiles = []
    for i in indices:
        row, white = rows[i], figures["per_image"][i]["white"]
        image = read_rgb(row["path"])
        pred = detect(image)
        colours = [COLOURS["white"] if c in WHITE_IDS else COLOURS.get(PRED_NAMES[c], COLOURS["other"])
                   for c in pred["class_ids"]]
        gi = np.where(np.isin(row["gt"]["class_ids"], TARGETS[0].gt_classes))[0]
        pixels = draw_tile(image, pred, PRED_NAMES, colours, row["gt"]["boxes"][gi],
                           [j not in white["missed"] for j in gi], row.get("truth_mask"), tile)
        caption = f"found {white['matched']}/{white['boxes']}, false {white['detections'] - white['matched']}"
        if "top1" in row:
            caption = f"{row['truth_class'][:4]}->{row['top1'][:4]} IoU {row['mask_iou_best']:.2f}"
        tiles.append((pixels, row["name"], caption))
    return save_sheet(tiles, out_png, tile, columns)


# ---- command line ----------------------------------------------------------------------------------------------------

def _progress(source, total):
    """progress(done): a line on stderr every tenth of the source (redrawn in place on a terminal)."""
    start = time.time()
    tty = sys.stderr.isatty()

    def report(done):
        if not tty and done != total and done % max(1, total // 10):
            return
        elapsed = time.time() - start
        print(f"{chr(13) if tty else ''}{source}: {done}/{total} images, {elapsed:.0f} s, "
              f"~{elapsed / done * (total - done):.0f} s left", end="" if tty and done != total else "\n",
              file=sys.stderr, flush=True)
    return report


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="a trained PBC model's weights file, or 'last'")
    add_model_options(parser, training=False)  # --backbone, --preset, --image-size, --logs, --min-confidence, ...
    parser.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder (holds other_labs/ and "
                        "wbc_masks/; default: ../shared/data beside the repository)")
    parser.add_argument("--sources", nargs="+", default=DEFAULT_SOURCES, choices=list(SOURCES),
                        help="sources to score (default: bccd raabin wbc_masks; pbc: the val images of its white-cell "
                             "classes, with --pbc-annotations)")
    parser.add_argument("--pbc-annotations", default=None,
                        help="for source pbc: the COCO file of `pbc.py annotate` (e.g. out/pbc/annotations.json)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each source")
    parser.add_argument("--split", default="all", choices=["all", "dev", "report"],
                        help="the images scored: all (default), the development half or the report half")
    parser.add_argument("--adapt", action="store_true",
                        help="adapt the model to each source's development half first (pbc.py adapt)")
    parser.add_argument("--sheet", type=int, default=12, help="images per contact sheet (0: none; default 12)")
    parser.add_argument("--out", default=os.path.join("out", "other_labs"), help="folder for other_labs.json and "
                        "the contact sheets (default: out/other_labs)")
    return parser


def adapt_to(detector, weights, config, samples, count=200):
    """Reload `weights` into the detector's model, then adapt its batch norm to up to `count` of `samples`' images
    (mrcnn/training/adapt.py); returns the adaptation's report."""
    from mrcnn.training.adapt import adapt_batch_norm
    detector.model.load_weights(weights)
    inputs = [tile for s in spread(samples, count) for tile in detector.inputs(read_rgb(s.path))]
    return adapt_batch_norm(detector.model.keras_model, config, inputs)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for source in args.sources:
        if not os.path.isdir(os.path.join(args.data, SOURCES[source])):
            parser.error(f"--data {args.data}: no {SOURCES[source]} folder in it (see its README.md)")
    if "pbc" in args.sources and not args.pbc_annotations:
        parser.error("--sources pbc needs --pbc-annotations FILE (pbc.py annotate's COCO file)")
    try:
        config, weights = inference_config(args)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    os.makedirs(args.out, exist_ok=True)
    model = inference_detector(config, weights, args)
    threshold = config.DETECTION_MIN_CONFIDENCE
    results, tables = {}, []
    for source in args.sources:
        every = list(source_samples(args.data, source, args.limit, args.pbc_annotations))
        samples = [s for s in every if in_split(s.name, args.split)]
        if args.pixel_size == "auto" and config.RED_CELL_DIAMETER:  # one microscope per source: one scale
            model.calibrate(read_rgb(s.path) for s in spread(samples))
        if args.adapt:
            adapted = adapt_to(model, weights, config, [s for s in every if in_split(s.name, "dev")])
            print(f"{source}: adapted on {adapted['images']} inputs of its development half (means moved "
                  f"{adapted['mean_shift']:.2f} standard deviations)", flush=True)
        pooled = (model.pooled or {}).get("diameter_px") if args.pixel_size == "auto" else None
        scale = f"red cells {pooled} px" if pooled else f"--pixel-size {args.pixel_size}"
        detect = make_detect(model)
        start = time.time()
        figures, rows = evaluate_source(samples, detect, _progress(source, len(samples)))
        seconds = time.time() - start
        setting = (f"detection threshold {threshold:g}, {args.split} images, --pixel-size {args.pixel_size}"
                   + (f" (red cells {pooled} px, the model's {config.RED_CELL_DIAMETER})" if pooled else "")
                   + f", {seconds:.0f} s")
        sheet = None
        if args.sheet:
            sheet = contact_sheet(rows, figures, worst_rows(rows, figures, args.sheet), detect,
                                  os.path.join(args.out, f"sheet_{source}.png"))
        results[source] = {"figures": figures, "scale": scale, "seconds": seconds, "sheet": sheet}
        tables.append(source_table(source, figures, setting))
        print(tables[-1] + "\n", flush=True)
    print(f"## Summary (detection threshold {threshold:g}, weights {args.weights})\n")
    print(summary_table(results))
    report = {"weights": weights, "backbone": config.BACKBONE, "preset": args.preset, "split": args.split,
              "adapted": args.adapt,
              "image_size": config.IMAGE_MAX_DIM, "min_confidence": threshold, "limit": args.limit,
              "iou_threshold": 0.5, "goals": {s: goals_of(s) for s in results}, "sources": results}
    with open(os.path.join(args.out, "other_labs.json"), "w", encoding="utf-8") as f:
        json.dump(to_jsonable(report), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
