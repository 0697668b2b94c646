"""Tests for mrcnn/visualize.py (headless: MPLBACKEND=Agg is set before matplotlib loads)."""

import os

os.environ["MPLBACKEND"] = "Agg"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from mrcnn import visualize  # noqa: E402

CLASS_NAMES = ["BG", "square", "circle", "triangle"]
FIGSIZE = (3, 2)  # inches; at the default 100 dpi the PNG is 300 x 200 pixels


def _scene(n, height=24, width=32):
    """A grey image and n square instances with consistent boxes and masks."""
    image = np.full([height, width, 3], 60, dtype=np.uint8)
    boxes = np.array([[2, 2, 10, 10], [12, 4, 20, 14], [4, 18, 16, 30]][:n], dtype=np.int32)
    boxes = boxes.reshape(-1, 4)
    masks = np.zeros([height, width, n], dtype=bool)
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        masks[y1 + 1:y2 - 1, x1 + 1:x2 - 1, i] = True
    class_ids = np.array([1, 2, 3][:n], dtype=np.int32)
    scores = np.array([0.9, 0.8, 0.7][:n], dtype=np.float32)
    return image, boxes, masks, class_ids, scores


def _png_size(path, figsize=FIGSIZE, dpi=100):
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.size == (round(figsize[0] * dpi), round(figsize[1] * dpi))
    assert os.path.getsize(path) > 0


@pytest.mark.parametrize("n", [0, 1, 3])
def test_display_instances_saves_png_of_figure_size(tmp_path, n, caplog):
    image, boxes, masks, class_ids, scores = _scene(n)
    path = tmp_path / f"inst_{n}.png"
    with caplog.at_level("INFO", logger="mrcnn.visualize"):
        out = visualize.display_instances(image, boxes, masks, class_ids, CLASS_NAMES,
                                          scores=scores, figsize=FIGSIZE, save_path=path)
    assert out == str(path)
    _png_size(path)
    assert ("no instances" in caplog.text) == (n == 0)


def test_display_instances_returns_figure_with_captions():
    image, boxes, masks, class_ids, scores = _scene(3)
    fig = visualize.display_instances(image, boxes, masks, class_ids, CLASS_NAMES, scores=scores,
                                      figsize=FIGSIZE, colors=visualize.random_colors(3, seed=0))
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["circle 0.800", "square 0.900", "triangle 0.700"]
    # 3 dashed boxes + one contour polygon per (convex, single-piece) mask.
    assert len(fig.axes[0].patches) == 6


def test_display_instances_mismatched_counts_raise():
    image, boxes, masks, class_ids, scores = _scene(3)
    with pytest.raises(ValueError, match="boxes has 3, masks has 2, class_ids has 3"):
        visualize.display_instances(image, boxes, masks[:, :, :2], class_ids, CLASS_NAMES)
    with pytest.raises(ValueError, match="class_ids has 2"):
        visualize.display_instances(image, boxes, masks, class_ids[:2], CLASS_NAMES)
    with pytest.raises(ValueError, match="class_ids must lie in"):
        visualize.display_instances(image, boxes, masks, class_ids + 5, CLASS_NAMES)


def test_draw_instances_changes_exactly_the_masked_pixels():
    image, boxes, masks, class_ids, scores = _scene(3)
    colors = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
    out = visualize.draw_instances(image, boxes, masks, class_ids, CLASS_NAMES, scores,
                                   colors=colors, show_bbox=False)
    assert out.dtype == np.uint8 and out.shape == image.shape
    changed = np.any(out != image, axis=-1)
    np.testing.assert_array_equal(changed, masks.any(axis=-1))
    # 60 * 0.5 + 0.5 * 255 = 157.5 -> 158 in the colour's channel, 30 elsewhere.
    np.testing.assert_array_equal(out[masks[:, :, 0]], np.tile([158, 30, 30], (36, 1)))
    np.testing.assert_array_equal(out[masks[:, :, 2]], np.tile([30, 30, 158], (100, 1)))
    assert np.all(image == 60)  # input untouched


