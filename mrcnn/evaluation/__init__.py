"""Evaluation of Mask R-CNN predictions: the paper's Tables 3-6 and the metrics of the related papers.

Shape shorthand:
    H, W: image height and width, N: ground-truth instances of one image, D: detections of one image.

    from mrcnn.evaluation import evaluate_predictions, write_report
    metrics = evaluate_predictions(gts, preds, class_names)      # gts: {"class_ids" [N], "masks" bool [H, W, N]}
    write_report(metrics, "out/eval")                            # preds: MaskRCNN.detect's dicts (D detections)

    python -m mrcnn.evaluation --gt instances.json --results results.json --out out/eval

Modules: records (input validation), ap (11-point, all-point, 101-point interpolation), matterport (Matterport's
matching, Table 4), coco_style (pycocotools' rules), classification (Tables 5 and 6), semantic (seed 003),
objects (seed 004, GlaS), box_truth (detections against box-only ground truth, e.g. YOLO labels), losses (Table 3
from TensorBoard events), coco_io (COCO files), evaluate (the metrics.json dict), report and plots (Markdown and
PNGs), paper (the published values), callback (validation mAP during training; imports TensorFlow, so it is loaded
on first use).
"""

from mrcnn.evaluation.coco_io import (load_coco_gt, load_coco_results, score_with_pycocotools, to_coco_gt,
                                      to_coco_results)
from mrcnn.evaluation.evaluate import SCHEMA_VERSION, evaluate_coco_files, evaluate_predictions
from mrcnn.evaluation.losses import read_losses
from mrcnn.evaluation.paper import PAPER, PAPER_RESNET101, paper_values
from mrcnn.evaluation.report import compare_runs, load_metrics, markdown_report, write_report

__all__ = [
    "MeanAPCallback", "PAPER", "PAPER_RESNET101", "SCHEMA_VERSION", "compare_runs", "evaluate_coco_files",
    "evaluate_predictions", "load_coco_gt", "load_coco_results", "load_metrics", "markdown_report", "paper_values",
    "read_losses", "score_with_pycocotools", "to_coco_gt", "to_coco_results", "write_report",
]


def __getattr__(name):
    if name == "MeanAPCallback":  # TensorFlow is imported only when the callback is asked for
        from mrcnn.evaluation.callback import MeanAPCallback
        return MeanAPCallback
    raise AttributeError(f"module 'mrcnn.evaluation' has no attribute {name!r}")
