"""YOLO label reader: boxes in pixels from normalised `class cx cy w h` lines, and a ValueError naming the file, the
line and what would be valid for every bad line. Checked against hand-computed boxes, and (when ../shared/data
exists) on TXL-PBC's own files."""

import os

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.yolo import (TXL_PBC_CLASSES, label_path_of, list_yolo_folder, parse_yolo_labels, read_yolo_folder,
                             read_yolo_labels)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OTHER_LABS = os.path.join(REPO, "..", "shared", "data", "other_labs")


def _image(path, width=40, height=20):
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)
    return path


def _labelled(tmp_path, text, name="a.png", width=40, height=20):
    image = _image(str(tmp_path / name), width, height)
    with open(label_path_of(image), "w", encoding="utf-8") as f:
        f.write(text)
    return image


def test_boxes_in_pixels_from_the_image_header(tmp_path):
    # 40 x 20 image: cx 0.5 w 0.5 -> x 10..30; cy 0.25 h 0.5 -> y 0..10. Second box: x 0..4, y 15..20.
    image = _labelled(tmp_path, "0 0.5 0.25 0.5 0.5\n2 0.05 0.875 0.1 0.25\n")
    boxes, class_ids = read_yolo_labels(image)
    np.testing.assert_allclose(boxes, [[0, 10, 10, 30], [15, 0, 20, 4]])
    assert boxes.dtype == np.float64 and class_ids.tolist() == [0, 2]


def test_empty_file_and_blank_lines_are_no_objects():
    boxes, class_ids = parse_yolo_labels("", 40, 20)
    assert boxes.shape == (0, 4) and class_ids.shape == (0,)
    boxes, class_ids = parse_yolo_labels("\n  \n1 0.5 0.5 0.2 0.2\n\n", 10, 10)
    np.testing.assert_allclose(boxes, [[4, 4, 6, 6]])
    assert class_ids.tolist() == [1]


def test_integral_float_class_is_accepted_and_crlf_and_bom_read(tmp_path):
    image = _labelled(tmp_path, "\ufeff1.0 0.5 0.5 1 1\r\n")
    boxes, class_ids = read_yolo_labels(image)
    np.testing.assert_allclose(boxes, [[0, 0, 20, 40]])
    assert class_ids.tolist() == [1]


def test_edges_inside_the_tolerance_are_clipped():
    # right edge 0.5 + 0.503 / 2 = 0.7515: fine; left edge 0.002 - 0.006 / 2 = -0.001 within 0.005: clipped to 0
    boxes, _ = parse_yolo_labels("0 0.002 0.5 0.006 1.0\n", 1000, 100)
    np.testing.assert_allclose(boxes, [[0, 0, 100, 5]])
    with pytest.raises(ValueError, match=r"line 1: left edge cx - w/2 = -0.01 lies outside"):
        parse_yolo_labels("0 0.01 0.5 0.04 0.5\n", 1000, 100)
    boxes, _ = parse_yolo_labels("0 0.01 0.5 0.04 0.5\n", 1000, 100, tolerance=0.02)
    np.testing.assert_allclose(boxes, [[25, 0, 75, 30]])


@pytest.mark.parametrize("line, message", [
    ("0 0.5 0.5 0.2", r"line 2: 4 fields .*expected 5: class cx cy w h"),
    ("0 0.5 0.5 0.2 0.2 0.3 0.4", r"line 2: 7 fields .*polygons are not read"),
    ("x 0.5 0.5 0.2 0.2", r"line 2: class 'x' is not an integer; valid classes are 0 WBC, 1 RBC, 2 platelets"),
    ("1.5 0.5 0.5 0.2 0.2", r"line 2: class '1.5' is not an integer"),
    ("nan 0.5 0.5 0.2 0.2", r"line 2: class 'nan' is not an integer"),
    ("3 0.5 0.5 0.2 0.2", r"line 2: unknown class 3; valid classes are 0 WBC, 1 RBC, 2 platelets"),
    ("-1 0.5 0.5 0.2 0.2", r"line 2: unknown class -1"),
    ("0 0.5 abc 0.2 0.2", r"line 2: cy = 'abc' is not a number; expected a normalised value in \[0, 1\]"),
    ("0 0.5 0.5 nan 0.2", r"line 2: w = 'nan' is not finite"),
    ("0 0.5 0.5 0.2 inf", r"line 2: h = 'inf' is not finite"),
    ("0 0.5 0.5 -0.2 0.2", r"line 2: box size w = -0.2, h = 0.2; both must be > 0"),
    ("0 0.5 0.5 0.2 0", r"line 2: box size w = 0.2, h = 0; both must be > 0"),
    ("0 1.2 0.5 0.2 0.2", r"line 2: cx = 1.2 lies outside the image; .*must be in \[0, 1\] \(tolerance 0.005\)"),
    ("0 0.9 0.5 0.4 0.2", r"line 2: right edge cx \+ w/2 = 1.1 lies outside"),
    ("0 0.5 0.05 0.2 0.2", r"line 2: top edge cy - h/2 = -0.05 lies outside"),
])
def test_bad_line_names_file_line_and_what_is_valid(tmp_path, line, message):
    image = _labelled(tmp_path, f"1 0.5 0.5 0.2 0.2\n{line}\n")
    with pytest.raises(ValueError, match=message) as error:
        read_yolo_labels(image)
    assert label_path_of(image) in str(error.value)


