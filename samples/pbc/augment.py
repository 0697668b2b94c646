"""Augmentation for blood smears: what may change between two smears without changing what the cells are.

Shape shorthand: H, W: image height and width, N: instances.

A smear has no up, down, left or right, so the 8 rotations and reflections of the square are free extra data. Its
magnification is fixed by the microscope but cells vary in size, and stain, lamp and camera shift the colours a
little from slide to slide. `SmearAugmentation` draws, per image and from the caller's `numpy.random.Generator`:

    geometry   a rotation by k * 90 degrees (k uniform in 0..3) and, with probability 1/2, a left-right flip
               (together: each of the 8 symmetries of the square equally likely; a non-square image turns by
               0 or 180 degrees only, so that its shape is kept);
    scale      a zoom by z, log-uniform in [1 / (1 + scale), 1 + scale]; z > 1 crops a random window of
               (H / z, W / z) and enlarges it, z < 1 shrinks the image into a random place of the frame and fills
               the border with the image's reflection (masks with zeros), or below z = 0.75 with its background
               colour (the median of its edge);
    colour     each channel multiplied by 1 + u (u uniform in +-channel_gain: white balance, stain hue), then
               brightness x (1 + u_b), contrast about the image mean x (1 + u_c), saturation (the distance from the
               pixel's grey value) x (1 + u_s), each u uniform in +-its amount; rounded and clipped to 0..255;
    imaging    (all off by default; the "labs" preset turns them on) a hue turn by u_h of the colour circle; the
               stain's two dyes (haematoxylin and eosin, skimage's HED deconvolution) each scaled by 1 + u and
               shifted by u (u uniform in +-stain: Tellez et al. 2018); a gamma exp(u_g); with probability
               blur[0] a Gaussian blur of sigma uniform in [0, blur[1]] (a camera out of focus); with probability
               jpeg[0] a JPEG round trip at a quality uniform in [jpeg[1], 95]; with probability grey, the
               image's grey value in all three channels (no colour left to learn from).

Masks follow the geometry (nearest-neighbour resizing) and never the colours. The object is a plain callable with
the `f(image, mask, rng) -> (image, mask)` contract of `mrcnn.data.augment.apply_augmentation`, so it serves both
`MaskRCNN.train(augmentation=...)` and the backbone's pretraining (with N = 0 masks). Each amount 0 turns its part
off; `SmearAugmentation(scale=0, channel_gain=0, brightness=0, contrast=0, saturation=0)` is flips and rotations
only. PRESETS names the settings the command lines offer (`--augmentation`): "pbc", the small variations of one
lab's scanner; "grey", the same with half the images in grey, so that the classes must be told apart by shape and
texture, not only by the colours of one lab's stain; and "labs", the zoom from half to twice the size and the stains,
lamps, cameras and focus of others.
"""

import math

import cv2
import numpy as np

from mrcnn.data.colour import grey_rgb


