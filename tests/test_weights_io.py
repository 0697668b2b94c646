import h5py
import keras
import numpy as np
import pytest

from mrcnn.weights import load_weights_file
from mrcnn.weights_io import assign_weights, read_weights, weighted_layers


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.Dense(3, name="rpn_conv_shared")(inner_in), name="rpn_model")
    x_in = keras.Input((4,))
    x = keras.layers.Dense(4, name="fpn_c5p5")(x_in)
    x = keras.layers.BatchNormalization(name="bn_conv1")(x)
    x = inner(x)
    x = keras.layers.Dense(2, name="mrcnn_class_logits")(x)
    return keras.Model(x_in, x)


def _write_keras2(path, weights, as_bytes):
    """A Keras 2 / Matterport-layout HDF5 file: root attr layer_names, per-layer attr weight_names."""
    enc = (lambda s: s.encode()) if as_bytes else (lambda s: s)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [enc(n) for n in list(weights) + ["input_1"]]
        f.attrs["backend"] = enc("tensorflow")
        f.attrs["keras_version"] = enc("2.2.4")
        f.create_group("input_1").attrs["weight_names"] = []
        for name, arrays in weights.items():
            group = f.create_group(name)
            kinds = ["kernel:0", "bias:0"] if len(arrays) == 2 else ["gamma:0", "beta:0", "moving_mean:0",
                                                                     "moving_variance:0"]
            names = [f"{name}/{k}" for k in kinds]
            group.attrs["weight_names"] = [enc(n) for n in names]
            for n, a in zip(names, arrays):
                group.create_dataset(n, data=a)


def test_weighted_layers_flattens_nested_models():
    assert list(weighted_layers(_model())) == ["fpn_c5p5", "bn_conv1", "rpn_conv_shared", "mrcnn_class_logits"]


def test_keras3_round_trip(tmp_path):
    source, target = _model(0), _model(1)
    path = str(tmp_path / "w.weights.h5")
    source.save_weights(path)
    weights = read_weights(path)
    assert set(weights) == {"fpn_c5p5", "bn_conv1", "rpn_conv_shared", "mrcnn_class_logits"}
    report = assign_weights(target, weights, strict=True)
    assert sorted(report["loaded"]) == sorted(weights)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(target.predict_on_batch(x), source.predict_on_batch(x), rtol=1e-6)


@pytest.mark.parametrize("as_bytes", [True, False])
def test_keras2_layout_by_name_with_exclude(tmp_path, as_bytes):
    rng = np.random.default_rng(1)
    weights = {
        "fpn_c5p5": [rng.normal(size=(4, 4)), rng.normal(size=(4,))],
        "bn_conv1": [rng.normal(size=4), rng.normal(size=4), rng.normal(size=4), rng.uniform(1, 2, size=4)],
        "rpn_conv_shared": [rng.normal(size=(4, 3)), rng.normal(size=(3,))],
        "mrcnn_class_logits": [rng.normal(size=(3, 81)), rng.normal(size=(81,))],
        "res2a_branch2a": [rng.normal(size=(1, 1)), rng.normal(size=(1,))],
    }
    path = str(tmp_path / "mask_rcnn_coco.h5")
    _write_keras2(path, weights, as_bytes)
    read = read_weights(path)
    assert list(read) == list(weights)
    model = _model()
    before = model.get_layer("mrcnn_class_logits").get_weights()[0].copy()
    report = assign_weights(model, read, exclude=["mrcnn_class_logits"])
    assert report["loaded"] == ["fpn_c5p5", "bn_conv1", "rpn_conv_shared"]
    assert report["excluded"] == ["mrcnn_class_logits"]
    assert report["unused"] == ["res2a_branch2a"]
    np.testing.assert_allclose(model.get_layer("bn_conv1").get_weights()[3], weights["bn_conv1"][3])
    np.testing.assert_array_equal(model.get_layer("mrcnn_class_logits").get_weights()[0], before)


def test_shape_mismatch_is_skipped_or_raises(tmp_path):
    weights = {"mrcnn_class_logits": [np.zeros((3, 81)), np.zeros(81)]}
    report = assign_weights(_model(), weights)
    assert report["mismatched"] == ["mrcnn_class_logits"]
    with pytest.raises(ValueError, match="mrcnn_class_logits"):
        assign_weights(_model(), weights, strict=True)
    # Keras 2's load_weights(by_name=True): a mismatch raises, naming the layer and both shapes, unless skipped.
    with pytest.raises(ValueError, match=r"'mrcnn_class_logits' has weights of shapes \[\(3, 81\), \(81,\)\], the model "
                                         r"expects \[\(3, 2\), \(2,\)\]; pass skip_mismatch=True"):
        assign_weights(_model(), weights, skip_mismatch=False)
    with pytest.raises(ValueError, match="no weights for layer"):
        assign_weights(_model(), {}, strict=True)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_weights(str(tmp_path / "none.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.h5"):
        read_weights(str(junk))
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w"):
        pass
    with pytest.raises(ValueError, match="neither"):
        read_weights(str(empty))


def _warnings(caplog):
    """The WARNING lines of mrcnn.weights (the file names fpn_* layers, so pretrained.py also warns: not ResNet)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "mrcnn.weights" and r.levelname == "WARNING")


def test_load_weights_file_warns_when_less_than_half_of_the_model_is_in_the_file(tmp_path, caplog):
    """MaskRCNN.load_weights: a file holding 1 of the model's 4 weighted layers (another model's checkpoint) loads
    by name with a WARNING naming the file and the count; half or more loads quietly."""
    source = _model(seed=1)
    arrays = {name: layer.get_weights() for name, layer in weighted_layers(source).items()}
    little = str(tmp_path / "other_model.h5")
    _write_keras2(little, {"fpn_c5p5": arrays["fpn_c5p5"]}, as_bytes=True)
    model = _model()
    with caplog.at_level("WARNING", logger="mrcnn.weights"):
        report = load_weights_file(model, little, by_name=True)
    assert report["loaded"] == ["fpn_c5p5"]
    assert "only 1 of the model's 4 weighted layers were found in " + little in _warnings(caplog)
    caplog.clear()
    half = str(tmp_path / "half.h5")
    _write_keras2(half, {name: arrays[name] for name in ("fpn_c5p5", "bn_conv1")}, as_bytes=True)
    with caplog.at_level("WARNING", logger="mrcnn.weights"):
        report = load_weights_file(model, half, by_name=True)
    assert sorted(report["loaded"]) == ["bn_conv1", "fpn_c5p5"] and _warnings(caplog) == ""
    with caplog.at_level("WARNING", logger="mrcnn.weights"):  # excluded layers do not count
        load_weights_file(model, little, exclude=["bn_conv1", "rpn_conv_shared"])
    assert _warnings(caplog) == ""
