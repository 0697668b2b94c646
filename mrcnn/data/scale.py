"""The scale of a blood-smear image, measured from its red cells: their typical diameter in pixels.

A model trained on one lab's images sees cells at one size; another lab's camera and objective show them larger or
smaller, and recall collapses. Red cells are the ruler: about 7.5 µm across (RED_CELL_DIAMETER_UM) in every smear,
numerous, and easy to separate from the background. `estimate_red_cell_diameter(image)` measures their typical
diameter; `rescale_factor` turns it (or a pixel size the user knows) into the factor that brings an image to the scale
a model was trained at.

Method (chosen by measurement, benchmarks/scale_estimate.py; figures in docs/scale.md):
    1. work at most `work_size` pixels on the long side (INTER_AREA); when that gives red cells under 20 working
       pixels, or under 40 and not `confident`, or (on an image over twice the working size) no diameter (a large
       field at low magnification, where touching cells of a few working pixels merge), measure again at twice the
       resolution on a central window of the same working size, up to full resolution, and keep the level with the
       best estimate (a diameter, confident, cells not tiny or else the finest level, then the smallest spread);
    2. darkness in the green channel (haemoglobin absorbs green, whatever the stain's hue), blurred (sigma 1);
    3. three-class Otsu: background / red cells and cytoplasm / nuclei; cells = above the lower threshold (one Otsu
       threshold splits nuclei from everything else on crops with a large white cell); holes (central pallor) filled;
    4. inscribed discs: distance-transform maxima taken greedily, largest first, none inside an accepted disc (the
       image border counts as cell, so a cut cell keeps its radius);
    5. the discs of the dominant size (within [0.6, 1.5] x the area-weighted median radius: drops platelets, debris
       and most white cells) seed a watershed of the distance transform, which splits touching cells at their necks;
    6. each region's long axis (4 sqrt(largest eigenvalue of its pixel covariance): 2 R for a disc); the median over
       regions not touching the border (all regions when every one touches it) is the diameter.
Fewer than `min_cells` measured regions, or a spread (median absolute deviation / median) above `max_spread`, give
no diameter (`diameter_px` None and a `reason`), never a guess; `ScaleEstimate.confident` marks the estimates with at
least CONFIDENT_CELLS cells and a spread of at most CONFIDENT_SPREAD.

Shape shorthand:
    H, W: image height and width; h, w: the same at the working resolution; R: regions (red cells) measured.
"""

import dataclasses
import logging
import math

import cv2
import numpy as np
import scipy.ndimage
import skimage.filters
import skimage.segmentation

log = logging.getLogger(__name__)

RED_CELL_DIAMETER_UM = 7.5  # a normal red cell's diameter in a dried smear (textbook value)
DEFAULT_WORK_SIZE = 384  # long side, pixels, of the working copy
DEFAULT_MIN_CELLS = 3
DEFAULT_MAX_SPREAD = 0.25  # red cells that disagree more than this give no diameter
CONFIDENT_CELLS, CONFIDENT_SPREAD = 5, 0.15  # ScaleEstimate.confident (benchmark: no error beyond 25 % on BCCD/Raabin)
_MIN_RADIUS = 2.0  # working pixels: smaller inscribed discs are noise
_SIZE_BAND = (0.6, 1.5)  # dominant-size band, x the area-weighted median radius
_MIN_SIDE = 16
_MIN_WORK_DIAMETER = 20.0  # working pixels: smaller red cells are measured again at a finer level
_SHARP_WORK_DIAMETER = 40.0  # working pixels: an estimate this large that is not confident is not for want of pixels


