"""Fields from crops: a dataset of single-cell crops turned into training images that look like a microscope's field
at another magnification.

Shape shorthand: S: the canvas side, H, W: a base image's height and width, N: instances of one image.

A crop dataset such as PBC shows one labelled cell in the middle of every image, always at one scale. A field from
another lab shows several white cells, cells cut by the border, empty stretches, and another magnification. A
`MosaicDataset` wraps a prepared dataset of crops (with masks) and registers `copies` composed images per crop; image
i is drawn from a generator seeded with (seed, i), so the same i is always the same field (seeded runs repeat):

- a scale s, log-uniform in `scale_range` (1 = the training scale, at which a base image becomes `base_scale` times
  its size); each base image is resized by base_scale * s (times a small jitter per piece);
- s large enough that the resized crop covers the canvas: one crop, cut to a random S x S window that contains the
  centre of one of its instances (cells cut at the borders, shifted off the middle);
- otherwise a mosaic: the canvas filled with the crop's background colour and tiled with a jittered grid of crops,
  image i's own crop in a random place and random others around it; a later piece covers what it overlaps, and the
  masks of what it covers are cut accordingly.

Instances left with fewer than `min_pixels` pixels are dropped. With probability `plain` an image is its crop as it
is (at the training scale, whole), so the canonical look stays in the mix. Classes are the base dataset's (same
internal ids); each image's source is its own crop's, so active class ids follow the base dataset.
"""

import math

import cv2
import numpy as np

from mrcnn.data.dataset import Dataset


