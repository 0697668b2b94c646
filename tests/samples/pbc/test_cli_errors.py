"""pbc.py through its command line: each bad input of the READMEs ends in one line `pbc.py <command>: error: ...`
naming the file or flag, exit status 2 and no traceback; --debug and MRCNN_DEBUG show the traceback; a bug keeps it.

Every case fails before TensorFlow loads (about a second per process)."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.cli_helpers import TRACEBACK, assert_traceback, assert_usage_error, run_cli

PBC = "samples/pbc/pbc.py"
TINY = ["--backbone", "tiny", "--preset", "cpu", "--image-size", "64"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A PBC-layout folder with one 32 x 32 neutrophil image in train/ and in val/."""
    root = tmp_path_factory.mktemp("pbc")
    for subset in ("train", "val"):
        (root / subset / "neutrophil").mkdir(parents=True)
        Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(root / subset / "neutrophil" / f"{subset}.png")
    return root


def _coco(class_name):
    return {"images": [{"id": 1, "file_name": "train/neutrophil/train.png", "width": 32, "height": 32}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "segmentation": [[4, 4, 20, 4, 20, 20, 4, 20]]}],
            "categories": [{"id": 1, "name": class_name}]}


def _train(folder, annotations, *extra):
    return run_cli(PBC, "train", "--dataset", str(folder), "--annotations", str(annotations),
                   "--logs", str(folder / "logs"), *TINY, *extra)


@pytest.mark.parametrize("content, names", [
    ("", ["is empty"]),
    ("{\"images\": [", ["is not valid JSON"]),
    ("[1, 2, 3]", ["VIA/VGG JSON"]),
    (json.dumps(_coco("mast cell")), ["'mast cell'", "neutrophil"]),
], ids=["empty", "malformed", "wrong_shape", "unknown_class"])
def test_bad_annotation_file(folder, tmp_path, content, names):
    path = tmp_path / "annotations.json"
    path.write_text(content)
    assert_usage_error(_train(folder, path), "pbc.py train", path, *names)


def test_missing_annotation_file(folder, tmp_path):
    assert_usage_error(_train(folder, tmp_path / "none.json"), "pbc.py train", tmp_path / "none.json",
                       "does not exist")


def test_missing_dataset_folder(tmp_path):
    assert_usage_error(_train(tmp_path / "nowhere", tmp_path / "a.json"), "pbc.py train", "--dataset",
                       tmp_path / "nowhere")


def test_folder_without_annotations(folder):
    result = run_cli(PBC, "train", "--dataset", str(folder), "--logs", str(folder / "logs"), *TINY)
    assert_usage_error(result, "pbc.py train", "--annotations", folder)


def test_empty_class_folders(tmp_path):
    """The case of the issue: train/ and val/ with class folders but no images in them."""
    for subset in ("train", "val"):
        (tmp_path / "pbc" / subset / "neutrophil").mkdir(parents=True)
    (tmp_path / "a.json").write_text(json.dumps(_coco("neutrophil")))
    assert_usage_error(_train(tmp_path / "pbc", tmp_path / "a.json"), "pbc.py train", "no images",
                       tmp_path / "pbc")


@pytest.mark.parametrize("flags, names", [
    (["--weights", "{tmp}/missing.weights.h5"], ["--weights", "{tmp}/missing.weights.h5"]),
    (["--weights", "imagenet", "--weights-file", "{tmp}/resnet.h5"], ["--weights-file", "{tmp}/resnet.h5"]),
    (["--weights", "last"], ["--weights last", "{tmp}/logs", "Train first"]),
    (["--logs", "{tmp}/a_file/logs"], ["log folder", "{tmp}/a_file/logs"]),
    (["--image-size", "100"], ["IMAGE_MAX_DIM", "64"]),
], ids=["weights_file", "imagenet_file", "weights_last", "unwritable_logs", "image_size"])
def test_bad_training_flags(tmp_path, flags, names):
    (tmp_path / "a_file").write_text("not a folder")
    flags = [f.format(tmp=tmp_path) for f in flags]
    result = run_cli(PBC, "train", "--dataset", "synthetic", "--synthetic-count", "2", *TINY,
                     "--logs", str(tmp_path / "logs"), *flags)
    assert_usage_error(result, "pbc.py train", *[n.format(tmp=tmp_path) for n in names])
    assert not (tmp_path / "logs").exists() or flags[0] == "--logs"


