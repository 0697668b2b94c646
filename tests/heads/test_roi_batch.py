import numpy as np
import keras
import pytest

from mrcnn.heads.roi_batch import MergeRoiAxis, SplitRoiAxis


def _roi_conv_model():
    pooled = keras.Input(shape=(None, 4, 4, 5), name="pooled")
    x = MergeRoiAxis(name="merge")(pooled)
    x = keras.layers.Conv2D(2, (3, 3), padding="same", name="conv")(x)
    out = SplitRoiAxis(name="split")([x, pooled])
    return keras.Model(pooled, out)


def test_merge_orders_image_major_and_split_round_trips_exactly():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4, 5)).astype("float32")
    merged = keras.ops.convert_to_numpy(MergeRoiAxis()(x))
    assert merged.shape == (6, 4, 4, 5)
    for b in range(2):
        for r in range(3):
            np.testing.assert_array_equal(merged[b * 3 + r], x[b, r])
    back = keras.ops.convert_to_numpy(SplitRoiAxis()([merged, x]))
    np.testing.assert_array_equal(back, x)


def test_static_shapes():
    known = keras.Input(shape=(3, 7, 7, 8), batch_size=2)
    assert MergeRoiAxis()(known).shape == (6, 7, 7, 8)
    unknown = keras.Input(shape=(None, 7, 7, 8))
    merged = MergeRoiAxis()(unknown)
    assert merged.shape == (None, 7, 7, 8)
    pooled = keras.layers.Conv2D(4, (7, 7))(merged)
    assert SplitRoiAxis()([pooled, unknown]).shape == (None, None, 1, 1, 4)
    assert SplitRoiAxis()([keras.layers.Conv2D(4, (7, 7))(MergeRoiAxis()(known)), known]).shape == (2, 3, 1, 1, 4)


def test_equals_per_roi_convolution_for_any_roi_count():
    model = _roi_conv_model()
    conv = model.get_layer("conv")
    rng = np.random.default_rng(1)
    for rois in (3, 7):
        x = rng.normal(size=(2, rois, 4, 4, 5)).astype("float32")
        out = model.predict(x, verbose=0)
        assert out.shape == (2, rois, 4, 4, 2)
        per_roi = np.stack([keras.ops.convert_to_numpy(conv(x[:, r])) for r in range(rois)], axis=1)
        np.testing.assert_allclose(out, per_roi, rtol=1e-5, atol=1e-5)


def test_save_and_load_safe_mode(tmp_path):
    model = _roi_conv_model()
    x = np.random.default_rng(2).normal(size=(2, 3, 4, 4, 5)).astype("float32")
    path = tmp_path / "roi.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("merge"), MergeRoiAxis)
    assert isinstance(loaded.get_layer("split"), SplitRoiAxis)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert MergeRoiAxis.from_config(MergeRoiAxis(name="m").get_config()).name == "m"


def test_bad_ranks_raise():
    with pytest.raises(ValueError, match="rank >= 2"):
        MergeRoiAxis().compute_output_shape((5,))
    with pytest.raises(ValueError, match="two inputs"):
        SplitRoiAxis().compute_output_shape([(6, 2)])
    with pytest.raises(ValueError, match="reference must have rank >= 2"):
        SplitRoiAxis().compute_output_shape([(6, 2), (6,)])


def test_split_roi_conv2d_is_a_conv2d_per_roi_with_conv2d_weights(tmp_path):
    from mrcnn.heads.roi_batch import SplitRoiConv2D

    pooled = keras.Input(shape=(None, 4, 4, 5), name="pooled")
    out = SplitRoiConv2D(3, (1, 1), activation="sigmoid", name="head")([MergeRoiAxis()(pooled), pooled])
    assert tuple(out.shape) == (None, None, 4, 4, 3)
    model = keras.Model(pooled, out)
    layer = model.get_layer("head")
    assert [tuple(w.shape) for w in layer.weights] == [(1, 1, 5, 3), (3,)]
    plain = keras.layers.Conv2D(3, (1, 1), activation="sigmoid")
    plain.build((None, 4, 4, 5))
    plain.set_weights(layer.get_weights())  # the same weights, in the same order, fit a Conv2D
    x = np.random.default_rng(3).normal(size=(2, 3, 4, 4, 5)).astype("float32")
    got = model.predict(x, verbose=0)
    expected = np.stack([keras.ops.convert_to_numpy(plain(x[:, r])) for r in range(3)], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    path = tmp_path / "head.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("head"), SplitRoiConv2D)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), got)
    with pytest.raises(ValueError, match="two inputs"):
        SplitRoiConv2D(3, (1, 1)).build((None, 4, 4, 5))
