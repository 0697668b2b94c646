"""The evaluation report: metrics.json, a Markdown report laid out like the paper's tables, PNG figures, and the
comparison of several runs (one per backbone).

Shape shorthand: none (dicts of floats; the figures are written by plots.py).

Every number of ours sits beside the paper's (mrcnn/evaluation/paper.py) with its definition named: Table 4 gets
one row per AP variant (11-point eq. 5, all-point, 101-point, Matterport per image, COCO segm, COCO bbox), because
the paper's own variant cannot be told from its text with certainty.
"""

import json
import os

from mrcnn.evaluation import plots
from mrcnn.evaluation.evaluate import PRIMARY_VARIANT, SCHEMA_VERSION, to_jsonable
from mrcnn.evaluation.paper import BACKBONE_LABELS, PAPER_RESNET101, TABLE6_OVERALL, paper_values

TABLE4_COLUMNS = ("mAP (0.5)", "mAP (0.7)", "mAP (0.9)", "mAP (0.5-0.95)", "mAR", "F1")
# (column, our key in classification.macro, the paper's key in paper.TABLE5_CLASSIFICATION)
TABLE5_FIELDS = (("Accuracy (one-vs-rest, macro)", "ovr_accuracy", "accuracy"), ("Precision", "precision", "precision"),
                 ("Recall", "recall", "recall"), ("F1", "f1", "f1"), ("Specificity", "specificity", "specificity"))
TABLE3_FIELDS = (("Total", "total"), ("Validation", "validation"), ("Box (\"frame\")", "box"),
                 ("Classification", "class"), ("Mask", "mask"))


def _fmt(value, digits=4):
    return "–" if value is None else f"{value:.{digits}f}"


def _percent(part, whole):
    return f"{100.0 * part / whole:.1f} %" if whole else "–"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _table4_cells(block):
    m = block["mAP"]
    return [_fmt(m.get("0.5")), _fmt(m.get("0.7")), _fmt(m.get("0.9")), _fmt(m.get("0.5:0.95")),
            _fmt(block.get("mAR")), _fmt(block.get("F1"))]


def _paper_table4_cells(paper):
    d = paper["detection"]
    return [_fmt(d["mAP"]["0.5"]), _fmt(d["mAP"]["0.7"]), _fmt(d["mAP"]["0.9"]), _fmt(d["mAP"]["0.5:0.95"]),
            _fmt(d["mAR"]), _fmt(d["F1"])]


def _table5_cells(classification):
    macro = classification["macro"]
    return [_fmt(macro[field]) for _, field, _ in TABLE5_FIELDS] + [_fmt(classification["top1_accuracy"])]


def _paper_table5_cells(paper):
    return [_fmt(paper["classification"][key]) for _, _, key in TABLE5_FIELDS] + ["–"]


def _section_losses(metrics, paper):
    losses = metrics.get("losses")
    if not losses:
        return []
    rows = []
    if paper:
        rows.append([f"Paper, {paper['label']}"] + [_fmt(paper["losses"][k], 5) for _, k in TABLE3_FIELDS])
    rows.append([f"Ours, epoch {losses['last_epoch']}"] + [_fmt(losses["table3"][k], 5) for _, k in TABLE3_FIELDS])
    return ["## Table 3: losses at the last epoch", "",
            _table(["Run"] + [name for name, _ in TABLE3_FIELDS], rows), "",
            "Ours: `loss`, `val_loss`, `mrcnn_bbox_loss`, `mrcnn_class_loss`, `mrcnn_mask_loss` from the run's "
            f"TensorBoard events ({losses['log_dir']}).", ""]


def _section_detection(metrics, paper):
    detection = metrics["detection"]
    variants = detection["variants"]
    if not variants:
        return []
    rows = [[f"Paper, {paper['label']} (eq. 5, 11-point)"] + _paper_table4_cells(paper)] if paper else []
    rows += [[f"Ours, {name}" + (" (primary)" if name == detection["primary"] else "")] + _table4_cells(block)
             for name, block in variants.items()]
    out = ["## Table 4: detection and segmentation", "", _table(["Row"] + list(TABLE4_COLUMNS), rows), "",
           "F1 is the paper's: the harmonic mean of mAP (0.5) and mAR. What each row is:", ""]
    out += [f"- **{name}**: {block['label']}. mAR: {block['mAR_definition']}." for name, block in variants.items()]
    per_class_rows = []
    names = metrics["meta"]["class_names"][1:]
    columns = [(n, v) for n, v in variants.items() if v.get("per_class_AP")]
    for name in names:
        cells = [_fmt(v["per_class_AP"]["0.5"].get(name)) for _, v in columns]
        cells += [_fmt(v["per_class_AP"]["0.5:0.95"].get(name)) for _, v in columns]
        per_class_rows.append([name] + cells)
    if columns:
        header = ["Class"] + [f"AP50 {n}" for n, _ in columns] + [f"AP {n}" for n, _ in columns]
        out += ["", "### Per-class AP (AP50 at IoU 0.5; AP over 0.5:0.95)", "", _table(header, per_class_rows)]
    if detection.get("pycocotools"):
        out += ["", "### Cross-check with pycocotools", ""]
        for iou_type, check in detection["pycocotools"].items():
            out.append(f"- {iou_type}: largest difference from pycocotools' stats "
                       f"{_fmt(check['max_abs_difference'], 6)}")
    if detection.get("pr_curves"):
        out += ["", "![precision-recall curves](pr_curves.png)"]
    return out + [""]


