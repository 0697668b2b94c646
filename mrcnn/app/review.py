"""The technologist's review of a batch: accept, reclassify, "not a cell", "unidentified", add a missed cell, and
the differential before and after.

Shape shorthand: H, W: the image's height and width.

Each cell of an image (a detection that is a cell, mrcnn/counting.py) has a `review`: None while nobody has looked
at it (pending), else {"status", "class_name", "at"} with status one of
    accepted      the model's class is right                      (class_name: the model's class)
    reclassified  another class                                   (class_name: that class)
    not_cell      not a cell (debris, a smudge, a cell counted twice): left out of the verified count
    unidentified  a cell no class fits: counted apart, outside the classes
    added         a cell the model missed, drawn by its box         (class_name: the class given)
A cell the technologist adds has no score and no COCO result record; its mask is the model's mask head's outline in
the box drawn (mrcnn/app/drawn.py; the ellipse inscribed in the box where the model cannot give one), which is what
its area and the exports use.

Every decision appends a change {"image", "image_id", "cell", "what", "from", "to", "at"} to the image's changes,
"from" and "to" being the cell's label before and after (a class name, "not a cell", "unidentified", or "none" for
a cell that did not exist); undoing a decision is a change too. The labels are what the verified differential counts.

Which cells count (`counted`): at confidence threshold t, the pre-classified count is the model's cells scoring
>= t by their model class; the verified count is the same cells, plus every cell reviewed at any threshold (a cell
the technologist accepted stays accepted when the slider moves) and the added cells, by their label, without those
marked "not a cell". The page (static/view.js) counts by the same rule.
"""

import datetime

import numpy as np

from mrcnn.app.masks import mask_png

ACCEPTED, RECLASSIFIED, NOT_CELL, UNIDENTIFIED, ADDED = "accepted", "reclassified", "not_cell", "unidentified", "added"
DECISIONS = ("accept", "class", "not_cell", "unidentified", "undo")  # what a client may ask for
NOT_A_CELL_LABEL, UNIDENTIFIED_LABEL, NO_CELL_LABEL = "not a cell", "unidentified", "none"


