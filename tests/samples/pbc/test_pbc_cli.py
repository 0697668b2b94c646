"""The PBC sample's command line: configs, schedule, and a short synthetic run of every command (bad input:
test_cli_errors.py)."""

import csv
import glob
import json
import os

import numpy as np
import pytest
from PIL import Image

from samples.pbc import pbc
from tests.cli_helpers import run_cli
from mrcnn.weights import resolve_weights
from samples.pbc.config import PAPER_EPOCHS, config_from_args, make_config, schedule

TINY = ["--backbone", "tiny", "--preset", "cpu", "--image-size", "64"]


def test_paper_config_is_table_2():
    config = make_config()
    assert config.GPU_COUNT == 2 and config.IMAGES_PER_GPU == 2 and config.BATCH_SIZE == 4
    assert config.IMAGE_MIN_DIM == config.IMAGE_MAX_DIM == 512
    assert config.TRAIN_ROIS_PER_IMAGE == 100 and config.MAX_GT_INSTANCES == 50
    assert config.NUM_CLASSES == 9 and config.STEPS_PER_EPOCH == 100
    assert config.DETECTION_MIN_CONFIDENCE == 0.75 and config.BACKBONE == "resnet101"
    assert config.RPN_ANCHOR_SCALES == (32, 64, 128, 256, 512)
    assert PAPER_EPOCHS == 240
    inference = make_config(inference=True)
    assert inference.BATCH_SIZE == 1 and inference.DETECTION_MIN_CONFIDENCE == 0.75


def test_overrides_and_from_scratch():
    config = make_config(preset="cpu", backbone="tiny", image_size=128, images_per_gpu=3, gpu_count=1,
                         steps_per_epoch=7, validation_steps=2, from_scratch=True)
    assert (config.IMAGE_MAX_DIM, config.BATCH_SIZE, config.STEPS_PER_EPOCH, config.VALIDATION_STEPS) == (128, 3, 7, 2)
    assert config.RPN_ANCHOR_SCALES == (8, 16, 32, 64, 128)
    assert config.TRAIN_BN is True and config.OPTIMIZER == "ADAM"
    assert config.RECOMPUTE_BACKBONE is False
    assert make_config(recompute_backbone=True).RECOMPUTE_BACKBONE is True
    with pytest.raises(ValueError, match="divisible by 64"):
        make_config(image_size=100)
    with pytest.raises(ValueError, match="preset"):
        make_config(preset="gpu")


def test_schedule():
    assert schedule("none", 240) == [(240, "all", 1.0)]
    assert schedule("pretrained", 240) == [(40, "heads", 1.0), (120, "4+", 1.0), (240, "all", 0.1)]
    assert schedule("pretrained", 2) == [(1, "heads", 1.0), (2, "all", 0.1)]
    assert [end for end, _, _ in schedule("pretrained", 12)] == [2, 6, 12]
    with pytest.raises(ValueError):
        schedule("none", 0)


@pytest.mark.parametrize("command", ["annotate", "train", "evaluate", "detect", "compare"])
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        pbc.main([command, "--help"])
    assert info.value.code == 0
    assert "usage: pbc.py " + command in capsys.readouterr().out


@pytest.mark.slow
def test_synthetic_train_evaluate_detect(tmp_path, capsys):
    logs = str(tmp_path / "logs")
    assert pbc.main(["train", "--dataset", "synthetic", "--epochs", "1", "--steps-per-epoch", "2",
                     "--validation-steps", "1", "--images-per-gpu", "2", "--gpu-count", "1",
                     "--synthetic-count", "8", "--val-map-images", "2", "--logs", logs] + TINY) == 0
    run = glob.glob(os.path.join(logs, "pbc*"))[0]
    assert os.path.isfile(os.path.join(run, "mask_rcnn_pbc_0001.weights.h5"))
    from mrcnn.evaluation.losses import read_scalars
    scalars = read_scalars(run)
    assert {"loss", "val_loss", "rpn_class_loss", "mrcnn_mask_loss", "val_mrcnn_mask_loss", "learning_rate",
            "val_mAP50", "val_mask_mAP"} <= set(scalars)

    out = str(tmp_path / "eval")
    assert pbc.main(["evaluate", "--dataset", "synthetic", "--weights", "last", "--logs", logs, "--out", out,
                     "--min-confidence", "0.0"] + TINY) == 0
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["schema_version"] == 1
    assert os.path.isfile(os.path.join(out, "report.md")) and os.path.isfile(os.path.join(out, "confusion_matrix.png"))
    assert "Table 4" in capsys.readouterr().out

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)).save(images / f"smear{i}.png")
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    det = str(tmp_path / "det")
    assert pbc.main(["detect", "--images", str(images), "--weights", "last", "--logs", logs, "--out", det,
                     "--min-confidence", "0.0"] + TINY) == 0
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(det, "*.png"))) == [
        "smear0_overlay.png", "smear1_overlay.png"]
    rows = list(csv.reader(open(os.path.join(det, "counts.csv"))))
    total = rows[0].index("total")
    assert rows[0][0] == "image" and total == 9 and len(rows) == 3
    assert rows[0][total + 1:] == ["pixel_size_um", "red_cell_px", "scale_factor", "scale_source", "unlike_training",
                                   "unlike_score"]
    for row in rows[1:]:
        assert int(row[total]) == sum(int(v) for v in row[1:total])
        assert row[total + 4] == "none"  # a model of synthetic smears knows no scale: images go in as they come
        assert row[total + 5] in ("True", "False") and float(row[-1]) >= 0  # evaluate set the flag's cut-off
    cutoff = json.load(open(os.path.join(run, "mask_rcnn_pbc_0001.json")))["unlike_cutoff"]
    assert cutoff > 0
    results = json.load(open(os.path.join(det, "results.json")))
    assert all({"image_id", "category_id", "bbox", "score", "segmentation"} <= set(r) for r in results)
    assert "skipped 1 unreadable" in capsys.readouterr().out