def _section_classification(metrics, paper):
    c = metrics["classification"]
    header = ["Row"] + [name for name, _, _ in TABLE5_FIELDS] + ["Top-1 accuracy"]
    rows = []
    if paper:
        rows.append([f"Paper, {paper['label']}"] + _paper_table5_cells(paper))
    rows.append(["Ours"] + _table5_cells(c))
    per_class = [[name] + [_fmt(c["per_class"][name][k]) for _, k, _ in TABLE5_FIELDS]
                 + [str(c["per_class"][name]["support"])] for name in c["labels"]]
    cm_rows = [[label] + [str(v) for v in row] for label, row in zip(c["labels"], c["confusion_matrix"])]
    table6 = [[study] + [_fmt(v.get(k)) for k in ("accuracy", "precision", "recall", "specificity")]
              for study, v in TABLE6_OVERALL.items()]
    table6.append(["Ours"] + [_fmt(c["macro"][k]) for k in ("ovr_accuracy", "precision", "recall", "specificity")])
    return ["## Table 5: classification", "",
            f"{c['num_images']} images; truth: {c['truth']}; prediction: {c['prediction']}. "
            f"{c['images_skipped']} images without a true class were left out. "
            f"{c['no_detection']} of {c['num_images']} images ({_percent(c['no_detection'], c['num_images'])}) have "
            "no detection above the detection threshold (column \"none\").", "",
            _table(header, rows), "",
            "Accuracy is the macro average of the one-vs-rest accuracies (what the paper's accuracy fits); top-1 "
            "accuracy is correct images / all images. Precision, recall, F1 and specificity are macro averages.", "",
            "### Per class", "", _table(["Class", "One-vs-rest accuracy", "Precision", "Recall", "F1", "Specificity",
                                        "Images"], per_class), "",
            "### Confusion matrix (rows: truth, columns: prediction)", "",
            _table(["True \\ predicted"] + c["columns"], cm_rows), "",
            "![confusion matrix](confusion_matrix.png) ![row-normalised](confusion_matrix_normalized.png)", "",
            "## Table 6: overall performance beside the studies the paper cites", "",
            _table(["Study", "Accuracy", "Precision", "Recall", "Specificity"], table6), ""]


def _section_semantic(metrics):
    s = metrics.get("semantic")
    if not s:
        return []
    rows = [[name, _fmt(v["accuracy"]), _fmt(v["iou"]), _fmt(v["mean_bf_score"])] for name, v in
            s["per_class"].items()]
    return ["## Semantic segmentation metrics (Tran et al.)", "",
            _table(["Global accuracy", "Mean accuracy", "Mean IoU", "Weighted IoU", "Mean BF score"],
                   [[_fmt(s[k]) for k in ("global_accuracy", "mean_accuracy", "mean_iou", "weighted_iou",
                                          "mean_bf_score")]]), "",
            _table(["Class", "Accuracy", "IoU", "Mean BF score"], rows), "",
            f"Instance masks rasterised into one class map per image (higher score on top); BF tolerance "
            f"{100 * s['bf_tolerance']['fraction_of_diagonal']:.2f} % of the image diagonal.", ""]


def _section_objects(metrics):
    o = metrics.get("objects")
    if not o:
        return []
    return ["## Object-level metrics (GlaS, as in the DTU report)", "",
            _table(["F1 (50 % overlap)", "Object Dice", "Object IoU", "Object Hausdorff (px)", "TP", "FP", "FN"],
                   [[_fmt(o["f1"]), _fmt(o["dice"]), _fmt(o["iou"]), _fmt(o["hausdorff"], 2), o["tp"], o["fp"],
                     o["fn"]]]), "",
            f"{o['overlap_rule']}. Dice, IoU and Hausdorff are means over images "
            f"({o['images_without_hausdorff']} images without a defined Hausdorff distance).", ""]


def markdown_report(metrics, paper=PAPER_RESNET101, title="Evaluation report"):
    """The report as Markdown text; paper: a paper_values(...) dict to print beside ours, or None."""
    meta = metrics["meta"]
    lines = [f"# {title}", "",
             f"{meta['num_images']} images, {meta['num_gt_instances']} ground-truth instances, "
             f"{meta['num_predictions']} predictions; classes: {', '.join(meta['class_names'][1:])}."]
    lines += [f"- {k}: {v}" for k, v in meta.get("source", {}).items()]
    if meta.get("skipped"):
        lines += ["", "Not computed: " + "; ".join(meta["skipped"]) + "."]
    if paper:
        lines += ["", f"Paper values: Atıcı & Koçer 2023, {paper['label']} backbone (Tables 3-6)."]
    lines.append("")
    lines += _section_losses(metrics, paper)
    lines += _section_detection(metrics, paper)
    lines += _section_classification(metrics, paper)
    lines += _section_semantic(metrics)
    lines += _section_objects(metrics)
    return "\n".join(lines)


