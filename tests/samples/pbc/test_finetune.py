"""`pbc.py finetune` on a tiny model: a lab's verified cells in the page's corrections.json format (COCO, RLE masks, a
"verification" per cell) fine-tune a detector, alone or mixed with a PBC folder; the weights written load in
`detect`; a killed run resumes; bad input is named. (The page's own export is read by the same COCO reader:
tests/app/test_exports.py. Mixing's draw: tests/data/test_mixed.py.)"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from mrcnn.evaluation.coco_io import encode_mask
from mrcnn.weights_io import read_weights
from samples.pbc import pbc
from samples.pbc.classes import CLASS_NAMES
from samples.pbc.config import make_config
from samples.pbc.synthetic import random_spec, render_smear, smear_masks
from tests.samples.pbc.test_pretrain_cli import TINY, make_folder

FAST = ["--steps", "2", "--steps-per-epoch", "1", "--images-per-gpu", "2", "--seed", "0"] + TINY


def corrections(images, names):
    """corrections.json as the page writes it (mrcnn/app/exports.py): {image name: (masks [H, W, N], class ids)}."""
    coco = {"info": {"description": "cells verified on the mrcnn web page"}, "images": [], "annotations": [],
            "categories": [{"id": i + 1, "name": n, "supercategory": "cell"} for i, n in enumerate(names)],
            "changes": []}
    for number, (name, (masks, class_ids)) in enumerate(images.items(), start=1):
        coco["images"].append({"id": number, "file_name": name, "width": masks.shape[1], "height": masks.shape[0]})
        for k, class_id in enumerate(class_ids):
            ys, xs = np.nonzero(masks[:, :, k])
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": number, "category_id": int(class_id),
                "segmentation": encode_mask(masks[:, :, k]), "area": int(masks[:, :, k].sum()),
                "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)],
                "iscrowd": 0, "verification": {"status": "accepted", "cell": k, "model_class": names[class_id - 1],
                                               "score": 0.9}})
    return coco


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(a tiny detector's weights, the lab's image folder, its corrections.json): 4 synthetic smears, tinted blue."""
    from mrcnn.model import MaskRCNN
    root = tmp_path_factory.mktemp("lab")
    weights = str(root / "tiny.weights.h5")
    MaskRCNN("inference", make_config(inference=True, preset="cpu", backbone="tiny", image_size=64),
             str(root)).keras_model.save_weights(weights)
    folder = root / "smears"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = {}
    for i, name in enumerate(("lymphocyte", "neutrophil", "monocyte", "eosinophil")):
        spec = random_spec(rng, 96, name)
        image = render_smear(spec).astype(int)
        image[..., 2] = np.minimum(image[..., 2] + 40, 255)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"smear{i}.png")
        images[f"smear{i}.png"] = smear_masks(spec)
    path = str(root / "corrections.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(corrections(images, CLASS_NAMES), f)
    return weights, str(folder), path


@pytest.mark.slow
def test_finetune_alone_writes_weights_and_a_report_that_detect_reads_and_resumes(lab, tmp_path, capsys):
    weights, folder, annotations = lab
    out, logs = str(tmp_path / "lab" / "tuned.weights.h5"), str(tmp_path / "logs")
    assert pbc.main(["finetune", "--annotations", annotations, "--images", folder, "--weights", weights, "--out", out,
                     "--logs", logs] + FAST) == 0
    printed = capsys.readouterr().out
    assert "finetune: 4 lab images; layers 4+" in printed and f"report: {tmp_path}/lab/tuned.json" in printed
    report = json.load(open(tmp_path / "lab" / "tuned.json"))
    assert report["finetuned_from"] == weights and report["lab_images"] == 4 and report["steps"] == 2
    assert os.path.basename(report["run"]).startswith("finetune") and report["epochs"] == [2, 2]
    assert os.path.isfile(os.path.join(report["run"], "config.json"))  # what detect reads the model's scale from
    before, after = read_weights(weights), read_weights(out)
    changed = {name for name in before if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))}
    assert "mrcnn_class_logits" in changed  # the heads trained
    assert not any(name.endswith("bn") for name in changed)  # batch norm frozen
    assert not any(name.startswith(("tiny_c2", "tiny_c3")) for name in changed)  # 4+: the lower stages kept
    assert not [f for f in os.listdir(tmp_path / "lab") if f.startswith(".tmp")]
    assert pbc.main(["detect", "--images", folder, "--weights", out, "--out", str(tmp_path / "detect"),
                     "--no-overlays", "--min-confidence", "0", "--logs", logs, "--pixel-size", "off"] + TINY) == 0
    # a run killed after its first epoch: its checkpoint as --weights trains the epoch left, in the same run folder
    first = os.path.join(report["run"], "mask_rcnn_finetune_0001.weights.h5")
    resumed = str(tmp_path / "resumed.weights.h5")
    assert pbc.main(["finetune", "--annotations", annotations, "--images", folder, "--weights", first, "--out",
                     resumed, "--logs", logs] + FAST) == 0
    again = json.load(open(tmp_path / "resumed.json"))
    assert again["run"] == report["run"] and again["resumed_from"] == first and again["epochs"] == [2, 2]