def test_recompute_backbone_flag_reaches_the_training_config():
    args = pbc.build_parser().parse_args(["train", "--dataset", "synthetic", "--recompute-backbone"] + TINY)
    assert config_from_args(args).RECOMPUTE_BACKBONE is True
    args = pbc.build_parser().parse_args(["train", "--dataset", "synthetic"] + TINY)
    assert config_from_args(args).RECOMPUTE_BACKBONE is False


def test_optimizer_learning_rate_and_batch_norm_of_new_and_continued_runs(tmp_path):
    def config(*argv):
        args = pbc.build_parser().parse_args(["train", "--dataset", "synthetic", "--logs", str(tmp_path)]
                                             + list(argv) + TINY)
        start = resolve_weights(args.weights, args.logs, "pbc")  # what train does first
        made = config_from_args(args, start_weights=start)
        return made.TRAIN_BN, made.OPTIMIZER, made.LEARNING_RATE

    weights = tmp_path / "backbone.weights.h5"
    weights.write_bytes(b"")
    assert config() == (True, "ADAM", 0.001)  # from scratch
    assert config("--weights", str(weights)) == (False, "SGD", 0.001)  # Matterport's fine-tuning
    assert config("--weights", str(weights), "--optimizer", "adam", "--learning-rate", "0.0005") == \
        (False, "ADAM", 0.0005)
    run = tmp_path / "pbc20260101T0000"
    run.mkdir()
    (run / "mask_rcnn_pbc_0003.weights.h5").write_bytes(b"")
    (run / "config.json").write_text(json.dumps({"TRAIN_BN": False, "OPTIMIZER": "ADAM", "LEARNING_RATE": 0.0003}))
    assert config("--weights", "last") == (False, "ADAM", 0.0003)  # a continued run keeps its settings
    assert config("--weights", "last", "--learning-rate", "0.01") == (False, "ADAM", 0.01)
    (run / "config.json").write_text(json.dumps({"TRAIN_BN": True, "OPTIMIZER": "SGD", "LEARNING_RATE": 0.02}))
    assert config("--weights", str(run / "mask_rcnn_pbc_0003.weights.h5")) == (True, "SGD", 0.02)


def test_tensorflow_log_lines_hidden_unless_verbose(tmp_path):
    """`pbc.py detect` as a user runs it: TensorFlow's C++ lines (absl's `I0000 ... port.cc:153] oneDNN ...`) are
    not shown, the command's own output and progress are; --verbose shows them."""
    from mrcnn.model import MaskRCNN
    config = make_config(inference=True, preset="cpu", backbone="tiny", image_size=64)
    weights = str(tmp_path / "tiny.weights.h5")
    MaskRCNN("inference", config, str(tmp_path)).keras_model.save_weights(weights)
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(tmp_path / "smear.png")
    argv = ["samples/pbc/pbc.py", "detect", "--images", str(tmp_path / "smear.png"), "--weights", weights,
            "--out", str(tmp_path / "out")] + TINY
    quiet = run_cli(*argv, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert quiet.returncode == 0, quiet.stderr
    assert "1 images: overlays" in quiet.stdout and "detecting 1/1" in quiet.stderr
    assert "I0000" not in quiet.stderr and "absl::InitializeLog" not in quiet.stderr, quiet.stderr
    loud = run_cli("samples/pbc/pbc.py", "--verbose", *argv[1:], env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert loud.returncode == 0 and "I0000" in loud.stderr, loud.stderr