def test_draw_instances_box_outlines_add_only_the_box_border():
    image, boxes, masks, class_ids, _ = _scene(1)
    out = visualize.draw_instances(image, boxes, masks, class_ids, CLASS_NAMES,
                                   colors=[(1.0, 1.0, 0.0)])
    border = np.zeros(image.shape[:2], dtype=bool)
    border[2:10, 2:10] = True
    border[3:9, 3:9] = False  # one-pixel outline on the box's own pixels, (y2, x2) exclusive
    changed = np.any(out != image, axis=-1)
    np.testing.assert_array_equal(changed, border | masks[:, :, 0])
    np.testing.assert_array_equal(out[border], np.tile([255, 255, 0], (border.sum(), 1)))


def test_draw_instances_no_instances_returns_copy():
    image, boxes, masks, class_ids, _ = _scene(0)
    out = visualize.draw_instances(image, boxes, masks, class_ids, CLASS_NAMES)
    np.testing.assert_array_equal(out, image)


def test_random_colors_deterministic_and_distinct():
    a = visualize.random_colors(5, seed=3)
    assert len(a) == 5
    assert a == visualize.random_colors(5, seed=3)
    assert sorted(a) == sorted(visualize.random_colors(5, seed=4))  # same palette, shuffled
    assert len(set(a)) == 5
    assert all(0.0 <= v <= 1.0 for c in a for v in c)
    assert max(max(c) for c in visualize.random_colors(4, bright=False, seed=0)) == 0.7
    assert visualize.random_colors(0) == []
    with pytest.raises(ValueError, match="N must be"):
        visualize.random_colors(-1)


def test_apply_mask_hand_computed():
    image = np.array([[[0, 100, 200], [10, 20, 30]],
                      [[255, 255, 255], [50, 50, 50]]], dtype=np.uint8)
    mask = np.array([[True, False], [False, True]])
    out = visualize.apply_mask(image, mask, (1.0, 0.5, 0.0), alpha=0.5)
    # masked: p * 0.5 + 0.5 * c * 255 -> (0, 100, 200) -> (127.5, 113.75, 100) rounded
    expected = np.array([[[128, 114, 100], [10, 20, 30]],
                         [[255, 255, 255], [152, 89, 25]]], dtype=np.uint8)
    assert out is image  # in place, as Matterport
    np.testing.assert_array_equal(out, expected)

    floats = np.zeros([2, 2, 3], dtype=np.float32)
    visualize.apply_mask(floats, mask, (1.0, 0.5, 0.0), alpha=0.25)
    np.testing.assert_allclose(floats[0, 0], [63.75, 31.875, 0.0])
    np.testing.assert_array_equal(floats[0, 1], [0, 0, 0])
    with pytest.raises(ValueError, match="mask shape"):
        visualize.apply_mask(floats, np.ones([3, 2], bool), (1, 1, 1))


def test_draw_box_clips_to_image():
    image = np.zeros([6, 6, 3], dtype=np.uint8)
    visualize.draw_box(image, (-2, 3, 4, 10), (9, 9, 9))
    painted = image[..., 0] == 9
    expected = np.zeros([6, 6], dtype=bool)
    expected[0, 3:6] = expected[3, 3:6] = True
    expected[0:4, 3] = expected[0:4, 5] = True
    np.testing.assert_array_equal(painted, expected)


def test_plot_precision_recall_saves_png(tmp_path):
    path = visualize.plot_precision_recall(0.75, [1.0, 1.0, 0.5], [0.0, 0.5, 1.0],
                                           save_path=tmp_path / "pr.png")
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size[0] > 100
    fig = visualize.plot_precision_recall(0.75, [1.0], [0.5])
    assert fig.axes[0].get_title() == "Precision-Recall Curve. AP@50 = 0.750"
    with pytest.raises(ValueError, match="same length"):
        visualize.plot_precision_recall(0.5, [1.0, 0.5], [0.5])


