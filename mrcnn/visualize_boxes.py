"""Box figures of mrcnn.visualize: ``draw_boxes`` (boxes and their refinements) and Matterport's ``draw_rois`` (ROIs,
their refinements and masks, as the inspect notebooks call it).

Shape shorthand: H: image height, W: image width, N: boxes (ROIs), h, w: a ROI mask's size.
Boxes are pixel ``(y1, x1, y2, x2)``; a figure is drawn as mrcnn.visualize's module docstring says (no ``ax``: a
new pyplot figure, left current, so ``plt.savefig`` saves it).
"""

import numpy as np
from matplotlib import lines, patches

from mrcnn.drawing import _check_image, _finish, _mask_contours, _new_axes, apply_mask, random_colors
from mrcnn.utils.resize import unmold_mask


def draw_boxes(image, boxes=None, refined_boxes=None, masks=None, captions=None,
               visibilities=None, title="", ax=None, save_path=None, show=False):
    """Boxes (dotted) and their refinements (solid, joined by a line), with masks and captions.

    boxes, refined_boxes: [N, (y1, x1, y2, x2)] pixels; at least one is required.
    masks: [H, W, N]. captions: N strings ("" draws none). visibilities: N values of 0 (grey, no refinement),
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
        if captions is not None and anchor is not None and captions[i]:  # "" draws no label
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


def draw_rois(image, rois, refined_rois, mask, class_ids, class_names, limit=10, save_path=None, show=False):
    """Matterport's draw_rois: up to `limit` ROIs (a random pick, from NumPy's global generator as Matterport's,
    when there are more), drawn by `draw_boxes`: a positive ROI (class id > 0) dotted in its colour with its
    refinement, class name and mask, a negative one grey. Prints the positive and negative counts and their ratio
    over all N ROIs, as Matterport did.

    image: [H, W, 3]. rois, refined_rois: [N, (y1, x1, y2, x2)] pixels. mask: [N, h, w], each ROI's mask (e.g. the
    28 x 28 mask targets), pasted into its ROI box (utils.unmold_mask, threshold 0.5). class_ids: int [N], 0 for
    background. class_names: indexed by class id. save_path, show: as draw_boxes' (ours; Matterport had neither).
    Returns the Figure, or the PNG path when save_path is given.
    """
    image = _check_image(image)
    rois = np.asarray(rois).reshape(-1, 4)
    refined_rois = np.asarray(refined_rois).reshape(-1, 4)
    class_ids = np.asarray(class_ids).reshape(-1)
    mask = np.asarray(mask)
    n = rois.shape[0]
    if not n == refined_rois.shape[0] == class_ids.shape[0] or mask.ndim != 3 or mask.shape[0] != n:
        raise ValueError(f"draw_rois: rois {rois.shape}, refined_rois {refined_rois.shape}, class_ids "
                         f"{class_ids.shape} and mask {mask.shape} must be [N, 4], [N, 4], [N] and [N, h, w]")
    ids = np.arange(n, dtype=np.int32)
    if n > limit:
        ids = np.random.choice(ids, limit, replace=False)
        title = "Showing {} random ROIs out of {}".format(len(ids), n)
    else:
        title = "{} ROIs".format(len(ids))
    masks = np.zeros(image.shape[:2] + (len(ids),), dtype=bool)
    for k, i in enumerate(ids):
        if class_ids[i]:
            masks[:, :, k] = unmold_mask(mask[i], rois[i], image.shape)
    positive = class_ids[ids] > 0
    result = draw_boxes(image, boxes=rois[ids], refined_boxes=refined_rois[ids], masks=masks,
                        captions=[class_names[c] if c else "" for c in class_ids[ids]],
                        visibilities=np.where(positive, 1, 0), title=title, save_path=save_path, show=show)
    n_positive = int(np.count_nonzero(class_ids > 0))
    print("Positive ROIs: ", n_positive)
    print("Negative ROIs: ", n - n_positive)
    print("Positive Ratio: {:.2f}".format(n_positive / n if n else 0.0))
    return result