@dataclasses.dataclass(frozen=True)
class ScaleEstimate:
    """One image's red-cell scale.

    diameter_px: typical red-cell diameter in pixels of the image given, or None (see `reason`).
    cells: red cells measured (regions not touching the border, or all regions when each one touches it).
    spread: median absolute deviation of their diameters / their median (0 for identical cells; nan when none).
    reason: why diameter_px is None ("" when it is not).
    Derived: `confident`, `pixel_size_um`; `to_dict()` for a per-image report.
    """

    diameter_px: float | None
    cells: int
    spread: float
    reason: str = ""

    @property
    def confident(self):
        """At least CONFIDENT_CELLS red cells agreeing within CONFIDENT_SPREAD."""
        return self.diameter_px is not None and self.cells >= CONFIDENT_CELLS and self.spread <= CONFIDENT_SPREAD

    @property
    def pixel_size_um(self):
        """µm per pixel, assuming red cells of RED_CELL_DIAMETER_UM; None without a diameter."""
        return None if self.diameter_px is None else pixel_size_from_diameter(self.diameter_px)

    def to_dict(self):
        """JSON-able record for a per-image report (nan spread as None)."""
        spread = None if math.isnan(self.spread) else round(self.spread, 4)
        size = self.pixel_size_um
        return {"red_cell_diameter_px": None if self.diameter_px is None else round(self.diameter_px, 2),
                "pixel_size_um": None if size is None else round(size, 5), "red_cells": self.cells,
                "spread": spread, "confident": self.confident, "reason": self.reason}


def pixel_size_from_diameter(diameter_px, red_cell_um=RED_CELL_DIAMETER_UM):
    """µm per pixel of an image whose red cells are `diameter_px` pixels across."""
    if not (isinstance(diameter_px, (int, float, np.number)) and math.isfinite(diameter_px) and diameter_px > 0):
        raise ValueError(f"diameter_px must be a positive finite number of pixels, got {diameter_px!r}")
    return float(red_cell_um) / float(diameter_px)


def _check_image(image):
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an RGB uint8 array [H, W, 3], got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < _MIN_SIDE:
        raise ValueError(f"image must be at least {_MIN_SIDE} x {_MIN_SIDE} pixels, got {image.shape[:2]}")
    return image


def _cell_mask(green):
    """uint8 [h, w] (1 = cell): red cells (and white cells) of a uint8 green channel; None without contrast."""
    darkness = cv2.GaussianBlur(255.0 - green.astype(np.float32), (0, 0), 1.0)
    low, high = float(darkness.min()), float(darkness.max())
    if high - low < 8.0:
        return None
    levels = np.rint((darkness - low) * (255.0 / (high - low))).astype(np.uint8)
    try:
        threshold = skimage.filters.threshold_multiotsu(levels, classes=3)[0]
    except ValueError:  # fewer than three grey levels
        return None
    mask = scipy.ndimage.binary_fill_holes(levels > threshold).astype(np.uint8)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))


def _inscribed_discs(mask):
    """Greedy inscribed discs of a uint8 [h, w] mask: float32 distance transform [h, w] and float [D, (y, x, r)]."""
    pad = 8  # the border counts as cell: a cell cut by it keeps its radius
    distance = cv2.distanceTransform(cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_REPLICATE),
                                     cv2.DIST_L2, 5)[pad:-pad, pad:-pad]
    peaks = (distance == scipy.ndimage.maximum_filter(distance, size=3)) & (distance >= _MIN_RADIUS)
    ys, xs = np.nonzero(peaks)
    radii = distance[ys, xs]
    taken = np.zeros(mask.shape, np.uint8)
    discs = []
    for i in np.argsort(-radii, kind="stable"):
        if taken[ys[i], xs[i]]:
            continue
        discs.append((ys[i], xs[i], radii[i]))
        cv2.circle(taken, (int(xs[i]), int(ys[i])), int(radii[i]), 1, -1)
    return distance, np.asarray(discs, np.float64).reshape(-1, 3)


def _weighted_median(values, weights):
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def _long_axes(labels, count):
    """Long axis (pixels) of regions 1..count of an int32 [h, w] label image, and which touch the border: [R], [R]."""
    flat = labels.ravel()
    ys, xs = np.indices(labels.shape, dtype=np.float64)
    ys, xs = ys.ravel(), xs.ravel()
    sums = {name: np.bincount(flat, weights=v, minlength=count + 1)[1:count + 1]
            for name, v in (("n", np.ones_like(ys)), ("y", ys), ("x", xs), ("yy", ys * ys), ("xx", xs * xs),
                            ("xy", xs * ys))}
    n = np.maximum(sums["n"], 1.0)
    my, mx = sums["y"] / n, sums["x"] / n
    vy, vx, cxy = sums["yy"] / n - my * my, sums["xx"] / n - mx * mx, sums["xy"] / n - mx * my
    largest = (vy + vx) / 2.0 + np.sqrt(((vy - vx) / 2.0) ** 2 + cxy ** 2)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    touches = np.isin(np.arange(1, count + 1), edge)
    return 4.0 * np.sqrt(np.maximum(largest, 0.0)), touches, sums["n"]


