"""Where a cell's outline is lost: mask IoU against the ground truth at each stage of Mask R-CNN's mask path.

For every annotated instance of a PBC subset, the detection that overlaps it most (any class, any score) and these
IoUs against the annotated mask, at the image's full resolution:

- `box`: the detection's box against the annotation's tight box (box IoU);
- `box_cut`: the annotation cut to the detection's box (what the box alone loses: the cell outside it);
- `gt28_pred_box`: the annotation cut to the detection's box, sampled at the mask head's resolution (MASK_SHAPE, as
  the training targets are made) and pasted back: the best the mask head could do in that box;
- `gt28_gt_box`: the same in the annotation's own box: what the mask resolution and the paste alone lose;
- `head_gt_box`: the mask head run on the annotation's box (its class's channel): the head's own outline with a
  perfect box (what the web page gives a cell drawn by hand, mrcnn/app/drawn.py);
- `ellipse_gt_box`: the ellipse inscribed in the annotation's box (what the page gives a drawn cell when the model
  has no mask head to run);
- `pred`: the detection's mask as `detect` returns it (the figure the evaluation scores);
- `head_xN`: the mask head run on the detection's box grown N times about its centre, pasted there (a box that cuts
  the cell no longer cuts the mask);
- `head_xN_cut`: the same, cut to the detection's box (what running the head on a grown box gives when the mask is
  kept in the detection's own box, as every consumer of `mrcnn_mask` expects it);
- `flip2`, `flip4`: the detection's soft mask averaged with the head's on the mirrored molded image (left-right;
  flip4: also up-down and both), mirrored back, pasted as `pred` (test-time augmentation of the mask alone);
- `pred@t`: the detection's soft mask pasted at threshold t instead of 0.5.

Prints per stage the mean IoU and the share of instances at IoU >= 0.9 (what mAP@0.9 needs), overall and per class,
and writes `stages.json` and a contact sheet of the worst `pred` cases to --out.

Command (the model options as given to `pbc.py evaluate`; for a development split of train/, --dataset a folder
whose train/ and val/ hold links to the split's images, and --subset val):
    .venv/bin/python benchmarks/mask_stages.py --dataset ../shared/data/pbc --annotations out/pbc/annotations.json \\
        --backbone small --preset cpu --image-size 256 --weights out/pbc/detector_small_256.weights.h5 \\
        --subset val --out out/pbc/mask_stages

Shape shorthand: H, W: image, h, w: MASK_SHAPE, G: annotated instances of an image, D: its detections,
K: NUM_CLASSES.
"""

import argparse
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from samples.pbc.config import add_model_options, config_from_args  # noqa: E402
from samples.pbc.datasets import load_subset  # noqa: E402

GROW = (1.1, 1.2)
THRESHOLDS = (0.4, 0.6)


def paste_aligned(soft, box, window, molded_side, image_shape, threshold=0.5):
    """One soft mask [h, w] of the normalized molded-image `box` pasted as `detect` does (mrcnn/data/paste.py)."""
    from mrcnn.data.paste import paste_masks
    return paste_masks(np.asarray(soft)[None], np.asarray(box)[None], window, (molded_side, molded_side),
                       image_shape, threshold)[..., 0]


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def box_iou(a, b):
    y1, x1 = max(a[0], b[0]), max(a[1], b[1])
    y2, x2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, y2 - y1) * max(0, x2 - x1)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / area) if area > 0 else 0.0


def grow(box, factor, shape):
    """A pixel box grown `factor` times about its centre, clipped to the image."""
    y1, x1, y2, x2 = np.asarray(box, np.float64)
    cy, cx, h, w = (y1 + y2) / 2, (x1 + x2) / 2, (y2 - y1) * factor, (x2 - x1) * factor
    return np.array([max(cy - h / 2, 0), max(cx - w / 2, 0), min(cy + h / 2, shape[0]), min(cx + w / 2, shape[1])])


def head_masks(head, image, boxes, inputs):
    """(soft masks [N, h, w, K] of the mask head on the pixel `boxes` of `image`, their normalized boxes, the window,
    the molded side): mrcnn/box_masks.py's BoxMaskHead. inputs: the image's mold_inputs."""
    normalized, window, side = head.normalized(image, boxes, inputs)
    return head.soft(image, normalized, inputs), normalized, window, side[0]


