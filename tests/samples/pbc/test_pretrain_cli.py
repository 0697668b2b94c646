"""`pbc.py pretrain`: a tiny PBC-layout folder pretrains, the file it writes is loaded by `train --weights FILE`
(layers matched by name and counted), and bad folders get clear errors or counted skips."""

import glob
import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

from samples.pbc import pbc
from samples.pbc.config import make_config
from samples.pbc.pretrain import check_classes, load_split
from samples.pbc.classes import CLASS_NAMES

TINY = ["--backbone", "tiny", "--preset", "cpu", "--image-size", "64"]


def make_folder(root, per_class=(2, 1), classes=CLASS_NAMES, size=48):
    """root/{train,val}/<class>/*.jpg: noisy images tinted by class, and a COCO file with one square per image."""
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for subset, count in zip(("train", "val"), per_class):
        for k, name in enumerate(classes):
            os.makedirs(os.path.join(root, subset, name), exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 120, (size, size, 3))
                pixels[:, :, k % 3] += 30 * (k // 3 + 1)
                rel = f"{subset}/{name}/{name}_{i}.jpg"
                Image.fromarray(pixels.astype(np.uint8)).save(os.path.join(root, rel))
                image_id = len(images) + 1
                images.append({"id": image_id, "file_name": rel, "width": size, "height": size})
                annotations.append({"id": image_id, "image_id": image_id, "category_id": CLASS_NAMES.index(name) + 1,
                                    "segmentation": [[12, 12, 36, 12, 36, 36, 12, 36]], "bbox": [12, 12, 24, 24],
                                    "area": 576, "iscrowd": 0})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASS_NAMES)]}
    path = os.path.join(root, "instances.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(coco, f)
    return path


def test_help():
    with pytest.raises(SystemExit) as info:
        pbc.main(["pretrain", "--help"])
    assert info.value.code == 0


@pytest.mark.slow
def test_pretrain_then_train_loads_the_backbone_by_name(tmp_path, capsys, caplog):
    data, logs = str(tmp_path / "pbc"), str(tmp_path / "logs")
    annotations = make_folder(data)
    out = str(tmp_path / "backbone.weights.h5")
    assert pbc.main(["pretrain", "--dataset", data, "--epochs", "2", "--batch-size", "8", "--logs", logs,
                     "--out", out] + TINY) == 0
    printed = capsys.readouterr().out
    assert "val accuracy" in printed and "train: 16 images" in printed and "val: 8 images" in printed
    with open(str(tmp_path / "backbone.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert report["train_images"] == 16 and report["val_images"] == 8 and 0 <= report["val_accuracy"] <= 1
    assert glob.glob(os.path.join(logs, "pretrain_tiny*", "classifier_pretrain_tiny_0002.weights.h5"))

    # Continue the pretraining run (--weights last) for one more epoch.
    assert pbc.main(["pretrain", "--dataset", data, "--epochs", "3", "--batch-size", "8", "--logs", logs,
                     "--out", out, "--weights", "last"] + TINY) == 0
    assert glob.glob(os.path.join(logs, "pretrain_tiny*", "classifier_pretrain_tiny_0003.weights.h5"))
    capsys.readouterr()

    with caplog.at_level(logging.INFO, logger="pbc"):
        assert pbc.main(["train", "--dataset", data, "--annotations", annotations, "--weights", out, "--epochs", "1",
                         "--steps-per-epoch", "1", "--validation-steps", "1", "--images-per-gpu", "2",
                         "--gpu-count", "1", "--logs", logs, "--seed", "0"] + TINY) == 0
    printed = capsys.readouterr().out
    assert f"{report['layers']} layers loaded from {out}" in printed
    loaded = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loaded ")]
    assert loaded and loaded[-1].startswith(f"loaded {report['layers']} layers")
    assert "epochs 1-1: layers heads" in printed  # the fine-tuning schedule: heads first
    assert glob.glob(os.path.join(logs, "pbc*", "mask_rcnn_pbc_0001.weights.h5"))


@pytest.mark.slow
def test_paper_backbone_takes_a_pretrained_file(tmp_path, capsys):
    """resnet101 (Table 2's backbone) at a tiny image size: pretrain, then train from the file."""
    data, logs = str(tmp_path / "pbc"), str(tmp_path / "logs")
    annotations = make_folder(data, per_class=(1, 1))
    out = str(tmp_path / "resnet101.weights.h5")
    size = ["--backbone", "resnet101", "--preset", "cpu", "--image-size", "64"]
    assert pbc.main(["pretrain", "--dataset", data, "--epochs", "1", "--batch-size", "8", "--logs", logs,
                     "--out", out] + size) == 0
    with open(str(tmp_path / "resnet101.json"), encoding="utf-8") as f:
        layers = json.load(f)["layers"]
    assert layers > 200  # ResNet101: 104 convolutions and as many batch norms
    capsys.readouterr()
    assert pbc.main(["train", "--dataset", data, "--annotations", annotations, "--weights", out, "--epochs", "1",
                     "--steps-per-epoch", "1", "--validation-steps", "1", "--images-per-gpu", "1",
                     "--gpu-count", "1", "--logs", logs] + size) == 0
    assert f"{layers} layers loaded from {out}" in capsys.readouterr().out


def test_empty_class_folder_and_one_class_are_errors(tmp_path):
    data = str(tmp_path / "pbc")
    make_folder(data, classes=CLASS_NAMES[:1])  # images for basophil only; the other folders are missing
    for name in CLASS_NAMES[1:]:
        os.makedirs(os.path.join(data, "train", name))  # ... or empty
    config = make_config(backbone="tiny", image_size=64)
    _, labels, _ = load_split(data, "train", config)
    with pytest.raises(ValueError) as info:
        check_classes(labels, data, "train")
    message = str(info.value)
    assert os.path.join(data, "train", "eosinophil") in message and "no train images of class eosinophil" in message


def test_unreadable_images_are_skipped_and_counted(tmp_path, caplog):
    data = str(tmp_path / "pbc")
    make_folder(data)
    broken = os.path.join(data, "train", "ig", "broken.jpg")
    with open(broken, "wb") as f:
        f.write(b"\xff\xd8 not a jpeg")
    config = make_config(backbone="tiny", image_size=64)
    with caplog.at_level(logging.WARNING):
        images, labels, skipped = load_split(data, "train", config)
    assert images.shape == (16, 64, 64, 3) and len(labels) == 16
    assert [path for path, _ in skipped] == [os.path.realpath(broken)]
    assert any("broken.jpg" in r.getMessage() for r in caplog.records)


def test_folder_errors_name_the_problem(tmp_path):
    config = make_config(backbone="tiny", image_size=64)
    with pytest.raises(ValueError, match="does not exist"):
        load_split(str(tmp_path / "missing"), "train", config)
    with pytest.raises(ValueError, match="synthetic"):
        load_split("synthetic", "train", config)
    empty = tmp_path / "empty"
    for subset in ("train", "val"):
        (empty / subset / "basophil").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        load_split(str(empty), "train", config)
