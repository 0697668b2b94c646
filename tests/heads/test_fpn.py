import numpy as np
import keras
import pytest

from mrcnn.heads.fpn import build_fpn

FPN_LAYERS = {
    "fpn_c5p5": keras.layers.Conv2D, "fpn_p5upsampled": keras.layers.UpSampling2D, "fpn_c4p4": keras.layers.Conv2D,
    "fpn_p4add": keras.layers.Add, "fpn_p4upsampled": keras.layers.UpSampling2D, "fpn_c3p3": keras.layers.Conv2D,
    "fpn_p3add": keras.layers.Add, "fpn_p3upsampled": keras.layers.UpSampling2D, "fpn_c2p2": keras.layers.Conv2D,
    "fpn_p2add": keras.layers.Add, "fpn_p2": keras.layers.Conv2D, "fpn_p3": keras.layers.Conv2D,
    "fpn_p4": keras.layers.Conv2D, "fpn_p5": keras.layers.Conv2D, "fpn_p6": keras.layers.MaxPooling2D,
}


def _tiny_backbone_fpn(pyramid_size=8):
    """C2..C5 of a 64x64 image from strided convolutions with different channel counts (4, 6, 10, 12)."""
    image = keras.Input(shape=(64, 64, 3))
    c2 = keras.layers.Conv2D(4, (3, 3), strides=4, padding="same")(image)
    c3 = keras.layers.Conv2D(6, (3, 3), strides=2, padding="same")(c2)
    c4 = keras.layers.Conv2D(10, (3, 3), strides=2, padding="same")(c3)
    c5 = keras.layers.Conv2D(12, (3, 3), strides=2, padding="same")(c4)
    return keras.Model(image, build_fpn(c2, c3, c4, c5, pyramid_size=pyramid_size))


def test_fpn_levels_shapes_and_layers():
    model = _tiny_backbone_fpn()
    image = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    p2, p3, p4, p5, p6 = model.predict(image, verbose=0)
    assert [p.shape for p in (p2, p3, p4, p5, p6)] == [(2, s, s, 8) for s in (16, 8, 4, 2, 1)]
    for name, cls in FPN_LAYERS.items():
        assert type(model.get_layer(name)) is cls, name
    fpn_names = {layer.name for layer in model.layers if layer.name.startswith("fpn_")}
    assert fpn_names == set(FPN_LAYERS)
    # 1x1 lateral convs adapt the backbone channels; 3x3 output convs keep the pyramid size.
    assert model.get_layer("fpn_c2p2").kernel.shape == (1, 1, 4, 8)
    assert model.get_layer("fpn_c5p5").kernel.shape == (1, 1, 12, 8)
    assert model.get_layer("fpn_p3").kernel.shape == (3, 3, 8, 8)
    # P6 is P5 subsampled by 2 (pool 1, stride 2).
    np.testing.assert_array_equal(p6, p5[:, ::2, ::2])


def test_fpn_top_down_sum():
    model = _tiny_backbone_fpn()
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("fpn_c5p5", "fpn_c4p4", "fpn_p4add")])
    image = np.random.default_rng(1).normal(size=(1, 64, 64, 3)).astype("float32")
    c5p5, c4p4, p4add = probe.predict(image, verbose=0)
    upsampled = c5p5.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_allclose(p4add, upsampled + c4p4, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_pyramid_size(bad):
    x = keras.Input(shape=(2, 2, 3))
    with pytest.raises(ValueError, match="pyramid_size"):
        build_fpn(x, x, x, x, pyramid_size=bad)