def mirrored_soft(head, inputs, boxes, mirror):
    """float32 [N, h, w, K]: the head's soft masks in the normalized molded-image `boxes` [N, 4], run on the molded
    image mirrored by `mirror` (flip rows, flip columns) and mirrored back. The head's grid puts its first and last
    cells on a box's edges, so mirroring the box mirrors the grid exactly."""
    molded, metas, windows = inputs
    rows, columns = mirror
    image = molded[:, ::-1] if rows else molded
    image = image[:, :, ::-1] if columns else image
    y1, x1, y2, x2 = np.asarray(boxes, np.float32).reshape(-1, 4).T
    if rows:
        y1, y2 = 1 - y2, 1 - y1
    if columns:
        x1, x2 = 1 - x2, 1 - x1
    soft = head.soft(None, np.stack([y1, x1, y2, x2], axis=1), (np.ascontiguousarray(image), metas, windows))
    soft = soft[:, ::-1] if rows else soft
    return soft[:, :, ::-1] if columns else soft


MIRRORS = ((False, True), (True, False), (True, True))  # left-right, up-down, both
FLIPS = {"flip2": MIRRORS[:1], "flip4": MIRRORS}
WORST = 24  # cases on the contact sheet
_COUNTER = itertools.count()  # breaks ties between equal IoUs in the heap


def keep_worst(worst, value, name, class_name, image, gt, pred):
    """Keep the WORST lowest-IoU cases in `worst` (a list of tuples), each as a crop around the annotation."""
    import heapq
    ys, xs = np.nonzero(gt | pred)
    y1, x1 = max(ys.min() - 10, 0), max(xs.min() - 10, 0)
    y2, x2 = ys.max() + 11, xs.max() + 11
    item = (-value, next(_COUNTER), name, class_name, image[y1:y2, x1:x2], gt[y1:y2, x1:x2], pred[y1:y2, x1:x2])
    if len(worst) < WORST:
        heapq.heappush(worst, item)
    elif value < -worst[0][0]:  # the root holds the highest IoU kept
        heapq.heapreplace(worst, item)


