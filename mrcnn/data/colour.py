"""Colour normalisation: an image's colours moved to a reference lab's statistics before the model sees it.

Shape shorthand: H, W: image height and width, N: images.

Stains, lamps and cameras differ from lab to lab; a model trained on one lab's images meets colours it never saw.
`match_lab_statistics` (Reinhard et al. 2001, "Color transfer between images") shifts and scales each channel of the
image in CIELAB (OpenCV's 8-bit LAB: L, a, b in 0..255) so that its mean and standard deviation over the image
become the reference's: lightness, the red-green and the blue-yellow balance, and their contrasts. It keeps what is
dark and what is light, and so the cells' shapes; it changes the image's overall tint and contrast only.
`lab_statistics(images)` measures a reference: the mean over the images of each image's per-channel mean and
standard deviation. Its statistics are the whole image's, so they depend on what the image shows: a crop filled by one
white cell is pulled towards the colours of a field of red cells. `balance_background` depends on the background
alone: each channel is multiplied by a gain that takes the image's background colour (`background_colour`: the median
of its brightest quarter of pixels, which in a smear is plasma between the cells) to the reference's, as a camera's
white balance would; the stains' colours relative to the background are kept. `grey_rgb` goes further and drops the
colour: a model trained on grey images (or on some, samples/pbc/augment.py) can be given another lab's images in grey,
so that only lightness and texture reach it.
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
    lab = cv2.cvtColor(_checked(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    flat = lab.reshape(-1, 3)
    own_mean, own_std = flat.mean(axis=0), flat.std(axis=0)
    gain = np.where(own_std >= MIN_STD, np.asarray(std, np.float32) / np.maximum(own_std, MIN_STD), 1.0)
    lab = (lab - own_mean) * gain + np.asarray(mean, np.float32)
    return cv2.cvtColor(np.clip(np.rint(lab), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


BACKGROUND_SHARE = 0.25  # the brightest share of the pixels taken as background


def background_colour(image):
    """float [3]: the median colour of the brightest BACKGROUND_SHARE of the pixels of `image` (uint8 [H, W, 3]),
    brightness being the sum of the channels."""
    image = _checked(image)
    pixels = image.reshape(-1, 3)
    brightness = pixels.astype(np.int32).sum(axis=1)
    keep = brightness >= np.quantile(brightness, 1.0 - BACKGROUND_SHARE)
    return np.median(pixels[keep], axis=0).astype(np.float64)


def balance_background(image, target):
    """uint8 [H, W, 3]: `image` with each channel scaled so that its background_colour becomes `target` [3] (a channel
    whose background is black is left as it is); rounded and clipped to 0..255."""
    image = _checked(image)
    background = background_colour(image)
    gains = np.where(background > 0, np.asarray(target, np.float64) / np.maximum(background, 1.0), 1.0)
    return cv2.transform(image, np.diag(gains))  # cv2.transform rounds and saturates to 0..255


class BackgroundBalancer:
    """`normalize(image)`: balance_background to a reference background colour `target` [3] (RGB, 0..255)."""

    def __init__(self, target):
        self.target = np.asarray(target, np.float64)
        if self.target.shape != (3,) or np.any(self.target <= 0) or np.any(self.target > 255):
            raise ValueError(f"a background colour needs 3 values in (0, 255], got {target!r}")

    def __call__(self, image):
        return balance_background(image, self.target)


def _checked(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


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
    grey = cv2.cvtColor(_checked(image), cv2.COLOR_RGB2GRAY)
    return cv2.merge([grey, grey, grey])