def write_report(metrics, out_dir, paper=PAPER_RESNET101, title="Evaluation report"):
    """Write metrics.json, report.md and the PNGs into out_dir; returns {what: path}.

    paper: the paper's values to print beside ours (paper_values("resnet50"), ...), or None for none.
    """
    if metrics.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"metrics schema_version {metrics.get('schema_version')!r}: this writer knows "
                         f"{SCHEMA_VERSION}")
    os.makedirs(out_dir, exist_ok=True)
    paths = {"metrics": os.path.join(out_dir, "metrics.json"), "report": os.path.join(out_dir, "report.md")}
    with open(paths["metrics"], "w", encoding="utf-8") as f:
        json.dump(to_jsonable(metrics), f, indent=1, allow_nan=False)
    with open(paths["report"], "w", encoding="utf-8") as f:
        f.write(markdown_report(metrics, paper, title))
    if metrics["detection"].get("pr_curves"):
        paths["pr_curves"] = plots.plot_pr_curves(metrics["detection"]["pr_curves"],
                                                  os.path.join(out_dir, "pr_curves.png"))
    c = metrics["classification"]
    paths["confusion_matrix"] = plots.plot_confusion_matrix(
        c["confusion_matrix"], c["labels"], c["columns"], os.path.join(out_dir, "confusion_matrix.png"),
        title="Confusion matrix (images)")
    paths["confusion_matrix_normalized"] = plots.plot_confusion_matrix(
        c["confusion_matrix_normalized"], c["labels"], c["columns"],
        os.path.join(out_dir, "confusion_matrix_normalized.png"), title="Confusion matrix (row-normalised)",
        normalized=True)
    return paths


def load_metrics(path):
    """A metrics dict from a metrics.json file or a folder holding one."""
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no metrics.json at {path}; run the evaluation first")
    with open(path, encoding="utf-8") as f:
        try:
            metrics = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e}); run the evaluation again") from None
    version = metrics.get("schema_version") if isinstance(metrics, dict) else None
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {version!r}, expected {SCHEMA_VERSION}")
    return metrics


def _run_name(metrics, path):
    backbone = metrics["meta"].get("source", {}).get("backbone")
    if backbone:
        return BACKBONE_LABELS.get(str(backbone).lower(), str(backbone))
    return os.path.basename(os.path.normpath(os.path.dirname(path) if path.endswith(".json") else path))


def compare_runs(paths, variant=PRIMARY_VARIANT, with_paper=True):
    """Markdown Tables 3 (when losses were stored), 4 and 5 with one row per run (and the paper's row per backbone).

    paths: metrics.json files or folders holding one, one run per backbone; the row is named by
    meta.source.backbone, else by the folder. variant: the Table 4 variant to show (default the paper's eq. 5).
    """
    runs = [(path, load_metrics(path)) for path in paths]
    if not runs:
        raise ValueError("compare_runs needs at least one metrics.json")
    t3, t4, t5 = [], [], []
    for path, metrics in runs:
        name = _run_name(metrics, path)
        backbone = metrics["meta"].get("source", {}).get("backbone")
        try:
            paper = paper_values(backbone) if with_paper and backbone else None
        except ValueError:
            paper = None
        block = metrics["detection"]["variants"].get(variant)
        if block is None:
            raise ValueError(f"{path}: no detection variant {variant!r}; it has "
                             f"{sorted(metrics['detection']['variants'])}")
        if paper:
            t4.append([f"{paper['label']} (paper)"] + _paper_table4_cells(paper))
            t5.append([f"{paper['label']} (paper)"] + _paper_table5_cells(paper))
        t4.append([f"{name} (ours)"] + _table4_cells(block))
        t5.append([f"{name} (ours)"] + _table5_cells(metrics["classification"]))
        if metrics.get("losses"):
            if paper:
                t3.append([f"{paper['label']} (paper)"] + [_fmt(paper["losses"][k], 5) for _, k in TABLE3_FIELDS])
            t3.append([f"{name} (ours)"] + [_fmt(metrics["losses"]["table3"][k], 5) for _, k in TABLE3_FIELDS])
    label = runs[0][1]["detection"]["variants"][variant]["label"]
    out = []
    if t3:
        out += ["## Table 3: losses at the last epoch", "", _table(["Backbone"] + [n for n, _ in TABLE3_FIELDS], t3),
                ""]
    out += [f"## Table 4: detection and segmentation ({variant}: {label})", "",
            _table(["Backbone"] + list(TABLE4_COLUMNS), t4), "",
            "## Table 5: classification (macro averages)", "",
            _table(["Backbone"] + [n for n, _, _ in TABLE5_FIELDS] + ["Top-1 accuracy"], t5), ""]
    return "\n".join(out)
