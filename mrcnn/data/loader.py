"""Loading one training image with its ground truth, and checking a dataset before training starts.

Shape shorthand:
    H, W: image height and width after resizing, C: image channels, N: instances, M: meta length,
    h, w: MINI_MASK_SHAPE.

`load_image_gt` follows Matterport's order: load image and masks, resize both, augment, drop instances whose mask
became empty, extract boxes, active class ids from the image's source, mini masks, meta. Unlike Matterport it checks
what the Dataset returns and raises a ValueError naming the image (its reference or path) and what would be valid,
so bad annotations fail here, in NumPy, rather than as an obscure TensorFlow error mid-epoch. `check_dataset` runs
those checks on the first image before training. Problems of one image (its file does not read, load_image or
load_mask raise or return data that does not fit) raise `BadImageError`, a ValueError, so that the training
generator can skip that image and go on (mrcnn.data.generator); problems of the whole dataset stay ValueErrors.
"""

import logging
import random
import threading

import numpy as np

from mrcnn import utils
from mrcnn.data.augment import apply_augmentation
from mrcnn.data.image_meta import compose_image_meta

log = logging.getLogger(__name__)


class BadImageError(ValueError):
    """One image of a dataset cannot be used: its file does not read, or load_image / load_mask fail or return data
    that does not fit. The message names the image; the generator skips such images with a warning."""


# utils.resize_image draws its "crop" offsets from Python's global `random`; see _resize_image.
_RANDOM_LOCK = threading.Lock()


def describe_image(dataset, image_id):
    """A short human description of an image for error messages: its id, source and reference or path."""
    parts = [f"image {image_id}"]
    info = {}
    try:
        info = dataset.image_info[image_id]
    except (IndexError, KeyError, TypeError, AttributeError):
        pass
    if info.get("source") is not None or info.get("id") is not None:
        parts.append(f"({info.get('source')}.{info.get('id')})")
    reference = None
    try:
        reference = dataset.image_reference(image_id)
    except (IndexError, KeyError, TypeError, AttributeError, ValueError):
        pass
    if not reference:
        reference = info.get("path")
    if reference:
        parts.append(f"'{reference}'")
    return " ".join(parts) + f" of {type(dataset).__name__}"


def load_image_gt(dataset, config, image_id, augmentation=None, rng=None):
    """Load, resize and augment one image and its instances for training (Matterport's load_image_gt).

    dataset: a prepared Dataset. config: a Config (resize settings, NUM_CLASSES, IMAGE_CHANNEL_COUNT,
        USE_MINI_MASK, MINI_MASK_SHAPE are read). image_id: internal image id.
    augmentation: None, or what `mrcnn.data.augment.apply_augmentation` accepts (imgaug, albumentations, callable).
    rng: numpy.random.Generator for the augmentation (a fresh unseeded one when None).
    Returns:
        image: [H, W, C] with the dtype load_image gave (uint8 for the base Dataset).
        image_meta: float32 [M] (see mrcnn.data.image_meta).
        class_ids: int32 [N]; negative ids are crowd boxes.
        bbox: int32 [N, (y1, x1, y2, x2)] pixels of the resized image.
        mask: bool [H, W, N], or bool [h, w, N] mini masks (each cut to its box) when config.USE_MINI_MASK.
        Instances whose mask is empty after resizing and augmentation are dropped, so N may be smaller than the
        number load_mask returned.
    Raises BadImageError (a ValueError) naming the image for: load_image or load_mask raising ValueError or OSError
    (a missing, empty, truncated or oversized file); an image that is not [H, W, IMAGE_CHANNEL_COUNT]; masks that
    are not numeric [H, W, N] of the image's height and width; class ids that are not N integers with |id| in
    1..NUM_CLASSES - 1 (0 is background, never an instance; a negative id marks a crowd box). A dataset whose
    class count differs from NUM_CLASSES raises a plain ValueError.
    """
    rng = np.random.default_rng() if rng is None else rng
    if dataset.num_classes != config.NUM_CLASSES:
        raise ValueError(f"{type(dataset).__name__} has {dataset.num_classes} classes (background included) but "
                         f"Config.NUM_CLASSES = {config.NUM_CLASSES}; they must be equal")
    try:
        image = np.asarray(dataset.load_image(image_id))
    except (ValueError, OSError) as error:
        raise BadImageError(f"{describe_image(dataset, image_id)}: load_image failed: {error}") from error
    channels = config.IMAGE_CHANNEL_COUNT
    if image.ndim != 3 or image.shape[-1] != channels:
        raise BadImageError(f"{describe_image(dataset, image_id)}: load_image returned shape {image.shape}; expected "
                             f"[height, width, {channels}] (Config.IMAGE_CHANNEL_COUNT = {channels})")
    if image.dtype.kind not in "uif":
        raise BadImageError(f"{describe_image(dataset, image_id)}: load_image returned {image.dtype} pixels; expected "
                             "uint8 (or another integer or float type)")
    mask, class_ids = _checked_mask(dataset, config, image_id, image.shape)
    original_shape = image.shape

    image, window, scale, padding, crop = _resize_image(image, config, rng)
    mask = utils.resize_mask(mask, scale, padding, crop)
    image, mask = apply_augmentation(augmentation, image, mask, rng)

    nonempty = np.any(mask, axis=(0, 1))
    mask = mask[:, :, nonempty]
    class_ids = class_ids[nonempty]
    bbox = utils.extract_bboxes(mask).astype(np.int32)

    active_class_ids = np.zeros([config.NUM_CLASSES], dtype=np.int32)
    source = dataset.image_info[image_id]["source"]
    active_class_ids[dataset.source_class_ids[source]] = 1

    if config.USE_MINI_MASK:
        mask = utils.minimize_mask(bbox, mask, config.MINI_MASK_SHAPE)
    image_meta = compose_image_meta(image_id, original_shape, image.shape, window, scale, active_class_ids)
    return image, image_meta, class_ids, bbox, mask.astype(bool)


