"""Matterport's synthetic "shapes" dataset: squares, circles and triangles on a plain background.

Images are generated on the fly from compact per-image specifications kept in ``image_info``
(background colour and a list of shapes), so ``load_image`` and ``load_mask`` return the same
arrays on every call and no file is read. Generation is deterministic given ``seed``: each
``load_shapes`` call draws from its own ``numpy.random.Generator``.

Shape shorthand:
    H: image height, W: image width, N: instances (visible shapes) in one image.

A shape specification is ``(name, (r, g, b), (x, y, s))``: the class name, its colour as ints in
0..255, and its centre (x, y) and half-size s in pixels. Triangles are equilateral-looking with
their apex at (x, y - s) and base y + s, as in Matterport's sample.
"""

import math

import cv2
import numpy as np

from mrcnn import utils

SOURCE = "shapes"
# Class name -> class id inside the "shapes" source (0 is the background).
SHAPE_CLASSES = {"square": 1, "circle": 2, "triangle": 3}
# Smallest image side for which the sampling ranges below are non-empty and meaningful.
MIN_IMAGE_SIDE = 16
# Matterport's overlap limit: of two shapes whose boxes overlap more (IoU), the later one stays.
NMS_THRESHOLD = 0.3


def _buffer(height, width):
    """Margin between a shape's centre and the image border: Matterport's 20 px at 128 px."""
    return max(1, min(20, min(height, width) // 6))


class ShapesDataset(utils.Dataset):
    """Synthetic shapes (square, circle, triangle) of random colour, size and place.

    ``load_shapes(count, height, width, seed)`` registers ``count`` images of ``height`` x
    ``width`` pixels. Each gets a random plain background colour and 1-4 shapes of random class,
    colour, size and position; heavily overlapping shapes are thinned by non-max suppression at
    IoU 0.3 (later shapes win), as in Matterport's sample.

    ``load_image(image_id)`` returns uint8 [H, W, 3] (RGB). ``load_mask(image_id)`` returns
    (bool [H, W, N], int32 [N]): shapes drawn later occlude earlier ones, each pixel belongs to at
    most one mask, and a shape left with no visible pixel is dropped.
    """

    def load_shapes(self, count, height, width, seed=None):
        """Register `count` synthetic images of size `height` x `width` (deterministic in seed)."""
        for name, value in (("count", count), ("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"load_shapes: {name} must be an int; got {value!r}")
        if count < 0:
            raise ValueError(f"load_shapes: count must be >= 0; got {count}")
        if min(height, width) < MIN_IMAGE_SIDE:
            raise ValueError(f"load_shapes: height and width must be >= {MIN_IMAGE_SIDE}; "
                             f"got height={height}, width={width}")
        for name, class_id in SHAPE_CLASSES.items():
            self.add_class(SOURCE, class_id, name)
        rng = np.random.default_rng(seed)
        first = sum(1 for info in self.image_info if info["source"] == SOURCE)
        for i in range(count):
            bg_color, shapes = self.random_image(int(height), int(width), rng)
            self.add_image(SOURCE, image_id=first + i, path=None, width=int(width),
                           height=int(height), bg_color=bg_color, shapes=shapes)

    def load_image(self, image_id):
        """Draw the image from its specification: uint8 [H, W, 3]."""
        info = self.image_info[image_id]
        if info["source"] != SOURCE:
            return super().load_image(image_id)
        image = np.empty([info["height"], info["width"], 3], dtype=np.uint8)
        image[:, :] = info["bg_color"]
        for shape, color, dims in info["shapes"]:
            image = self.draw_shape(image, shape, dims, color)
        return image

    def load_mask(self, image_id):
        """Instance masks bool [H, W, N] and class ids int32 [N] of the visible shapes."""
        info = self.image_info[image_id]
        if info["source"] != SOURCE:
            return super().load_mask(image_id)
        shapes = info["shapes"]
        height, width = info["height"], info["width"]
        masks = np.zeros([height, width, len(shapes)], dtype=bool)
        for i, (shape, _, dims) in enumerate(shapes):
            canvas = np.zeros([height, width], dtype=np.uint8)
            masks[:, :, i] = self.draw_shape(canvas, shape, dims, 1).astype(bool)
        # Occlusion: walk from the top-most (last drawn) shape down; each shape keeps only the
        # pixels that no later shape covers.
        free = np.ones([height, width], dtype=bool)
        for i in range(len(shapes) - 1, -1, -1):
            masks[:, :, i] &= free
            free &= ~masks[:, :, i]
        visible = np.flatnonzero(masks.reshape(-1, len(shapes)).any(axis=0))
        class_ids = np.array([SHAPE_CLASSES[shapes[i][0]] for i in visible], dtype=np.int32)
        return masks[:, :, visible], class_ids

    def image_reference(self, image_id):
        """The image's shape specifications [(name, color, (x, y, s))]."""
        info = self.image_info[image_id]
        if info["source"] == SOURCE:
            return info["shapes"]
        return super().image_reference(image_id)

    @staticmethod
    def draw_shape(image, shape, dims, color):
        """Fill one shape into `image` (uint8 [H, W] or [H, W, 3], contiguous) and return it.

        dims: (x, y, s) centre and half-size in pixels; color: an int or an (r, g, b) tuple.
        """
        x, y, s = (int(v) for v in dims)
        color = int(color) if np.isscalar(color) else tuple(int(c) for c in color)
        if shape == "square":
            image = cv2.rectangle(image, (x - s, y - s), (x + s, y + s), color, -1)
        elif shape == "circle":
            image = cv2.circle(image, (x, y), s, color, -1)
        elif shape == "triangle":
            half_base = s / math.sin(math.radians(60))
            points = np.array([[(x, y - s), (x - half_base, y + s), (x + half_base, y + s)]],
                              dtype=np.int32)
            image = cv2.fillPoly(image, points, color)
        else:
            raise ValueError(f"shape must be one of {sorted(SHAPE_CLASSES)}; got {shape!r}")
        return image

    @staticmethod
    def random_shape(height, width, rng):
        """One random shape specification (name, (r, g, b), (x, y, s)) that fits the image.

        The centre keeps a margin from the border (20 px at 128 px images) and the half-size s
        lies in [margin, min(height, width) // 4], so part of a shape may fall outside the image.
        """
        names = list(SHAPE_CLASSES)
        shape = names[int(rng.integers(len(names)))]
        color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        buffer = _buffer(height, width)
        y = int(rng.integers(buffer, height - buffer))
        x = int(rng.integers(buffer, width - buffer))
        s = int(rng.integers(buffer, min(height, width) // 4 + 1))
        return shape, color, (x, y, s)

    def random_image(self, height, width, rng):
        """A background colour (r, g, b) and 1-4 shape specifications for one image.

        Shapes whose boxes overlap an accepted later shape above IoU 0.3 are dropped
        (``mrcnn.utils.non_max_suppression`` with the drawing order as score).
        """
        bg_color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        count = int(rng.integers(1, 5))
        shapes, boxes = [], []
        for _ in range(count):
            shape, color, dims = self.random_shape(height, width, rng)
            shapes.append((shape, color, dims))
            x, y, s = dims
            boxes.append([y - s, x - s, y + s, x + s])
        keep = utils.non_max_suppression(np.array(boxes, dtype=np.float32),
                                         np.arange(count, dtype=np.float32), NMS_THRESHOLD)
        keep = set(int(i) for i in np.asarray(keep).reshape(-1))
        return bg_color, [spec for i, spec in enumerate(shapes) if i in keep]
