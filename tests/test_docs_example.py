"""docs/architecture.md's second sample runs: trained, averaged, scored, on tiny COCO files made here.

The example's code is taken from the page as it stands; only the sizes are shrunk (each replacement must match
exactly once, so an edit to the page that this test does not follow fails here rather than passing unseen).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.test_docs import ROOT, read, split_fences

pytestmark = pytest.mark.slow

SHRINK = [  # (text in the page, what the test runs instead)
    ('BACKBONE = "small"', 'BACKBONE = "tiny"'),
    ("IMAGE_MIN_DIM = IMAGE_MAX_DIM = 256", "IMAGE_MIN_DIM = IMAGE_MAX_DIM = 64"),
    ("IMAGES_PER_GPU = 4", "IMAGES_PER_GPU = 2"),
    ("STEPS_PER_EPOCH = 100", "STEPS_PER_EPOCH = 2\n    VALIDATION_STEPS = 1\n    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)"
     "\n    TOP_DOWN_PYRAMID_SIZE = 32\n    RPN_CONV_CHANNELS = 32\n    MASK_HEAD_CHANNELS = 16"
     "\n    FPN_CLASSIF_FC_LAYERS_SIZE = 64\n    POST_NMS_ROIS_TRAINING = 64\n    POST_NMS_ROIS_INFERENCE = 32"
     "\n    TRAIN_ROIS_PER_IMAGE = 16\n    MAX_GT_INSTANCES = 6\n    DETECTION_MIN_CONFIDENCE = 0.0"),
    ('weights = "backbone_small.weights.h5"', 'weights = "none"'),
    ("epochs=4,", "epochs=1,"),
    ("epochs=12,", "epochs=3,"),
]


def example_code():
    """The page's one Python block that trains (the second sample)."""
    blocks = ["\n".join(lines) for language, _, lines in split_fences(read("docs/architecture.md"))[1]
              if language == "python" and "model.train(" in "\n".join(lines)]
    assert len(blocks) == 1, f"docs/architecture.md has {len(blocks)} Python blocks that train; expected one"
    return blocks[0]


def write_cells(tmp_path, classes, count, seed):
    """A COCO file of `count` 64 x 64 images, each with two square cells of random classes; returns its path."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    os.makedirs(tmp_path / "images", exist_ok=True)
    for index in range(count):
        name = f"s{seed}_{index}.png"
        pixels = np.full((64, 64, 3), 225, np.uint8)
        images.append({"id": index + 1, "file_name": name, "width": 64, "height": 64})
        for k, (y, x) in enumerate([(6, 6), (34, 34)]):
            side = int(rng.integers(14, 22))
            label = int(rng.integers(len(classes)))
            pixels[y:y + side, x:x + side] = (40 * label, 200 - 30 * label, 120)
            polygon = [x, y, x + side, y, x + side, y + side, x, y + side]
            annotations.append({"id": 2 * index + k + 1, "image_id": index + 1, "category_id": label + 1,
                                "segmentation": [polygon], "iscrowd": 0})
        Image.fromarray(pixels).save(tmp_path / "images" / name)
    path = tmp_path / f"cells_{seed}.json"
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(classes)]
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def test_the_second_sample_trains_averages_and_scores(tmp_path):
    code = example_code()
    for original, small in SHRINK:
        assert code.count(original) == 1, f"docs/architecture.md's example no longer has {original!r} once"
        code = code.replace(original, small)
    namespace = {}
    exec(compile(code.split("\nclass CellsConfig", 1)[0], "classes", "exec"), namespace)  # the imports and CLASSES
    train = write_cells(tmp_path, namespace["CLASSES"], 6, seed=0)
    val = write_cells(tmp_path, namespace["CLASSES"], 3, seed=1)
    (tmp_path / "cells.py").write_text(code)
    result = subprocess.run([sys.executable, "cells.py", str(train), str(val), "images"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": ROOT, "MPLBACKEND": "Agg"},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "cells.weights.h5").is_file()
    with open(tmp_path / "cells.json") as f:
        assert json.load(f)["epochs"] == [2, 3]  # the recorded second stage: epochs 2-3 of a 1 + 2 epoch plan
    with open(tmp_path / "out" / "cells" / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics  # scored: the paper's tables were computed from the detections
    assert (tmp_path / "out" / "cells" / "report.md").is_file()
