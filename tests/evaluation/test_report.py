"""Tests for mrcnn/evaluation/report.py, plots.py, paper.py and the command line (__main__.py)."""

import json
import os

import pytest

from mrcnn.evaluation import (PAPER, PAPER_RESNET101, coco_io, compare_runs, evaluate_predictions, load_metrics,
                              paper_values, write_report)
from mrcnn.evaluation.__main__ import main
from mrcnn.evaluation.paper import TABLE4_DETECTION
from tests.cli_helpers import assert_usage_error, run_cli


def test_paper_tables_are_consistent():
    # The paper's F1 is the harmonic mean of mAP(0.5) and mAR for every backbone: a guard against typos.
    for backbone, row in TABLE4_DETECTION.items():
        m, r = row["mAP"]["0.5"], row["mAR"]
        assert 2 * m * r / (m + r) == pytest.approx(row["F1"], abs=2e-4), backbone
    assert PAPER_RESNET101["classification"]["accuracy"] == 0.9931
    assert PAPER_RESNET101["detection"]["mAP"]["0.5:0.95"] == 0.8505
    assert PAPER_RESNET101["losses"]["validation"] == 0.07841
    assert paper_values("ResNeXt50")["label"] == "ResNeXt50" and len(PAPER) == 7
    with pytest.raises(ValueError, match="the paper reports"):
        paper_values("mobilenet")


def test_write_report_files_and_paper_values(tmp_path, perfect_case):
    metrics = evaluate_predictions(*perfect_case, losses={
        "log_dir": "/runs/x", "last_epoch": 240,
        "table3": {"total": 0.1, "validation": 0.2, "box": 0.01, "class": 0.02, "mask": 0.05}})
    paths = write_report(metrics, str(tmp_path / "out"))
    for key in ("metrics", "report", "pr_curves", "confusion_matrix", "confusion_matrix_normalized"):
        assert os.path.getsize(paths[key]) > 0, key
    assert load_metrics(str(tmp_path / "out")) == json.loads(json.dumps(metrics))
    text = open(paths["report"], encoding="utf-8").read()
    for expected in ("Table 3", "Table 4", "Table 5", "Table 6", "0.9139", "0.9725", "0.07841", "Ours, 11point",
                     "Semantic segmentation", "Object-level", "epoch 240",
                     "0 of 2 images (0.0 %) have no detection above the detection threshold"):
        assert expected in text, expected
    gts, preds, names = perfect_case
    missed = [preds[0], {key: value[..., :0] if key == "masks" else value[:0] for key, value in preds[1].items()}]
    text = open(write_report(evaluate_predictions(gts, missed, names), str(tmp_path / "missed"))["report"],
                encoding="utf-8").read()
    assert "1 of 2 images (50.0 %) have no detection" in text
    no_paper = open(write_report(metrics, str(tmp_path / "bare"), paper=None)["report"], encoding="utf-8").read()
    assert "0.9139" not in no_paper


def test_compare_runs_one_row_per_backbone(tmp_path, perfect_case):
    gts, preds, names = perfect_case
    worse = [dict(preds[0], class_ids=preds[0]["class_ids"][::-1].copy()), preds[1]]
    for backbone, p in (("resnet101", preds), ("resnet50", worse)):
        metrics = evaluate_predictions(gts, p, names, source={"backbone": backbone})
        write_report(metrics, str(tmp_path / backbone))
    table = compare_runs([str(tmp_path / "resnet101"), str(tmp_path / "resnet50" / "metrics.json")])
    lines = table.splitlines()
    assert any(line.startswith("| ResNet101 (paper) | 0.9139") for line in lines)
    assert any(line.startswith("| ResNet101 (ours) | 1.0000") for line in lines)
    assert any(line.startswith("| ResNet50 (paper) | 0.8902") for line in lines)
    assert any(line.startswith("| ResNet50 (ours)") for line in lines)
    assert "Table 5" in table and "11point" in table
    with pytest.raises(ValueError, match="no detection variant"):
        compare_runs([str(tmp_path / "resnet101")], variant="nope")
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        compare_runs([str(tmp_path)])


def test_command_line(tmp_path, capsys, ev):
    gts, preds, names = ev.random_case(5)
    gt_path, res_path = tmp_path / "gt.json", tmp_path / "res.json"
    gt_path.write_text(json.dumps(coco_io.to_coco_gt(gts, names)))
    res_path.write_text(json.dumps(coco_io.to_coco_results(preds, list(range(1, len(preds) + 1)))))
    out = tmp_path / "out"
    assert main(["--gt", str(gt_path), "--results", str(res_path), "--out", str(out), "--pycocotools",
                 "--backbone", "resnet50", "--paper", "resnet50", "--quiet"]) == 0
    metrics = load_metrics(str(out))
    assert metrics["meta"]["source"]["backbone"] == "resnet50"
    for iou_type in ("bbox", "segm"):
        assert metrics["detection"]["pycocotools"][iou_type]["max_abs_difference"] < 1e-3
    assert "0.8902" in (out / "report.md").read_text(encoding="utf-8")
    assert main(["--compare", str(out)]) == 0
    assert "ResNet50 (ours)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--gt", str(gt_path)])


def test_command_line_errors_are_one_line(tmp_path):
    prog = "python -m mrcnn.evaluation"
    (tmp_path / "malformed.json").write_text('{"images": [')
    (tmp_path / "list.json").write_text("[]")
    for gt, names in ((tmp_path / "missing.json", ["ground-truth file not found", tmp_path / "missing.json"]),
                      (tmp_path / "malformed.json", [tmp_path / "malformed.json", "not valid JSON"]),
                      (tmp_path / "list.json", [tmp_path / "list.json", "not a COCO instances file"])):
        result = run_cli("-m", "mrcnn.evaluation", "--gt", str(gt), "--results", str(gt), "--out", str(tmp_path))
        assert_usage_error(result, prog, *names)
