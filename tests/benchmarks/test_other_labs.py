"""benchmarks/other_labs.py without a model: its scoring on a stub detect function over tiny temporary folders (YOLO
boxes; a wbc_masks look-alike), its tables, contact sheet and command-line checks. Figures are hand-computed."""

import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location("other_labs_bench", os.path.join(REPO, "benchmarks", "other_labs.py"))
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)

ID = {name: i for i, name in enumerate(bench.PRED_NAMES)}  # the model's class ids: BG 0, basophil 1, ...


def _write(folder, name, size, lines):
    width, height = size
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(os.path.join(folder, name + ".png"))
    with open(os.path.join(folder, name + ".txt"), "w") as f:
        f.write("".join(line + "\n" for line in lines))


def _pred(boxes, names, scores, shape):
    masks = np.zeros(shape[:2] + (len(boxes),), bool)
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        masks[y1:y2, x1:x2, i] = True
    return {"rois": np.array(boxes, np.int32).reshape(-1, 4), "class_ids": np.array([ID[n] for n in names], np.int32),
            "scores": np.array(scores, np.float32), "masks": masks}


@pytest.fixture
def yolo_folder(tmp_path):
    # a.png 100 x 50: WBC at x 10..30, y 5..25; RBC at x 60..80, y 10..30; platelet at x 90..100, y 40..50.
    _write(tmp_path, "a", (100, 50), ["0 0.2 0.3 0.2 0.4", "1 0.7 0.4 0.2 0.4", "2 0.95 0.9 0.1 0.2"])
    # b.png 80 x 40: two WBC at x 0..20, y 0..20 and x 40..60, y 20..40; no platelet.
    _write(tmp_path, "b", (80, 40), ["0 0.125 0.25 0.25 0.5", "0 0.625 0.75 0.25 0.5"])
    return str(tmp_path)


def stub_detect(image):
    """Fixed detections per image, told apart by their size."""
    if image.shape[:2] == (50, 100):  # a: neutrophil on the WBC (hit), eosinophil on the RBC (false), platelet hit
        return _pred([(5, 10, 25, 30), (10, 60, 30, 80), (40, 90, 50, 100)], ["neutrophil", "eosinophil", "platelet"],
                     [0.9, 0.8, 0.7], image.shape)
    # b: erythroblast on the first WBC (no white-cell hit), lymphocyte on the second (hit), a duplicate of it
    return _pred([(0, 0, 20, 20), (20, 40, 40, 60), (21, 41, 40, 60)], ["erythroblast", "lymphocyte", "monocyte"],
                 [0.95, 0.85, 0.6], image.shape)


def test_scoring_on_a_stub_detector(yolo_folder):
    figures, rows = bench.evaluate_source(bench.yolo_samples(yolo_folder), stub_detect)
    assert [r["name"] for r in rows] == ["a.png", "b.png"]
    assert (figures["images"], figures["white_boxes"], figures["white_detections"]) == (2, 3, 4)
    assert figures["white_recall"] == pytest.approx(2 / 3) and figures["white_precision"] == pytest.approx(2 / 4)
    # White-cell detections by score: 0.9 TP, 0.85 TP, 0.8 FP, 0.6 FP (duplicate); 3 boxes.
    # Precision 1, 1, 2/3, 1/2 at recall 1/3, 2/3, 2/3, 2/3: 11-point 7 of 11 points at 1; all-point 2/3.
    assert figures["white_ap50_11point"] == pytest.approx(7 / 11)
    assert figures["white_ap50_allpoint"] == pytest.approx(2 / 3)
    assert (figures["platelet_boxes"], figures["platelet_recall"], figures["platelet_precision"]) == (1, 1.0, 1.0)
    assert figures["overlaps"] == {
        "eosinophil": {"WBC": 0, "RBC": 1, "platelets": 0, "none": 0},
        "erythroblast": {"WBC": 1, "RBC": 0, "platelets": 0, "none": 0},
        "lymphocyte": {"WBC": 1, "RBC": 0, "platelets": 0, "none": 0},
        "monocyte": {"WBC": 1, "RBC": 0, "platelets": 0, "none": 0},
        "neutrophil": {"WBC": 1, "RBC": 0, "platelets": 0, "none": 0},
        "platelet": {"WBC": 0, "RBC": 0, "platelets": 1, "none": 0}}
    assert figures["per_image"][1]["white"] == {"boxes": 2, "detections": 2, "matched": 1, "missed": [0]}
    assert bench.worst_rows(rows, figures, 5) == [1, 0]  # b: 1 missed + 1 false; a: 1 false
    table = bench.source_table("bccd", figures, "test")
    assert "| white-cell recall @ box IoU 0.5 | 0.667 (2 of 3) | >= 0.95 |" in table
    assert "| erythroblast | 1 | 0 | 0 | 0 |" in table


def _wbc_masks_folder(folder):
    """Two 40 x 40 crops: 001 a neutrophil (mask y 10..30, x 10..30), 002 a basophil (mask y 0..20, x 0..20)."""
    for number, (y1, x1, y2, x2) in ((1, (10, 10, 30, 30)), (2, (0, 0, 20, 20))):
        Image.fromarray(np.full((40, 40, 3), number, np.uint8)).save(os.path.join(folder, f"{number:03d}.bmp"))
        truth = np.zeros((40, 40), np.uint8)
        truth[y1:y2, x1:x2] = 128
        truth[y1 + 5:y2 - 5, x1 + 5:x2 - 5] = 255
        Image.fromarray(truth).save(os.path.join(folder, f"{number:03d}.png"))
    with open(os.path.join(folder, "classes.csv"), "w") as f:
        f.write("image ID,class label\n1,1\n2,5\n")