def test_missing_or_undecodable_label_file_and_bad_image_are_named(tmp_path):
    image = _image(str(tmp_path / "a.png"))
    with pytest.raises(ValueError, match=r"a\.txt: no such label file for image .*a\.png"):
        read_yolo_labels(image)
    with open(label_path_of(image), "wb") as f:
        f.write(b"0 0.5 0.5 \xff\xfe 0.2\n")
    with pytest.raises(ValueError, match=r"a\.txt: cannot read the label file as UTF-8"):
        read_yolo_labels(image)
    (tmp_path / "b.jpg").write_bytes(b"not an image")
    (tmp_path / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(ValueError, match=r"b\.jpg"):
        read_yolo_labels(str(tmp_path / "b.jpg"))


def test_custom_class_names_bound_the_ids():
    with pytest.raises(ValueError, match=r"unknown class 1; valid classes are 0 cell"):
        parse_yolo_labels("1 0.5 0.5 0.2 0.2", 10, 10, class_names=["cell"], source="x.txt")


def test_folder_pairs_images_and_names_the_unlabelled(tmp_path, caplog):
    _labelled(tmp_path, "0 0.5 0.5 0.5 0.5\n", name="b.png")
    _labelled(tmp_path, "", name="a.JPG")
    _image(str(tmp_path / "c.png"))
    (tmp_path / "orphan.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "notes.csv").write_text("x")
    listing = list_yolo_folder(str(tmp_path))
    assert [os.path.basename(p) for p, _ in listing.labelled] == ["a.JPG", "b.png"]
    assert [os.path.basename(p) for p in listing.unlabelled] == ["c.png"]
    assert [os.path.basename(p) for p in listing.orphan_labels] == ["orphan.txt"]
    with caplog.at_level("WARNING"):
        items = list(read_yolo_folder(str(tmp_path)))
    assert "1 images without a YOLO label file (skipped): c.png" in caplog.text
    assert "1 label files without an image (skipped): orphan.txt" in caplog.text
    assert [os.path.basename(i.image_path) for i in items] == ["a.JPG", "b.png"]
    assert items[0].boxes.shape == (0, 4)
    np.testing.assert_allclose(items[1].boxes, [[5, 10, 15, 30]])
    assert len(list(read_yolo_folder(str(tmp_path), limit=1))) == 1
    with pytest.raises(ValueError, match="is not a folder"):
        list_yolo_folder(str(tmp_path / "nope"))


def test_txl_pbc_files_read():
    folder = os.path.join(OTHER_LABS, "bccd")
    if not os.path.isdir(folder):
        pytest.skip(f"TXL-PBC boxes not found at {folder} (a fresh clone has no ../shared/data)")
    items = list(read_yolo_folder(folder, TXL_PBC_CLASSES, limit=5))
    assert len(items) == 5
    for item in items:
        assert item.boxes.shape[0] == item.class_ids.shape[0] > 0
        assert (item.boxes[:, 2] > item.boxes[:, 0]).all() and (item.boxes[:, 3] > item.boxes[:, 1]).all()
        assert item.boxes[:, [0, 2]].max() <= 480 and item.boxes[:, [1, 3]].max() <= 640  # 640 x 480 fields
