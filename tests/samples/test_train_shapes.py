"""End to end: train Mask R-CNN from scratch on shapes with the public API and score held-out images."""

import keras
import pytest

from mrcnn.model import MaskRCNN
from samples.shapes.train_shapes import ShapesConfig, ShapesInferenceConfig, evaluate, make_datasets

# Measured on 2 CPU cores (12 epochs x 50 steps, batch 4, 128 px, seed 0): mask mAP@0.5 0.82 at
# DETECTION_MIN_CONFIDENCE 0.7 (0.89 with no threshold), in about 4 minutes. The bar leaves room for run-to-run
# variation of multi-threaded float sums.
MAP_BAR = 0.7


@pytest.mark.slow
def test_shapes_from_scratch_reaches_the_bar(tmp_path):
    keras.utils.set_random_seed(0)
    train_set, val_set = make_datasets(train_count=500, val_count=50, seed=0)
    model = MaskRCNN("training", ShapesConfig(), str(tmp_path))
    model.train(train_set, val_set, learning_rate=ShapesConfig.LEARNING_RATE, epochs=12, layers="all", verbose=0)
    inference = MaskRCNN("inference", ShapesInferenceConfig(), str(tmp_path))
    inference.load_weights(model.find_last())
    score = evaluate(inference, val_set)
    print(f"shapes mask mAP@0.5 on 50 held-out images: {score:.3f}")
    assert score >= MAP_BAR
