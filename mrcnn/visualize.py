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

Shape shorthand:
    H: image height, W: image width, N: instances, G: ground-truth instances,
    P: predicted instances, K: images in a grid.

Boxes are pixel ``(y1, x1, y2, x2)`` with ``(y2, x2)`` exclusive; masks are bool ``[H, W, N]``.
Colours are RGB(A) tuples of floats in [0, 1] (as ``random_colors`` returns them).
"""

import colorsys
import itertools
import logging
import os

import numpy as np
from matplotlib import lines, patches
from matplotlib.backends.backend_agg import FigureCanvasAgg
from skimage.measure import find_contours

logger = logging.getLogger(__name__)


############################################################
#  Figure plumbing
############################################################

def _new_axes(figsize=None, nrows=1, ncols=1):
    """A new pyplot figure and its axes [nrows, ncols]: the current figure, as Matterport's plt.subplots made it."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    return fig, axes


def _finish(fig, save_path=None, show=None, created=True):
    """Save (PNG unless the suffix names another format) and/or show; return path or figure.

    show: True, False, or None for Matterport's auto_show: show a figure this function `created` when nothing
    was saved. A created figure that was saved is closed after showing (its file is the result).
    """
    path = None
    if save_path is not None:
        path = os.fspath(save_path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi)
    if show is None:
        show = created and path is None
    if show or (created and path is not None):
        import matplotlib.pyplot as plt
        if show:
            plt.show()
        if created and path is not None:
            plt.close(fig)
    return path if path is not None else fig


def figure_to_array(fig):
    """The pixels of a Figure (as its Agg canvas draws them): uint8 RGB [H, W, 3], H, W = figsize x dpi.
    For TensorBoard images (mrcnn.evaluation.callback) or any array consumer."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.array(canvas.buffer_rgba())[:, :, :3]


def _check_image(image, name="image"):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{name} must be an RGB array [H, W, 3]; got shape {image.shape}")
    return image


def _check_instances(image, boxes, masks, class_ids, class_names, scores=None,
                     captions=None, colors=None):
    """Validate one image's instances; returns (boxes [N, 4], masks [H, W, N], class_ids [N])."""
    boxes = np.asarray(boxes)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [N, (y1, x1, y2, x2)]; got shape {boxes.shape}")
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[:2] != image.shape[:2]:
        raise ValueError(f"masks must be [H, W, N] with H, W = {image.shape[:2]}; "
                         f"got shape {masks.shape}")
    class_ids = np.asarray(class_ids).reshape(-1)
    n = boxes.shape[0]
    if not n == masks.shape[-1] == class_ids.shape[0]:
        raise ValueError(f"instance counts differ: boxes has {n}, masks has {masks.shape[-1]}, "
                         f"class_ids has {class_ids.shape[0]}; all three must be equal")
    for name, value in (("scores", scores), ("captions", captions), ("colors", colors)):
        if value is not None and len(value) < n:
            raise ValueError(f"{name} has {len(value)} entries; need one per instance ({n})")
    if n and (class_ids.min() < 0 or class_ids.max() >= len(class_names)):
        raise ValueError(f"class_ids must lie in [0, {len(class_names)}) (len(class_names)); "
                         f"got {class_ids.tolist()}")
    return boxes, masks, class_ids