def test_display_differences_saves_png_and_captions(tmp_path):
    image, gt_box, gt_mask, gt_ids, _ = _scene(2)
    # Prediction order is by ascending score: the function must line captions up anyway.
    pred_box = gt_box[::-1].copy()
    pred_mask = gt_mask[:, :, ::-1].copy()
    pred_ids = gt_ids[::-1].copy()
    pred_score = np.array([0.6, 0.95], dtype=np.float32)
    pred_mask[:, :, 1] = False  # prediction for GT 0 now covers half of its mask
    pred_mask[3:6, 3:9, 1] = True
    path = tmp_path / "diff.png"
    out = visualize.display_differences(image, gt_box, gt_ids, gt_mask, pred_box, pred_ids,
                                        pred_score, pred_mask, CLASS_NAMES, save_path=path)
    _png_size(out, figsize=(16, 16))
    fig = visualize.display_differences(image, gt_box, gt_ids, gt_mask, pred_box, pred_ids,
                                        pred_score, pred_mask, CLASS_NAMES)
    captions = sorted(t.get_text() for t in fig.axes[0].texts if t.get_text())
    assert captions == ["0.60 / 1.00", "0.95 / 0.50"]


def test_other_figures_save(tmp_path):
    image, boxes, masks, class_ids, _ = _scene(3)
    assert os.path.exists(visualize.display_top_masks(image, masks, class_ids, CLASS_NAMES,
                                                      limit=2, save_path=tmp_path / "top.png"))
    overlaps = np.array([[0.9, 0.1], [0.0, 0.6]])
    assert os.path.exists(visualize.plot_overlaps(np.array([1, 2, 0]), np.array([1, 3]),
                                                  np.array([0.9, 0.8]), overlaps, CLASS_NAMES,
                                                  save_path=tmp_path / "ov.png"))
    with pytest.raises(ValueError, match="overlaps must be"):
        visualize.plot_overlaps(np.array([1]), np.array([1, 3]), np.array([0.9, 0.8]),
                                overlaps, CLASS_NAMES)
    assert os.path.exists(visualize.draw_boxes(image, boxes=boxes, refined_boxes=boxes + 1,
                                               masks=masks, captions=["a", "b", "c"],
                                               visibilities=[0, 1, 2],
                                               save_path=tmp_path / "boxes.png"))
    with pytest.raises(ValueError, match="boxes or refined_boxes"):
        visualize.draw_boxes(image)
    assert os.path.exists(visualize.display_images([image, image[..., 0]], titles=["a", "b"],
                                                   save_path=tmp_path / "grid.png"))


def test_display_table_and_weight_stats():
    text = visualize.display_table([["A", "BB"], [1, 2.5]])
    assert text.splitlines() == ["A  BB", "1  2.5"]

    class FakeVariable:
        def __init__(self, path):
            self.path = path
            self.name = path.split("/")[-1]

    class FakeLayer:
        name = "conv1"
        weights = [FakeVariable("conv1/kernel"), FakeVariable("conv1/bias")]

        def get_weights(self):
            return [np.full([2, 2], 0.5, np.float32), np.array([-2.0, 2000.0], np.float32)]

    class FakeModel:
        layers = [FakeLayer()]

    report = visualize.display_weight_stats(FakeModel()).splitlines()
    assert report[0].split() == ["LAYER", "WEIGHT", "NAME", "SHAPE", "MIN", "MAX", "STD", "ALERT"]
    assert "conv1/kernel" in report[1] and "dead?" in report[1]
    assert "conv1/bias" in report[2] and "overflow?" in report[2] and "dead?" not in report[2]
    with pytest.raises(TypeError, match="keras.Model"):
        visualize.display_weight_stats(object())


def test_display_weight_stats_on_a_keras_model():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc"),
                              keras.layers.Dense(2, name="out", kernel_initializer="zeros")])
    lines = visualize.display_weight_stats(model).splitlines()
    assert len(lines) == 1 + 4  # header + kernel and bias of two layers
    assert lines[1].startswith("fc") and "fc/kernel" in lines[1] and "(4, 3)" in lines[1]
    assert "out/kernel" in lines[3] and "dead?" in lines[3]
    assert "dead?" not in lines[1] + lines[2] + lines[4]


