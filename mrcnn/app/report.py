"""The batch's one-page report (PNG, A4 portrait): the differential, a gallery of the cells by class, the model and
its card, and what the technologist changed.

Drawn with matplotlib's object API (a Figure on the Agg canvas, never pyplot), so it needs no display and leaves no
global state behind. The counts are mrcnn/app/review.py's (the same as differential.csv); the gallery shows up to
GALLERY_PER_CLASS cells of each class of the verified count, cut from the images as the page shows them (a large
image's copy is scaled down, so its cells are too), verified ones first.
"""

import datetime
import io

import numpy as np

from mrcnn.app.exports import differential_rows
from mrcnn.app.review import UNIDENTIFIED_LABEL, counted, label

GALLERY_PER_CLASS = 8
THUMB = 64  # px of a gallery cell
A4 = (8.27, 11.69)  # inches


def _crop(entry, cell, cache):
    """uint8 [THUMB, THUMB, 3]: the cell's box (with a margin) cut from the image the page shows."""
    from PIL import Image

    if entry.id not in cache:
        with Image.open(entry.display_path()) as image:
            cache[entry.id] = image.convert("RGB")
    image = cache[entry.id]
    factor = image.width / max(1, entry.width)
    y1, x1, y2, x2 = (v * factor for v in cell["box"])
    margin = 0.15 * max(y2 - y1, x2 - x1)
    box = (max(0, x1 - margin), max(0, y1 - margin), min(image.width, x2 + margin), min(image.height, y2 + margin))
    return np.asarray(image.crop(tuple(int(round(v)) for v in box)).resize((THUMB, THUMB)))


def _gallery(entries, min_score, names):
    """{class name: [crops]} of the verified cells, verified ones first, at most GALLERY_PER_CLASS a class."""
    picked = {name: [] for name in names}
    for reviewed_first in (True, False):
        for entry in entries:
            for cell in entry.cells:
                name = label(cell)
                if not counted(cell, min_score)[1] or name == UNIDENTIFIED_LABEL:
                    continue
                if (cell.get("review") is not None) == reviewed_first and len(picked[name]) < GALLERY_PER_CLASS:
                    picked[name].append((entry, cell))
    cache = {}
    return {name: [_crop(entry, cell, cache) for entry, cell in cells] for name, cells in picked.items() if cells}


def _model_lines(card):
    card = card or {}
    lines = [card.get("title") or "Mask R-CNN"]
    parts = [f"{card['backbone']} backbone" if card.get("backbone") else None, card.get("image_size"),
             f"epoch {card['epoch']}" if card.get("epoch") else None]
    lines.append(" · ".join(p for p in parts if p) or "model details not given")
    if card.get("weights"):
        lines.append(f"weights: {card['weights']}")
    evaluation = card.get("evaluation") or {}
    detection = evaluation.get("detection") or {}
    if detection.get("mAP@0.5") is not None:
        lines.append(f"evaluated: mask mAP@0.5 {detection['mAP@0.5']:.3f} on {evaluation.get('images')} "
                     f"{evaluation.get('dataset') or ''} {evaluation.get('subset') or ''} images".rstrip())
    else:
        lines.append("no evaluation of these weights")
    return lines


def report_png(entries, min_score, class_names, card=None, base_classes=None, base_label=None, batch_id=""):
    """PNG bytes of the batch's report (module notes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = differential_rows(entries, min_score, class_names, base_classes, base_label)
    summary = {row[0]: row[3] for row in rows[-4:]}
    changes = sum(len(entry.changes) for entry in entries)
    gallery = _gallery(entries, min_score, class_names[1:])
    figure = Figure(figsize=A4, dpi=100)
    FigureCanvasAgg(figure)
    made = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    figure.text(0.05, 0.965, "Differential count", fontsize=17, weight="bold")
    figure.text(0.05, 0.945, f"batch {batch_id} · {summary['images']} images · confidence ≥ {min_score:.2f} · "
                             f"report made {made}", fontsize=8.5, color="#555")
    for n, line in enumerate(_model_lines(card)):
        figure.text(0.05, 0.922 - 0.016 * n, line, fontsize=8.5, weight="bold" if n == 0 else "normal")
    figure.text(0.05, 0.845, f"Review: {_plural(summary['cells verified'], 'cell')} verified, "
                             f"{summary['cells changed']} changed ({summary['not a cell']} not a cell); "
                             f"{_plural(changes, 'correction')} recorded", fontsize=10, weight="bold", color="#1f7a45")

    shown = rows[1:-4]
    height = 0.022 * (len(shown) + 1)
    table_ax = figure.add_axes([0.05, 0.825 - height, 0.9, height])
    table_ax.axis("off")
    table = table_ax.table(cellText=[[str(v) for v in row] for row in shown],
                           colLabels=["class", "pre-classified", "%", "verified", "%", "of"], bbox=[0, 0, 1, 1],
                           cellLoc="right", colLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    table.scale(1, 1.25)
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#d9dee5")
        if r == 0 or shown[r - 1][0] in (base_label, "all cells"):
            cell.set_text_props(weight="bold")

    _draw_gallery(figure, gallery, 0.825 - height - 0.035)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _draw_gallery(figure, gallery, top):
    """A row of cell crops per class, from `top` (figure fraction) down."""
    figure.text(0.05, top, "Cells by class (verified first)" if gallery else "No cell in the verified count",
                fontsize=11, weight="bold")
    rows = list(gallery.items())
    height = min(0.07, (top - 0.03) / max(1, len(rows)))  # 0.07 of A4's height: about a 0.09-wide square
    for n, (name, crops) in enumerate(rows):
        row_top = top - 0.012 - n * height
        figure.text(0.05, row_top - height / 2, name, fontsize=8.5, va="center")
        for k, crop in enumerate(crops):
            ax = figure.add_axes([0.2 + k * 0.095, row_top - height * 0.95, 0.09, height * 0.9])
            ax.imshow(crop)
            ax.set_xticks([])
            ax.set_yticks([])
