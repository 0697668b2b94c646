import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import utils
from mrcnn.layers.proposal import ProposalLayer

STD = [0.1, 0.1, 0.2, 0.2]


def run(probs_fg, deltas, anchors, proposal_count=4, nms_threshold=0.7, pre_nms_limit=100, std=STD):
    probs_fg = np.asarray(probs_fg, np.float32)
    probs = np.stack([1 - probs_fg, probs_fg], axis=-1)
    layer = ProposalLayer(proposal_count, nms_threshold, pre_nms_limit, std)
    return layer([tf.constant(probs), tf.constant(deltas, tf.float32), tf.constant(anchors, tf.float32)]).numpy()


def reference(probs_fg, deltas, anchors, proposal_count, nms_threshold, pre_nms_limit, std):
    """Matterport's ProposalLayer, image by image, with the NumPy helpers of mrcnn.utils."""
    out = np.zeros((len(probs_fg), proposal_count, 4), np.float32)
    for b in range(len(probs_fg)):
        ix = np.argsort(-probs_fg[b], kind="stable")[:pre_nms_limit]
        boxes = np.clip(utils.apply_box_deltas(anchors[b, ix], deltas[b, ix] * np.array(std)), 0, 1)
        keep = utils.non_max_suppression(boxes, probs_fg[b, ix], nms_threshold)[:proposal_count]
        out[b, :len(keep)] = boxes[keep]
    return out


def test_hand_case_nms_sort_clip_pad():
    anchors = [[[0.1, 0.1, 0.3, 0.3],    # score 0.6
                [0.1, 0.1, 0.3, 0.31],   # IoU 0.95 with the first, higher score -> suppresses it
                [0.5, 0.5, 0.7, 0.7],    # score 0.9
                [0.8, 0.8, 1.2, 1.1]]]   # score 0.2, clipped to the image
    out = run([[0.6, 0.7, 0.9, 0.2]], np.zeros((1, 4, 4)), anchors)
    expected = [[0.5, 0.5, 0.7, 0.7], [0.1, 0.1, 0.3, 0.31], [0.8, 0.8, 1.0, 1.0], [0, 0, 0, 0]]
    np.testing.assert_allclose(out[0], expected, atol=1e-6)


def test_deltas_are_scaled_by_std_dev():
    anchors = [[[0.2, 0.2, 0.4, 0.4]]]
    deltas = [[[1.0, 0.0, 0.0, 0.0]]]  # * 0.1: move down by a tenth of the height (0.02)
    out = run([[0.9]], deltas, anchors, proposal_count=2)
    np.testing.assert_allclose(out[0], [[0.22, 0.2, 0.42, 0.4], [0, 0, 0, 0]], atol=1e-6)


def test_pre_nms_limit_keeps_top_anchors_only():
    anchors = [[[0.0, 0.0, 0.1, 0.1], [0.2, 0.2, 0.3, 0.3], [0.5, 0.5, 0.6, 0.6]]]
    out = run([[0.3, 0.2, 0.9]], np.zeros((1, 3, 4)), anchors, pre_nms_limit=2)
    np.testing.assert_allclose(out[0], [[0.5, 0.5, 0.6, 0.6], [0.0, 0.0, 0.1, 0.1], [0] * 4, [0] * 4])


def test_matches_numpy_reference_on_random_batch():
    rng = np.random.default_rng(0)
    batch, num_anchors = 2, 300
    corner = rng.uniform(-0.1, 0.9, size=(batch, num_anchors, 2))
    anchors = np.concatenate([corner, corner + rng.uniform(0.05, 0.3, size=(batch, num_anchors, 2))], -1)
    anchors = anchors.astype(np.float32)
    deltas = rng.normal(0, 1, size=(batch, num_anchors, 4)).astype(np.float32)
    probs = rng.permutation(np.linspace(0.01, 0.99, batch * num_anchors)).reshape(batch, num_anchors)
    probs = probs.astype(np.float32)
    args = dict(proposal_count=40, nms_threshold=0.5, pre_nms_limit=200, std=STD)
    out = run(probs, deltas, anchors, **args)
    np.testing.assert_allclose(out, reference(probs, deltas, anchors, **args), atol=1e-5)
    assert np.all((out >= 0) & (out <= 1))


