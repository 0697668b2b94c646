"""Augmentation adapters: imgaug (Matterport's hook), albumentations, or any callable, applied to image and masks.

Shape shorthand:
    H, W: image height and width, C: image channels, N: instances.

`apply_augmentation(augmentation, image, mask, rng)` accepts
  (a) an imgaug augmenter: the image gets every augmenter, the masks only the geometric ones named in
      MASK_AUGMENTERS (Matterport's activator hook), so flips and affine moves follow the image while brightness or
      blur leave masks alone;
  (b) an albumentations transform or Compose: called with `image=` and `masks=` (one uint8 mask per instance; the
      library applies only its geometric ("dual") transforms to masks);
  (c) any callable `f(image, mask, rng) -> (image, mask)`.
The imgaug / albumentations seed is drawn from `rng`, and the augmenter is copied before seeding, so one augmenter
object can serve several worker threads and a result depends only on the rng (i.e. on (seed, epoch, index) in the
DataGenerator). Augmentation must not change the image or mask shape (ValueError otherwise).

imgaug 0.4.0 fails to import on NumPy 2 because `np.sctypes` was removed; `import_imgaug()` restores an equivalent
`np.sctypes` (only when it is missing) before importing it. Use it instead of `import imgaug`.
"""

import copy

import numpy as np

# imgaug augmenters that are applied to masks as well as to the image (Matterport's list): geometric ones.
MASK_AUGMENTERS = ["Sequential", "SomeOf", "OneOf", "Sometimes", "Fliplr", "Flipud", "CropAndPad", "Affine",
                   "PiecewiseAffine"]


def import_imgaug():
    """Import and return imgaug, restoring `np.sctypes` (removed in NumPy 2) first if it is missing.

    Raises ImportError with the install command when imgaug is not installed.
    """
    if not hasattr(np, "sctypes"):
        np.sctypes = {
            "int": [np.int8, np.int16, np.int32, np.int64],
            "uint": [np.uint8, np.uint16, np.uint32, np.uint64],
            "float": [np.float16, np.float32, np.float64, np.longdouble],
            "complex": [np.complex64, np.complex128, np.clongdouble],
            "others": [bool, object, bytes, str, np.void],
        }
    try:
        import imgaug
        import imgaug.augmenters  # noqa: F401  (registers imgaug.augmenters on the module)
    except ImportError as error:
        raise ImportError("imgaug augmentation needs the imgaug package: pip install imgaug==0.4.0 "
                          f"({error})") from error
    return imgaug


def _mask_hook(images, augmenter, parents, default):
    """imgaug activator: apply an augmenter to masks only if it is geometric (in MASK_AUGMENTERS)."""
    return augmenter.__class__.__name__ in MASK_AUGMENTERS


def _from_library(augmentation, library):
    module = type(augmentation).__module__ or ""
    return module == library or module.startswith(library + ".")


def _seed(rng):
    return int(rng.integers(0, 2 ** 31 - 1))


def apply_augmentation(augmentation, image, mask, rng):
    """Augment an image and its instance masks together.

    augmentation: None (no change), an imgaug augmenter, an albumentations transform / Compose, or a callable
        `f(image, mask, rng) -> (image, mask)`.
    image: [H, W, C] (uint8 for imgaug and albumentations).
    mask: bool [H, W, N] instance masks (N may be 0).
    rng: numpy.random.Generator; the augmentation's randomness comes from it.
    Returns: (image [H, W, C] with the input's dtype, mask bool [H, W, N]).
    """
    if augmentation is None:
        return image, mask
    image = np.asarray(image)
    mask = np.asarray(mask)
    if _from_library(augmentation, "imgaug"):
        out_image, out_mask = _apply_imgaug(augmentation, image, mask, rng)
        kind = "imgaug augmenter"
    elif _from_library(augmentation, "albumentations"):
        out_image, out_mask = _apply_albumentations(augmentation, image, mask, rng)
        kind = "albumentations transform"
    elif callable(augmentation):
        result = augmentation(image, mask, rng)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ValueError(f"augmentation callable {augmentation!r} must return (image, mask), got "
                             f"{type(result).__name__}")
        out_image, out_mask = np.asarray(result[0]), np.asarray(result[1]).astype(bool)
        kind = "augmentation callable"
    else:
        raise TypeError(f"augmentation must be an imgaug augmenter, an albumentations transform or a callable "
                        f"f(image, mask, rng) -> (image, mask); got {type(augmentation).__name__}")
    if out_image.shape != image.shape or out_mask.shape != mask.shape:
        raise ValueError(f"the {kind} changed the shapes: image {image.shape} -> {out_image.shape}, mask "
                         f"{mask.shape} -> {out_mask.shape}; augmentation must keep the size (resizing happens "
                         "before it; use size-preserving crops/pads)")
    return out_image, out_mask


def _apply_imgaug(augmentation, image, mask, rng):
    imgaug = import_imgaug()
    augmenter = augmentation.deepcopy()  # a private copy: seeding must not touch an augmenter other threads use
    augmenter.seed_(_seed(rng))
    deterministic = augmenter.to_deterministic()
    out_image = deterministic.augment_image(image)
    out_mask = mask
    if mask.shape[-1]:
        out_mask = deterministic.augment_image(mask.astype(np.uint8),
                                               hooks=imgaug.HooksImages(activator=_mask_hook))
    return out_image, np.asarray(out_mask).astype(bool)


def _apply_albumentations(augmentation, image, mask, rng):
    import albumentations

    if not isinstance(augmentation, (albumentations.BaseCompose, albumentations.BasicTransform)):
        raise TypeError(f"augmentation {type(augmentation).__name__} comes from albumentations but is neither a "
                        "BaseCompose nor a BasicTransform")
    transform = copy.deepcopy(augmentation)  # private copy for thread safety, as for imgaug
    transform.set_random_seed(_seed(rng))
    masks = [np.ascontiguousarray(mask[:, :, i], dtype=np.uint8) for i in range(mask.shape[-1])]
    result = transform(image=image, masks=masks)
    out_masks = result.get("masks", masks)
    out_image = np.asarray(result["image"])
    if len(out_masks):
        out_mask = np.stack([np.asarray(m) for m in out_masks], axis=-1).astype(bool)
    else:
        out_mask = np.zeros(out_image.shape[:2] + (0,), dtype=bool)
    return out_image, out_mask
