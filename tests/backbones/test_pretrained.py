"""Pretrained weights from local files: keras.applications ImageNet files and Matterport-layout (Keras 2) HDF5 files.

The files are written here, in tmp_path, in the exact layouts: Keras 2 HDF5 (root attribute `layer_names`, one group
per layer with attribute `weight_names`, datasets at `<layer>/<weight name>`, weights in Keras 2's order), with the
name attributes as bytes (Keras 2 on h5py 2) or str (h5py 3). Nothing touches the network or ~/.keras.
"""

import h5py
import keras
import numpy as np
import pytest

from mrcnn import backbones
from mrcnn.backbones import pretrained
from mrcnn.backbones.pretrained import (CLASS_SPECIFIC_HEADS, imagenet_weights_path, load_coco_weights,
                                        load_imagenet_weights, matterport_to_keras_name, read_matterport_weights)
from mrcnn.config import Config
from mrcnn.heads.rpn import build_rpn_model
from mrcnn.model import MaskRCNN
from mrcnn.weights_io import weighted_layers

CAFFE_MEAN_RGB = [123.68, 116.779, 103.939]


def write_keras2(path, layers, text="bytes"):
    """A Keras 2 HDF5 weights file. layers: [(layer name, [(weight name, array), ...]), ...]."""
    encode = (lambda names: np.array([n.encode("utf-8") for n in names])) if text == "bytes" else list
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = encode([name for name, _ in layers])
        f.attrs["backend"] = "tensorflow" if text == "str" else b"tensorflow"
        f.attrs["keras_version"] = "2.2.4" if text == "str" else b"2.2.4"
        for name, weights in layers:
            group = f.create_group(name)
            group.attrs["weight_names"] = encode([w for w, _ in weights]) if weights else np.zeros((0,), "S1")
            for weight_name, array in weights:
                group.create_dataset(weight_name, data=array)


