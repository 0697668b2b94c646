import numpy as np
import tensorflow as tf

from mrcnn.ops.roi_align import pyramid_roi_align, roi_pyramid_level


def square(side, image_side, y=0.1, x=0.1):
    """A normalized square box of `side` pixels in an image of `image_side` pixels."""
    s = side / image_side
    return [y, x, y + s, x + s]


def test_level_of_canonical_box_is_4():
    assert roi_pyramid_level([square(224, 1024)], 1024 * 1024).numpy().tolist() == [4]


def test_levels_hand_values():
    image = 1024
    boxes = [square(224, image), square(112, image), square(448, image), square(56, image),
             square(10, image), square(1000, image), [0.0, 0.0, 0.0, 0.0],
             # log2(160 / 224) = -0.49 rounds to 0 (level 4); log2(150 / 224) = -0.58 rounds to -1 (level 3)
             square(160, image), square(150, image)]
    levels = roi_pyramid_level(boxes, image * image).numpy()
    assert levels.dtype == np.int32
    assert levels.tolist() == [4, 3, 5, 2, 2, 5, 2, 4, 3]


def test_level_depends_on_image_area_per_image():
    # The same normalized box is 224 px wide in a 1024 image and 112 px wide in a 512 image.
    boxes = np.array([[square(224, 1024)], [square(224, 1024)]], np.float32)  # [B=2, R=1, 4]
    areas = np.array([[1024.0 * 1024], [512.0 * 512]], np.float32)  # [B, 1]
    assert roi_pyramid_level(boxes, areas).numpy().tolist() == [[4], [3]]


def constant_pyramid(batch, channels=2, base=8):
    """P2..P5 of a (base*4)-pixel image whose values are 10 * level + image index."""
    maps = []
    for i, level in enumerate(range(2, 6)):
        side = base // (2 ** i)
        value = 10.0 * level + np.arange(batch, dtype=np.float32)[:, None, None, None]
        maps.append(tf.constant(np.broadcast_to(value, (batch, side, side, channels)).astype(np.float32)))
    return maps


def test_constant_map_gives_constant_and_routing_and_order():
    image_side = 256
    # Interleave levels and images so that a wrong order or a wrong image index shows.
    sides = [[112, 224, 20, 500, 224], [500, 30, 112, 224, 112]]
    expected_levels = [[3, 4, 2, 5, 4], [5, 2, 3, 4, 3]]
    # Boxes are sized relative to a 1024 image so that the levels above hold for image_area = 1024**2.
    boxes = np.array([[square(s, 1024, y=0.05 * j, x=0.02 * j) for j, s in enumerate(row)] for row in sides],
                     np.float32)
    pooled = pyramid_roi_align(boxes, tf.constant([1024.0 ** 2] * 2), constant_pyramid(2, base=image_side // 4),
                               (3, 4)).numpy()
    assert pooled.shape == (2, 5, 3, 4, 2)
    expected = 10.0 * np.array(expected_levels) + np.array([[0], [1]])
    np.testing.assert_allclose(pooled, np.broadcast_to(expected[:, :, None, None, None], pooled.shape), atol=1e-5)


def test_bilinear_samples_of_x_coordinate_map():
    width = 11
    x_map = np.broadcast_to(np.arange(width, dtype=np.float32)[None, None, :, None], (1, 9, width, 1))
    others = [tf.zeros([1, 4, 4, 1])] * 3
    # In a 64x64 image this box (6 x 38 px) goes to P2, the first map. x runs from 0.15 to 0.75 of (width - 1),
    # i.e. 1.5 .. 7.5 feature pixels.
    box = np.array([[[0.2, 0.15, 0.3, 0.75]]], np.float32)
    assert roi_pyramid_level(box, 64.0 ** 2).numpy().tolist() == [[2]]
    pooled = pyramid_roi_align(box, tf.constant([64.0 ** 2]), [tf.constant(x_map)] + others, (2, 4)).numpy()
    expected_x = np.linspace(1.5, 7.5, 4)  # crop_and_resize samples from x1 to x2 inclusive
    np.testing.assert_allclose(pooled[0, 0, :, :, 0], np.broadcast_to(expected_x, (2, 4)), atol=1e-5)


def test_zero_padding_boxes_give_finite_output():
    boxes = np.zeros((2, 3, 4), np.float32)
    boxes[0, 0] = square(224, 1024)
    pooled = pyramid_roi_align(boxes, tf.constant([1024.0 ** 2] * 2), constant_pyramid(2), (2, 2)).numpy()
    assert np.all(np.isfinite(pooled))
    np.testing.assert_allclose(pooled[0, 0], 40.0)  # P4 of image 0
    np.testing.assert_allclose(pooled[1, 2], 21.0)  # padding: P2 of image 1


def test_gradient_reaches_features_not_boxes():
    boxes = tf.constant([[square(224, 1024), square(100, 1024)]], tf.float32)
    maps = [tf.Variable(m) for m in constant_pyramid(1)]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(boxes)
        out = tf.reduce_sum(pyramid_roi_align(boxes, tf.constant([1024.0 ** 2]), maps, (2, 2)))
    assert tape.gradient(out, boxes) is None
    grads = tape.gradient(out, maps)
    assert float(tf.reduce_sum(grads[2])) > 0  # P4 pooled the 224 box
    assert float(tf.reduce_sum(grads[1])) > 0  # P3 pooled the 100 box
