"""Tests of mrcnn/data/annotations/files.py and read_annotations: the annotation JSON (bad files raise naming it), image
paths that could escape the root (skipped, never opened), bad image files (skipped, never decoded)."""

import logging
import os

import pytest

from mrcnn.data.annotations import read_annotations, read_coco_instances, read_via, safe_image_path
from tests.data.annotations.builders import (CLASSES, SQUARE, coco, coco_image, coco_polygon, via_region, write_image,
                                             write_json, write_png_header)


def test_read_annotations_detects_the_format(root, tmp_path):
    via = write_json(tmp_path / "v.json", {"k": {"filename": "a.png", "regions": [via_region([2, 12, 12],
                                                                                            [3, 3, 8])]}})
    cc = write_json(tmp_path / "c.json", coco([coco_image(1, "a.png")], [coco_polygon(1, 1, SQUARE)]))
    assert read_annotations(via, root, CLASSES)[1].format == "via v2"
    assert read_annotations(cc, root, CLASSES)[1].format == "coco"


@pytest.mark.parametrize("content, message", [
    ("", "is empty"), ("  \n ", "is empty"), ("{\"images\": [", "is not valid JSON"),
    ("[" * 50000 + "]" * 50000, "nests JSON too deeply"), ("[1, 2]", "expected"), ("{}", "lists no images")])
@pytest.mark.parametrize("reader", [read_coco_instances, read_via, read_annotations])
def test_bad_json_files_raise_naming_the_file(root, tmp_path, content, message, reader):
    path = write_json(tmp_path / "bad.json", content)
    if reader is read_coco_instances and content == "{}":
        message = "is not COCO"
    with pytest.raises(ValueError, match=message) as info:
        reader(path, root, CLASSES)
    assert str(path) in str(info.value)


def test_missing_binary_and_oversized_json(root, tmp_path):
    with pytest.raises(ValueError, match="does not exist") as info:
        read_via(tmp_path / "nope.json", root)
    assert "nope.json" in str(info.value)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_annotations(binary, root)
    big = write_json(tmp_path / "big.json", coco([coco_image(1, "a.png")], []))
    with pytest.raises(ValueError, match="more than the limit of 10"):
        read_coco_instances(big, root, max_json_bytes=10)
    with pytest.raises(ValueError, match="is not a directory"):
        read_coco_instances(big, tmp_path / "no_such_root")


def test_paths_escaping_the_root_are_skipped_and_never_opened(root, tmp_path, opened, caplog):
    outside = write_image(tmp_path / "outside" / "secret.png")
    os.symlink(outside, root / "link.png")
    os.symlink(tmp_path / "outside", root / "linkdir")
    names = ["../outside/secret.png", str(outside), "sub/../../outside/secret.png", "link.png", "linkdir/secret.png",
             "http://example.com/a.png", "C:\\data\\a.png", "\\\\server\\share\\a.png", "a.png\x00.txt", "", 7]
    data = coco([coco_image(i + 1, name) for i, name in enumerate(names)] + [coco_image(99, "a.png")], [])
    path = write_json(tmp_path / "c.json", data)
    with caplog.at_level(logging.WARNING, logger="mrcnn.data.annotations"):
        records, report = read_coco_instances(path, root, CLASSES)
    assert [r.path for r in records] == [str(root / "a.png")]
    assert len(report.skipped_images) == len(names)
    assert str(outside) not in opened and opened == [str(root / "a.png")]
    reasons = " | ".join(reason for _, reason in report.skipped_images)
    for expected in ("contains '..'", "absolute path", "outside the image root", "is a URL", "NUL byte",
                     "non-empty string"):
        assert expected in reasons
    assert str(path) in caplog.text and "skipped image" in caplog.text
    assert f"skipped {len(names)} images" in caplog.records[-1].getMessage()  # the closing count


