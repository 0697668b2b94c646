"""Matterport's calls, written as Matterport's samples and inspect notebooks write them, against our package.

`from mrcnn import model as modellib`: the module-level functions (mrcnn/matterport_api.py), the inspection methods
of MaskRCNN (mrcnn/inspection.py), load_weights' checks, the 5-D mrcnn_mask layer. One tiny inference model is
built for the module. The graph functions (mrcnn/matterport_graph.py), utils.batch_slice and visualize.draw_rois are
in tests/test_matterport_graph.py.
"""

import copy
import hashlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import model as modellib
from mrcnn import utils
from mrcnn.model import log
from mrcnn import matterport_api, matterport_graph
from tests.test_weights_io import _write_keras2 as write_keras2_file
from tests.tiny_config import TinyConfig, shapes_dataset

# What Matterport's samples and notebooks call on mrcnn.model, at module level.
MATTERPORT_NAMES = [
    "log", "load_image_gt", "mold_image", "unmold_image", "build_rpn_targets", "build_detection_targets",
    "generate_random_rois", "data_generator", "compose_image_meta", "parse_image_meta", "parse_image_meta_graph",
    "norm_boxes_graph", "denorm_boxes_graph", "apply_box_deltas_graph", "clip_boxes_graph", "overlaps_graph",
    "trim_zeros_graph", "compute_backbone_shapes", "build_rpn_model", "smooth_l1_loss", "rpn_class_loss_graph",
    "rpn_bbox_loss_graph", "mrcnn_class_loss_graph", "mrcnn_bbox_loss_graph", "mrcnn_mask_loss_graph",
    "ProposalLayer", "DetectionTargetLayer", "DetectionLayer", "PyramidROIAlign", "BatchNorm", "MaskRCNN",
    "resnet_graph", "rpn_graph", "fpn_classifier_graph", "build_fpn_mask_graph", "log2_graph", "batch_pack_graph",
    "detection_targets_graph", "identity_block", "conv_block", "refine_detections_graph",
]


class InferenceConfig(TinyConfig):
    IMAGES_PER_GPU = 1
    USE_MINI_MASK = True


@pytest.fixture(scope="module")
def dataset():
    return shapes_dataset(4, seed=5)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    keras.utils.set_random_seed(1)
    return modellib.MaskRCNN(mode="inference", config=InferenceConfig(), model_dir=str(tmp_path_factory.mktemp("l")))


def test_matterport_module_names_are_in_mrcnn_model():
    missing = [name for name in MATTERPORT_NAMES if not hasattr(modellib, name)]
    assert missing == []
    assert sorted(modellib.__all__) == sorted(["MaskRCNN", "build_optimizer", "load_model"] + matterport_api.__all__
                                              + matterport_graph.__all__)
    for module in (matterport_api, matterport_graph):
        assert all(getattr(modellib, name) is getattr(module, name) for name in module.__all__)


def test_log_prints_matterport_lines(capsys):
    log("image", np.array([[0, 7], [255, 3]], dtype=np.uint8))
    log("empty", np.zeros((0, 4), dtype=np.float32))
    log("Processing 1 images")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "image                    shape: (2, 2)                min:    0.00000  max:  255.00000  uint8"
    assert lines[1] == "empty                    shape: (0, 4)                min:             max:             float32"
    assert lines[2] == "Processing 1 images"


def test_load_image_gt_has_matterport_signature_and_full_masks_by_default(dataset):
    config = InferenceConfig()  # USE_MINI_MASK = True: Matterport's use_mini_mask=False still gives full masks
    image, image_meta, class_ids, bbox, mask = modellib.load_image_gt(dataset, config, 1)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert mask.shape == (64, 64, len(class_ids)) and mask.dtype == bool
    assert bbox.dtype == np.int32 and bbox.shape == (len(class_ids), 4)
    np.testing.assert_array_equal(bbox, utils.extract_bboxes(mask))
    meta = modellib.parse_image_meta(image_meta[np.newaxis])
    assert meta["image_id"][0] == 1 and tuple(meta["original_image_shape"][0]) == (64, 64, 3)
    _, _, _, _, mini = modellib.load_image_gt(dataset, config, 1, use_mini_mask=True)
    assert mini.shape == tuple(config.MINI_MASK_SHAPE) + (len(class_ids),)
    assert config.USE_MINI_MASK is True  # the caller's config is untouched
    flipped = modellib.load_image_gt(dataset, config, 1, augment=True)[0]  # a left-right flip, half of the time
    assert np.array_equal(flipped, image) or np.array_equal(flipped, image[:, ::-1])


