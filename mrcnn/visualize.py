"""Display and visualization helpers (Matterport's ``mrcnn.visualize``), plotting only.

Nothing in the model imports this module. As in Matterport, a function given no ``ax`` draws on a
new pyplot figure (``plt.subplots``), which becomes pyplot's current figure, so ``plt.savefig(path)``
afterwards saves what was drawn; pyplot is imported when the first figure is made (headless it picks
Agg, or set ``MPLBACKEND=Agg``). ``show`` follows Matterport's ``auto_show``: by default
``plt.show()`` is called when the function made the figure itself and no ``save_path`` is given
(with the Agg backend it does nothing; in a notebook it displays the figure). Every plotting
function returns the matplotlib ``Figure``, or the path of the written PNG when ``save_path`` is
given (that figure is then closed, so that a loop writing files does not accumulate figures);
``figure_to_array`` turns a Figure into an RGB array.

Every name is imported from here, as in Matterport; the code is in three modules: this one (instance displays,
evaluation plots, text tables), mrcnn/drawing.py (figure plumbing, colours, NumPy overlays) and
mrcnn/visualize_boxes.py (``draw_boxes``, ``draw_rois``).

Shape shorthand:
    H: image height, W: image width, N: instances, G: ground-truth instances,
    P: predicted instances, K: images in a grid.

Boxes are pixel ``(y1, x1, y2, x2)`` with ``(y2, x2)`` exclusive; masks are bool ``[H, W, N]``.
Colours are RGB(A) tuples of floats in [0, 1] (as ``random_colors`` returns them).
"""

import itertools
import logging

import numpy as np
from matplotlib import patches

from mrcnn.drawing import (_check_image, _check_instances, _finish, _mask_contours, _new_axes, apply_mask, draw_box,
                           draw_instances, figure_to_array, random_colors)
from mrcnn.visualize_boxes import draw_boxes, draw_rois

logger = logging.getLogger(__name__)

__all__ = [
    "apply_mask", "display_differences", "display_images", "display_instances", "display_table",
    "display_top_masks", "display_weight_stats", "draw_box", "draw_boxes", "draw_instances", "draw_rois",
    "figure_to_array", "plot_overlaps", "plot_precision_recall", "random_colors",
]


############################################################
#  Matplotlib figures
############################################################

def display_images(images, titles=None, cols=4, cmap=None, norm=None, interpolation=None,
                   figsize=None, save_path=None, show=None):
    """Show K images in a grid, optionally titled. images: list of [H, W, 3] or [H, W] arrays."""
    if len(images) == 0:
        raise ValueError("images is empty; pass at least one image")
    titles = titles if titles is not None else [""] * len(images)
    cols = max(1, min(int(cols), len(images)))
    rows = -(-len(images) // cols)
    figsize = figsize or (14, 14 * rows / cols)
    fig, axes = _new_axes(figsize, rows, cols)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, title in zip(axes.ravel(), images, titles):
        ax.set_title(title, fontsize=9)
        ax.imshow(np.asarray(image).astype(np.uint8), cmap=cmap, norm=norm,
                  interpolation=interpolation)
    return _finish(fig, save_path, show)


def display_instances(image, boxes, masks, class_ids, class_names, scores=None, title="",
                      figsize=(16, 16), ax=None, show_mask=True, show_bbox=True, colors=None,
                      captions=None, save_path=None, show=None):
    """Draw instances over an image: dashed boxes, blended masks, mask contours, captions.

    image: [H, W, 3]. boxes: [N, (y1, x1, y2, x2)] pixels. masks: bool [H, W, N].
    class_ids: int [N] indexing class_names. scores: float [N] or None.
    captions: N strings replacing the default "name score" captions. colors: N colours or None.
    ax: draw into this matplotlib Axes instead of a new pyplot figure of `figsize`.
    show: None shows a new figure (Matterport's auto_show) unless it was saved; True / False force it.
    N may be 0 (the image alone is drawn). Returns the Figure, or save_path once written.
    """
    image = _check_image(image)
    boxes, masks, class_ids = _check_instances(image, boxes, masks, class_ids, class_names,
                                               scores=scores, captions=captions, colors=colors)
    n = boxes.shape[0]
    if n == 0:
        logger.info("display_instances: no instances to display")
    created = ax is None
    if created:
        fig, axes = _new_axes(figsize)
        ax = axes[0, 0]
    else:
        fig = ax.figure
    colors = colors if colors is not None else random_colors(n)

    height, width = image.shape[:2]
    ax.set_ylim(height + 10, -10)
    ax.set_xlim(-10, width + 10)
    ax.axis("off")
    ax.set_title(title)

    masked_image = image.astype(np.float32)
    for i in range(n):
        if not np.any(boxes[i]):
            continue  # no box: likely lost in cropping (Matterport's convention)
        color = colors[i]
        y1, x1, y2, x2 = boxes[i]
        if show_bbox:
            ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=2, alpha=0.7,
                                           linestyle="dashed", edgecolor=color,
                                           facecolor="none"))
        if captions is not None:
            caption = captions[i]
        else:
            label = class_names[int(class_ids[i])]
            caption = label if scores is None else "{} {:.3f}".format(label, float(scores[i]))
        ax.text(x1, y1 + 8, caption, color="w", size=11, backgroundcolor="none")
        mask = masks[:, :, i]
        if show_mask:
            apply_mask(masked_image, mask, color)
        for verts in _mask_contours(mask):
            ax.add_patch(patches.Polygon(verts, facecolor="none", edgecolor=color))
    ax.imshow(np.clip(np.rint(masked_image), 0, 255).astype(np.uint8))
    return _finish(fig, save_path, show, created)