class SmearAugmentation:
    """Random symmetries of the square, a small zoom and small colour changes, applied to one image and its masks.

    Args:
        scale: zoom amount s >= 0: z is drawn log-uniformly in [1 / (1 + s), 1 + s] (0: no zoom).
        channel_gain, brightness, contrast, saturation: relative amounts in [0, 1) (0: off).
    Call: `augment(image, mask, rng)` with image uint8 [H, W, 3], mask bool [H, W, N] (N may be 0) and a
    numpy.random.Generator; returns (uint8 [H, W, 3], bool [H, W, N]).
    """

    def __init__(self, scale=0.15, channel_gain=0.05, brightness=0.08, contrast=0.1, saturation=0.1, hue=0.0,
                 stain=0.0, gamma=0.0, blur=(0.0, 0.0), jpeg=(0.0, 95), grey=0.0):
        for name, value in (("scale", scale), ("channel_gain", channel_gain), ("brightness", brightness),
                            ("contrast", contrast), ("saturation", saturation), ("hue", hue), ("stain", stain),
                            ("gamma", gamma)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0 or (name not in ("scale", "gamma") and value >= 1):
                valid = "a number >= 0" if name in ("scale", "gamma") else "a number in [0, 1)"
                raise ValueError(f"SmearAugmentation: {name}={value!r}; valid: {valid}")
        if len(blur) != 2 or not 0 <= blur[0] <= 1 or not blur[1] >= 0:
            raise ValueError(f"SmearAugmentation: blur={blur!r}; valid: (probability in [0, 1], largest sigma >= 0)")
        if isinstance(grey, bool) or not isinstance(grey, (int, float)) or not 0 <= grey <= 1:
            raise ValueError(f"SmearAugmentation: grey={grey!r}; valid: a probability in [0, 1]")
        if len(jpeg) != 2 or not 0 <= jpeg[0] <= 1 or not 1 <= jpeg[1] <= 95:
            raise ValueError(f"SmearAugmentation: jpeg={jpeg!r}; valid: (probability in [0, 1], lowest quality 1-95)")
        self.scale = float(scale)
        self.channel_gain = float(channel_gain)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue, self.stain, self.gamma = float(hue), float(stain), float(gamma)
        self.blur = (float(blur[0]), float(blur[1]))
        self.jpeg = (float(jpeg[0]), int(jpeg[1]))
        self.grey = float(grey)

    def __repr__(self):
        return (f"SmearAugmentation(scale={self.scale}, channel_gain={self.channel_gain}, "
                f"brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}, "
                f"hue={self.hue}, stain={self.stain}, gamma={self.gamma}, blur={self.blur}, jpeg={self.jpeg}, "
                f"grey={self.grey})")

    def __call__(self, image, mask, rng):
        image = np.asarray(image)
        mask = np.asarray(mask, dtype=bool)
        if image.ndim != 3 or image.shape[-1] != 3 or mask.shape[:2] != image.shape[:2]:
            raise ValueError(f"SmearAugmentation: image must be [H, W, 3] and mask [H, W, N] of the same H, W; got "
                             f"{image.shape} and {mask.shape}")
        k = int(rng.integers(4))
        if image.shape[0] != image.shape[1]:
            k = 2 * (k % 2)
        image, mask = np.rot90(image, k), np.rot90(mask, k)
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if self.scale:
            zoom = math.exp(rng.uniform(-1.0, 1.0) * math.log1p(self.scale))
            image, mask = _zoom(np.ascontiguousarray(image), np.ascontiguousarray(mask), zoom, rng)
        image = self._colour(image, rng)
        image = self._imaging(np.ascontiguousarray(image), rng)
        return np.ascontiguousarray(image), np.ascontiguousarray(mask)

    def _imaging(self, image, rng):
        """Hue, stain, gamma, blur, JPEG and grey (module notes); each part off when its amount is 0."""
        if self.hue:
            hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)  # OpenCV's hue: 0..179 for the whole circle
            turn = int(round(rng.uniform(-self.hue, self.hue) * 180))
            hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + turn) % 180).astype(np.uint8)
            image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if self.stain:
            scale = 1.0 + rng.uniform(-self.stain, self.stain, size=3)
            shift = rng.uniform(-self.stain, self.stain, size=3)
            shift[2] = 0.0  # the third channel (DAB) is not a dye of these smears
            image = _jitter_stains(image, scale, shift)
        if self.gamma:
            exponent = math.exp(rng.uniform(-self.gamma, self.gamma))
            table = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** exponent), 0, 255).astype(np.uint8)
            image = cv2.LUT(image, table)
        if self.blur[0] and rng.random() < self.blur[0]:
            sigma = rng.uniform(0.0, self.blur[1])
            if sigma > 0.05:
                image = cv2.GaussianBlur(image, (0, 0), sigma)
        if self.jpeg[0] and rng.random() < self.jpeg[0]:
            quality = int(rng.integers(self.jpeg[1], 96))
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # channel order is kept: encoded and decoded alike
        if self.grey and rng.random() < self.grey:
            image = grey_rgb(image)
        return image

    def _colour(self, image, rng):
        """The four colour changes, which are all affine in the pixel, as one 3x4 matrix applied by cv2.transform."""
        if not (self.channel_gain or self.brightness or self.contrast or self.saturation):
            return image
        gains = 1.0 + rng.uniform(-self.channel_gain, self.channel_gain, size=3)
        brightness = 1.0 + rng.uniform(-self.brightness, self.brightness)
        contrast = 1.0 + rng.uniform(-self.contrast, self.contrast)
        saturation = 1.0 + rng.uniform(-self.saturation, self.saturation)
        # x -> gains * x -> brightness * x -> contrast * (x - mean) + mean -> saturation * (x - grey) + grey, where
        # mean is over all pixels and channels and grey the pixel's mean over channels: saturation is the matrix
        # s I + (1 - s) / 3 J (J all ones), which maps the constant (1 - c) mean to itself.
        channel_means = np.asarray(cv2.mean(image)[:3])
        mean = brightness * float(np.mean(gains * channel_means))
        towards_grey = saturation * np.eye(3) + (1.0 - saturation) / 3.0 * np.ones((3, 3))
        matrix = np.empty((3, 4))
        matrix[:, :3] = contrast * brightness * towards_grey @ np.diag(gains)
        matrix[:, 3] = (1.0 - contrast) * mean
        return cv2.transform(np.ascontiguousarray(image, dtype=np.uint8), matrix)  # rounded, saturated to 0..255


