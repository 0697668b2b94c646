import numpy as np
import pytest
import tensorflow as tf

from mrcnn.data.image_meta import compose_image_meta, meta_size, parse_image_meta, parse_image_meta_graph


def _meta(image_id=7, num_classes=4):
    return compose_image_meta(image_id, (360, 363, 3), (512, 512, 3), (0, 4, 507, 512), 1.4, [1] * (num_classes - 1) + [0])


def test_layout_and_size():
    meta = _meta()
    assert meta.shape == (meta_size(4),) == (16,)
    np.testing.assert_array_equal(meta[:12], [7, 360, 363, 3, 512, 512, 3, 0, 4, 507, 512, np.float32(1.4)])


def test_round_trip_numpy_batch_and_single():
    metas = np.stack([_meta(1), _meta(2)])
    parsed = parse_image_meta(metas)
    np.testing.assert_array_equal(parsed["image_id"], [1, 2])
    np.testing.assert_array_equal(parsed["original_image_shape"][0], [360, 363, 3])
    np.testing.assert_array_equal(parsed["image_shape"][1], [512, 512, 3])
    np.testing.assert_allclose(parsed["window"][0], [0, 4, 507, 512])
    np.testing.assert_allclose(parsed["scale"], [1.4, 1.4], rtol=1e-6)
    np.testing.assert_array_equal(parsed["active_class_ids"][0], [1, 1, 1, 0])
    single = parse_image_meta(_meta(3))
    assert single["image_id"] == 3


def test_graph_parse_matches_numpy():
    metas = np.stack([_meta(1), _meta(2)])
    graph = parse_image_meta_graph(tf.constant(metas))
    numpy = parse_image_meta(metas)
    for key in numpy:
        np.testing.assert_allclose(graph[key].numpy(), numpy[key], rtol=1e-6)


def test_bad_lengths():
    with pytest.raises(ValueError, match="window"):
        compose_image_meta(0, (1, 1, 3), (1, 1, 3), (0, 0, 1), 1.0, [1, 1])
    with pytest.raises(ValueError, match="more than 12"):
        parse_image_meta(np.zeros((2, 12)))
