"""Object-level segmentation metrics of the GlaS challenge (seed 004): object F1, Dice, IoU and Hausdorff distance.

Shape shorthand:
    H, W: image height and width, N: instances, G: ground-truth objects, S: segmented (predicted) objects.

Objects are class-agnostic (GlaS has one class). Each image's instances become an instance label map first, so
objects do not overlap: predictions painted lowest score first (the higher score wins a pixel), ground truth in its
own order; an instance left without pixels is dropped. Crowd regions are not objects. Then, following the GlaS
evaluation (Sirinukunwattana et al. 2017):
- F1 at 50 % overlap: a segmented object S is a true positive when it covers at least half of the ground-truth
  object G*(S) it overlaps most (|S ∩ G*| >= 0.5 |G*|), else a false positive; a ground-truth object that no true
  positive claims is a false negative. Precision TP / (TP + FP), recall TP / (TP + FN), F1 their harmonic mean.
  "f1" pools TP, FP and FN over the dataset; "f1_mean_per_image" averages the per-image F1.
- Object Dice: 1/2 [sum_i gamma_i Dice(G_i, S*(G_i)) + sum_j sigma_j Dice(G*(S_j), S_j)], gamma_i = |G_i| / sum |G|,
  sigma_j = |S_j| / sum |S|, S*(G_i) the segmented object overlapping G_i most (none: Dice 0), and conversely.
- Object IoU: the same with IoU (Jaccard) in place of Dice.
- Object Hausdorff: the same weighting of H(G_i, S*(G_i)) and H(G*(S_j), S_j), where a partner without overlap is
  the nearest object by Hausdorff distance. H(A, B) = max(sup_a inf_b |a - b|, sup_b inf_a |a - b|), Euclidean, in
  pixels, over all pixel centres of both objects.
Dice, IoU and Hausdorff are per image and averaged over images. An image with no object on either side is skipped;
with objects on one side only, Dice and IoU are 0 and Hausdorff is undefined (skipped and counted).
"""

import numpy as np
import scipy.ndimage as ndi

from mrcnn.evaluation.records import crop_to_content


def instance_map(masks, scores=None, shape=None):
    """int32 [H, W]: 0 background, 1..n the surviving instances (renumbered); masks bool [H, W, N] or None."""
    if masks is None or masks.shape[-1] == 0:
        if masks is None and shape is None:
            raise ValueError("instance_map needs masks [H, W, N] or shape=(H, W)")
        return np.zeros(shape if masks is None else masks.shape[:2], dtype=np.int32)
    out = np.zeros(masks.shape[:2], dtype=np.int32)
    order = range(masks.shape[-1]) if scores is None else np.argsort(scores, kind="stable")
    for i in order:
        out[masks[..., i]] = i + 1
    present = np.bincount(out.ravel(), minlength=masks.shape[-1] + 1) > 0
    present[0] = True
    lookup = (np.cumsum(present) - 1).astype(np.int32)  # surviving ids renumbered 1..n in order, 0 stays 0
    return lookup[out]


def _hausdorff(a, b, dist_to_a, dist_to_b):
    """H(A, B) from the two regions and their distance maps (distance of every pixel to the region)."""
    return max(float(dist_to_b[a].max()), float(dist_to_a[b].max()))