def save_sheet(worst, path, columns=6):
    """A PNG grid of the kept cases, worst first: the crop, the annotation's outline green, the detection's magenta."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cases = sorted(worst, key=lambda item: -item[0])
    if not cases:
        return
    rows = (len(cases) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.6 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (negative, _, name, class_name, crop, gt, pred) in zip(axes.flat, cases):
        axis.imshow(crop)
        axis.contour(gt, levels=[0.5], colors="lime", linewidths=1)
        axis.contour(pred, levels=[0.5], colors="magenta", linewidths=1)
        axis.set_title(f"{class_name} IoU {-negative:.2f}\n{os.path.basename(name)}", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--annotations", required=True)
    parser.add_argument("--subset", default="val", choices=["train", "val", "test"])
    parser.add_argument("--limit", type=int, default=0, help="score the first N images only (0: all)")
    parser.add_argument("--weights", required=True, help="the detector's weights file")
    parser.add_argument("--out", required=True)
    add_model_options(parser, training=False)
    args = parser.parse_args(argv)
    args.min_confidence = 0.0
    config = config_from_args(args, inference=True)
    dataset = load_subset(args.dataset, args.subset, args.annotations, config.IMAGE_MAX_DIM)
    from mrcnn.model import MaskRCNN
    from mrcnn.utils import extract_bboxes, mold_mask, unmold_mask
    model = MaskRCNN("inference", config, args.logs)
    model.load_weights(args.weights)
    from mrcnn.app.drawn import ellipse_mask
    from mrcnn.box_masks import BoxMaskHead
    head = BoxMaskHead(model)
    ids = list(dataset.image_ids)[:args.limit or None]
    rows, worst = [], []
    for n, image_id in enumerate(ids, 1):
        image = dataset.load_image(image_id)
        gt_masks, gt_classes = dataset.load_mask(image_id)
        gt_masks = np.asarray(gt_masks, bool)
        gt_boxes = extract_bboxes(gt_masks)
        molded, metas, windows = model.mold_inputs([image])
        raw = model._run(molded, metas)
        rois, class_ids, scores, masks = model.unmold_detections(raw["detections"][0], raw["mrcnn_mask"][0],
                                                                 image.shape, molded[0].shape, windows[0])
        pred = {"rois": rois, "class_ids": class_ids, "scores": scores, "masks": masks}
        if len(rois) != int(np.sum(raw["detections"][0][:, 4] > 0)):
            print(f"{dataset.image_info[image_id]['id']}: a detection of zero area was dropped; image left out")
            continue
        if not pred["class_ids"].size or not gt_classes.size:
            rows += [{"class": int(c), "missed": True} for c in gt_classes]
            continue
        overlaps = np.array([[iou(pred["masks"][..., d], gt_masks[..., g]) for g in range(len(gt_classes))]
                             for d in range(len(pred["class_ids"]))])
        heads_gt = head_masks(head, image, gt_boxes, (molded, metas, windows))
        views = {m: mirrored_soft(head, (molded, metas, windows), raw["detections"][0][:len(rois), :4], m)
                 for m in MIRRORS}  # each mirrored view once for all the image's detections
        for g, cls in enumerate(gt_classes):
            d = int(np.argmax(overlaps[:, g]))
            gt, box = gt_masks[..., g], pred["rois"][d]
            pcls = int(pred["class_ids"][d])
            row = {"class": int(cls), "class_right": pcls == int(cls), "pred": overlaps[d, g],
                   "box": box_iou(box, gt_boxes[g])}
            cut = np.zeros_like(gt)
            cut[box[0]:box[2], box[1]:box[3]] = gt[box[0]:box[2], box[1]:box[3]]
            row["box_cut"] = iou(cut, gt)
            row["gt28_pred_box"] = iou(unmold_mask(mold_mask(gt, box, config.MASK_SHAPE), box, gt.shape), gt)
            row["gt28_gt_box"] = iou(unmold_mask(mold_mask(gt, gt_boxes[g], config.MASK_SHAPE), gt_boxes[g],
                                                 gt.shape), gt)
            row["head_gt_box"] = iou(paste_aligned(heads_gt[0][g, ..., cls], heads_gt[1][g], *heads_gt[2:],
                                                   gt.shape), gt)
            row["ellipse_gt_box"] = iou(ellipse_mask(*gt.shape, gt_boxes[g]), gt)
            grown = [grow(box, f, gt.shape) for f in GROW]
            soft, normalized, window, side = head_masks(head, image, grown, (molded, metas, windows))
            for k, f in enumerate(GROW):
                grown_mask = paste_aligned(soft[k, ..., pcls], normalized[k], window, side, gt.shape)
                row[f"head_x{f:g}"] = iou(grown_mask, gt)
                kept = np.zeros_like(grown_mask)
                kept[box[0]:box[2], box[1]:box[3]] = grown_mask[box[0]:box[2], box[1]:box[3]]
                row[f"head_x{f:g}_cut"] = iou(kept, gt)
            own_soft, own_box = raw["mrcnn_mask"][0][d, ..., pcls], raw["detections"][0][d, :4]
            for name, mirrors in FLIPS.items():
                mean = np.mean([own_soft] + [views[m][d, ..., pcls] for m in mirrors], axis=0)
                row[name] = iou(paste_aligned(mean, own_box, windows[0], molded.shape[1], gt.shape), gt)
            row["matterport_paste"] = iou(unmold_mask(own_soft, box, gt.shape), gt)
            for t in THRESHOLDS:
                row[f"pred@{t:g}"] = iou(paste_aligned(own_soft, own_box, windows[0], molded.shape[1], gt.shape, t),
                                         gt)
            rows.append(row)
            keep_worst(worst, row["pred"], dataset.image_info[image_id]["id"], dataset.class_names[cls], image, gt,
                       pred["masks"][..., d])
        if n % 50 == 0:
            print(f"{n}/{len(ids)} images", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "stages.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f)
    summarize(rows, dataset.class_names)
    sheet = os.path.join(args.out, "worst.png")
    save_sheet(worst, sheet)
    print(f"wrote {os.path.join(args.out, 'stages.json')} and {sheet} (the {len(worst)} worst masks: annotation "
          "green, detection magenta)")


def summarize(rows, class_names):
    scored = [r for r in rows if not r.get("missed")]
    keys = [k for k in scored[0] if k not in ("class", "class_right")]
    print(f"{len(scored)} instances matched, {len(rows) - len(scored)} without any detection")
    print("| stage | mean IoU | share >= 0.9 | share >= 0.8 |\n|---|---|---|---|")
    for k in keys:
        v = np.array([r[k] for r in scored])
        print(f"| {k} | {v.mean():.3f} | {np.mean(v >= 0.9):.3f} | {np.mean(v >= 0.8):.3f} |")
    print("\n| class | n | pred mean | pred >= 0.9 | gt28_pred_box >= 0.9 | head_gt_box >= 0.9 | box >= 0.9 |")
    print("|---|---|---|---|---|---|---|")
    for c in sorted({r["class"] for r in scored}):
        rs = [r for r in scored if r["class"] == c]
        share = lambda k: np.mean([r[k] >= 0.9 for r in rs])  # noqa: E731
        print(f"| {class_names[c]} | {len(rs)} | {np.mean([r['pred'] for r in rs]):.3f} | {share('pred'):.3f} | "
              f"{share('gt28_pred_box'):.3f} | {share('head_gt_box'):.3f} | {share('box'):.3f} |")


if __name__ == "__main__":
    sys.exit(main())