def _resize_image(image, config, rng):
    """utils.resize_image with the config's settings; in "crop" mode the crop offsets come from `rng`.

    utils.resize_image picks crop offsets with Python's global `random` (Matterport's code). To make crops
    reproducible per rng, that generator is seeded from `rng` for the call and restored afterwards, under a lock.
    """
    kwargs = dict(min_dim=config.IMAGE_MIN_DIM, min_scale=config.IMAGE_MIN_SCALE, max_dim=config.IMAGE_MAX_DIM,
                  mode=config.IMAGE_RESIZE_MODE)
    if config.IMAGE_RESIZE_MODE != "crop":
        return utils.resize_image(image, **kwargs)
    seed = int(rng.integers(0, 2 ** 63 - 1))
    with _RANDOM_LOCK:
        state = random.getstate()
        random.seed(seed)
        try:
            return utils.resize_image(image, **kwargs)
        finally:
            random.setstate(state)


def _checked_mask(dataset, config, image_id, image_shape):
    """load_mask's result validated: (bool [H, W, N], int32 [N]) or a ValueError naming the image."""
    name = describe_image(dataset, image_id)
    try:
        result = dataset.load_mask(image_id)
    except (ValueError, OSError) as error:
        raise BadImageError(f"{name}: load_mask failed: {error}") from error
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadImageError(f"{name}: load_mask must return (masks [H, W, N], class_ids [N]), got "
                             f"{type(result).__name__}")
    mask, class_ids = (np.asarray(v) for v in result)
    height, width = image_shape[:2]
    if mask.dtype.kind not in "biuf":
        raise BadImageError(f"{name}: load_mask returned masks of dtype {mask.dtype}; expected bool or 0/1 numbers")
    if class_ids.ndim != 1 or class_ids.size and class_ids.dtype.kind not in "iuf":
        raise BadImageError(f"{name}: load_mask returned class_ids of shape {class_ids.shape} and dtype "
                             f"{class_ids.dtype}; expected a 1-D array of integer class ids")
    if class_ids.dtype.kind == "f":
        if not np.all(np.isfinite(class_ids)) or np.any(class_ids != np.round(class_ids)):
            raise BadImageError(f"{name}: load_mask returned non-integer class ids {class_ids.tolist()}")
    class_ids = class_ids.astype(np.int32)
    if class_ids.size == 0 and mask.size == 0:  # no instances (the base Dataset returns an empty [0, 0, 0] mask)
        return np.zeros([height, width, 0], dtype=bool), class_ids
    if mask.ndim != 3:
        raise BadImageError(f"{name}: load_mask returned masks of shape {mask.shape}; expected [height, width, "
                             f"instances] = [{height}, {width}, {class_ids.size}]")
    if mask.shape[-1] != class_ids.size:
        raise BadImageError(f"{name}: load_mask returned {mask.shape[-1]} masks (shape {mask.shape}) but "
                             f"{class_ids.size} class ids; there must be one class id per mask")
    if mask.shape[:2] != (height, width):
        raise BadImageError(f"{name}: masks have height x width {mask.shape[0]} x {mask.shape[1]} but the image is "
                             f"{height} x {width}; masks must match the image loaded by load_image")
    num_classes = config.NUM_CLASSES
    bad = class_ids[(class_ids == 0) | (np.abs(class_ids) > num_classes - 1)]
    if bad.size:
        raise BadImageError(f"{name}: class ids {sorted(set(bad.tolist()))} are invalid; instance class ids must be "
                             f"in 1..{num_classes - 1} (Config.NUM_CLASSES = {num_classes}, 0 is the background; a "
                             "negative id marks a crowd box)")
    if mask.dtype.kind == "f":
        mask = mask >= 0.5
    return mask.astype(bool), class_ids


def check_dataset(dataset, config, name="train"):
    """Check a dataset against the config before training; raise ValueError with what to fix.

    Checks that `dataset` was prepared, holds images, has config.NUM_CLASSES classes, and loads its first image
    through `load_image_gt` (so bad images, masks or class ids of that image are reported now).
    name: how the dataset is called in the messages ("train", "val").
    """
    kind = type(dataset).__name__
    if not hasattr(dataset, "num_images") or not hasattr(dataset, "class_from_source_map"):
        raise ValueError(f"the {name} dataset ({kind}) is not prepared: call dataset.prepare() after adding its "
                         "classes and images")
    if dataset.num_images == 0:
        raise ValueError(f"the {name} dataset ({kind}) has no images: add images (add_image) before prepare()")
    if dataset.num_classes != config.NUM_CLASSES:
        raise ValueError(f"the {name} dataset ({kind}) has {dataset.num_classes} classes (background included) "
                         f"but Config.NUM_CLASSES = {config.NUM_CLASSES}; set NUM_CLASSES = "
                         f"{dataset.num_classes} or make the dataset's classes match the config")
    load_image_gt(dataset, config, int(dataset.image_ids[0]))
    log.debug("%s dataset %s: %d images, %d classes", name, kind, dataset.num_images, dataset.num_classes)