def hausdorff_distance(a, b):
    """Symmetric Hausdorff distance in pixels between two non-empty bool [H, W] regions (all pixel centres)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"hausdorff_distance needs two [H, W] regions of one shape, got {a.shape} and {b.shape}")
    if not a.any() or not b.any():
        raise ValueError("hausdorff_distance needs two non-empty regions")
    return _hausdorff(a, b, ndi.distance_transform_edt(~a), ndi.distance_transform_edt(~b))


def _crop_to_objects(gt_map, pred_map):
    """Both maps cut to the box around every object pixel: areas, overlaps and distances between objects stay the
    same (all object pixels are inside), the distance transforms get cheaper."""
    content = (gt_map > 0) | (pred_map > 0)
    rows, cols = np.where(content.any(axis=1))[0], np.where(content.any(axis=0))[0]
    if rows.size == 0:
        return gt_map, pred_map
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return gt_map[window], pred_map[window]


def _weighted_term(areas, partner, pair_value):
    total = areas.sum()
    return sum(areas[i] / total * pair_value(i, partner[i]) for i in range(len(areas)))


def image_object_scores(gt_map, pred_map):
    """{"tp", "fp", "fn", "num_gt", "num_pred", "f1", "dice", "iou", "hausdorff"} of one image's two instance maps.

    Undefined values are None (see the module docstring).
    """
    ng, ns = int(gt_map.max()), int(pred_map.max())
    gt_map, pred_map = _crop_to_objects(gt_map, pred_map)
    overlap = np.bincount((gt_map.astype(np.int64) * (ns + 1) + pred_map).ravel(),
                          minlength=(ng + 1) * (ns + 1)).reshape(ng + 1, ns + 1)[1:, 1:]
    g_area = np.bincount(gt_map.ravel(), minlength=ng + 1)[1:].astype(np.float64)
    s_area = np.bincount(pred_map.ravel(), minlength=ns + 1)[1:].astype(np.float64)
    out = {"num_gt": ng, "num_pred": ns}
    # F1 at 50 % overlap.
    claimed = set()
    tp = 0
    for j in range(ns):
        i = int(np.argmax(overlap[:, j])) if ng else -1
        if i >= 0 and overlap[i, j] > 0 and overlap[i, j] >= 0.5 * g_area[i]:
            tp += 1
            claimed.add(i)
    out.update(tp=tp, fp=ns - tp, fn=ng - len(claimed))
    out["f1"] = None if ng + ns == 0 else 2.0 * tp / (2.0 * tp + out["fp"] + out["fn"])
    if ng == 0 or ns == 0:
        out.update(dice=None if ng + ns == 0 else 0.0, iou=None if ng + ns == 0 else 0.0, hausdorff=None)
        return out
    s_of_g = [int(np.argmax(overlap[i])) if overlap[i].max() > 0 else -1 for i in range(ng)]
    g_of_s = [int(np.argmax(overlap[:, j])) if overlap[:, j].max() > 0 else -1 for j in range(ns)]

    def dice(i, j):
        return 0.0 if i < 0 or j < 0 else 2 * overlap[i, j] / (g_area[i] + s_area[j])

    def iou(i, j):
        return 0.0 if i < 0 or j < 0 else overlap[i, j] / (g_area[i] + s_area[j] - overlap[i, j])

    out["dice"] = float(0.5 * (_weighted_term(g_area, s_of_g, dice)
                               + _weighted_term(s_area, g_of_s, lambda j, i: dice(i, j))))
    out["iou"] = float(0.5 * (_weighted_term(g_area, s_of_g, iou)
                              + _weighted_term(s_area, g_of_s, lambda j, i: iou(i, j))))
    # Hausdorff: distance maps of every object, computed once.
    g_dist = [ndi.distance_transform_edt(gt_map != i + 1) for i in range(ng)]
    s_dist = [ndi.distance_transform_edt(pred_map != j + 1) for j in range(ns)]

    def h(i, j):
        return _hausdorff(gt_map == i + 1, pred_map == j + 1, g_dist[i], s_dist[j])

    s_of_g = [j if j >= 0 else min(range(ns), key=lambda jj: h(i, jj)) for i, j in enumerate(s_of_g)]
    g_of_s = [i if i >= 0 else min(range(ng), key=lambda ii: h(ii, j)) for j, i in enumerate(g_of_s)]
    out["hausdorff"] = float(0.5 * (_weighted_term(g_area, s_of_g, h)
                                    + _weighted_term(s_area, g_of_s, lambda j, i: h(i, j))))
    return out


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def object_metrics(gts, preds):
    """The 004 block from normalised records with masks (see the module docstring)."""
    per_image = []
    for gt, pred in zip(gts, preds):
        gt, pred = crop_to_content(gt, pred)  # objects keep their areas, overlaps and distances
        keep = ~gt["iscrowd"]
        gt_map = instance_map(gt["masks"][..., keep])
        pred_map = instance_map(pred["masks"], pred["scores"], shape=gt_map.shape)
        per_image.append(image_object_scores(gt_map, pred_map))
    tp, fp, fn = (int(sum(s[k] for s in per_image)) for k in ("tp", "fp", "fn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "f1": (2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
        "precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn,
        "f1_mean_per_image": _mean([s["f1"] for s in per_image]),
        "dice": _mean([s["dice"] for s in per_image]),
        "iou": _mean([s["iou"] for s in per_image]),
        "hausdorff": _mean([s["hausdorff"] for s in per_image]),
        "images": len(per_image),
        "images_without_hausdorff": sum(1 for s in per_image if s["hausdorff"] is None),
        "overlap_rule": "class-agnostic objects; a segmented object S is a TP when |S ∩ G*| >= 0.5 |G*| (GlaS)",
    }