def test_figure_to_array_is_the_figure_pixels():
    from matplotlib.figure import Figure
    fig = Figure(figsize=(1, 0.5), dpi=20, facecolor=(1.0, 0.0, 0.0))
    pixels = visualize.figure_to_array(fig)
    assert pixels.shape == (10, 20, 3) and pixels.dtype == np.uint8
    assert (pixels == [255, 0, 0]).all()
    image, boxes, masks, class_ids, scores = _scene(1)
    drawn = visualize.figure_to_array(visualize.display_instances(image, boxes, masks, class_ids, CLASS_NAMES,
                                                                  scores, figsize=FIGSIZE))
    assert drawn.shape == (200, 300, 3) and (drawn == 60).all(axis=-1).any()  # the grey image is in it


def _not_blank(path):
    """The PNG at `path` holds a drawing: more than a few distinct colours (a blank figure has one)."""
    with Image.open(path) as png:
        pixels = np.asarray(png.convert("RGB")).reshape(-1, 3)
    return len(np.unique(pixels, axis=0)) > 10


def _figure_calls():
    image, boxes, masks, class_ids, scores = _scene(3)
    overlaps = np.array([[0.9, 0.1], [0.0, 0.6]])
    return {
        "display_instances": lambda: visualize.display_instances(image, boxes, masks, class_ids, CLASS_NAMES,
                                                                 scores, figsize=FIGSIZE),
        "display_differences": lambda: visualize.display_differences(
            image, boxes, class_ids, masks, boxes, class_ids, scores, masks, CLASS_NAMES),
        "display_top_masks": lambda: visualize.display_top_masks(image, masks, class_ids, CLASS_NAMES, limit=2),
        "display_images": lambda: visualize.display_images([image, image[..., 0]], titles=["a", "b"]),
        "plot_precision_recall": lambda: visualize.plot_precision_recall(0.75, [1.0, 1.0, 0.5], [0.0, 0.5, 1.0]),
        "plot_overlaps": lambda: visualize.plot_overlaps(np.array([1, 2]), np.array([1, 3]), np.array([0.9, 0.8]),
                                                         overlaps, CLASS_NAMES),
        "draw_boxes": lambda: visualize.draw_boxes(image, boxes=boxes, refined_boxes=boxes + 1, masks=masks,
                                                   captions=["a", "b", "c"]),
        "draw_rois": lambda: visualize.draw_rois(image, boxes, boxes + 2, np.ones((3, 28, 28)), np.array([1, 0, 2]),
                                                 CLASS_NAMES),
    }


@pytest.mark.parametrize("name", sorted(_figure_calls()))
def test_plt_savefig_after_a_figure_function_saves_the_drawing(tmp_path, name):
    """Matterport's pattern: draw with no ax, then plt.savefig; the file holds the drawing, not a blank figure."""
    import matplotlib.pyplot as plt

    plt.close("all")
    plt.figure()  # an unrelated current figure: the function must make its own and leave it current
    fig = _figure_calls()[name]()
    path = tmp_path / f"{name}.png"
    plt.savefig(path, dpi=20)  # a small PNG: Matterport's figures are up to 16 x 16 inches
    assert plt.gcf() is fig
    assert _not_blank(path), f"{name}: plt.savefig saved a blank figure"
    plt.close("all")


def test_a_figure_saved_by_save_path_is_closed_and_ax_is_drawn_on(tmp_path):
    import matplotlib.pyplot as plt

    plt.close("all")
    image, boxes, masks, class_ids, scores = _scene(2)
    visualize.display_instances(image, boxes, masks, class_ids, CLASS_NAMES, scores, save_path=tmp_path / "a.png")
    assert plt.get_fignums() == []  # written and closed: a loop writing overlays does not pile up figures
    fig, ax = plt.subplots(1, 2)
    assert visualize.display_instances(image, boxes, masks, class_ids, CLASS_NAMES, ax=ax[1]) is fig
    assert visualize.plot_precision_recall(0.5, [1.0, 0.5], [0.5, 1.0], ax=ax[0]) is fig
    assert ax[0].get_title().startswith("Precision-Recall") and len(ax[1].patches) == 4
    assert plt.get_fignums() == [fig.number]
    plt.close("all")