def _mask_contours(mask):
    """Outline polygons [(x, y)] of a mask; padded so masks touching the border close."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask
    return [np.fliplr(verts) - 1 for verts in find_contours(padded, 0.5)]


############################################################
#  Colours and pixel overlays (numpy only)
############################################################

def random_colors(N, bright=True, seed=None):
    """N visually distinct RGB colours (floats in [0, 1]), evenly spaced in hue, shuffled.

    seed: int or None. The same seed gives the same list; None shuffles differently each call.
    """
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 0:
        raise ValueError(f"N must be a non-negative int; got {N!r}")
    brightness = 1.0 if bright else 0.7
    colors = [colorsys.hsv_to_rgb(i / N, 1.0, brightness) for i in range(N)]
    order = np.random.default_rng(seed).permutation(N)
    return [colors[i] for i in order]


def apply_mask(image, mask, color, alpha=0.5):
    """Blend `color` into `image` where `mask` is set.

    Masked pixels become ``image * (1 - alpha) + alpha * color * 255`` (Matterport's formula).

    image: [H, W, 3], modified in place and returned. Integer images get the blend rounded to the
        nearest integer (Matterport truncated).
    mask: [H, W], non-zero = inside. color: 3 (or 4, alpha ignored) floats in [0, 1].
    """
    mask = np.asarray(mask).astype(bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} must equal the image's H, W {image.shape[:2]}")
    for c in range(3):
        blended = image[:, :, c] * (1 - alpha) + alpha * color[c] * 255
        if np.issubdtype(image.dtype, np.integer):
            info = np.iinfo(image.dtype)
            blended = np.clip(np.rint(blended), info.min, info.max)
        image[:, :, c] = np.where(mask, blended, image[:, :, c])
    return image


def draw_box(image, box, color, thickness=1):
    """Draw a box outline into `image` in place (numpy only) and return it.

    box: (y1, x1, y2, x2) pixels, (y2, x2) exclusive; clipped to the image. The outline lies on
        the box's own border pixels, `thickness` pixels wide, inwards.
    color: per-channel values in the image's range (e.g. 3 ints 0..255 for uint8).
    """
    height, width = image.shape[:2]
    y1, x1, y2, x2 = (int(round(float(v))) for v in box)
    y1, x1, y2, x2 = max(y1, 0), max(x1, 0), min(y2, height), min(x2, width)
    if y1 >= y2 or x1 >= x2:
        return image
    t = max(int(thickness), 1)
    image[y1:min(y1 + t, y2), x1:x2] = color
    image[max(y2 - t, y1):y2, x1:x2] = color
    image[y1:y2, x1:min(x1 + t, x2)] = color
    image[y1:y2, max(x2 - t, x1):x2] = color
    return image


def draw_instances(image, boxes, masks, class_ids, class_names, scores=None, colors=None,
                   show_mask=True, show_bbox=True, alpha=0.5):
    """A uint8 RGB overlay of instances: masks blended, box outlines drawn, no text, no matplotlib.

    For contact sheets and fast batch output. image: [H, W, 3]; boxes: [N, (y1, x1, y2, x2)]
    pixels; masks: bool [H, W, N]; class_ids: int [N] indexing class_names; scores: [N] or None
    (validated only: there is no text). Instances whose box is all zeros are skipped (Matterport).
    Returns uint8 [H, W, 3]; the input is not modified.
    """
    image = _check_image(image)
    boxes, masks, class_ids = _check_instances(image, boxes, masks, class_ids, class_names,
                                               scores=scores, colors=colors)
    n = boxes.shape[0]
    colors = colors if colors is not None else random_colors(n)
    overlay = image.astype(np.float32)
    drawable = [i for i in range(n) if np.any(boxes[i])]
    if show_mask:
        for i in drawable:
            apply_mask(overlay, masks[:, :, i], colors[i], alpha)
    overlay = np.clip(np.rint(overlay), 0, 255).astype(np.uint8)
    if show_bbox:
        for i in drawable:
            rgb = [int(round(255 * v)) for v in colors[i][:3]]
            draw_box(overlay, boxes[i], rgb)
    return overlay


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


def draw_boxes(image, boxes=None, refined_boxes=None, masks=None, captions=None,
               visibilities=None, title="", ax=None, save_path=None, show=False):
    """Boxes (dotted) and their refinements (solid, joined by a line), with masks and captions.

    boxes, refined_boxes: [N, (y1, x1, y2, x2)] pixels; at least one is required.
    masks: [H, W, N]. captions: N strings. visibilities: N values of 0 (grey, no refinement),
    1 (dotted) or 2 (solid) setting how prominent each box is.
    """
    if boxes is None and refined_boxes is None:
        raise ValueError("draw_boxes needs boxes or refined_boxes; both are None")
    image = _check_image(image)
    n = len(boxes) if boxes is not None else len(refined_boxes)
    for name, value in (("refined_boxes", refined_boxes), ("captions", captions),
                        ("visibilities", visibilities)):
        if value is not None and len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries; boxes has {n}")
    if masks is not None and (np.ndim(masks) != 3 or np.shape(masks)[-1] != n):
        raise ValueError(f"masks must be [H, W, {n}]; got shape {np.shape(masks)}")
    created = ax is None
    if created:
        fig, axes = _new_axes((12, 12))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    colors = random_colors(n)
    margin = image.shape[0] // 10
    ax.set_ylim(image.shape[0] + margin, -margin)
    ax.set_xlim(-margin, image.shape[1] + margin)
    ax.axis("off")
    ax.set_title(title)

    masked_image = image.astype(np.float32)
    styles = {0: ("dotted", 0.5), 1: ("dotted", 1.0), 2: ("solid", 1.0)}
    for i in range(n):
        visibility = int(visibilities[i]) if visibilities is not None else 1
        if visibility not in styles:
            raise ValueError(f"visibilities[{i}] = {visibility}; valid values are 0, 1, 2")
        style, alpha = styles[visibility]
        color = (0.5, 0.5, 0.5) if visibility == 0 else colors[i]
        anchor = None
        if boxes is not None:
            if not np.any(boxes[i]):
                continue  # no box: likely lost in cropping
            y1, x1, y2, x2 = boxes[i]
            anchor = (x1, y1)
            ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=2, alpha=alpha,
                                           linestyle=style, edgecolor=color, facecolor="none"))
        if refined_boxes is not None and visibility > 0:
            ry1, rx1, ry2, rx2 = np.asarray(refined_boxes[i]).astype(np.int32)
            ax.add_patch(patches.Rectangle((rx1, ry1), rx2 - rx1, ry2 - ry1, linewidth=2,
                                           edgecolor=color, facecolor="none"))
            if anchor is not None:
                ax.add_line(lines.Line2D([anchor[0], rx1], [anchor[1], ry1], color=color))
            anchor = (rx1, ry1)
        if captions is not None and anchor is not None:
            ax.text(anchor[0], anchor[1], captions[i], size=11, verticalalignment="top",
                    color="w", backgroundcolor="none",
                    bbox={"facecolor": color, "alpha": 0.5, "pad": 2, "edgecolor": "none"})
        if masks is not None:
            mask = np.asarray(masks)[:, :, i]
            apply_mask(masked_image, mask, color)
            for verts in _mask_contours(mask):
                ax.add_patch(patches.Polygon(verts, facecolor="none", edgecolor=color))
    ax.imshow(np.clip(np.rint(masked_image), 0, 255).astype(np.uint8))
    return _finish(fig, save_path, show, created)


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
