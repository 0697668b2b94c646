"""Tests of samples/pbc/datasets.py: the seeded split, train/val folders, annotations, image formats, size guard."""

import json
import logging
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from mrcnn import utils
from mrcnn.data.annotations.classes import _canonical_class, check_aliases
from samples.pbc.classes import CLASS_ALIASES, CLASS_NAMES
from samples.pbc.datasets import PbcFolderDataset, paper_split

PBC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "data", "pbc")
THREE = ["eosinophil", "lymphocyte", "neutrophil"]


def write_image(path, width=24, height=20, mode="RGB", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height), value).save(path)
    return path


def write_png_header(path, width, height):
    """A PNG whose IHDR declares width x height but holds no pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def make_classes(root, per_class=12, classes=THREE):
    for name in classes:
        for i in range(per_class):
            write_image(root / name / f"{name[:3].upper()}_{i:03d}.jpg")
    return root


def names(items):
    return {os.path.basename(path) for path, _ in items}


# ---------------------------------------------------------------------------------------------------------------
#  Splits
# ---------------------------------------------------------------------------------------------------------------

def test_paper_split_sizes_disjoint_and_seeded(tmp_path):
    root = make_classes(tmp_path / "pbc")
    split = paper_split(root, THREE, split_seed=0, split=(6, 3, 3))
    for subset, size in zip(("train", "val", "test"), (6, 3, 3)):
        for name in THREE:
            assert sum(cls == name for _, cls in split[subset]) == size
    train, val, test = (names(split[s]) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test) and len(train | val | test) == 36
    assert all(os.path.basename(path).startswith(cls[:3].upper()) for path, cls in split["train"])
    assert paper_split(root, THREE, split_seed=0, split=(6, 3, 3)) == split
    assert names(paper_split(root, THREE, split_seed=1, split=(6, 3, 3))["train"]) != train


def test_paper_split_of_a_class_ignores_other_classes(tmp_path):
    root = make_classes(tmp_path / "pbc")
    alone = paper_split(root, ["lymphocyte"], split_seed=5, split=(6, 3, 3))
    together = paper_split(root, THREE, split_seed=5, split=(6, 3, 3))
    for subset in ("train", "val", "test"):
        assert alone[subset] == [item for item in together[subset] if item[1] == "lymphocyte"]


def test_paper_split_with_fewer_images_keeps_the_proportions(tmp_path, caplog):
    root = make_classes(tmp_path / "pbc", per_class=10)
    with caplog.at_level(logging.WARNING):
        split = paper_split(root, THREE, split=(300, 100, 100))
    assert [len(split[s]) for s in ("train", "val", "test")] == [3 * 6, 3 * 2, 3 * 2]
    assert "fewer than split" in caplog.text


@pytest.mark.parametrize("split, error", [((1, 2), ValueError), ((1, -1, 1), ValueError), ((0, 0, 0), ValueError),
                                          (("a", 1, 1), TypeError), (None, TypeError)])
def test_paper_split_bad_split(tmp_path, split, error):
    root = make_classes(tmp_path / "pbc", per_class=2)
    with pytest.raises(error, match="split"):
        paper_split(root, THREE, split=split)


def test_load_folder_split_layout(tmp_path):
    root = make_classes(tmp_path / "pbc")
    subsets = {}
    for subset in ("train", "val", "test"):
        dataset = PbcFolderDataset()
        dataset.load_folder(root, subset, class_names=THREE, split=(6, 3, 3), split_seed=2)
        dataset.prepare()
        subsets[subset] = {info["id"] for info in dataset.image_info}
        for image_id in dataset.image_ids:
            info = dataset.image_info[image_id]
            assert dataset.class_names[dataset.folder_class_id(image_id)] == info["folder_class"]
            assert info["id"].startswith(info["folder_class"] + "/")
        assert dataset.class_names == ["BG"] + THREE
    assert [len(subsets[s]) for s in ("train", "val", "test")] == [18, 9, 9]
    assert not (subsets["train"] & subsets["val"] or subsets["val"] & subsets["test"])


def test_load_folder_train_val_folders(tmp_path):
    root = tmp_path / "pbc"
    make_classes(root / "train", per_class=4)
    make_classes(root / "val", per_class=2)
    dataset = PbcFolderDataset()
    dataset.load_folder(root, "val", class_names=THREE)
    dataset.prepare()
    assert dataset.num_images == 6 and all(info["id"].startswith("val/") for info in dataset.image_info)
    with pytest.raises(ValueError, match="no test/ folder"):
        PbcFolderDataset().load_folder(root, "test", class_names=THREE)
    make_classes(root / "test", per_class=1)
    dataset = PbcFolderDataset()
    dataset.load_folder(root, "test", class_names=THREE)
    assert len(dataset.image_info) == 3


def test_load_folder_bad_layouts(tmp_path, caplog):
    root = tmp_path / "pbc"
    make_classes(root / "train", per_class=1)
    with pytest.raises(ValueError, match="no val/ folder"):
        PbcFolderDataset().load_folder(root, "train", class_names=THREE)
    with pytest.raises(ValueError, match="subset must be one of"):
        PbcFolderDataset().load_folder(root, "validation", class_names=THREE)
    with pytest.raises(ValueError, match="does not exist"):
        PbcFolderDataset().load_folder(tmp_path / "nowhere", "train")
    empty = tmp_path / "empty"
    (empty / "blasts").mkdir(parents=True)
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="no images"):
        PbcFolderDataset().load_folder(empty, "train", class_names=THREE)
    assert "not classes ['blasts']" in caplog.text and "no folder for class 'eosinophil'" in caplog.text


def test_symlinks_escaping_the_root_are_skipped(tmp_path, caplog):
    root = make_classes(tmp_path / "pbc", per_class=3)
    outside = write_image(tmp_path / "outside.jpg")
    os.symlink(outside, root / "lymphocyte" / "LYM_999.jpg")
    with caplog.at_level(logging.WARNING):
        split = paper_split(root, THREE, split=(3, 0, 1))
    assert "LYM_999.jpg" not in names(split["train"] + split["test"]) and "outside the image root" in caplog.text


def test_load_mask_without_annotations_says_to_annotate(tmp_path):
    root = make_classes(tmp_path / "pbc", per_class=3)
    dataset = PbcFolderDataset()
    dataset.load_folder(root, "train", class_names=THREE, split=(3, 0, 0))
    dataset.prepare()
    assert dataset.load_image(0).shape == (20, 24, 3)
    with pytest.raises(ValueError, match="pbc.py annotate"):
        dataset.load_mask(0)


# ---------------------------------------------------------------------------------------------------------------
#  Annotations
# ---------------------------------------------------------------------------------------------------------------

def square(x, y, size=4):
    return [x, y, x + size, y, x + size, y + size, x, y + size]


def test_load_folder_with_makesense_coco_annotations(tmp_path, caplog):
    root = make_classes(tmp_path / "pbc", per_class=3)
    files = sorted(p.name for p in (root / "neutrophil").iterdir()) + ["LYM_000.jpg"]
    images = [{"id": i + 1, "file_name": name, "width": 24, "height": 20} for i, name in enumerate(files)]
    annotations = [{"id": i, "image_id": i + 1, "category_id": 1, "segmentation": [square(2 + i, 3)], "iscrowd": 0}
                   for i in range(3)]
    annotations.append({"id": 9, "image_id": 2, "category_id": 2, "segmentation": [square(15, 10)]})
    annotations.append({"id": 10, "image_id": 3, "category_id": 2, "iscrowd": 1,
                        "segmentation": {"size": [20, 24], "counts": [20 * 20, 20, 20 * 24 - 420]}})
    path = tmp_path / "ms.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "Neutrophil"}, {"id": 2, "name": "eosinophil"}]}))
    dataset = PbcFolderDataset()
    with caplog.at_level(logging.WARNING):
        report = dataset.load_folder(root, "train", class_names=THREE, annotations=path, split=(3, 0, 0))
    dataset.prepare()
    assert report.images == 4 and report.instances == 5
    # the lymphocyte image is listed without instances; the 3 eosinophil and 2 other lymphocyte images are not listed
    assert dataset.num_images == 3 and "left out 5 not in" in caplog.text and "and 1 without instances" in caplog.text
    by_name = {os.path.basename(info["path"]): i for i, info in enumerate(dataset.image_info)}
    masks, class_ids = dataset.load_mask(by_name["NEU_001.jpg"])
    assert masks.shape == (20, 24, 2) and masks.dtype == bool and class_ids.dtype == np.int32
    assert [dataset.class_names[c] for c in class_ids] == ["neutrophil", "eosinophil"]
    assert masks[:, :, 0].sum() == 16 and masks[3:7, 3:7, 0].all() and masks[10:14, 15:19, 1].all()
    masks, class_ids = dataset.load_mask(by_name["NEU_002.jpg"])
    assert class_ids.tolist() == [3, -1] and masks[:, 20, 1].all()  # crowd: a negative id
    keep = PbcFolderDataset()
    keep.load_folder(root, "train", class_names=THREE, annotations=path, split=(3, 0, 0), keep_empty=True)
    keep.prepare()
    assert keep.num_images == 4
    lym = [i for i, info in enumerate(keep.image_info) if info["path"].endswith("LYM_000.jpg")][0]
    assert keep.load_mask(lym)[0].shape == (20, 24, 0)


def test_load_folder_annotations_matching_no_subset_image(tmp_path):
    root = make_classes(tmp_path / "pbc", per_class=2)
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"k": {"filename": "eosinophil/EOS_000.jpg", "regions": [
        {"shape_attributes": {"name": "polygon", "all_points_x": [1, 8, 8], "all_points_y": [1, 1, 8]},
         "region_attributes": {"label": "eosinophil"}}]}}))
    dataset = PbcFolderDataset()
    split = paper_split(root, THREE, split=(1, 1, 0))
    subset = "train" if any(p.endswith("EOS_000.jpg") for p, _ in split["train"]) else "val"
    dataset.load_folder(root, subset, class_names=THREE, annotations=path, split=(1, 1, 0))
    assert len(dataset.image_info) == 1
    other = "val" if subset == "train" else "train"
    with pytest.raises(ValueError, match=f"none of the 3 {other} images"):
        PbcFolderDataset().load_folder(root, other, class_names=THREE, annotations=path, split=(1, 1, 0))


def test_load_annotations_of_any_file_uses_pbc_classes_and_aliases(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.png", 30, 20)
    write_image(root / "b.png", 30, 20)
    region = {"shape_attributes": {"name": "rect", "x": 5, "y": 5, "width": 10, "height": 6},
              "region_attributes": {"type": "platelet"}}
    mmy = {"shape_attributes": {"name": "rect", "x": 20, "y": 2, "width": 4, "height": 3},
           "region_attributes": {"type": "Mmy"}}  # the paper's name of the immature granulocytes
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"a": {"filename": "a.png", "regions": {"0": region, "1": mmy}},
                                "b": {"filename": "b.png", "regions": {}}}))
    dataset = PbcFolderDataset()
    report = dataset.load_annotations(path, root)
    dataset.prepare()
    assert report.format == "via v1" and dataset.num_images == 1 and dataset.class_names == ["BG"] + CLASS_NAMES
    assert dataset.sources == ["", "pbc"]
    masks, class_ids = dataset.load_mask(0)
    assert masks[..., 0].sum() == 60 and masks[..., 1].sum() == 12
    assert class_ids.tolist() == [CLASS_NAMES.index("platelet") + 1, CLASS_NAMES.index("ig") + 1]
    assert dataset.folder_class_id(0) is None and dataset.image_reference(0) == str(root / "a.png")
    empty = tmp_path / "e.json"
    empty.write_text(json.dumps({"b": {"filename": "b.png", "regions": []}}))
    with pytest.raises(ValueError, match="no usable image"):
        PbcFolderDataset().load_annotations(empty, root)


@pytest.mark.parametrize("name, expected", [
    ("Neutrophil", "neutrophil"), ("NEUTROPHILS", "neutrophil"), (" Mmy ", "ig"), ("Immature_Granulocytes", "ig"),
    ("IG", "ig"), ("Thrombocyte", "platelet"), ("Platelets", "platelet"), ("erythroblasts", "erythroblast")])
def test_pbc_class_names_as_annotators_write_them(name, expected):
    assert _canonical_class(name, CLASS_NAMES, False, "f.json", "item", check_aliases(CLASS_ALIASES)) == expected
    with pytest.raises(ValueError, match="f.json"):
        _canonical_class("red cell", CLASS_NAMES, False, "f.json", "item", check_aliases(CLASS_ALIASES))


# ---------------------------------------------------------------------------------------------------------------
#  Image files
# ---------------------------------------------------------------------------------------------------------------

def test_grayscale_rgba_palette_and_16_bit_images_load_as_rgb_uint8(tmp_path):
    import cv2

    root = tmp_path / "imgs"
    write_image(root / "neutrophil" / "gray.png", mode="L", value=77)
    write_image(root / "neutrophil" / "rgba.png", mode="RGBA", value=(10, 20, 30, 0))
    write_image(root / "neutrophil" / "palette.png", mode="P", value=3)
    Image.fromarray(np.full((20, 24), 51400, np.uint16)).save(root / "neutrophil" / "gray16.png")
    cv2.imwrite(str(root / "neutrophil" / "rgb16.png"), np.full((20, 24, 3), [1000, 30000, 65535], np.uint16))
    dataset = PbcFolderDataset()
    dataset.load_folder(root, "train", class_names=["neutrophil"], split=(5, 0, 0))
    dataset.prepare()
    loaded = {os.path.basename(info["path"]): dataset.load_image(i) for i, info in enumerate(dataset.image_info)}
    for name, image in loaded.items():
        assert image.dtype == np.uint8 and image.shape == (20, 24, 3), name
    assert (loaded["gray.png"] == 77).all() and (loaded["rgba.png"] == [10, 20, 30]).all()
    assert (loaded["gray16.png"] == 51400 >> 8).all()
    assert (loaded["rgb16.png"] == [65535 >> 8, 30000 >> 8, 1000 >> 8]).all()  # cv2 wrote BGR


def test_header_size_guard_refuses_without_decoding(tmp_path, monkeypatch):
    root = tmp_path / "imgs"
    write_png_header(root / "neutrophil" / "huge.png", 30000, 30000)
    # 108 megapixels: PIL only warns (its error starts at 2 x 89.5 MP); the dataset's own limit (100 MP) refuses
    write_png_header(root / "neutrophil" / "wide.png", 12000, 9000)
    assert (root / "neutrophil" / "huge.png").stat().st_size < 100
    dataset = PbcFolderDataset()
    dataset.load_folder(root, "train", class_names=["neutrophil"], split=(2, 0, 0))
    dataset.prepare()

    def decode(*args):
        raise AssertionError("the image was decoded")
    monkeypatch.setattr(utils.Dataset, "load_image", decode)
    for image_id in dataset.image_ids:
        path = dataset.image_info[image_id]["path"]
        with pytest.raises(ValueError, match="limit") as info:
            dataset.load_image(image_id)
        assert path in str(info.value)
    small = PbcFolderDataset()
    small.max_pixels = 100
    small.load_folder(make_classes(tmp_path / "pbc", per_class=1), "train", class_names=THREE, split=(1, 0, 0))
    with pytest.raises(ValueError, match="24 x 20 = 480 pixels, more than the limit of 100"):
        small.load_image(0)


def test_undecodable_images_raise_naming_the_file_or_are_skipped_with_verify(tmp_path, caplog):
    root = make_classes(tmp_path / "pbc", per_class=2, classes=["neutrophil"])
    good = (root / "neutrophil" / "NEU_000.jpg").read_bytes()
    (root / "neutrophil" / "NEU_001.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (root / "neutrophil" / "NEU_002.jpg").write_bytes(b"not a jpeg at all")
    (root / "neutrophil" / "NEU_003.jpg").write_bytes(b"")
    dataset = PbcFolderDataset()
    dataset.load_folder(root, "train", class_names=["neutrophil"], split=(4, 0, 0))
    dataset.prepare()
    for image_id in dataset.image_ids:
        path = dataset.image_info[image_id]["path"]
        if path.endswith("NEU_000.jpg"):
            assert dataset.load_image(image_id).shape == (20, 24, 3)
            continue
        with pytest.raises(ValueError) as info:
            dataset.load_image(image_id)
        assert path in str(info.value)
    verified = PbcFolderDataset()
    with caplog.at_level(logging.WARNING):
        verified.load_folder(root, "train", class_names=["neutrophil"], split=(4, 0, 0), verify=True)
    assert [os.path.basename(i["path"]) for i in verified.image_info] == ["NEU_000.jpg"]
    assert "NEU_001.jpg" in caplog.text and "does not decode" in caplog.text
    write_png_header(root / "neutrophil" / "NEU_004.jpg", 12000, 9000)
    limited = PbcFolderDataset()
    limited.load_folder(root, "train", class_names=["neutrophil"], split=(5, 0, 0), verify=True)
    assert len(limited.image_info) == 1 and "more than the limit" in caplog.text


def test_annotated_images_feed_the_training_loader(tmp_path):
    """load_image_gt (resize per IMAGE_RESIZE_MODE, boxes, mini masks) accepts a folder image of odd size."""
    from mrcnn.config import Config
    from mrcnn.data.loader import load_image_gt

    class TinyConfig(Config):
        NAME = "pbc_test"
        NUM_CLASSES = 1 + 3
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = 64
        IMAGE_RESIZE_MODE = "square"

    root = tmp_path / "pbc"
    write_image(root / "neutrophil" / "NEU_000.jpg", 37, 41)
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "neutrophil/NEU_000.jpg", "width": 37,
                                            "height": 41}],
                                "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                                                 "segmentation": [square(10, 12, 15)]}],
                                "categories": [{"id": 1, "name": "neutrophil"}]}))
    dataset = PbcFolderDataset()
    dataset.load_folder(root, "train", class_names=THREE, annotations=path, split=(1, 0, 0))
    dataset.prepare()
    image, _, class_ids, boxes, masks = load_image_gt(dataset, TinyConfig(), 0)
    assert image.shape == (64, 64, 3) and class_ids.tolist() == [3] and boxes.shape == (1, 4)


# ---------------------------------------------------------------------------------------------------------------
#  The real PBC data
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not os.path.isdir(PBC), reason="PBC data not found at ../shared/data/pbc (not part of a clone)")
def test_real_pbc_folders_smoke():
    dataset = PbcFolderDataset()
    dataset.load_folder(PBC, "val")
    dataset.prepare()
    assert dataset.num_images == 800 and dataset.class_names == ["BG"] + CLASS_NAMES
    counts = np.bincount([dataset.folder_class_id(i) for i in dataset.image_ids], minlength=9)
    assert counts.tolist() == [0] + [100] * 8
    shapes = set()
    for class_id in range(1, 9):
        image_id = int(np.flatnonzero([dataset.folder_class_id(i) == class_id for i in dataset.image_ids])[0])
        image = dataset.load_image(image_id)
        assert image.dtype == np.uint8 and image.shape[2] == 3 and 350 <= min(image.shape[:2]) <= 370
        shapes.add(image.shape)
    assert len(shapes) >= 2  # PBC mixes 360 x 363 with 360 x 360 / 366 x 369
    with pytest.raises(ValueError, match="pbc.py annotate"):
        dataset.load_mask(0)