def test_no_gradient_flows_back():
    layer = ProposalLayer(3, 0.7, 10, STD)
    probs = tf.constant([[[0.2, 0.8], [0.6, 0.4]]])
    deltas = tf.Variable(tf.zeros([1, 2, 4]))
    anchors = tf.constant([[[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]]])
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(layer([probs, deltas, anchors]))
    assert tape.gradient(out, deltas) is None


@pytest.mark.parametrize("kwargs", [dict(proposal_count=0), dict(nms_threshold=1.5), dict(pre_nms_limit=2.5),
                                    dict(rpn_bbox_std_dev=[0.1, 0.1, 0.2])])
def test_bad_arguments(kwargs):
    args = dict(proposal_count=10, nms_threshold=0.7, pre_nms_limit=100, rpn_bbox_std_dev=STD)
    args.update(kwargs)
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        ProposalLayer(**args)


def test_functional_model_dynamic_batch_save_and_load(tmp_path):
    num_anchors = 6
    probs_in = keras.Input((num_anchors, 2))
    bbox_in = keras.Input((num_anchors, 4))
    anchors_in = keras.Input((num_anchors, 4))
    layer = ProposalLayer(proposal_count=5, nms_threshold=0.6, pre_nms_limit=4, rpn_bbox_std_dev=np.array(STD))
    out = layer([probs_in, bbox_in, anchors_in])
    assert tuple(out.shape) == (None, 5, 4)
    model = keras.Model([probs_in, bbox_in, anchors_in], out)

    rng = np.random.default_rng(1)
    corner = rng.uniform(0, 0.8, size=(2, num_anchors, 2))
    anchors = np.concatenate([corner, corner + 0.15], -1).astype(np.float32)
    fg = rng.uniform(size=(2, num_anchors)).astype(np.float32)
    probs = np.stack([1 - fg, fg], -1)
    deltas = rng.normal(0, 0.5, size=(2, num_anchors, 4)).astype(np.float32)
    expected = reference(fg, deltas, anchors, 5, 0.6, 4, STD)
    np.testing.assert_allclose(model.predict([probs, deltas, anchors], verbose=0), expected, atol=1e-5)

    path = tmp_path / "proposal.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"ProposalLayer": ProposalLayer}, safe_mode=True)
    restored = loaded.get_layer("ROI")
    assert restored.get_config() == layer.get_config()
    assert not restored.supports_jit  # keeps Keras from XLA-compiling the model
    np.testing.assert_allclose(loaded.predict([probs, deltas, anchors], verbose=0), expected, atol=1e-5)


def test_intermediates_are_the_steps_of_call():
    """Matterport's inspect nodes: top-K anchors by score, refined, clipped, and the indices NMS keeps."""
    anchors = np.array([[[0.1, 0.1, 0.3, 0.3],    # score 0.6, suppressed by the next
                         [0.1, 0.1, 0.3, 0.31],   # score 0.7
                         [0.5, 0.5, 0.7, 0.7],    # score 0.9
                         [0.8, 0.8, 1.2, 1.1]]], np.float32)  # score 0.2, clipped
    deltas = np.zeros((1, 4, 4), np.float32)
    deltas[0, 2] = [1.0, 0.0, 0.0, 0.0]  # dy = 1.0 * std 0.1 * height 0.2: moved down by 0.02
    fg = np.array([[0.6, 0.7, 0.9, 0.2]], np.float32)
    inputs = [tf.constant(np.stack([1 - fg, fg], -1)), tf.constant(deltas), tf.constant(anchors)]
    layer = ProposalLayer(4, 0.7, 3, STD)
    steps = {k: v.numpy() for k, v in layer.intermediates(inputs).items()}
    np.testing.assert_allclose(steps["pre_nms_anchors"][0], anchors[0, [2, 1, 0]])
    np.testing.assert_allclose(steps["refined_anchors"][0, 0], [0.52, 0.5, 0.72, 0.7], atol=1e-6)
    np.testing.assert_allclose(steps["refined_anchors_clipped"], steps["refined_anchors"], atol=1e-6)
    assert steps["post_nms_anchor_ix"].tolist() == [0, 1]
    proposals = layer(inputs).numpy()[0]
    np.testing.assert_allclose(proposals[:2], steps["refined_anchors_clipped"][0, [0, 1]], atol=1e-6)
    assert not proposals[2:].any()