def keras2_layers_of(model, rename=lambda name: name):
    """The weights of `model` as Keras 2 saved them: each layer's trainable then non-trainable weights."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.append((layer.name, [(f"{w.path.split('/')[-2]}/{w.name}:0", np.asarray(w))
                                     for w in layer.trainable_weights + layer.non_trainable_weights]))
        else:
            weights = layer.trainable_weights + layer.non_trainable_weights
            out.append((rename(layer.name), [(f"{rename(layer.name)}/{w.name}:0", np.asarray(w)) for w in weights]))
    return out


def randomize(model, seed=0):
    """Random weights with realistic batch norm statistics (some tiny variances, where epsilon matters)."""
    rng = np.random.default_rng(seed)
    for layer in weighted_layers(model).values():
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if w.name == "moving_variance":
                values.append(rng.uniform(1e-4, 1.5, shape))
            elif w.name == "gamma":
                values.append(rng.uniform(0.5, 1.5, shape))
            elif w.name in ("beta", "moving_mean", "bias"):
                values.append(rng.normal(0, 0.1, shape))
            else:
                values.append(rng.normal(0, np.sqrt(2.0 / np.prod(shape[:-1])), shape))
        layer.set_weights([v.astype(np.float32) for v in values])


# ---- Matterport's ResNet, written here from Matterport's model.py, with its names --------------------------------

def matterport_resnet(image, blocks=(3, 4, 6, 3)):
    """Matterport's resnet_graph (conv_block/identity_block, names res2a_branch2a, bn_conv1, ...) returning C2..C5.

    Two details follow keras.applications instead of Matterport, because pretrained.py documents them as the known
    difference (the stem's max-pool alignment) and Keras 3's default (batch norm epsilon 1e-3 = Keras 2's default):
    the stem pools after a 1-pixel zero padding, as keras.applications does.
    """
    x = keras.layers.ZeroPadding2D(3)(image)
    x = keras.layers.Conv2D(64, 7, strides=2, name="conv1")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name="bn_conv1")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.ZeroPadding2D(1)(x)
    x = keras.layers.MaxPooling2D(3, strides=2)(x)
    outputs = []
    for stage, (count, filters) in enumerate(zip(blocks, (64, 128, 256, 512)), start=2):
        for i in range(count):
            block = chr(ord("a") + i)
            stride = 2 if (stage > 2 and i == 0) else 1
            conv, bn = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
            y = keras.layers.Conv2D(filters, 1, strides=stride, name=conv + "2a")(x)
            y = keras.layers.Activation("relu")(keras.layers.BatchNormalization(name=bn + "2a")(y))
            y = keras.layers.Conv2D(filters, 3, padding="same", name=conv + "2b")(y)
            y = keras.layers.Activation("relu")(keras.layers.BatchNormalization(name=bn + "2b")(y))
            y = keras.layers.Conv2D(4 * filters, 1, name=conv + "2c")(y)
            y = keras.layers.BatchNormalization(name=bn + "2c")(y)
            if i == 0:
                shortcut = keras.layers.Conv2D(4 * filters, 1, strides=stride, name=conv + "1")(x)
                shortcut = keras.layers.BatchNormalization(name=bn + "1")(shortcut)
            else:
                shortcut = x
            x = keras.layers.Activation("relu", name=f"res{stage}{block}_out")(keras.layers.Add()([y, shortcut]))
        outputs.append(x)
    return outputs


def matterport_resnet101_spec(num_classes=81):
    """[(layer name, [(weight name, shape)])] of Matterport's ResNet101 Mask R-CNN, in its layer order."""
    def conv(name, kh, cin, cout):
        return (name, [(f"{name}/kernel:0", (kh, kh, cin, cout)), (f"{name}/bias:0", (cout,))])

    def bn(name, c):
        return (name, [(f"{name}/{v}:0", (c,)) for v in ("gamma", "beta", "moving_mean", "moving_variance")])

    spec = [("input_image", []), conv("conv1", 7, 3, 64), bn("bn_conv1", 64)]
    cin = 64
    for stage, count, f in ((2, 3, 64), (3, 4, 128), (4, 23, 256), (5, 3, 512)):
        for i in range(count):
            b = chr(ord("a") + i)
            spec += [conv(f"res{stage}{b}_branch2a", 1, cin, f), bn(f"bn{stage}{b}_branch2a", f),
                     conv(f"res{stage}{b}_branch2b", 3, f, f), bn(f"bn{stage}{b}_branch2b", f),
                     conv(f"res{stage}{b}_branch2c", 1, f, 4 * f)]
            if i == 0:
                spec += [conv(f"res{stage}{b}_branch1", 1, cin, 4 * f)]
            spec += [bn(f"bn{stage}{b}_branch2c", 4 * f)] + ([bn(f"bn{stage}{b}_branch1", 4 * f)] if i == 0 else [])
            cin = 4 * f
    spec += [conv("fpn_c5p5", 1, 2048, 256), conv("fpn_c4p4", 1, 1024, 256), conv("fpn_c3p3", 1, 512, 256),
             conv("fpn_c2p2", 1, 256, 256)] + [conv(f"fpn_p{i}", 3, 256, 256) for i in (2, 3, 4, 5)]
    rpn = [conv("rpn_conv_shared", 3, 256, 512), conv("rpn_class_raw", 1, 512, 6), conv("rpn_bbox_pred", 1, 512, 12)]
    spec.append(("rpn_model", [w for _, weights in rpn for w in weights]))
    spec += [("ROI", []), conv("mrcnn_mask_conv1", 3, 256, 256), bn("mrcnn_mask_bn1", 256),
             conv("mrcnn_class_conv1", 7, 256, 1024), bn("mrcnn_class_bn1", 1024)]
    for i in (2, 3, 4):
        spec += [conv(f"mrcnn_mask_conv{i}", 3, 256, 256), bn(f"mrcnn_mask_bn{i}", 256)]
    spec += [conv("mrcnn_class_conv2", 1, 1024, 1024), bn("mrcnn_class_bn2", 1024),
             ("mrcnn_mask_deconv", [("mrcnn_mask_deconv/kernel:0", (2, 2, 256, 256)),
                                    ("mrcnn_mask_deconv/bias:0", (256,))]),
             ("mrcnn_class_logits", [("mrcnn_class_logits/kernel:0", (1024, num_classes)),
                                     ("mrcnn_class_logits/bias:0", (num_classes,))]),
             ("mrcnn_bbox_fc", [("mrcnn_bbox_fc/kernel:0", (1024, 4 * num_classes)),
                                ("mrcnn_bbox_fc/bias:0", (4 * num_classes,))]),
             conv("mrcnn_mask", 1, 256, num_classes)]
    return spec


# ---- name mapping ---------------------------------------------------------------------------------------------------

def test_matterport_resnet101_names_map_one_to_one_onto_keras_resnet101():
    model = keras.applications.ResNet101(include_top=False, weights=None, input_shape=(64, 64, 3))
    keras_names = set(weighted_layers(model))
    matterport = [name for name, weights in matterport_resnet101_spec()
                  if weights and not name.startswith(("fpn", "rpn", "mrcnn"))]
    mapped = [matterport_to_keras_name(n) for n in matterport]
    assert len(matterport) == len(keras_names) == len(set(mapped))
    assert set(mapped) == keras_names
    assert matterport_to_keras_name("res4w_branch2c") == "conv4_block23_3_conv"
    assert matterport_to_keras_name("bn5a_branch1") == "conv5_block1_0_bn"
    assert matterport_to_keras_name("bn_conv1") == "conv1_bn"
    for name in ("fpn_c5p5", "rpn_conv_shared", "mrcnn_mask_conv1", "res4a_branch3"):
        assert matterport_to_keras_name(name) == name


# ---- a mapped model computes what Matterport's computes -------------------------------------------------------------

@pytest.mark.parametrize("mean_pixel,tolerance", [(CAFFE_MEAN_RGB, 1e-4), ([123.7, 116.8, 103.9], 2e-3)])
def test_mapped_weights_reproduce_matterport_features(tmp_path, mean_pixel, tolerance):
    image = keras.Input((64, 64, 3))
    reference = keras.Model(image, matterport_resnet(image))
    randomize(reference, seed=1)
    path = str(tmp_path / "matterport_resnet50.h5")
    write_keras2(path, keras2_layers_of(reference))

    ours_image = keras.Input((64, 64, 3))
    ours = keras.Model(ours_image, backbones.get_backbone("resnet50").features(ours_image, mean_pixel=mean_pixel))
    report = load_coco_weights(ours, path)
    assert len(report["loaded"]) == len(weighted_layers(ours)) and not report["missing"]
    assert not report["unused"] and not report["mismatched"]
    assert report["renamed"]["res3d_branch2c"] == "conv3_block4_3_conv"

    raw = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    # Matterport feeds RGB minus its MEAN_PIXEL; so does our pipeline (the caffe layer then makes it BGR).
    expected = [np.asarray(c) for c in reference(raw - np.float32(CAFFE_MEAN_RGB), training=False)]
    got = [np.asarray(c) for c in ours(raw - np.asarray(mean_pixel, np.float32), training=False)]
    for level, (a, b) in enumerate(zip(got, expected), start=2):
        scale = float(np.abs(b).max())
        assert scale > 0
        np.testing.assert_allclose(a, b, atol=tolerance * scale, rtol=0, err_msg=f"C{level}")


# ---- the check's scenario: a Matterport ResNet101 COCO file into our ResNet101 Mask R-CNN, heads excluded ----------

class Resnet101Config(Config):
    NAME = "coco_load"
    BACKBONE = "resnet101"
    NUM_CLASSES = 4
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = IMAGE_MAX_DIM = 64
    POST_NMS_ROIS_INFERENCE = 16
    DETECTION_MAX_INSTANCES = 4


def assert_stored(actual, source):
    """`actual` holds `source` exactly, in the variable's dtype: the inference model keeps 16-bit layers' weights in
    bfloat16 under a mixed policy (mrcnn/precision.py), rounded as the cast rounds them."""
    np.testing.assert_array_equal(actual, np.asarray(source).astype(actual.dtype))


@pytest.fixture(scope="module")
def coco_file(tmp_path_factory):
    rng = np.random.default_rng(3)
    layers = []
    for name, weights in matterport_resnet101_spec():
        arrays = []
        for weight_name, shape in weights:
            array = rng.standard_normal(shape, dtype=np.float32)
            if weight_name.endswith("moving_variance:0"):
                array = np.abs(array) + 0.01
            arrays.append((weight_name, array))
        layers.append((name, arrays))
    path = str(tmp_path_factory.mktemp("coco") / "mask_rcnn_coco.h5")
    write_keras2(path, layers, text="bytes")
    return path, {name: dict(weights) for name, weights in layers}


@pytest.fixture(scope="module")
def resnet101_model(tmp_path_factory):
    return MaskRCNN("inference", Resnet101Config(), str(tmp_path_factory.mktemp("logs")))


def test_coco_file_loads_into_resnet101_with_heads_excluded(coco_file, resnet101_model):
    path, arrays = coco_file
    report = load_coco_weights(resnet101_model, path, num_classes_match=False)
    weighted = set(weighted_layers(resnet101_model.keras_model))
    assert set(report["excluded"]) == set(CLASS_SPECIFIC_HEADS) & weighted
    assert set(report["loaded"]) == weighted - set(CLASS_SPECIFIC_HEADS)
    assert not report["missing"] and not report["mismatched"] and not report["unused"]
    assert report["renamed"]["res4w_branch2c"] == "conv4_block23_3_conv"

    model = resnet101_model.keras_model
    kernel, bias = model.get_layer("conv4_block23_3_conv").get_weights()
    assert_stored(kernel, arrays["res4w_branch2c"]["res4w_branch2c/kernel:0"])
    gamma, beta, mean, variance = model.get_layer("conv4_block23_3_bn").get_weights()
    source = arrays["bn4w_branch2c"]
    np.testing.assert_array_equal(gamma, source["bn4w_branch2c/gamma:0"])
    np.testing.assert_array_equal(mean, source["bn4w_branch2c/moving_mean:0"])
    # Same function despite the epsilons: var + 1e-3 (Matterport) == var' + 1.001e-5 (keras.applications).
    np.testing.assert_allclose(variance + 1.001e-5, source["bn4w_branch2c/moving_variance:0"] + 1e-3, rtol=1e-6)
    # Matterport's conv1 saw RGB; our caffe preprocessing feeds BGR.
    assert_stored(model.get_layer("conv1_conv").get_weights()[0], arrays["conv1"]["conv1/kernel:0"][:, :, ::-1, :])
    # The nested rpn_model group is split into its layers.
    np.testing.assert_array_equal(model.get_layer("rpn_model").get_layer("rpn_class_raw").get_weights()[0],
                                  arrays["rpn_model"]["rpn_class_raw/kernel:0"])
    assert_stored(model.get_layer("fpn_c5p5").get_weights()[1], arrays["fpn_c5p5"]["fpn_c5p5/bias:0"])
    # Heads are unchanged batch norms: epsilon 1e-3 on both sides, so their variance is copied as is.
    np.testing.assert_array_equal(model.get_layer("mrcnn_mask_bn2").get_weights()[3],
                                  arrays["mrcnn_mask_bn2"]["mrcnn_mask_bn2/moving_variance:0"])


def test_coco_heads_with_other_class_count_are_reported_not_raised(coco_file, resnet101_model):
    path, _ = coco_file
    report = load_coco_weights(resnet101_model, path, num_classes_match=True, exclude=["fpn_p2"])
    assert set(report["mismatched"]) == {"mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask"}
    assert report["excluded"] == ["fpn_p2"]


# ---- file layout details: str/bytes attributes, nested models, weight order --------------------------------------

def small_target():
    image = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, name="conv1_conv")(image)
    x = keras.layers.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = keras.layers.Conv2D(8, 1, name="fpn_c5p5")(x)
    rpn = build_rpn_model(1, 3, 8)
    outputs = rpn([x])
    return keras.Model(image, outputs)


def small_source(rng, prefix_rpn=True, bn_order=("gamma", "beta", "moving_mean", "moving_variance")):
    def arr(*shape):
        return rng.standard_normal(shape).astype(np.float32)
    bn = {"gamma": arr(4), "beta": arr(4), "moving_mean": arr(4), "moving_variance": np.abs(arr(4))}
    rpn_names = ["rpn_conv_shared/kernel:0", "rpn_conv_shared/bias:0", "rpn_class_raw/kernel:0",
                 "rpn_class_raw/bias:0", "rpn_bbox_pred/kernel:0", "rpn_bbox_pred/bias:0"]
    rpn_arrays = [arr(3, 3, 8, 512), arr(512), arr(1, 1, 512, 6), arr(6), arr(1, 1, 512, 12), arr(12)]
    if not prefix_rpn:
        rpn_names = [f"param_{i}:0" for i in range(6)]
    return [("input_image", []),
            ("conv1", [("conv1/kernel:0", arr(3, 3, 3, 4)), ("conv1/bias:0", arr(4))]),
            ("bn_conv1", [(f"bn_conv1/{v}:0", bn[v]) for v in bn_order]),
            ("fpn_c5p5", [("fpn_c5p5/kernel:0", arr(1, 1, 4, 8)), ("fpn_c5p5/bias:0", arr(8))]),
            ("rpn_model", list(zip(rpn_names, rpn_arrays))),
            ("res9z_branch7", [("res9z_branch7/kernel:0", arr(2))])]


@pytest.mark.parametrize("text", ["bytes", "str"])
@pytest.mark.parametrize("prefix_rpn", [True, False])
def test_layout_variants_load_by_name(tmp_path, text, prefix_rpn):
    source = small_source(np.random.default_rng(4), prefix_rpn=prefix_rpn)
    path = str(tmp_path / "m.h5")
    write_keras2(path, source, text=text)
    model = small_target()
    report = load_coco_weights(model, path)
    assert set(report["loaded"]) == {"conv1_conv", "conv1_bn", "fpn_c5p5", "rpn_conv_shared", "rpn_class_raw",
                                     "rpn_bbox_pred"}
    assert report["unused"] == ["res9z_branch7"] and not report["missing"]
    assert report["renamed"] == {"conv1": "conv1_conv", "bn_conv1": "conv1_bn"}
    files = dict(source)
    # No caffe preprocessing layer in this model: conv1 is copied unchanged.
    np.testing.assert_array_equal(model.get_layer("conv1_conv").get_weights()[0], files["conv1"][0][1])
    rpn = model.get_layer("rpn_model")
    np.testing.assert_array_equal(rpn.get_layer("rpn_bbox_pred").get_weights()[1], files["rpn_model"][5][1])


def test_batch_norm_weights_are_placed_by_their_names(tmp_path):
    order = ("moving_variance", "gamma", "moving_mean", "beta")
    source = small_source(np.random.default_rng(5), bn_order=order)
    path = str(tmp_path / "m.h5")
    write_keras2(path, source)
    model = small_target()
    load_coco_weights(model, path)
    by_name = {w.split("/")[1][:-2]: a for w, a in dict(source)["bn_conv1"]}
    gamma, beta, mean, variance = model.get_layer("conv1_bn").get_weights()
    np.testing.assert_array_equal(gamma, by_name["gamma"])
    np.testing.assert_array_equal(beta, by_name["beta"])
    np.testing.assert_array_equal(mean, by_name["moving_mean"])
    np.testing.assert_allclose(variance, by_name["moving_variance"] + 1e-3 - 1.001e-5, rtol=1e-6)
    split = read_matterport_weights(path)
    assert set(split) == {"conv1", "bn_conv1", "fpn_c5p5", "rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred",
                          "res9z_branch7"}


def test_coco_loader_rejects_other_files(tmp_path):
    model = small_target()
    with pytest.raises(FileNotFoundError, match="nowhere.h5"):
        load_coco_weights(model, str(tmp_path / "nowhere.h5"))
    keras3 = str(tmp_path / "ours.weights.h5")
    model.save_weights(keras3)
    with pytest.raises(ValueError, match="not a Keras 2"):
        load_coco_weights(model, keras3)


# ---- ImageNet weights from the Keras cache or a path ----------------------------------------------------------------

def test_missing_imagenet_file_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    with pytest.raises(FileNotFoundError) as info:
        imagenet_weights_path("resnet101")
    message = str(info.value)
    assert "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "kh" / "models") in message and "--weights-file PATH" in message
    with pytest.raises(FileNotFoundError, match="elsewhere.h5"):
        imagenet_weights_path("vgg19", str(tmp_path / "elsewhere.h5"))
    with pytest.raises(ValueError, match="resnext50"):
        imagenet_weights_path("resnext50")


def test_keras_cache_defaults_to_home(monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    assert pretrained.keras_models_dir().endswith(".keras/models")


@pytest.fixture(scope="module")
def densenet_file(tmp_path_factory):
    """A keras.applications DenseNet121 notop file (Keras 2 layout) with random weights, in a fake Keras cache."""
    reference = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(64, 64, 3))
    randomize(reference, seed=6)
    home = tmp_path_factory.mktemp("keras_home")
    (home / "models").mkdir()
    path = str(home / "models" / "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5")
    write_keras2(path, [(name, weights) for name, weights in keras2_layers_of(reference)])
    return home, path, reference


def test_imagenet_weights_from_the_keras_cache_reproduce_keras_applications(densenet_file, monkeypatch):
    home, _, reference = densenet_file
    monkeypatch.setenv("KERAS_HOME", str(home))
    mean_pixel = np.array([120.0, 110.0, 100.0], np.float32)
    image = keras.Input((64, 64, 3))
    features = backbones.get_backbone("densenet121").features(image, mean_pixel=mean_pixel)
    ours = keras.Model(image, features)
    report = load_imagenet_weights(ours, "densenet121")
    assert set(report["loaded"]) == set(weighted_layers(reference)) and not report["mismatched"]

    raw = np.random.default_rng(7).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    expected_model = keras.Model(reference.input, [reference.get_layer(n).output
                                                   for n in backbones.get_backbone("densenet121").taps])
    expected = expected_model(keras.applications.densenet.preprocess_input(raw.copy()), training=False)
    got = ours(raw - mean_pixel, training=False)
    for a, b in zip(got, expected):
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max()))