def test_wbc_masks_top1_and_mask_iou(tmp_path):
    _wbc_masks_folder(str(tmp_path))

    def detect(image):
        if image[0, 0, 0] == 1:  # 001: an erythroblast scores highest; the top white cell is a neutrophil, mask
            # y 10..30, x 10..25 (IoU 300 / 400); a monocyte below it covers the cell exactly (IoU 1)
            return _pred([(10, 10, 30, 30), (10, 10, 30, 25), (10, 10, 30, 30)],
                         ["erythroblast", "neutrophil", "monocyte"], [0.99, 0.9, 0.5], image.shape)
        return _pred([], [], [], image.shape)  # 002: nothing found

    figures, rows = bench.evaluate_source(bench.wbc_mask_samples(str(tmp_path)), detect)
    assert [r["top1"] for r in rows] == ["neutrophil", "none"]
    assert (figures["top1"], figures["top1_correct"], figures["no_white_detection"]) == (0.5, 1, 1)
    assert figures["mask_iou_mean"] == pytest.approx((1.0 + 0.0) / 2)  # best white-cell detection: the monocyte
    assert figures["mask_iou_top_mean"] == pytest.approx((0.75 + 0.0) / 2)  # top one: the neutrophil
    assert figures["white_recall"] == 0.5 and figures["white_boxes"] == 2
    matrix = dict(zip(figures["confusion"]["rows"], figures["confusion"]["matrix"]))
    assert matrix["neutrophil"][figures["confusion"]["columns"].index("neutrophil")] == 1
    assert matrix["basophil"][-1] == 1  # the basophil's row: "none"
    assert bench.worst_rows(rows, figures, 5) == [1, 0]  # 002: no white cell found; 001: the neutrophil, IoU 1
    sheet = bench.contact_sheet(rows, figures, [1, 0], detect, str(tmp_path / "sheet.png"), tile=80, columns=2)
    with Image.open(sheet) as im:
        tile = np.asarray(im.convert("RGB"))[:80, 80:160]  # 001 drawn at 80 px: the expert's outline green (found)
    assert (np.abs(tile.astype(int) - [0, 170, 0]).sum(-1) == 0).sum() > 50
    summary = bench.summary_table({"wbc_masks": {"figures": figures, "scale": "fit", "seconds": 1.0}})
    assert "| wbc_masks | 2 | fit |" in summary and "| top1 >= 0.85, mask_iou_mean >= 0.88 | no |" in summary


def test_contact_sheet_and_json_ready_figures(yolo_folder, tmp_path):
    figures, rows = bench.evaluate_source(bench.yolo_samples(yolo_folder), stub_detect)
    out = bench.contact_sheet(rows, figures, [1, 0], stub_detect, str(tmp_path / "out" / "sheet.png"), tile=64,
                              columns=2)
    with Image.open(out) as sheet:
        assert sheet.size == (128, 64 + 28)
    assert bench.contact_sheet(rows, figures, [], stub_detect, str(tmp_path / "none.png")) is None
    json.dumps(bench.to_jsonable(figures))


def test_split_halves_are_disjoint_stable_and_cover_the_source():
    names = [f"img_{i:03d}.jpg" for i in range(200)]
    dev = {n for n in names if bench.in_split(n, "dev")}
    report = {n for n in names if bench.in_split(n, "report")}
    assert dev | report == set(names) and not dev & report
    assert 70 < len(dev) < 130  # about half
    assert all(bench.in_split(n, "all") for n in names)
    assert dev == {n for n in names if bench.in_split(n, "dev")}


def test_command_line_names_a_missing_source_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--weights", "w.h5", "--data", str(tmp_path), "--sources", "bccd"])
    assert "no other_labs/bccd folder in it" in capsys.readouterr().err


def test_what_counts_as_a_wrong_image_and_the_flags_auroc():
    classed = {"truth_class": "monocyte", "top1": "monocyte", "mask_iou_best": 0.8}
    assert bench.image_error(classed) is False
    assert bench.image_error(dict(classed, top1="ig")) and bench.image_error(dict(classed, mask_iou_best=0.4))
    field = {"white": {"missed": [], "detections": 2, "matched": 2}}
    assert bench.image_error(field) is False
    assert bench.image_error({"white": {"missed": [1], "detections": 1, "matched": 1}})
    assert bench.image_error({"white": {"missed": [], "detections": 3, "matched": 2}})  # a white cell on nothing
    entries = [{"error": e, "unlike": {"score": s, "unlike": s > 1.0}} for e, s in
               ((True, 2.0), (True, 1.5), (False, 0.5), (False, 1.2))]
    figures = bench.flag_figures(entries)
    assert figures["flag_auroc"] == 1.0 and figures["flagged"] == 0.75 and figures["errors"] == 2
    assert bench.flag_figures([{"error": True, "unlike": None}])["flag_auroc"] is None