def test_mold_and_unmold_image_take_the_config():
    config = InferenceConfig()
    image = np.array([[[200, 100, 0]]], dtype=np.uint8)
    molded = modellib.mold_image(image, config)
    np.testing.assert_allclose(molded[0, 0], np.array([200, 100, 0]) - np.asarray(config.MEAN_PIXEL), rtol=1e-6)
    np.testing.assert_array_equal(modellib.unmold_image(molded, config), image)


def test_rpn_targets_as_inspect_data_computes_them(dataset):
    config = InferenceConfig()
    image, _, class_ids, bbox, _ = modellib.load_image_gt(dataset, config, 0)
    backbone_shapes = modellib.compute_backbone_shapes(config, image.shape)
    anchors = utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS, backbone_shapes,
                                             config.BACKBONE_STRIDES, config.RPN_ANCHOR_STRIDE)
    rpn_match, rpn_bbox = modellib.build_rpn_targets(image.shape, anchors, class_ids, bbox, config)
    assert rpn_match.shape == (anchors.shape[0],) and rpn_bbox.shape == (config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4)
    positives = np.where(rpn_match == 1)[0]
    assert 1 <= len(positives) <= config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    assert np.sum(rpn_match != 0) <= config.RPN_TRAIN_ANCHORS_PER_IMAGE
    # The deltas of the positives move their anchors onto a ground-truth box.
    refined = utils.apply_box_deltas(anchors[positives], rpn_bbox[:len(positives)] * config.RPN_BBOX_STD_DEV)
    overlaps = utils.compute_overlaps(refined, bbox.astype(np.float32))
    assert np.all(overlaps.max(axis=1) > 0.99)


def test_data_generator_yields_matterport_inputs_and_outputs(dataset):
    config = InferenceConfig()
    inputs, outputs = next(modellib.data_generator(dataset, config, shuffle=True, batch_size=2))
    assert outputs == [] and len(inputs) == 7
    images, metas, rpn_match, rpn_bbox, gt_class_ids, gt_boxes, gt_masks = inputs
    anchor_count = utils.generate_pyramid_anchors(
        config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS, modellib.compute_backbone_shapes(config, (64, 64)),
        config.BACKBONE_STRIDES, config.RPN_ANCHOR_STRIDE).shape[0]
    assert images.shape == (2, 64, 64, 3) and metas.shape == (2, config.IMAGE_META_SIZE)
    assert rpn_match.shape == (2, anchor_count, 1) and rpn_bbox.shape == (2, config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4)
    g = config.MAX_GT_INSTANCES
    assert gt_class_ids.shape == (2, g) and gt_boxes.shape == (2, g, 4)
    assert gt_masks.shape == (2,) + tuple(config.MINI_MASK_SHAPE) + (g,)  # the config's USE_MINI_MASK
    generator = modellib.data_generator(dataset, config, batch_size=1, random_rois=20, detection_targets=True)
    inputs, outputs = next(generator)
    assert len(inputs) == 9 and inputs[7].shape == (1, 20, 4) and inputs[8].shape == (1, 16, 4)
    class_ids, bbox, mask = outputs
    assert class_ids.shape == (1, 16, 1) and bbox.shape == (1, 16, 4, 4) and mask.shape == (1, 16, 28, 28, 4)
    assert next(generator)[0][0].shape == (1, 64, 64, 3)  # endless
    with pytest.raises(ValueError, match="batch_size"):
        next(modellib.data_generator(dataset, config, batch_size=0))


