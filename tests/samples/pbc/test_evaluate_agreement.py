"""`pbc.py evaluate` and `python -m mrcnn.evaluation` give the same figures on the same ground truth and detections.

Both commands run in this process on a tiny PBC-layout folder whose COCO ground truth has fractional polygons, a
polygon of two parts, a polygon crossing the image border, a compressed RLE instance and a crowd region. The model
is a stand-in whose detect() returns fixed detections (no training, no TensorFlow): `pbc.py evaluate` scores them
against the folder dataset's load_mask, `python -m mrcnn.evaluation` against the COCO file, through the results
file that `pbc.py detect` would write. Every detection variant (mAP, mAR, F1, per class, PR curves) and the mask-based
semantic and object blocks must be equal; classification is not compared, because pbc.py labels an image by its
folder and the file-only command by its largest instance.

The two agree because they share the COCO parser and the mask decoder (mrcnn/data/annotations/). What still
differs by design: pbc.py evaluate scores the subset's images that have instances, the command every image of the
file (so the file here lists the val images only); pbc.py drops an instance whose mask has no pixel, the command
keeps it; for box AP pbc.py uses the masks' boxes, the command the file's bbox (equal here: the bbox annotate
writes, or none).
"""

import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from mrcnn import evaluation
from mrcnn.evaluation import to_coco_results
from mrcnn.evaluation.__main__ import main as evaluation_main
from mrcnn.utils import extract_bboxes
from samples.pbc import pbc
from samples.pbc.datasets import load_subset
from samples.pbc.classes import CLASS_NAMES

H, W = 40, 48
# file name -> [(class, segmentation, iscrowd)], all in the val subset
ANNOTATIONS = {
    "val/lymphocyte/LY_1.png": [
        ("lymphocyte", [[8.3, 6.7, 27.5, 5.2, 30.1, 22.8, 12.4, 25.5]], 0),
        ("platelet", [[33.2, 30.1, 38.6, 29.5, 37.9, 35.2], [40.5, 2.5, 44.5, 2.5, 44.5, 6.5]], 0)],  # two parts
    "val/neutrophil/SNE_1.png": [
        ("neutrophil", [[20.5, 10.5, 56.0, 12.0, 52.0, 36.0, 22.0, 33.5]], 0),  # crosses the right border
        ("erythroblast", "rle", 0)],
    "val/platelet/PLT_1.png": [
        ("platelet", [[10.0, 10.0, 16.5, 10.0, 16.5, 15.5, 10.0, 15.5]], 0),
        ("platelet", [[25.2, 20.2, 30.7, 20.9, 29.6, 26.3]], 0),
        ("platelet", "crowd", 1)],
}


def _rle_instance(kind):
    """A compressed RLE: an irregular blob (kind "rle") or a band of pixels (a crowd region)."""
    mask = np.zeros((H, W), np.uint8)
    if kind == "rle":
        rows, cols = np.indices((H, W))
        mask[((rows - 28) / 7.0) ** 2 + ((cols - 12) / 9.0) ** 2 <= 1] = 1
        mask[26:29, 14:16] = 0  # a hole
    else:
        mask[30:38, 2:22] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


@pytest.fixture
def pbc_folder(tmp_path):
    """root/{train,val}/<class>/*.png (noise, each image different) and gt.json for the val images."""
    root = tmp_path / "pbc"
    rng = np.random.default_rng(0)
    for rel in list(ANNOTATIONS) + ["train/lymphocyte/LY_9.png"]:
        (root / os.path.dirname(rel)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / rel)
    images, annotations = [], []
    for image_id, (rel, items) in zip((7, 3, 5), ANNOTATIONS.items()):  # ids not in file order
        images.append({"id": image_id, "file_name": rel, "width": W, "height": H})
        for k, (name, segmentation, crowd) in enumerate(items):
            if isinstance(segmentation, str):
                segmentation = _rle_instance(segmentation)
            annotation = {"id": len(annotations) + 1, "image_id": image_id, "iscrowd": crowd,
                          "category_id": CLASS_NAMES.index(name) + 1, "segmentation": segmentation}
            if k % 2 == 0 and isinstance(segmentation, list):  # some with the box annotate writes, some without
                rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, H, W))
                annotation["bbox"] = [float(v) for v in mask_utils.toBbox(rle)]
            annotations.append(annotation)
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASS_NAMES)]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return root, gt, {rel: image_id for rel, image_id in zip(ANNOTATIONS, (7, 3, 5))}


