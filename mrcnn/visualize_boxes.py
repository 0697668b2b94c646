"""Box figures of mrcnn.visualize: ``draw_boxes`` (boxes and their refinements) and Matterport's ``draw_rois``.

Shape shorthand: H: image height, W: image width, N: boxes (ROIs), h, w: a ROI mask's size.
Boxes are pixel ``(y1, x1, y2, x2)``; a figure is drawn as mrcnn.visualize's module docstring says (no ``ax``: a
new pyplot figure, left current, so ``plt.savefig`` saves it).
"""

import numpy as np
from matplotlib import lines, patches

from mrcnn.drawing import _check_image, _finish, _mask_contours, _new_axes, apply_mask, random_colors


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