def test_imagenet_file_of_another_backbone_is_rejected(densenet_file):
    _, path, _ = densenet_file
    image = keras.Input((64, 64, 3))
    model = keras.Model(image, backbones.get_backbone("vgg19").features(image, mean_pixel=CAFFE_MEAN_RGB))
    with pytest.raises(ValueError, match="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        load_imagenet_weights(model, "vgg19", path=path)


def test_weights_file_kind(tmp_path, densenet_file):
    matterport = str(tmp_path / "m.h5")
    write_keras2(matterport, small_source(np.random.default_rng(8)), text="str")
    assert pretrained.weights_file_kind(matterport) == "matterport"
    assert pretrained.weights_file_kind(densenet_file[1]) == "keras2"
    ours = str(tmp_path / "ours.weights.h5")
    small_target().save_weights(ours)
    assert pretrained.weights_file_kind(ours) == "keras3"
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        pretrained.weights_file_kind(str(tmp_path / "missing.h5"))
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="text.h5"):
        pretrained.weights_file_kind(str(tmp_path / "text.h5"))


def test_imagenet_file_of_a_smaller_sibling_warns(densenet_file, caplog):
    _, path, _ = densenet_file
    image = keras.Input((64, 64, 3))
    model = keras.Model(image, backbones.get_backbone("densenet169").features(image, mean_pixel=CAFFE_MEAN_RGB))
    with caplog.at_level("WARNING", logger="mrcnn.backbones.pretrained"):
        report = load_imagenet_weights(model, "densenet121", path=path)
    assert "conv4_block32_1_conv" in report["missing"] and "pool4_bn" in report["mismatched"]
    assert "do not cover the model's backbone" in caplog.text