def display_differences(image, gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score,
                        pred_mask, class_names, title="", ax=None, show_mask=True, show_box=True,
                        iou_threshold=0.5, score_threshold=0.5, save_path=None, show=None):
    """Ground truth (green) and predictions (red) on one image; predictions captioned "score / IoU".

    gt_box: [G, (y1, x1, y2, x2)], gt_class_id: [G], gt_mask: bool [H, W, G];
    pred_box: [P, (y1, x1, y2, x2)], pred_class_id: [P], pred_score: [P], pred_mask: [H, W, P].
    All-zero (padding) rows are dropped first. Matching is ``mrcnn.utils.compute_matches``; the
    IoU shown is the matched ground truth's, or the best overlap for an unmatched prediction.
    """
    from mrcnn.utils import compute_matches

    image = _check_image(image)
    gt_box, gt_mask, gt_class_id = _check_instances(image, gt_box, gt_mask, gt_class_id,
                                                    class_names)
    pred_box, pred_mask, pred_class_id = _check_instances(image, pred_box, pred_mask,
                                                          pred_class_id, class_names,
                                                          scores=pred_score)
    pred_score = np.asarray(pred_score, dtype=np.float64).reshape(-1)
    keep = np.flatnonzero(np.any(gt_box != 0, axis=1))
    gt_box, gt_class_id, gt_mask = gt_box[keep], gt_class_id[keep], gt_mask[..., keep]
    # Sort predictions by score, high to low, as compute_matches does, so that its rows
    # (pred_match, overlaps) line up with ours.
    keep = np.flatnonzero(np.any(pred_box != 0, axis=1))
    keep = keep[np.argsort(-pred_score[keep], kind="stable")]
    pred_box, pred_class_id = pred_box[keep], pred_class_id[keep]
    pred_score, pred_mask = pred_score[keep], pred_mask[..., keep]

    gt_match, pred_match, overlaps = compute_matches(
        gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
        iou_threshold=iou_threshold, score_threshold=score_threshold)
    n_gt, n_pred = len(gt_class_id), len(pred_class_id)
    colors = [(0, 1, 0, 0.8)] * n_gt + [(1, 0, 0, 1)] * n_pred
    captions = [""] * n_gt
    for i in range(n_pred):
        j = int(pred_match[i])
        iou = overlaps[i, j] if j > -1 else (overlaps[i].max() if overlaps.shape[1] else 0.0)
        captions.append("{:.2f} / {:.2f}".format(pred_score[i], iou))
    title = title or "Ground Truth and Detections\n GT=green, pred=red, captions: score/IoU"
    return display_instances(
        image, np.concatenate([gt_box, pred_box]), np.concatenate([gt_mask, pred_mask], axis=-1),
        np.concatenate([gt_class_id, pred_class_id]), class_names,
        np.concatenate([np.zeros(n_gt), pred_score]), title=title, ax=ax,
        show_mask=show_mask, show_bbox=show_box, colors=colors, captions=captions,
        save_path=save_path, show=show)


def display_top_masks(image, mask, class_ids, class_names, limit=4, save_path=None, show=None):
    """The image beside the masks of its `limit` largest classes (by total mask area).

    mask: [H, W, N]; class_ids: int [N]. Each panel numbers the class's instances 1..n.
    """
    image = _check_image(image)
    mask = np.asarray(mask)
    class_ids = np.asarray(class_ids).reshape(-1)
    to_display = [image]
    titles = ["H x W={}x{}".format(image.shape[0], image.shape[1])]
    unique_ids = np.unique(class_ids)
    areas = [np.sum(mask[:, :, class_ids == i]) for i in unique_ids]
    top_ids = [int(c) for c, a in sorted(zip(unique_ids, areas), key=lambda r: r[1],
                                         reverse=True) if a > 0]
    for i in range(limit):
        class_id = top_ids[i] if i < len(top_ids) else -1
        m = mask[:, :, class_ids == class_id]
        to_display.append(np.sum(m * np.arange(1, m.shape[-1] + 1), -1))
        titles.append(class_names[class_id] if class_id != -1 else "-")
    return display_images(to_display, titles=titles, cols=limit + 1, cmap="Blues_r",
                          save_path=save_path, show=show)