def test_evaluate_without_a_run_and_with_a_file_as_out(tmp_path):
    result = run_cli(PBC, "evaluate", "--dataset", "synthetic", "--weights", "last", "--logs", str(tmp_path),
                     "--out", str(tmp_path / "out"), *TINY)
    assert_usage_error(result, "pbc.py evaluate", "--weights last", tmp_path)
    (tmp_path / "w.weights.h5").write_bytes(b"")
    (tmp_path / "out").write_text("a file")
    result = run_cli(PBC, "evaluate", "--dataset", "synthetic", "--weights", str(tmp_path / "w.weights.h5"),
                     "--out", str(tmp_path / "out"), *TINY)
    assert_usage_error(result, "pbc.py evaluate", tmp_path / "out")


@pytest.mark.parametrize("case", ["missing_path", "no_images", "out_is_a_file"])
def test_bad_detect_input(tmp_path, case):
    (tmp_path / "empty").mkdir()
    (tmp_path / "one.png").write_bytes(b"")
    images, out, names = {
        "missing_path": (tmp_path / "missing", tmp_path / "o", ["--images", tmp_path / "missing"]),
        "no_images": (tmp_path / "empty", tmp_path / "o", ["--images", tmp_path / "empty", "no image files"]),
        "out_is_a_file": (tmp_path / "one.png", tmp_path / "one.png", ["--out", tmp_path / "one.png"]),
    }[case]
    result = run_cli(PBC, "detect", "--images", str(images), "--weights", "x", "--out", str(out), *TINY)
    assert_usage_error(result, "pbc.py detect", *names)


def test_compare_missing_and_corrupt_runs(tmp_path):
    assert_usage_error(run_cli(PBC, "compare", str(tmp_path / "run")), "pbc.py compare", tmp_path / "run")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{")
    assert_usage_error(run_cli(PBC, "compare", str(tmp_path / "run")), "pbc.py compare",
                       tmp_path / "run" / "metrics.json", "not valid JSON")


def test_annotate_reports_under_pbc_name(tmp_path):
    result = run_cli(PBC, "annotate", "--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a.json"))
    assert_usage_error(result, "pbc.py annotate", "--dataset", tmp_path / "nowhere")


@pytest.mark.parametrize("how", [["--debug", "train"], ["train", "--debug"], ["MRCNN_DEBUG=1", "train"]])
def test_debug_shows_the_traceback(tmp_path, how):
    env = {"MRCNN_DEBUG": "1"} if how[0].startswith("MRCNN_DEBUG") else None
    argv = [a for a in how if "=" not in a]
    result = run_cli(PBC, *argv, "--dataset", str(tmp_path / "nowhere"), "--annotations", "a.json", env=env)
    assert_traceback(result, "FileNotFoundError")
    assert "load_subset" in result.stderr and str(tmp_path / "nowhere") in result.stderr


def test_unexpected_error_keeps_its_traceback(tmp_path):
    """A bug (here a RuntimeError put into compare) is not dressed up as a user error."""
    code = ("import sys; sys.argv[0] = 'pbc.py'; import mrcnn.evaluation as evaluation\n"
            "def broken(*args, **kwargs):\n"
            "    raise RuntimeError('a bug in compare')\n"
            "evaluation.compare_runs = broken\n"
            "from samples.pbc import pbc\n"
            "sys.exit(pbc.main(['compare', 'x']))\n")
    result = run_cli("-c", code)
    assert_traceback(result, "RuntimeError: a bug in compare")
    assert TRACEBACK in result.stderr and "cmd_compare" in result.stderr