class ReviewError(ValueError):
    """A review request that cannot be applied; `status` is the HTTP status to answer with."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def label(cell):
    """The cell's label now: its reviewed class, "not a cell", "unidentified", or (pending) the model's class."""
    review = cell.get("review")
    if review is None:
        return cell["class_name"]
    if review["status"] == NOT_CELL:
        return NOT_A_CELL_LABEL
    if review["status"] == UNIDENTIFIED:
        return UNIDENTIFIED_LABEL
    return review["class_name"]


def is_cell(cell):
    """A detection that is a cell (not another class of a cell already counted, mrcnn/counting.py)."""
    return cell.get("same_cell_as") is None


def counted(cell, min_score):
    """(pre-classified, verified): whether the cell is in each count at threshold `min_score` (module notes)."""
    if not is_cell(cell):
        return False, False
    shown = cell.get("score") is not None and cell["score"] >= min_score
    verified = (shown or cell.get("review") is not None) and label(cell) != NOT_A_CELL_LABEL
    return shown and cell.get("source") != ADDED, verified


def changed(cell):
    """Whether the review changed the cell: reclassified, not a cell, unidentified, or added."""
    review = cell.get("review")
    return review is not None and review["status"] != ACCEPTED


def decide(entry, index, body, class_names):
    """Apply one decision from a client's JSON `body` to cell `index` of `entry`; returns the change recorded.

    body: {"decision": "accept" | "class" | "not_cell" | "unidentified" | "undo", "class_name": name (for "class")}.
    ReviewError (400) naming the field and what is valid, (404) for a cell that does not exist, (409) for an
    alternative class of a cell rather than a cell.
    """
    if not isinstance(body, dict):
        raise ReviewError('the review must be a JSON object such as {"decision": "accept"} or '
                          '{"decision": "class", "class_name": "neutrophil"}')
    decision = body.get("decision")
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if not isinstance(index, int) or not 0 <= index < len(entry.cells):
        raise ReviewError(f"image {entry.name} has no cell {index} (it has {len(entry.cells)}, numbered from 0)", 404)
    cell = entry.cells[index]
    if not is_cell(cell):
        raise ReviewError(f"cell {index} of {entry.name} is another class of cell {cell['same_cell_as']}, not a cell "
                          f"of its own: review cell {cell['same_cell_as']}", 409)
    before = label(cell)
    at = now()
    if decision == "undo":
        cell["review"] = None if cell.get("source") != ADDED else \
            {"status": ADDED, "class_name": cell["class_name"], "at": at}
    elif decision in ("accept", "class"):
        # accept confirms the class shown (a class given earlier, else the model's); "class" gives one
        name = class_name(body.get("class_name"), class_names) if decision == "class" else \
            (before if before in class_names[1:] else cell["class_name"])
        status = ADDED if cell.get("source") == ADDED else (ACCEPTED if name == cell["class_name"] else RECLASSIFIED)
        cell["review"] = {"status": status, "class_name": name, "at": at}
    else:
        cell["review"] = {"status": decision, "class_name": None, "at": at}
    return _change(entry, index, decision, before, label(cell), at)


def new_cell(entry, body, class_names):
    """The box and class of a cell the model missed, from the client's JSON {"box": [y1, x1, y2, x2], "class_name":
    name} in the image's pixels: ((y1, x1, y2, x2) clipped to the image, y2 and x2 exclusive; the class name).
    ReviewError (400) for a bad body. Nothing is added yet: `add_cell` adds it with its mask (mrcnn/app/drawn.py)."""
    if not isinstance(body, dict):
        raise ReviewError('a new cell must be a JSON object such as {"box": [y1, x1, y2, x2], "class_name": '
                          '"lymphocyte"}')
    box = body.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and np.isfinite(v)
                                                              for v in box)):
        raise ReviewError(f"box must be [y1, x1, y2, x2], four numbers in the image's pixels, got {box!r}")
    name = class_name(body.get("class_name"), class_names)
    y1, x1 = max(0, int(round(min(box[0], box[2])))), max(0, int(round(min(box[1], box[3]))))
    y2, x2 = min(entry.height, int(round(max(box[0], box[2])))), min(entry.width, int(round(max(box[1], box[3]))))
    if y2 - y1 < 2 or x2 - x1 < 2:
        raise ReviewError(f"box {box} covers less than 2 x 2 pixels of the {entry.width} x {entry.height} image")
    return (y1, x1, y2, x2), name


def add_cell(entry, box, name, mask, mask_from, class_names):
    """Add the cell of `new_cell`'s box and class name with its mask (bool [H, W]) and where the mask came from
    ("model" or "ellipse", mrcnn/app/drawn.py); returns (its index, the change recorded)."""
    at = now()
    cell = {"class_id": class_names.index(name), "class_name": name, "score": None, "box": [int(v) for v in box],
            "area": int(mask.sum()), "mask": mask_png(mask), "mask_from": mask_from, "same_cell_as": None,
            "alternatives": [], "source": ADDED, "review": {"status": ADDED, "class_name": name, "at": at}}
    entry.cells.append(cell)
    index = len(entry.cells) - 1
    return index, _change(entry, index, "add", NO_CELL_LABEL, name, at)


def class_name(name, class_names):
    """`name` when it is one of the classes (not the background), else ReviewError naming the valid ones."""
    if not isinstance(name, str) or name not in class_names[1:]:
        raise ReviewError(f"class_name must be one of {', '.join(class_names[1:])}, got {name!r}")
    return name


def _change(entry, index, what, before, after, at):
    change = {"image": entry.name, "image_id": entry.id, "cell": index, "what": what, "from": before, "to": after,
              "at": at}
    entry.changes.append(change)
    return change


def differential(entries, min_score, class_names):
    """The batch's counts at threshold `min_score`: {"pre": [per class], "verified": [per class], "unidentified",
    "not_cell", "cells" (in the verified count or marked not a cell), "reviewed", "changed"}; classes in
    class_names[1:] order."""
    index = {name: i for i, name in enumerate(class_names[1:])}
    out = {"pre": [0] * len(index), "verified": [0] * len(index), "unidentified": 0, "not_cell": 0, "cells": 0,
           "reviewed": 0, "changed": 0}
    for entry in entries:
        for cell in entry.cells:
            pre, verified = counted(cell, min_score)
            if pre:
                out["pre"][index[cell["class_name"]]] += 1
            name = label(cell)
            if verified:
                if name == UNIDENTIFIED_LABEL:
                    out["unidentified"] += 1
                else:
                    out["verified"][index[name]] += 1
            elif name == NOT_A_CELL_LABEL and is_cell(cell):
                out["not_cell"] += 1
            if verified or name == NOT_A_CELL_LABEL and is_cell(cell):
                out["cells"] += 1
                out["reviewed"] += cell.get("review") is not None
                out["changed"] += changed(cell)
    return out
