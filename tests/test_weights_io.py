import h5py
import keras
import numpy as np
import pytest

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