def test_via_paths_escaping_the_root_are_skipped(root, tmp_path, opened):
    outside = write_image(tmp_path / "secret.png")
    data = {"a": {"filename": "../secret.png", "regions": []}, "b": {"filename": str(outside), "regions": []}}
    records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES)
    assert records == [] and len(report.skipped_images) == 2 and opened == []


@pytest.mark.parametrize("name", ["../x.png", "/etc/passwd", "a/../../x.png", "..\\x.png", "D:/x.png", "ftp://h/x"])
def test_safe_image_path_refuses(root, name):
    with pytest.raises(ValueError, match="file name"):
        safe_image_path(root, name)


def test_safe_image_path_accepts_names_inside(root):
    assert safe_image_path(root, "sub/b.png") == str(root / "sub" / "b.png")
    assert safe_image_path(root, "sub\\b.png") == str(root / "sub" / "b.png")
    assert safe_image_path(root, "./a.png") == str(root / "a.png")


def test_bad_image_files_are_skipped(root, tmp_path, caplog):
    (root / "garbage.png").write_bytes(b"this is not an image")
    (root / "empty.jpg").write_bytes(b"")
    (root / "cut.png").write_bytes((root / "a.png").read_bytes()[:12])  # truncated inside the header
    write_png_header(root / "huge.png", 30000, 30000)
    (root / "folder.png").mkdir()
    names = ["garbage.png", "empty.jpg", "cut.png", "huge.png", "folder.png", "missing.png"]
    data = {n: {"filename": n, "regions": [via_region([1, 5, 5], [1, 1, 5])]} for n in names}
    data["ok"] = {"filename": "a.png", "regions": [via_region([1, 5, 5], [1, 1, 5])]}
    with caplog.at_level(logging.WARNING, logger="mrcnn.data.annotations"):
        records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES)
    assert [r.file_name for r in records] == ["a.png"]
    reasons = dict(report.skipped_images)
    assert "cannot read the image header" in reasons["image 'garbage.png'"]
    assert "cannot read the image header" in reasons["image 'empty.jpg'"]
    assert "cannot read the image header" in reasons["image 'cut.png'"]
    assert "too large" in reasons["image 'huge.png'"] or "more than the limit" in reasons["image 'huge.png'"]
    assert "does not exist" in reasons["image 'folder.png'"] and "does not exist" in reasons["image 'missing.png'"]
    assert "huge.png" in caplog.text and "skipped 6 images" in caplog.text


def test_pixel_limit_is_checked_on_the_header(root, tmp_path):
    write_png_header(root / "big.png", 2000, 1000)
    data = coco([coco_image(1, "big.png", 2000, 1000), coco_image(2, "a.png")], [])
    records, report = read_coco_instances(write_json(tmp_path / "c.json", data), root, max_pixels=1_000_000)
    assert [r.file_name for r in records] == ["a.png"]
    assert "2000 x 1000 = 2000000 pixels, more than the limit of 1000000" in report.skipped_images[0][1]


def test_ambiguous_basename_is_skipped(root, tmp_path):
    write_image(root / "x" / "same.png")
    write_image(root / "y" / "same.png")
    data = {"k": {"filename": "same.png", "regions": []}}
    records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES, match_basename=True)
    assert records == [] and "matches 2 files" in report.skipped_images[0][1]


def test_match_basename_finds_trailing_paths_below_the_root(root, tmp_path):
    write_image(root / "train" / "neutrophil" / "n1.png")
    write_image(root / "val" / "neutrophil" / "n2.png")
    data = {"k": {"filename": "neutrophil/n1.png", "regions": []}, "j": {"filename": "n2.png", "regions": []},
            "i": {"filename": "other/n1.png", "regions": []}}
    records, report = read_via(write_json(tmp_path / "v.json", data), root, CLASSES, match_basename=True)
    assert [r.path for r in records] == [str(root / "train" / "neutrophil" / "n1.png"),
                                         str(root / "val" / "neutrophil" / "n2.png")]
    assert "does not exist" in report.skipped_images[0][1]
