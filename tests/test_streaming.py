"""detect_files: streamed COCO results, counts and overlays equal to detect + to_coco_results; skips, resume, errors."""

import contextlib
import csv
import io
import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

from mrcnn.counting import same_cell
from mrcnn.evaluation.coco_io import to_coco_results
from mrcnn.model import MaskRCNN
from mrcnn.streaming import default_names, detect_files, read_image_file
from tests.tiny_config import TinyConfig

CLASS_NAMES = ["BG", "a", "b", "c"]  # TinyConfig.NUM_CLASSES = 4
GOOD = [f"img{i:02d}.png" for i in range(9)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import keras
    keras.utils.set_random_seed(1)  # seeded weights: every image gets DETECTION_MAX_INSTANCES detections
    config = TinyConfig()  # BATCH_SIZE 2, DETECTION_MIN_CONFIDENCE 0
    return MaskRCNN("inference", config, str(tmp_path_factory.mktemp("logs")))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i, name in enumerate(GOOD):
        shape = (40 + 4 * i, 72 - 3 * i, 3)  # sizes differ: masks come back at each image's own size
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / name)
    (root / "broken.jpg").write_bytes(b"not a jpeg")  # sorts first: the reader meets it before any good image
    return root


def _paths(folder):
    return sorted(str(p) for p in folder.iterdir())


