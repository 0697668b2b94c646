"""A seeded tiny inference model, the images the export tests detect on, and detect's cells on them (shared by the
parity test of each format)."""

import keras
import numpy as np
import pytest

from tests.tiny_config import TinyConfig

CLASS_NAMES = ["BG", "square", "circle", "triangle"]


LOGIT_SCALE = 0.05


class ObjectScoreConfig(TinyConfig):
    """The PBC sample's scoring: 1 - P(background), one detection per object across classes."""
    DETECTION_SCORE = "object"
    DETECTION_NMS_ACROSS_CLASSES = True


def _seeded_tiny_model(config, logs, scaled=("rpn_class_raw", "mrcnn_class_logits")):
    from mrcnn.model import MaskRCNN
    from mrcnn.weights_io import all_layers
    keras.utils.set_random_seed(1)
    model = MaskRCNN("inference", config, logs)
    for layer in all_layers(model.keras_model):
        if layer.name in scaled:
            layer.kernel.assign(layer.kernel * LOGIT_SCALE)
    return model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Seeded random weights; TinyConfig's DETECTION_MIN_CONFIDENCE 0 keeps 8 cells an image. Random logits put
    most scores at 1.0 exactly, and cells of equal scores come in whatever order a runtime's sort leaves them: the
    RPN's and the classifier's logit kernels are scaled by LOGIT_SCALE, so that scores are spread (0.3-0.7) and the
    order of the cells is the model's, not a tie-break's."""
    return _seeded_tiny_model(TinyConfig(), str(tmp_path_factory.mktemp("logs")))


@pytest.fixture(scope="session")
def object_score_model(tmp_path_factory):
    """tiny_model's weights with ObjectScoreConfig's detection layer, its classifier's logits left at full scale:
    scaled down, every class is nearly as probable as the next, and which one an ROI takes (with that class's box
    deltas) is a tie that a runtime's rounding breaks either way. At full scale many ROIs have P(background) below
    float32's resolution of 1 - P: their ranks, -log P(background), still order them."""
    return _seeded_tiny_model(ObjectScoreConfig(), str(tmp_path_factory.mktemp("logs")), scaled=("rpn_class_raw",))


@pytest.fixture(scope="session")
def parity_images():
    """Shapes images at the model's size, and others that the export must resize and pad: wider, taller, larger."""
    from samples.shapes.shapes import ShapesDataset
    dataset = ShapesDataset()
    dataset.load_shapes(2, 64, 64, seed=3)
    dataset.prepare()
    rng = np.random.default_rng(0)
    images = [dataset.load_image(i) for i in dataset.image_ids]
    images += [rng.integers(0, 256, shape + (3,)).astype(np.uint8) for shape in ((50, 90), (130, 70))]
    return images


@pytest.fixture(scope="session")
def expected_cells(tiny_model, parity_images):
    results = tiny_model.detect(parity_images)
    assert sum(len(r["class_ids"]) for r in results) > 0, "the reference finds nothing: the parity would be vacuous"
    return results


def mask_iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def assert_same_cells(expected, got, box_px=1, score_tol=1e-3, min_mask_iou=0.98):
    """The issue's parity: same number of cells and classes, boxes within `box_px` pixels, scores within
    `score_tol`, every mask's IoU with detect's at least `min_mask_iou`. Returns (max box difference, max score
    difference, min mask IoU) over the images."""
    box_diff, score_diff, worst_iou = 0, 0.0, 1.0
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert g["masks"].shape == e["masks"].shape, i
        np.testing.assert_array_equal(g["class_ids"], e["class_ids"], err_msg=f"image {i}")
        if len(e["class_ids"]) == 0:
            continue
        box_diff = max(box_diff, int(np.abs(g["rois"].astype(int) - e["rois"]).max()))
        score_diff = max(score_diff, float(np.abs(g["scores"] - e["scores"]).max()))
        worst_iou = min([worst_iou] + [mask_iou(e["masks"][..., k], g["masks"][..., k])
                                       for k in range(e["masks"].shape[-1])])
    assert box_diff <= box_px and score_diff <= score_tol and worst_iou >= min_mask_iou, \
        (box_diff, score_diff, worst_iou)
    return box_diff, score_diff, worst_iou