def test_image_meta_and_box_graph_functions():
    meta = modellib.compose_image_meta(7, (30, 40, 3), (64, 64, 3), (12, 0, 52, 64), 1.6, [1, 1, 0, 0])
    parsed = modellib.parse_image_meta_graph(tf.constant(meta[np.newaxis]))
    assert float(parsed["image_id"][0]) == 7 and parsed["window"].numpy().tolist() == [[12, 0, 52, 64]]
    boxes = tf.constant([[[0.0, 0.0, 10.0, 20.0]]])
    normalized = modellib.norm_boxes_graph(boxes, (11, 21))  # (y2, x2) exclusive: shift 1, scale by h - 1, w - 1
    np.testing.assert_allclose(normalized.numpy(), [[[0.0, 0.0, 0.9, 0.95]]], rtol=1e-6)
    np.testing.assert_allclose(modellib.denorm_boxes_graph(normalized, (11, 21)).numpy(), boxes.numpy())


def test_detect_verbose_prints_matterport_lines_and_sets_anchors(model, dataset, capsys):
    image = dataset.load_image(0)
    results = model.detect([image], verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Processing 1 images"
    assert [line.split()[0] for line in lines[1:5]] == ["image", "molded_images", "image_metas", "anchors"]
    assert "shape: (64, 64, 3)" in lines[1] and "uint8" in lines[1]
    assert set(results[0]) == {"rois", "class_ids", "scores", "masks"}
    # Matterport's pixel anchors, as get_anchors left them.
    np.testing.assert_allclose(utils.norm_boxes(model.anchors, (64, 64)), model.get_anchors((64, 64)), atol=1e-6)
    assert model.anchors.max() > 1
    molded = modellib.mold_image(image[np.newaxis], model.config)
    meta = modellib.load_image_gt(dataset, model.config, 0)[1][np.newaxis]
    model.detect_molded(molded, meta, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Processing 1 images" and lines[1].startswith("image ") and "float32" in lines[1]


def test_trainable_layers(model):
    layers = model.get_trainable_layers()
    names = [layer.name for layer in layers]
    assert {"fpn_c5p5", "rpn_conv_shared", "mrcnn_class_logits", "mrcnn_mask"} <= set(names)
    assert all(layer.get_weights() for layer in layers)
    wrapped = keras.layers.TimeDistributed(keras.layers.Dense(2, name="inner"))
    assert model.find_trainable_layer(wrapped).name == "inner"
    assert model.find_trainable_layer(layers[0]) is layers[0]


def test_run_graph_and_ancestor_as_inspect_model_calls_them(model, dataset):
    image = dataset.load_image(0)
    get = model.keras_model.get_layer
    pillar = get("ROI").output
    nms_node = model.ancestor(pillar, "ROI/rpn_non_max_suppression:0")
    assert model.ancestor(pillar, "ROI/rpn_non_max_suppression/NonMaxSuppressionV3:0").step == nms_node.step
    assert model.ancestor(pillar, "ROI/no_such_node:0") is None
    assert model.ancestor(pillar, "mrcnn_mask:0") is None  # not on the proposals' path
    rpn = model.run_graph([image], [
        ("rpn_class", get("rpn_class").output),
        ("pre_nms_anchors", model.ancestor(pillar, "ROI/pre_nms_anchors:0")),
        ("refined_anchors", model.ancestor(pillar, "ROI/refined_anchors:0")),
        ("refined_anchors_clipped", model.ancestor(pillar, "ROI/refined_anchors_clipped:0")),
        ("post_nms_anchor_ix", nms_node),
        ("proposals", pillar),
    ])
    config = model.config
    k = min(config.PRE_NMS_LIMIT, model.anchors.shape[0])
    assert list(rpn) == ["rpn_class", "pre_nms_anchors", "refined_anchors", "refined_anchors_clipped",
                         "post_nms_anchor_ix", "proposals"]
    assert rpn["rpn_class"].shape == (1, model.anchors.shape[0], 2)
    assert rpn["pre_nms_anchors"].shape == (1, k, 4) and rpn["refined_anchors_clipped"].shape == (1, k, 4)
    clipped = rpn["refined_anchors_clipped"][0]
    assert clipped.min() >= 0 and clipped.max() <= 1
    np.testing.assert_allclose(clipped, np.clip(rpn["refined_anchors"][0], 0, 1), atol=1e-6)
    # Random weights saturate many scores at 1.0, so the order among ties is the kernels' own: the hand-computed
    # case is tests/layers/test_proposal.py. Here: NMS keeps at most POST_NMS_ROIS_INFERENCE of the K anchors.
    ixs = rpn["post_nms_anchor_ix"]
    assert ixs.ndim == 1 and 1 <= len(ixs) <= config.POST_NMS_ROIS_INFERENCE and ixs.max() < k
    assert rpn["proposals"].shape == (1, config.POST_NMS_ROIS_INFERENCE, 4)

    mrcnn = model.run_graph([image], [
        ("detections", get("mrcnn_detection").output),
        ("masks", get("mrcnn_mask").output),
    ])
    detections, masks = mrcnn["detections"], mrcnn["masks"]
    det_count = int(np.sum(detections[0, :, 4] > 0))
    assert masks.ndim == 5 and masks.shape[0] == 1 and masks.shape[1] >= det_count  # Matterport's 5-D layout
    assert masks.shape[2:] == (28, 28, config.NUM_CLASSES)
    with pytest.raises(ValueError, match="is None"):
        model.run_graph([image], [("nms", None)])


def test_get_imagenet_weights_goes_through_the_hash_checked_fetch(model, monkeypatch, tmp_path):
    from mrcnn.backbones import download

    name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    content = b"resnet50 weights"
    known = download.KNOWN_FILES[name]
    monkeypatch.setitem(download.KNOWN_FILES, name,
                        download.KnownFile(name, known.url, hashlib.md5(content).hexdigest()))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    fetched = []

    def fake_fetch(url, path, timeout=None):
        fetched.append(url)
        with open(path, "wb") as f:
            f.write(content)
        return path
    monkeypatch.setattr(download, "fetch", fake_fetch)
    with pytest.raises(ValueError, match="no keras.applications ImageNet weights"):
        model.get_imagenet_weights()  # the tiny backbone has none
    config = copy.copy(model.config)
    config.BACKBONE = "resnet50"
    monkeypatch.setattr(model, "config", config)
    path = model.get_imagenet_weights()
    assert fetched == [known.url] and path == str(tmp_path / "keras" / "models" / name)
    assert model.get_imagenet_weights() == path and len(fetched) == 1  # cached


def test_load_weights_raises_on_a_shape_mismatch_and_warns_when_little_loads(model, tmp_path, caplog):
    layer = model.keras_model.get_layer("fpn_c5p5")
    kernel, bias = layer.get_weights()
    wrong = str(tmp_path / "wrong.h5")
    write_keras2_file(wrong, {"fpn_c5p5": [np.zeros(kernel.shape[:-1] + (kernel.shape[-1] + 1,), np.float32),
                                           np.zeros(bias.shape[0] + 1, np.float32)]}, as_bytes=True)
    with pytest.raises(ValueError, match=r"fpn_c5p5.*\(1, 1, \d+, 33\).*\(1, 1, \d+, 32\)"):
        model.load_weights(wrong, by_name=True)
    with caplog.at_level("WARNING", logger="mrcnn.weights"):
        report = model.load_weights(wrong, by_name=True, skip_mismatch=True)
    assert report["mismatched"] == ["fpn_c5p5"] and report["loaded"] == []
    assert "only 1 of the model's" in caplog.text and "wrong.h5" in caplog.text
    caplog.clear()
    full = str(tmp_path / "full.weights.h5")
    model.keras_model.save_weights(full)
    with caplog.at_level("WARNING", logger="mrcnn.weights"):
        report = model.load_weights(full, by_name=True)
    assert not report["missing"] and "only" not in caplog.text
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)