def test_coco_weights_path(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        pretrained.coco_weights_path()
    assert "mask_rcnn_coco.h5" in str(info.value) and str(tmp_path / "kh" / "models") in str(info.value)
    (tmp_path / "kh" / "models").mkdir(parents=True)
    (tmp_path / "kh" / "models" / "mask_rcnn_coco.h5").write_bytes(b"")
    assert pretrained.coco_weights_path() == str(tmp_path / "kh" / "models" / "mask_rcnn_coco.h5")
    (tmp_path / "mask_rcnn_coco.h5").write_bytes(b"")
    assert pretrained.coco_weights_path() == str(tmp_path / "mask_rcnn_coco.h5")
    with pytest.raises(FileNotFoundError, match="other.h5"):
        pretrained.coco_weights_path(str(tmp_path / "other.h5"))


def test_maskrcnn_load_weights_maps_matterport_files(coco_file, resnet101_model):
    """Matterport's own call, model.load_weights("mask_rcnn_coco.h5", by_name=True, exclude=[heads]), goes through
    the name mapping; a strict load of the 81-class file into a 9-class model says which layers did not load."""
    path, arrays = coco_file
    heads = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]
    report = resnet101_model.load_weights(path, by_name=True, exclude=heads)
    assert "conv4_block23_3_conv" in report["loaded"] and not report["missing"]
    assert set(report["excluded"]) <= set(heads)
    assert_stored(resnet101_model.keras_model.get_layer("fpn_c5p5").get_weights()[0],
                  arrays["fpn_c5p5"]["fpn_c5p5/kernel:0"])
    with pytest.raises(ValueError, match="mrcnn_class_logits"):
        resnet101_model.load_weights(path)
