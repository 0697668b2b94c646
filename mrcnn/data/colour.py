"""Colour normalisation: an image's colours moved to a reference lab's statistics before the model sees it.

Shape shorthand: H, W: image height and width, N: images.

Stains, lamps and cameras differ from lab to lab; a model trained on one lab's images meets colours it never saw.
`match_lab_statistics` (Reinhard et al. 2001, "Color transfer between images") shifts and scales each channel of the
image in CIELAB (OpenCV's 8-bit LAB: L, a, b in 0..255) so that its mean and standard deviation over the image
become the reference's: lightness, the red-green and the blue-yellow balance, and their contrasts. It keeps what is
dark and what is light, and so the cells' shapes; it changes the image's overall tint and contrast only.
`lab_statistics(images)` measures a reference: the mean over the images of each image's per-channel mean and
standard deviation. `grey_rgb` goes further and drops the colour: a model trained on grey images (or on some,
samples/pbc/augment.py) can be given another lab's images in grey, so that only lightness and texture reach it.
"""

import cv2
import numpy as np

MIN_STD = 1.0  # a channel flatter than this (a blank image) is shifted, not stretched


def lab_statistics(images):
    """(mean [3], std [3]) in OpenCV's 8-bit LAB: the mean over `images` (uint8 [H, W, 3] each) of each image's
    per-channel mean and standard deviation."""
    means, stds = [], []
    for image in images:
        lab = cv2.cvtColor(np.ascontiguousarray(image, np.uint8), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
        means.append(lab.mean(axis=0))
        stds.append(lab.std(axis=0))
    if not means:
        raise ValueError("lab_statistics needs at least one image")
    return np.mean(means, axis=0), np.mean(stds, axis=0)


def match_lab_statistics(image, mean, std):
    """uint8 [H, W, 3]: `image` with its LAB channels' mean and standard deviation set to `mean` and `std`."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    flat = lab.reshape(-1, 3)
    own_mean, own_std = flat.mean(axis=0), flat.std(axis=0)
    gain = np.where(own_std >= MIN_STD, np.asarray(std, np.float32) / np.maximum(own_std, MIN_STD), 1.0)
    lab = (lab - own_mean) * gain + np.asarray(mean, np.float32)
    return cv2.cvtColor(np.clip(np.rint(lab), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


class ColourNormalizer:
    """`normalize(image)`: match_lab_statistics to a reference (mean [3], std [3]) in OpenCV's 8-bit LAB."""

    def __init__(self, mean, std):
        self.mean, self.std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        if self.mean.shape != (3,) or self.std.shape != (3,) or np.any(self.std <= 0):
            raise ValueError(f"a LAB reference needs 3 means and 3 positive standard deviations, got {mean!r}, {std!r}")

    def __call__(self, image):
        return match_lab_statistics(image, self.mean, self.std)


def grey_rgb(image):
    """uint8 [H, W, 3]: the image's grey value (ITU-R 601 luma, as OpenCV's RGB2GRAY) in all three channels."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.merge([grey, grey, grey])