class FixedDetector:
    """detect([image]) -> the detections of that image (found by its pixels), as MaskRCNN.detect returns them."""

    def __init__(self, config, detections):
        self.config = config
        self.detections = detections  # {image bytes: detection dict}

    def detect(self, images):
        return [self.detections[image.tobytes()] for image in images]


def _detections(dataset):
    """Detections of every image: each instance's mask shifted by a pixel or two, the second one of an image with
    the next class, the third one missed; one false positive per image; distinct scores in a shuffled order."""
    rng = np.random.default_rng(1)
    scores = iter(rng.permutation(np.linspace(0.3, 0.99, 20)))
    out = {}
    for n, image_id in enumerate(dataset.image_ids):
        masks, class_ids = dataset.load_mask(image_id)
        found, ids = [], []
        for k in range(min(masks.shape[-1], 2)):
            found.append(np.roll(masks[..., k], (k + n % 2, 1 - k), (0, 1)))
            ids.append(abs(int(class_ids[k])) if k == 0 else abs(int(class_ids[k])) % 8 + 1)
        false = np.zeros((H, W), bool)
        false[2 + 9 * n:8 + 9 * n, 30:37] = True
        found.append(false)
        ids.append(n + 1)
        stacked = np.stack(found, axis=-1)
        out[dataset.load_image(image_id).tobytes()] = {
            "rois": extract_bboxes(stacked), "class_ids": np.array(ids, np.int32), "masks": stacked,
            "scores": np.array([next(scores) for _ in ids], np.float32)}
    return out


def _no_losses(log_dir):
    raise FileNotFoundError(f"no TensorBoard event file in {log_dir}")


def test_pbc_evaluate_and_the_evaluation_cli_agree(pbc_folder, tmp_path, monkeypatch, capsys):
    root, gt, coco_ids = pbc_folder
    dataset = load_subset(str(root), "val", str(gt))
    detections = _detections(dataset)
    weights = tmp_path / "run" / "fixed.weights.h5"
    weights.parent.mkdir()
    weights.write_bytes(b"")  # resolve_weights needs a file; the stand-in model never reads it
    monkeypatch.setattr(pbc, "inference_detector", lambda config, path, args, sample=None: FixedDetector(config,
                                                                                                  detections))
    monkeypatch.setattr(evaluation, "read_losses", _no_losses)  # no training run: Table 3 is left out
    model = ["--backbone", "tiny", "--preset", "cpu", "--image-size", "64"]
    assert pbc.main(["evaluate", "--dataset", str(root), "--annotations", str(gt), "--subset", "val", "--weights",
                     str(weights), "--out", str(tmp_path / "pbc_eval")] + model) == 0
    # the results file of the same detections, as pbc.py detect writes it (category id = class id)
    records = [detections[dataset.load_image(i).tobytes()] for i in dataset.image_ids]
    ids = [coco_ids[os.path.relpath(dataset.image_info[i]["path"], root)] for i in dataset.image_ids]
    results = tmp_path / "results.json"
    results.write_text(json.dumps(to_coco_results(records, ids, {c: c for c in range(1, 9)})))
    assert evaluation_main(["--gt", str(gt), "--results", str(results), "--out", str(tmp_path / "cli_eval"),
                            "--paper", "none", "--quiet"]) == 0
    capsys.readouterr()
    with open(tmp_path / "pbc_eval" / "metrics.json") as f:
        ours = json.load(f)
    with open(tmp_path / "cli_eval" / "metrics.json") as f:
        theirs = json.load(f)

    assert ours["meta"]["masks"] and theirs["meta"]["masks"]
    for key in ("class_names", "num_images", "num_gt_instances", "num_crowd_regions", "num_predictions"):
        assert ours["meta"][key] == theirs["meta"][key], key
    assert (ours["meta"]["num_images"], ours["meta"]["num_gt_instances"], ours["meta"]["num_crowd_regions"]) == \
        (3, 6, 1)
    variants = theirs["detection"]["variants"]
    assert set(variants) == {"11point", "allpoint", "101point", "matterport", "coco_segm", "coco_bbox"}
    primary = variants["11point"]  # a case with hits, misses and confusions, not a trivial 0 or 1:
    assert 0 < primary["mAP"]["0.5"] < 1 and 0 < primary["mAR"] < 1 and 0 < primary["F1"] < 1
    assert ours["detection"] == theirs["detection"]
    assert ours["semantic"] == theirs["semantic"] and ours["objects"] == theirs["objects"]