def plot_precision_recall(AP, precisions, recalls, ax=None, save_path=None, show=False):
    """Precision-recall curve titled with AP@50. precisions, recalls: equal-length sequences.

    ax: draw into this Axes instead of a new pyplot figure (Matterport did not show this one: show=False)."""
    if len(precisions) != len(recalls):
        raise ValueError(f"precisions ({len(precisions)}) and recalls ({len(recalls)}) "
                         "must have the same length")
    created = ax is None
    if created:
        fig, axes = _new_axes()
        ax = axes[0, 0]
    else:
        fig = ax.figure
    ax.set_title("Precision-Recall Curve. AP@50 = {:.3f}".format(float(AP)))
    ax.set_ylim(0, 1.1)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.plot(recalls, precisions)
    return _finish(fig, save_path, show, created)


def plot_overlaps(gt_class_ids, pred_class_ids, pred_scores, overlaps, class_names,
                  threshold=0.5, save_path=None, show=False):
    """A grid of IoU overlaps [P, G] marking each cell above `threshold` "match" or "wrong".

    Class id 0 (padding/background) entries are dropped from both id lists before plotting.
    """
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    pred_class_ids = np.asarray(pred_class_ids).reshape(-1)
    pred_scores = np.asarray(pred_scores).reshape(-1)
    gt_class_ids = gt_class_ids[gt_class_ids != 0]
    pred_class_ids = pred_class_ids[pred_class_ids != 0]
    overlaps = np.asarray(overlaps)
    if overlaps.shape != (len(pred_class_ids), len(gt_class_ids)):
        raise ValueError(f"overlaps must be [P, G] = ({len(pred_class_ids)}, {len(gt_class_ids)}) "
                         f"for the non-zero class ids; got shape {overlaps.shape}")
    fig, axes = _new_axes((12, 10))
    ax = axes[0, 0]
    ax.imshow(overlaps, interpolation="nearest", cmap="Blues")
    ax.set_yticks(np.arange(len(pred_class_ids)))
    ax.set_yticklabels(["{} ({:.2f})".format(class_names[int(c)], pred_scores[i])
                        for i, c in enumerate(pred_class_ids)])
    ax.set_xticks(np.arange(len(gt_class_ids)))
    ax.set_xticklabels([class_names[int(c)] for c in gt_class_ids], rotation=90)
    thresh = overlaps.max() / 2.0 if overlaps.size else 0.0
    for i, j in itertools.product(range(overlaps.shape[0]), range(overlaps.shape[1])):
        text = ""
        if overlaps[i, j] > threshold:
            text = "match" if gt_class_ids[j] == pred_class_ids[i] else "wrong"
        color = ("white" if overlaps[i, j] > thresh
                 else "black" if overlaps[i, j] > 0 else "grey")
        ax.text(j, i, "{:.3f}\n{}".format(overlaps[i, j], text), horizontalalignment="center",
                verticalalignment="center", fontsize=9, color=color)
    ax.set_xlabel("Ground Truth")
    ax.set_ylabel("Predictions")
    fig.tight_layout()
    return _finish(fig, save_path, show)


############################################################
#  Text tables
############################################################

def display_table(table):
    """Print rows of values as an aligned plain-text table and return that text.

    table: an iterable of rows, each an iterable of values (the first row is usually a header).
    """
    rows = [[str(v) for v in row] for row in table]
    if not rows:
        return ""
    widths = [0] * max(len(r) for r in rows)
    for row in rows:
        for k, v in enumerate(row):
            widths[k] = max(widths[k], len(v))
    text = "\n".join("  ".join(v.ljust(widths[k]) for k, v in enumerate(row)).rstrip()
                     for row in rows)
    print(text)
    return text


def display_weight_stats(model):
    """Table of every weight of a Keras 3 model: layer, weight name, shape, min, max, std.

    model: a ``keras.Model`` (or an object with a ``keras_model`` attribute, like MaskRCNN).
    Flags a kernel whose values are all equal ("*** dead?") and any |value| > 1000
    ("*** overflow?"). Prints the table and returns it as a string.
    """
    model = getattr(model, "keras_model", model)
    if not hasattr(model, "layers"):
        raise TypeError(f"model must be a keras.Model (with .layers); got {type(model).__name__}")
    table = [["LAYER", "WEIGHT NAME", "SHAPE", "MIN", "MAX", "STD", "ALERT"]]
    for layer in model.layers:
        for var, w in zip(layer.weights, layer.get_weights()):
            name = getattr(var, "path", None) or var.name
            if w.size == 0:
                table.append([layer.name, name, str(w.shape), "-", "-", "-", "empty"])
                continue
            alert = ""
            if w.ndim >= 2 and w.min() == w.max():
                alert += "*** dead?"
            if np.abs(w.min()) > 1000 or np.abs(w.max()) > 1000:
                alert += "*** overflow?"
            table.append([layer.name, name, str(w.shape), "{:+9.4f}".format(w.min()),
                          "{:+10.4f}".format(w.max()), "{:+9.4f}".format(w.std()), alert])
    return display_table(table)
