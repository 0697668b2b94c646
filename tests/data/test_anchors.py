import numpy as np
import pytest

from mrcnn import utils
from mrcnn.data.anchors import clear_anchor_cache, compute_backbone_shapes, get_anchors


def test_backbone_shapes_round_up(config):
    np.testing.assert_array_equal(compute_backbone_shapes(config, (64, 64, 3)),
                                  [[16, 16], [8, 8], [4, 4], [2, 2], [1, 1]])
    np.testing.assert_array_equal(compute_backbone_shapes(config, (100, 70, 3)),
                                  [[25, 18], [13, 9], [7, 5], [4, 3], [2, 2]])


def test_backbone_shapes_use_callable(config):
    config.COMPUTE_BACKBONE_SHAPE = lambda shape: np.array([[shape[0] // 2, shape[1] // 2]] * 5)
    np.testing.assert_array_equal(compute_backbone_shapes(config, (64, 32, 3)), [[32, 16]] * 5)


def test_anchors_count_values_and_cache(config):
    clear_anchor_cache()
    anchors = get_anchors(config, (64, 64, 3))
    assert anchors.dtype == np.float32
    assert anchors.shape == ((16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1) * 3, 4)
    # First anchor: P2, scale 8, ratio 0.5 at (0, 0): height 8 / sqrt(0.5), width 8 * sqrt(0.5).
    h, w = 8 / np.sqrt(0.5), 8 * np.sqrt(0.5)
    np.testing.assert_allclose(anchors[0], [-h / 2, -w / 2, h / 2, w / 2], rtol=1e-6)
    expected = utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS,
                                              compute_backbone_shapes(config, (64, 64)), config.BACKBONE_STRIDES,
                                              config.RPN_ANCHOR_STRIDE)
    np.testing.assert_allclose(anchors, expected, rtol=1e-6)
    assert get_anchors(config, (64, 64, 3)) is anchors  # cached
    assert not anchors.flags.writeable
    normalized = get_anchors(config, (64, 64, 3), normalized=True)
    np.testing.assert_allclose(normalized, utils.norm_boxes(expected, (64, 64)), rtol=1e-6)


def test_cache_key_follows_config(config):
    first = get_anchors(config, (64, 64, 3))
    config.RPN_ANCHOR_SCALES = (4, 8, 16, 32, 64)
    second = get_anchors(config, (64, 64, 3))
    assert second is not first
    np.testing.assert_allclose(second[0], first[0] / 2, rtol=1e-6)
    config.RPN_ANCHOR_STRIDE = 2
    assert get_anchors(config, (64, 64, 3)).shape[0] == (8 * 8 + 4 * 4 + 2 * 2 + 1 + 1) * 3


def test_unknown_image_side_raises(config):
    with pytest.raises(ValueError, match="unknown side"):
        get_anchors(config, (None, None, 3))