@pytest.mark.slow
def test_finetune_mixed_with_pbc(lab, tmp_path, capsys):
    weights, folder, annotations = lab
    data = str(tmp_path / "pbc")
    pbc_annotations = make_folder(data, per_class=(2, 1))
    out = str(tmp_path / "mixed.weights.h5")
    assert pbc.main(["finetune", "--annotations", annotations, "--images", folder, "--with-pbc", data,
                     "--pbc-annotations", pbc_annotations, "--weights", weights, "--out", out, "--logs",
                     str(tmp_path / "logs")] + FAST + ["--steps", "1"]) == 0
    assert "4 lab images (x4) mixed with 16 PBC training images (x1): 50% PBC" in capsys.readouterr().out
    report = json.load(open(tmp_path / "mixed.json"))
    assert report["with_pbc"] == data and report["pbc_share"] == 0.5 and report["steps"] == 1


def _error(capsys, argv):
    with pytest.raises(SystemExit) as stop:
        pbc.main(["finetune"] + argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_bad_input_is_named(lab, tmp_path, capsys):
    weights, folder, annotations = lab
    base = ["--weights", weights, "--logs", str(tmp_path / "logs")] + FAST
    out = ["--out", str(tmp_path / "x.weights.h5")]
    good = ["--annotations", annotations, "--images", folder]
    assert "--annotations nowhere.json: no such file" in _error(
        capsys, ["--annotations", "nowhere.json", "--images", folder] + out + base)
    assert f"--images {tmp_path}/none: no such folder" in _error(
        capsys, ["--annotations", annotations, "--images", str(tmp_path / "none")] + out + base)
    assert "must end in .weights.h5" in _error(capsys, good + ["--out", str(tmp_path / "x.h5")] + base)
    assert "--with-pbc and --pbc-annotations go together" in _error(capsys, good + out + base + ["--with-pbc", folder])
    assert f"--with-pbc {tmp_path}/none: no such folder" in _error(
        capsys, good + out + base + ["--with-pbc", str(tmp_path / "none"), "--pbc-annotations", annotations])
    assert "--pbc-share 1.5: must be between 0 and 1" in _error(
        capsys, good + out + base + ["--with-pbc", folder, "--pbc-annotations", annotations, "--pbc-share", "1.5"])
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _error(capsys, ["--annotations", annotations, "--images", str(empty)] + out + base)
    assert annotations in err and "no usable image" in err  # the images are not where --images says
    coco = json.load(open(annotations))
    coco["categories"][CLASS_NAMES.index("lymphocyte")]["name"] = "blast"  # smear0's cell
    unknown = str(tmp_path / "unknown.json")
    json.dump(coco, open(unknown, "w"))
    err = _error(capsys, ["--annotations", unknown, "--images", folder] + out + base)
    assert unknown in err and "blast" in err
    coco = json.load(open(annotations))
    coco["annotations"] = []
    bare = str(tmp_path / "bare.json")
    json.dump(coco, open(bare, "w"))
    assert bare in _error(capsys, ["--annotations", bare, "--images", folder] + out + base)


def test_weights_of_another_backbone_are_refused(lab, tmp_path, capsys):
    from mrcnn.model import MaskRCNN
    _, folder, annotations = lab
    small = str(tmp_path / "small.weights.h5")
    MaskRCNN("inference", make_config(inference=True, preset="cpu", backbone="small", image_size=64),
             str(tmp_path)).keras_model.save_weights(small)
    err = _error(capsys, ["--annotations", annotations, "--images", folder, "--weights", small, "--out",
                          str(tmp_path / "x.weights.h5"), "--logs", str(tmp_path / "logs")] + FAST)
    assert f"--weights {small}: not a detector of the model that --backbone tiny" in err
    assert not os.path.exists(tmp_path / "x.weights.h5")