def estimate_red_cell_diameter(image, min_cells=DEFAULT_MIN_CELLS, max_spread=DEFAULT_MAX_SPREAD,
                               work_size=DEFAULT_WORK_SIZE):
    """Typical red-cell diameter of a blood-smear image (method in the module notes).

    image: uint8 [H, W, 3] RGB, at least 16 x 16.
    min_cells: fewer red cells measured than this gives no diameter.
    max_spread: red cells whose diameters' median absolute deviation exceeds this fraction of their median give no
        diameter (merged or half-hidden cells, or no red cells at all but other objects).
    work_size: long side of the working copy (images larger than this are measured reduced, the result scaled back).
    Returns a ScaleEstimate (diameter_px None, with a reason, on a blank image or too few red cells).
    """
    image = _check_image(image)
    if isinstance(min_cells, bool) or not isinstance(min_cells, (int, np.integer)) or min_cells < 1:
        raise ValueError(f"min_cells must be an int >= 1, got {min_cells!r}")
    if not (isinstance(max_spread, (int, float, np.number)) and max_spread >= 0):
        raise ValueError(f"max_spread must be a number >= 0 (a fraction of the diameter), got {max_spread!r}")
    if isinstance(work_size, bool) or not isinstance(work_size, (int, np.integer)) or work_size < 64:
        raise ValueError(f"work_size must be an int >= 64 (pixels), got {work_size!r}")
    height, width = image.shape[:2]
    shrink = min(1.0, work_size / max(height, width))
    best = None
    while True:
        # The window: the whole image at the first level, then a central work_size-pixel window at each finer one.
        side = int(round(work_size / shrink))
        top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
        estimate = _measure(_reduced(image[top:top + side, left:left + side, 1], shrink), min_cells, max_spread)
        if estimate.diameter_px is not None:
            estimate = dataclasses.replace(estimate, diameter_px=estimate.diameter_px / shrink)
        working = None if estimate.diameter_px is None else estimate.diameter_px * shrink
        small = working is not None and working < _MIN_WORK_DIAMETER
        if best is None or _quality(estimate, small, shrink) > _quality(*best):
            best = (estimate, small, shrink)
        if working is None:
            # No diameter: a finer level helps only a field much larger than the working size, where it sees cells
            # that merged here; otherwise it would see the same cells, fewer of them.
            if shrink >= 0.5:
                break
        elif shrink >= 1.0 or not small and (estimate.confident or working >= _SHARP_WORK_DIAMETER):
            break
        log.debug("scale at %.3f: %s; measuring again at twice the resolution", shrink, estimate)
        shrink = min(1.0, 2.0 * shrink)
    return best[0]


def _quality(estimate, small, shrink):
    """Order of preference between the levels' estimates: a diameter, confident, cells not tiny (else the finest
    level), then agreement."""
    return (estimate.diameter_px is not None, estimate.confident, not small, shrink if small else 1.0,
            -estimate.spread if estimate.diameter_px is not None else -math.inf)


def _reduced(green, shrink):
    """uint8 [h, w]: a green channel [H, W] reduced by `shrink` (<= 1; INTER_AREA)."""
    if shrink >= 1.0:
        return green
    height, width = green.shape
    return cv2.resize(green, (max(1, round(width * shrink)), max(1, round(height * shrink))),
                      interpolation=cv2.INTER_AREA)