class MosaicDataset(Dataset):
    """Composed fields of a crop dataset (see the module notes).

    Args:
        base: a prepared Dataset whose load_image / load_mask give crops with their instances.
        size: S, the canvas side in pixels (the model's input, IMAGE_MAX_DIM).
        base_scale: the factor that brings a base image to the training scale (PBC at 192 px: 192 / 363).
        scale_range: (lowest, highest) s; (0.5, 2.0) by default.
        copies: composed images per base image. plain: probability of a base image as it is.
        min_pixels: smallest instance kept. seed: int.
    """

    def __init__(self, base, size, base_scale, scale_range=(0.5, 2.0), copies=1, plain=0.2, min_pixels=30,
                 seed=0):
        super().__init__()
        low, high = (float(v) for v in scale_range)
        if not 0 < low <= high:
            raise ValueError(f"scale_range must be (lowest, highest) with 0 < lowest <= highest, got {scale_range!r}")
        for name, value in (("size", size), ("copies", copies)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MosaicDataset: {name} must be a positive int, got {value!r}")
        if not base_scale > 0 or not 0 <= plain <= 1:
            raise ValueError(f"MosaicDataset: base_scale must be > 0 and plain in [0, 1], got {base_scale!r}, "
                             f"{plain!r}")
        if not base.image_ids.size:
            raise ValueError(f"MosaicDataset: the base dataset {type(base).__name__} has no images")
        self.base, self.size, self.base_scale = base, int(size), float(base_scale)
        self.scale_range, self.plain, self.min_pixels, self.seed = (low, high), float(plain), int(min_pixels), seed
        for info in base.class_info[1:]:
            self.add_class(info["source"], info["id"], info["name"])
        for copy in range(copies):
            for base_id in base.image_ids:
                source = base.image_info[base_id]["source"]
                self.add_image(source, image_id=f"field{copy}-{base_id}", path=None, base_id=int(base_id))
        self._cache = None

    def prepare(self, class_map=None):
        super().prepare(class_map)
        if list(self.class_names) != list(self.base.class_names):
            raise ValueError("MosaicDataset: the classes differ from the base dataset's")

    def image_reference(self, image_id):
        base_id = self.image_info[image_id]["base_id"]
        return f"field {image_id} around {self.base.image_reference(base_id) or base_id}"

    def load_image(self, image_id):
        return self._compose(image_id)[0]

    def load_mask(self, image_id):
        _, masks, class_ids = self._compose(image_id)
        return masks, class_ids

    # ---- composing -------------------------------------------------------------------------------------------------

    def _compose(self, image_id):
        """(image uint8 [S, S, 3], masks bool [S, S, N], class ids int32 [N]) of image `image_id` (cached once, as the
        loader asks for the image and then its masks)."""
        if self._cache is not None and self._cache[0] == image_id:
            return self._cache[1]
        rng = np.random.default_rng([int(self.seed), int(image_id)])
        base_id = self.image_info[image_id]["base_id"]
        if rng.random() < self.plain:
            composed = self._plain(base_id)
        else:
            scale = math.exp(rng.uniform(math.log(self.scale_range[0]), math.log(self.scale_range[1])))
            factor = self.base_scale * scale
            crop = self._piece(base_id, factor)
            if min(crop[0].shape[:2]) >= self.size:
                composed = self._window(crop, rng)
            else:
                composed = self._mosaic(base_id, factor, rng)
        kept = composed[1].sum(axis=(0, 1)) >= self.min_pixels
        composed = (composed[0], composed[1][:, :, kept], composed[2][kept])
        self._cache = (image_id, composed)
        return composed

    def _piece(self, base_id, factor):
        """A base image and its masks resized by `factor`."""
        image = self.base.load_image(base_id)
        masks, class_ids = self.base.load_mask(base_id)
        height, width = image.shape[:2]
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
        resized = [cv2.resize(masks[:, :, k].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
                   for k in range(masks.shape[-1])]
        masks = np.stack(resized, -1) if resized else np.zeros(size[::-1] + (0,), bool)
        return image, masks, np.asarray(class_ids, np.int32)

    def _plain(self, base_id):
        """The base image at the training scale on a canvas of its background colour (cut to it when larger)."""
        piece = self._piece(base_id, self.base_scale)
        canvas = self._canvas(piece[0])
        class_ids = []
        masks = self._paste(canvas, np.zeros((self.size, self.size, 0), bool), class_ids, piece, 0, 0)
        return canvas, masks, np.asarray(class_ids, np.int32)

    def _window(self, piece, rng):
        """An S x S window of a piece that contains the centre of one of its instances (any window without one)."""
        image, masks, class_ids = piece
        height, width = image.shape[:2]
        y0, x0 = int(rng.integers(height - self.size + 1)), int(rng.integers(width - self.size + 1))
        if masks.shape[-1]:
            ys, xs = np.nonzero(masks[:, :, int(rng.integers(masks.shape[-1]))])
            cy, cx = int(ys.mean()), int(xs.mean())
            y0 = int(rng.integers(max(0, cy - self.size + 1), min(cy, height - self.size) + 1))
            x0 = int(rng.integers(max(0, cx - self.size + 1), min(cx, width - self.size) + 1))
        window = (slice(y0, y0 + self.size), slice(x0, x0 + self.size))
        return np.ascontiguousarray(image[window]), np.ascontiguousarray(masks[window]), class_ids

    def _mosaic(self, base_id, factor, rng):
        """The canvas tiled with a jittered grid of pieces, base_id's own in a random cell."""
        own = self._piece(base_id, factor)
        step = max(own[0].shape[:2])
        cells = max(1, math.ceil(self.size / step))
        canvas = self._canvas(own[0])
        masks, class_ids = np.zeros((self.size, self.size, 0), bool), []
        mine = int(rng.integers(cells * cells))
        for cell in range(cells * cells):
            if cell == mine:
                piece = own
            else:
                other = int(rng.choice(self.base.image_ids))
                piece = self._piece(other, factor * math.exp(rng.uniform(-0.1, 0.1)))
            row, column = divmod(cell, cells)
            top = row * step + int(rng.integers(-step // 4, step // 4 + 1))
            left = column * step + int(rng.integers(-step // 4, step // 4 + 1))
            masks = self._paste(canvas, masks, class_ids, piece, top, left)
        return canvas, masks, np.asarray(class_ids, np.int32)

    def _canvas(self, image):
        """An S x S canvas of `image`'s background colour (the median of its border pixels)."""
        border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
        canvas = np.empty((self.size, self.size, 3), np.uint8)
        canvas[:] = np.median(border, axis=0).astype(np.uint8)
        return canvas

    def _paste(self, canvas, masks, class_ids, piece, top, left):
        """Paste `piece` with its top-left corner at (top, left), clipped to the canvas; the instances it covers lose
        those pixels. Returns `masks` [S, S, N] with the piece's instances appended; `class_ids` (a list) is
        extended in place."""
        image, piece_masks, piece_ids = piece
        height, width = image.shape[:2]
        y0, x0 = max(0, top), max(0, left)
        y1, x1 = min(self.size, top + height), min(self.size, left + width)
        if y1 <= y0 or x1 <= x0:
            return masks
        source = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
        canvas[y0:y1, x0:x1] = image[source]
        masks = masks.copy()
        masks[y0:y1, x0:x1] = False
        added = np.zeros((self.size, self.size, piece_masks.shape[-1]), bool)
        added[y0:y1, x0:x1] = piece_masks[source]
        class_ids.extend(int(c) for c in piece_ids)
        return np.concatenate([masks, added], axis=-1)
