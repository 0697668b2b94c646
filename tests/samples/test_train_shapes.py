"""End to end: train Mask R-CNN from scratch on shapes with the public API and score held-out images."""

import keras
import pytest

from mrcnn.model import MaskRCNN
from samples.shapes.train_shapes import ShapesConfig, ShapesInferenceConfig, evaluate, make_datasets
from tests.cli_helpers import assert_usage_error, run_cli

# The AP ranks every detection (DETECTION_MIN_CONFIDENCE 0), as AP is defined. With the demo's threshold of 0.7 the
# score depended on how confident a run happened to be: eight runs of 2026-12-02 (12 epochs x 50 steps, batch 4,
# 128 px; seeds 0, 1, 2 and repeats of seed 0, whose multi-threaded sums differ) scored 0.44-0.83 at 0.7 but
# 0.64-0.86 without it, and the five with the fused batch norm 0.76-0.83. About 2 minutes on 2 idle cores. The bar
# sits under that spread (0.685 once in a test worker that had run other files first, 0.791 alone, same code): it
# fails on a training that no longer learns, not on the run-to-run spread of the same one.
MAP_BAR = 0.6


class _RankAllConfig(ShapesInferenceConfig):
    DETECTION_MIN_CONFIDENCE = 0.0


@pytest.mark.slow
def test_shapes_from_scratch_reaches_the_bar(tmp_path):
    keras.utils.set_random_seed(0)
    train_set, val_set = make_datasets(train_count=500, val_count=50, seed=0)
    model = MaskRCNN("training", ShapesConfig(), str(tmp_path))
    model.train(train_set, val_set, learning_rate=ShapesConfig.LEARNING_RATE, epochs=12, layers="all", verbose=0)
    inference = MaskRCNN("inference", _RankAllConfig(), str(tmp_path))
    inference.load_weights(model.find_last())
    score = evaluate(inference, val_set)
    print(f"shapes mask mAP@0.5 on 50 held-out images: {score:.3f}")
    assert score >= MAP_BAR


def test_command_line_errors_are_one_line(tmp_path):
    """Both checked before a model is built: one process, one TensorFlow import (about 5 s)."""
    result = run_cli("samples/shapes/train_shapes.py", "evaluate", "--weights", "last", "--logs", str(tmp_path))
    assert_usage_error(result, "train_shapes.py evaluate", "--weights last", tmp_path, "Train first")
    result = run_cli("samples/shapes/train_shapes.py", "train", "--weights", str(tmp_path / "w.weights.h5"))
    assert_usage_error(result, "train_shapes.py train", "--weights", tmp_path / "w.weights.h5")