def _measure(green, min_cells, max_spread):
    """ScaleEstimate of a working green channel uint8 [h, w], in working pixels (steps 2-6 of the module notes)."""
    mask = _cell_mask(green)
    if mask is None or not mask.any():
        return ScaleEstimate(None, 0, math.nan, "no cells: the image has no contrast")
    distance, discs = _inscribed_discs(mask)
    if len(discs) == 0:
        return ScaleEstimate(None, 0, math.nan, "no cells: nothing wider than a few pixels")
    radii = discs[:, 2]
    typical = _weighted_median(radii, radii ** 2)
    in_band = (radii >= _SIZE_BAND[0] * typical) & (radii <= _SIZE_BAND[1] * typical)
    # Every disc seeds a region (so a platelet or white cell keeps its own pixels); the in-band ones come first and
    # are the ones measured.
    ordered = np.concatenate([discs[in_band], discs[~in_band]])
    markers = np.zeros(mask.shape, np.int32)
    markers[ordered[:, 0].astype(int), ordered[:, 1].astype(int)] = np.arange(1, len(ordered) + 1)
    labels = skimage.segmentation.watershed(-distance, markers, mask=distance > 0)
    axes, touches, areas = _long_axes(labels, int(in_band.sum()))
    valid = areas >= 5
    inner = valid & ~touches
    measured = axes[inner] if inner.any() else axes[valid]
    if len(measured) < min_cells:
        return ScaleEstimate(None, int(len(measured)), math.nan,
                             f"too few red cells: {len(measured)} measured, min_cells = {min_cells}")
    median = float(np.median(measured))
    spread = float(np.median(np.abs(measured - median)) / median)
    if spread > max_spread:
        return ScaleEstimate(None, int(len(measured)), spread,
                             f"red cells disagree: spread {spread:.2f} > max_spread = {max_spread}")
    return ScaleEstimate(median, int(len(measured)), spread)


def rescale_factor(image=None, target_diameter_px=None, target_pixel_size=None, pixel_size=None, **estimate_args):
    """The factor by which to resize an image so that its red cells reach the model's training scale.

    image: uint8 [H, W, 3]; measured with `estimate_red_cell_diameter(image, **estimate_args)` unless `pixel_size`
        is given (then it may be None).
    target_diameter_px / target_pixel_size: the training scale, as a red-cell diameter in pixels or as µm per pixel
        (exactly one of the two).
    pixel_size: µm per pixel of the image, when known (a --pixel-size option): no estimate is made.
    Returns (factor, estimate): factor > 1 enlarges the image; None (logged at debug level) when the image gives no
    estimate; estimate is the ScaleEstimate, or None when `pixel_size` was given.
    """
    if (target_diameter_px is None) == (target_pixel_size is None):
        raise ValueError("give exactly one of target_diameter_px (pixels) and target_pixel_size (µm per pixel), got "
                         f"{target_diameter_px!r} and {target_pixel_size!r}")
    for name, value in (("target_diameter_px", target_diameter_px), ("target_pixel_size", target_pixel_size),
                        ("pixel_size", pixel_size)):
        if value is not None and not (isinstance(value, (int, float, np.number)) and math.isfinite(value)
                                      and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    target = (float(target_diameter_px) if target_diameter_px is not None
              else RED_CELL_DIAMETER_UM / float(target_pixel_size))
    if pixel_size is not None:
        return target / (RED_CELL_DIAMETER_UM / float(pixel_size)), None
    if image is None:
        raise ValueError("give an image to measure, or its pixel_size in µm per pixel")
    estimate = estimate_red_cell_diameter(image, **estimate_args)
    if estimate.diameter_px is None:
        log.debug("no scale estimate for this image (%s)", estimate.reason)
        return None, estimate
    return target / estimate.diameter_px, estimate


def training_diameter_px(native_diameter_px, native_shape, image_size):
    """Red-cell diameter (pixels) that a model trained at `image_size` saw, from the training images' native scale.

    native_diameter_px: red-cell diameter in the training images at their native size; native_shape: their
    (height, width); image_size: the model input side (IMAGE_MIN_DIM = IMAGE_MAX_DIM, resize mode "square", which
    scales the long side to image_size).
    """
    height, width = (int(v) for v in native_shape)
    if height < 1 or width < 1:
        raise ValueError(f"native_shape must be a positive (height, width), got {native_shape!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive int (pixels), got {image_size!r}")
    pixel_size_from_diameter(native_diameter_px)  # validates
    return float(native_diameter_px) * image_size / max(height, width)
