"""Shared fixtures of the data-pipeline tests: a tiny drawn dataset and a matching small Config."""

import numpy as np
import pytest

from mrcnn import utils
from mrcnn.config import Config

SOURCE = "toy"


class ToyConfig(Config):
    NAME = "toy"
    NUM_CLASSES = 3  # background, rect, disc
    IMAGES_PER_GPU = 2
    IMAGE_RESIZE_MODE = "square"
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 4
    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (14, 14)
    TRAIN_ROIS_PER_IMAGE = 16
    MASK_POOL_SIZE = 7
    MASK_SHAPE = [14, 14]


class ToyDataset(utils.Dataset):
    """Images of `height` x `width` with rectangles (class 1) and discs (class 2) drawn from specs.

    A spec is (class_id, y1, x1, y2, x2); a disc fills the ellipse inscribed in its box. `image_fn(image_id,
    image)` / `mask_fn(image_id, mask, class_ids)` may replace what load_image / load_mask return (bad-input tests).
    """

    def __init__(self, image_fn=None, mask_fn=None):
        super().__init__()
        self.image_fn = image_fn
        self.mask_fn = mask_fn
        self.add_class(SOURCE, 1, "rect")
        self.add_class(SOURCE, 2, "disc")

    def add_toy_image(self, specs, height=64, width=64, path=None):
        self.add_image(SOURCE, image_id=len(self.image_info), path=path, height=height, width=width,
                       specs=list(specs))

    def image_reference(self, image_id):
        return f"toy://{image_id}"

    def load_image(self, image_id):
        info = self.image_info[image_id]
        image = np.full([info["height"], info["width"], 3], 20, dtype=np.uint8)
        mask, class_ids = self._draw(info)
        for i, class_id in enumerate(class_ids):
            image[mask[:, :, i]] = (200, 60, 60) if class_id == 1 else (60, 200, 60)
        return image if self.image_fn is None else self.image_fn(image_id, image)

    def load_mask(self, image_id):
        mask, class_ids = self._draw(self.image_info[image_id])
        if self.mask_fn is not None:
            return self.mask_fn(image_id, mask, class_ids)
        return mask, class_ids

    @staticmethod
    def _draw(info):
        height, width, specs = info["height"], info["width"], info["specs"]
        mask = np.zeros([height, width, len(specs)], dtype=bool)
        yy, xx = np.mgrid[:height, :width]
        for i, (class_id, y1, x1, y2, x2) in enumerate(specs):
            if abs(class_id) == 2:
                cy, cx, ry, rx = (y1 + y2 - 1) / 2, (x1 + x2 - 1) / 2, (y2 - y1) / 2, (x2 - x1) / 2
                mask[:, :, i] = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            else:
                mask[y1:y2, x1:x2, i] = True
        return mask, np.array([s[0] for s in specs], dtype=np.int32)


def make_dataset(spec_lists, height=64, width=64, image_fn=None, mask_fn=None, prepare=True):
    dataset = ToyDataset(image_fn=image_fn, mask_fn=mask_fn)
    for specs in spec_lists:
        dataset.add_toy_image(specs, height, width)
    if prepare:
        dataset.prepare()
    return dataset


@pytest.fixture
def make_toy_dataset():
    """The `make_dataset(spec_lists, height=64, width=64, image_fn=None, mask_fn=None, prepare=True)` factory."""
    return make_dataset


@pytest.fixture
def config():
    return ToyConfig().validate()


@pytest.fixture
def toy_dataset():
    """Four images with one to three instances each."""
    return make_dataset([
        [(1, 8, 8, 24, 30), (2, 30, 30, 58, 56)],
        [(2, 4, 40, 20, 60)],
        [(1, 40, 4, 60, 20), (1, 10, 10, 20, 20), (2, 30, 30, 50, 50)],
        [(2, 16, 16, 48, 48)],
    ])
