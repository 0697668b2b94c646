"""The batch's downloads: the model's output as `pbc.py detect` writes it, and the verified results.

Shape shorthand: H, W: an image's height and width.

The model's output, at the threshold asked for (`min_score`), written by the same code as `pbc.py detect`
(mrcnn.streaming), the technologist's review left out:
    counts.csv        a row per image: cells per class and the total (one count per cell, mrcnn/counting.py), with
                      the detector's scale and unlike-training columns when it reports them
    results.json      COCO results, image_id = the file name as uploaded
The verified results (mrcnn/app/review.py says which cells count, and with which label):
    differential.csv  a row per class, in the page's class order: pre-classified and verified counts, each with
                      its percentage of the differential's base (the "white cells" of `differential`, else all
                      cells; classes outside the base are given per 100 of it), then the base, "unidentified",
                      "all cells", and the review's counts ("cells verified", "cells changed", "not a cell",
                      "images") in the verified column
    corrections.json  COCO instances: every cell of the verified count that has a class (unidentified ones have
                      none), its verified class as category, its mask as compressed RLE, its box and area, and
                      "verification" {"status", "model_class", "score"}; the changes under "changes"; readable by
                      mrcnn.data.annotations.parse_coco_instances / read_coco_instances (pbc.py train's reader)
    changes.csv       every change: image, cell, what, from, to, when (UTC)
"""

import csv
import datetime
import io
import json

from mrcnn.app.masks import cell_mask
from mrcnn.app.review import NOT_A_CELL_LABEL, UNIDENTIFIED_LABEL, counted, differential, label
from mrcnn.counting import cell_counts
from mrcnn.streaming import counts_header, counts_row, write_results_json

CHANGE_COLUMNS = ("image", "image_id", "cell", "what", "from", "to", "at")


def _kept(entries, min_score):
    """(entry, the indices of its model's detections scoring >= min_score) per finished image; cells added by hand
    come after the model's (entry.records holds the model's only) and are not its output."""
    for entry in entries:
        yield entry, [i for i, cell in enumerate(entry.cells[:len(entry.records)]) if cell["score"] >= min_score]


def counts_csv(entries, min_score, class_names, info_keys):
    """counts.csv of the finished images (pbc.py detect's format, with the columns of `info_keys`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(counts_header(class_names, info_keys))
    for entry, keep in _kept(entries, min_score):
        kept = [entry.cells[i] for i in keep]
        counts = cell_counts([cell["class_id"] for cell in kept],
                             [-1 if cell["same_cell_as"] is None else cell["same_cell_as"] for cell in kept],
                             len(class_names))
        writer.writerow(counts_row(entry.name, counts, info_keys, entry.info))
    return out.getvalue()


def results_json(entries, min_score):
    """results.json of the finished images (COCO results, as pbc.py detect), scores >= min_score."""
    out = io.StringIO()
    write_results_json((entry.records[i] for entry, keep in _kept(entries, min_score) for i in keep), out)
    return out.getvalue()


def differential_rows(entries, min_score, class_names, base_classes=None, base_label=None):
    """The rows of differential.csv (module notes), header first; base_classes: the classes of the 100 %
    (None: all), base_label: their name ("white cells")."""
    counts = differential(entries, min_score, class_names)
    names = class_names[1:]
    in_base = [base_classes is None or name in base_classes for name in names]
    base_label = base_label or "all cells"
    pre_base = sum(n for n, keep in zip(counts["pre"], in_base) if keep)
    base = sum(n for n, keep in zip(counts["verified"], in_base) if keep)

    def share(n, of):
        return f"{100 * n / of:.1f}" if of else ""
    rows = [["class", "pre_classified", "pre_classified_percent", "verified", "verified_percent", "percent_of"]]
    for keep in (True, False):
        for name, pre, verified, inside in zip(names, counts["pre"], counts["verified"], in_base):
            if inside == keep:
                rows.append([name, pre, share(pre, pre_base), verified, share(verified, base),
                             base_label if keep else f"per 100 {base_label}"])
        if keep and base_classes is not None:
            rows.append([base_label, pre_base, share(pre_base, pre_base), base, share(base, base), ""])
    rows.append([UNIDENTIFIED_LABEL, "", "", counts["unidentified"], share(counts["unidentified"], base),
                 f"per 100 {base_label}"])
    rows.append(["all cells", sum(counts["pre"]), "", sum(counts["verified"]) + counts["unidentified"], "", ""])
    for what, n in (("cells verified", counts["reviewed"]), ("cells changed", counts["changed"]),
                    (NOT_A_CELL_LABEL, counts["not_cell"]), ("images", len(entries))):
        rows.append([what, "", "", n, "", ""])
    return rows


def differential_csv(entries, min_score, class_names, base_classes=None, base_label=None):
    out = io.StringIO()
    csv.writer(out).writerows(differential_rows(entries, min_score, class_names, base_classes, base_label))
    return out.getvalue()


def changes_csv(entries):
    """changes.csv: every change of the batch's images, image by image in the page's order, oldest first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CHANGE_COLUMNS)
    for entry in entries:
        for change in entry.changes:
            writer.writerow([change[key] for key in CHANGE_COLUMNS])
    return out.getvalue()


def corrections_coco(entries, min_score, class_names, info=None):
    """The verified cells as a COCO instances dict (module notes); image ids 1, 2, ... in the page's order,
    category ids the class ids. info: extra fields for its "info" (the batch, the model)."""
    from mrcnn.evaluation.coco_io import encode_mask

    images, annotations, changes = [], [], []
    for number, entry in enumerate(entries, start=1):
        images.append({"id": number, "file_name": entry.name, "width": entry.width, "height": entry.height})
        for index, cell in enumerate(entry.cells):
            name = label(cell)
            if not counted(cell, min_score)[1] or name == UNIDENTIFIED_LABEL:
                continue
            mask = cell_mask(cell, entry.height, entry.width)
            y1, x1, y2, x2 = cell["box"]
            review = cell.get("review")
            annotations.append({
                "id": len(annotations) + 1, "image_id": number, "category_id": class_names.index(name),
                "segmentation": encode_mask(mask), "area": int(mask.sum()),
                "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "iscrowd": 0,
                "verification": {"status": review["status"] if review else "pending", "cell": index,
                                 "model_class": None if cell.get("source") == "added" else cell["class_name"],
                                 "score": cell.get("score")}})
        changes.extend(dict(change, image_id=number) for change in entry.changes)
    made = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"info": dict({"description": "cells verified on the mrcnn web page", "date_created": made,
                          "min_score": min_score}, **(info or {})),
            "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": name, "supercategory": "cell"} for i, name in enumerate(class_names)
                           if i > 0],
            "changes": changes}


def corrections_json(entries, min_score, class_names, info=None):
    return json.dumps(corrections_coco(entries, min_score, class_names, info), ensure_ascii=False)