@pytest.fixture(scope="module")
def full_run(model, folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    calls = []
    summary = detect_files(model, _paths(folder), str(out), CLASS_NAMES, overlays=True,
                           progress=lambda done, total, elapsed: calls.append((done, total, elapsed)))
    return out, summary, calls


@pytest.fixture(scope="module")
def reference(model, folder):
    images = [read_image_file(str(folder / name)) for name in GOOD]
    results = model.detect(images)  # the same batches of 2 as the stream (the broken file is not in any)
    return images, results


def test_results_equal_detect_and_to_coco_results(full_run, reference):
    out, summary, _ = full_run
    _, results = reference
    expected = to_coco_results(results, GOOD, category_map={k: k for k in range(1, 4)})
    assert [len(r["scores"]) for r in results] == [8] * len(GOOD)
    assert len(expected) == 8 * len(GOOD)
    with open(out / "results.json", encoding="utf-8") as f:
        streamed = json.load(f)
    assert streamed == expected  # same boxes, scores, categories and RLE strings
    assert summary["images"] == summary["processed"] == len(GOOD) and summary["resumed"] == 0
    assert summary["detections"] == len(expected)
    assert summary["outputs"]["results"] == str(out / "results.json")
    assert not os.path.exists(str(out / "results.json.tmp"))
    with open(out / "results.jsonl", encoding="utf-8") as f:
        journal = [json.loads(line) for line in f]
    assert [e["image_id"] for e in journal] == GOOD
    assert [r for e in journal for r in e["results"]] == expected


def test_results_load_in_pycocotools(full_run, reference):
    from pycocotools.coco import COCO
    out, _, _ = full_run
    images, _ = reference
    gt = COCO()
    gt.dataset = {
        "images": [{"id": name, "file_name": name, "height": im.shape[0], "width": im.shape[1]}
                   for name, im in zip(GOOD, images)],
        "annotations": [{"id": k + 1, "image_id": name, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100,
                         "iscrowd": 0} for k, name in enumerate(GOOD)],
        "categories": [{"id": k, "name": n} for k, n in enumerate(CLASS_NAMES) if k]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(str(out / "results.json"))
    assert len(dt.getAnnIds()) == full_run[1]["detections"]
    ann = dt.loadAnns(dt.getAnnIds(imgIds=[GOOD[0]]))[0]
    assert ann["area"] > 0 and len(ann["bbox"]) == 4


def test_counts_csv_rows(full_run, reference, folder):
    out, _, _ = full_run
    _, results = reference
    with open(out / "counts.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "a", "b", "c", "total"]
    assert [row[0] for row in rows[1:]] == [str(folder / name) for name in GOOD]
    for row, result in zip(rows[1:], results):
        cells = same_cell(result["masks"], result["scores"]) < 0  # one count per cell (tests/test_counting.py)
        counts = np.bincount(result["class_ids"][cells], minlength=4)[1:]
        assert [int(v) for v in row[1:]] == counts.tolist() + [int(counts.sum())]


def test_corrupt_file_skipped_and_progress_sees_every_image(full_run, folder):
    out, summary, calls = full_run
    assert [s["path"] for s in summary["skipped"]] == [str(folder / "broken.jpg")]
    assert "broken.jpg" in summary["skipped"][0]["error"]
    total = len(GOOD) + 1
    assert [(done, t) for done, t, _ in calls] == [(k, total) for k in range(1, total + 1)]
    elapsed = [e for _, _, e in calls]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0


def test_overlays_written_when_asked(full_run, reference):
    out, _, _ = full_run
    images, _ = reference
    pngs = sorted(p for p in os.listdir(out) if p.endswith(".png"))
    assert pngs == [name.replace(".png", "_overlay.png") for name in GOOD]
    overlay = np.asarray(Image.open(out / pngs[0]))
    assert overlay.shape == images[0].shape and not np.array_equal(overlay, images[0])  # instances drawn on it


def test_no_overlays_and_logged_progress(model, folder, tmp_path, caplog):
    paths = [str(folder / name) for name in GOOD[:3]]
    with caplog.at_level(logging.INFO, logger="mrcnn.streaming"):
        summary = detect_files(model, paths, str(tmp_path / "out"), CLASS_NAMES, overlays=False, log_every=2)
    assert summary["processed"] == 3 and summary["skipped"] == [] and summary["outputs"]["overlays"] is None
    assert not [p for p in os.listdir(tmp_path / "out") if p.endswith(".png")]
    assert sorted(os.listdir(tmp_path / "out")) == ["counts.csv", "results.json", "results.jsonl"]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("detected")]
    assert [m.split(" images")[0] for m in logged] == ["detected 2/3", "detected 3/3"]


def test_resume_after_interruption(model, folder, full_run, tmp_path):
    paths = _paths(folder)
    out = tmp_path / "out"

    def stop_after_five(done, total, elapsed):  # the broken file, then two batches of 2 images
        if done == 5:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        detect_files(model, paths, str(out), CLASS_NAMES, overlays=False, progress=stop_after_five)
    assert not os.path.exists(out / "results.json")  # only a finished run has one
    with open(out / "results.jsonl", "a", encoding="utf-8") as f:
        f.write('{"path": "torn')  # a write cut short
    read = []

    def reader(path):
        read.append(os.path.basename(path))
        return read_image_file(path)

    summary = detect_files(model, paths, str(out), CLASS_NAMES, overlays=False, read_image=reader, resume=True)
    assert read == ["broken.jpg"] + GOOD[4:]  # done images are not read again; the unreadable one is retried
    assert (summary["resumed"], summary["processed"], summary["images"]) == (4, 5, 9)
    full_out = full_run[0]
    for name in ("results.json", "counts.csv", "results.jsonl"):
        assert (out / name).read_text() == (full_out / name).read_text(), name


def test_bad_arguments(model, folder, tmp_path):
    paths = [str(folder / GOOD[0])]
    with pytest.raises(ValueError, match="paths is empty"):
        detect_files(model, [], str(tmp_path / "o"), CLASS_NAMES)
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="out_dir .*taken exists and is not a folder"):
        detect_files(model, paths, str(a_file), CLASS_NAMES)
    with pytest.raises(TypeError, match="single path"):
        detect_files(model, paths[0], str(tmp_path / "o"), CLASS_NAMES)
    with pytest.raises(ValueError, match="NUM_CLASSES is 4"):
        detect_files(model, paths, str(tmp_path / "o"), ["BG", "a"])
    with pytest.raises(ValueError, match="one to one"):
        detect_files(model, paths, str(tmp_path / "o"), CLASS_NAMES, image_ids=[1, 2])
    with pytest.raises(ValueError, match="prefetch"):
        detect_files(model, paths, str(tmp_path / "o"), CLASS_NAMES, prefetch=0)


def test_read_image_bug_is_raised_not_skipped(model, folder, tmp_path):
    def buggy(path):
        raise KeyError(path)

    with pytest.raises(KeyError):
        detect_files(model, [str(folder / GOOD[0])], str(tmp_path / "o"), CLASS_NAMES, read_image=buggy)


def test_custom_image_ids_and_category_map(model, folder, tmp_path):
    paths = [str(folder / name) for name in GOOD[:2]]
    summary = detect_files(model, paths, str(tmp_path / "o"), CLASS_NAMES, image_ids=[np.int64(7), 9],
                           category_map={1: 10, 2: 20, 3: 30}, overlays=False)
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert len(results) == summary["detections"] > 0
    assert {r["image_id"] for r in results} <= {7, 9} and {r["category_id"] for r in results} <= {10, 20, 30}


def test_default_names(tmp_path):
    assert default_names(["x/a.png", "y/b.png"]) == ["a.png", "b.png"]
    for sub in ("p", "q/r"):
        (tmp_path / sub).mkdir(parents=True)
    names = default_names([str(tmp_path / "p" / "a.png"), str(tmp_path / "q" / "r" / "a.png")])
    assert names == ["p/a.png", "q/r/a.png"]
    with pytest.raises(ValueError, match="more than once"):
        default_names(["p/a.png", "p/a.png"])