REFLECT_ABOVE = 0.75  # zooms out to here fill the border with the image's reflection, further ones with its background

PRESETS = {
    "pbc": dict(),  # the class defaults: one lab's scanner
    "grey": dict(grey=0.5),
    "labs": dict(scale=1.0, channel_gain=0.08, brightness=0.15, contrast=0.25, saturation=0.25, hue=0.03,
                 stain=0.04, gamma=0.25, blur=(0.5, 2.0), jpeg=(0.3, 40)),
}


def augmentation(preset, **overrides):
    """The SmearAugmentation of a PRESETS name (ValueError listing them otherwise), with `overrides` applied."""
    if preset not in PRESETS:
        raise ValueError(f"augmentation {preset!r}: valid presets are {sorted(PRESETS)}")
    return SmearAugmentation(**{**PRESETS[preset], **overrides})


def _jitter_stains(image, scale, shift):
    """The image with its stains (the colour deconvolution of skimage's rgb2hed into haematoxylin, eosin and DAB)
    scaled by `scale` and shifted by `shift` times each stain's largest amount in the image, then recomposed as
    hed2rgb does. Unlike rgb2hed it keeps negative amounts (60 % of a PBC crop's pixels have some), so that no
    jitter gives back the image exactly; float32 through OpenCV, 1.7 ms for 192 x 192 pixels."""
    from skimage.color.colorconv import hed_from_rgb, rgb_from_hed
    density = cv2.LUT(image, _OPTICAL_DENSITY)  # log(rgb) / log(1e-6), rgb in (0, 1]
    stains = cv2.transform(density, hed_from_rgb.T.astype(np.float32))
    largest = np.abs(stains.reshape(-1, 3)).max(axis=0)
    matrix = (hed_from_rgb @ np.diag(scale) @ rgb_from_hed).T
    offset = (shift * largest) @ rgb_from_hed
    recomposed = cv2.transform(density, np.hstack([matrix, offset[:, None]]).astype(np.float32))
    rgb = np.exp(recomposed * np.float32(np.log(1e-6)))
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


_OPTICAL_DENSITY = (np.log(np.maximum(np.arange(256) / 255.0, 1e-6)) / np.log(1e-6)).astype(np.float32)


def _resize_masks(mask, size):
    """bool [h, w, N] -> bool [size[0], size[1], N], nearest neighbour (cv2 takes at most 512 channels at once)."""
    height, width = size
    if mask.shape[-1] == 0:
        return np.zeros((height, width, 0), bool)
    parts = [cv2.resize(mask[:, :, i:i + 512].astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
             for i in range(0, mask.shape[-1], 512)]
    parts = [p[:, :, np.newaxis] if p.ndim == 2 else p for p in parts]
    return np.concatenate(parts, axis=-1).astype(bool)


def _zoom(image, mask, zoom, rng):
    """Zoom image [H, W, 3] and mask [H, W, N] by `zoom` about a random point, keeping H, W (see the module notes)."""
    height, width = image.shape[:2]
    if zoom >= 1.0:
        h, w = max(1, round(height / zoom)), max(1, round(width / zoom))
        y, x = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
        image = cv2.resize(image[y:y + h, x:x + w], (width, height), interpolation=cv2.INTER_LINEAR)
        return image, _resize_masks(mask[y:y + h, x:x + w], (height, width))
    h, w = max(1, round(height * zoom)), max(1, round(width * zoom))
    top, left = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
    border = (top, height - h - top, left, width - w - left)
    if zoom >= REFLECT_ABOVE:
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        image = cv2.copyMakeBorder(small, *border, borderType=cv2.BORDER_REFLECT_101)
    else:  # a wide border of mirrored cells would repeat the cell: the background's colour instead
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        edge = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
        colour = [int(v) for v in np.median(edge, axis=0)]
        image = cv2.copyMakeBorder(small, *border, borderType=cv2.BORDER_CONSTANT, value=colour)
    if mask.shape[-1]:
        mask = np.pad(_resize_masks(mask, (h, w)), ((border[0], border[1]), (border[2], border[3]), (0, 0)))
    else:
        mask = np.zeros((height, width, 0), bool)
    return image, mask
