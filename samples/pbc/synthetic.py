"""Synthetic blood smears that look like PBC images, with exact instance masks.

The default ``--dataset synthetic`` of ``pbc.py``: trains and evaluates in minutes on a CPU without any download.
Each image imitates a CellaVision DM96 crop of the PBC dataset (Acevedo et al., 2020): a pale cream (sometimes
lilac) background, overlapping red cells (translucent discs with a lighter centre, unlabelled) and one labelled
white cell roughly in the middle, drawn with the morphology of its class:

    basophil      dark purple granules covering cell and nucleus, slightly ragged outline
    eosinophil    bilobed nucleus, cytoplasm packed with orange-red granules
    erythroblast  small cell, small dense round nucleus, reddish-grey cytoplasm
    ig            large cell, oval eccentric barely indented nucleus, pink cytoplasm with fine purple granules
    lymphocyte    large round dark nucleus with a thin sky-blue rim of cytoplasm
    monocyte      largest cell, grey-blue cytoplasm (a few vacuoles), pale kidney-shaped / folded nucleus
    neutrophil    pale pink cytoplasm, 3-5 nuclear lobes joined by thin strands
    platelet      a clump of 2-5 small purple granular fragments, each one an instance

Images are drawn on demand from a compact specification stored in ``image_info[i]["spec"]`` (JSON-able dicts of
centres, radii and colours plus a ``texture_seed``), so ``load_image`` and ``load_mask`` agree on every call and
no file is written. Everything random comes from ``numpy.random.Generator``: ``load_smears(seed=s)`` gives the same
images for the same arguments; textures (granules, chromatin, pixel noise) come from generators seeded by
``(texture_seed, part)``, so drawing an image with or without its red cells changes nothing else.

Masks are exact: a labelled cell is opaque and paints precisely the pixels of its mask (hard outline; soft detail
only inside it), so no red-cell or background pixel lies inside a mask and the cell changes nothing outside it.
Red cells are never instances.

Shape shorthand:
    H, W: image height and width (both equal to ``size``), N: labelled cells (instances) in one image.
"""

import math

import numpy as np
import scipy.ndimage

from mrcnn import utils
from samples.pbc.classes import CLASS_NAMES, SOURCE

MIN_SIZE = 64
_REFERENCE_SIZE = 128.0  # radii below are pixels of a 128-pixel image; they scale with size / 128
_NOISE_STD = 1.6  # pixel noise, 0..255 scale
_BACKGROUNDS = {"cream": (250, 227, 203), "lilac": (229, 219, 231)}
_RED_RIM = (0.86, 0.73, 0.84)  # transmission of a red cell's rim and of its pale centre
_RED_PALLOR = (0.95, 0.91, 0.96)

# Per class: body radius range, cytoplasm and nucleus colours, chromatin contrast, membrane darkening and
# granules (colour, granules per pixel, blur in pixels at 128 px, opacity, drawn over the nucleus).
_LOOKS = {
    "basophil": dict(radius=(12.0, 14.0), roughness=0.06, cytoplasm=(196, 166, 210), nucleus=(118, 70, 156),
                     chromatin=0.15, membrane=0.10,
                     granules=((58, 18, 102), 0.45, 0.55, 0.95, True)),
    "eosinophil": dict(radius=(14.5, 16.5), roughness=0.025, cytoplasm=(230, 190, 178), nucleus=(92, 36, 132),
                       chromatin=0.2, membrane=0.08,
                       granules=((206, 104, 70), 0.8, 0.5, 0.85, False)),
    "erythroblast": dict(radius=(10.0, 11.5), roughness=0.03, cytoplasm=(200, 152, 172), nucleus=(58, 22, 88),
                         chromatin=0.1, membrane=0.06, granules=None),
    "ig": dict(radius=(16.0, 18.5), roughness=0.03, cytoplasm=(218, 186, 208), nucleus=(108, 56, 156),
               chromatin=0.22, membrane=0.07, granules=((146, 80, 164), 0.12, 0.45, 0.6, False)),
    "lymphocyte": dict(radius=(11.0, 13.0), roughness=0.02, cytoplasm=(170, 170, 218), nucleus=(86, 38, 138),
                       chromatin=0.18, membrane=0.05, granules=None),
    "monocyte": dict(radius=(18.0, 21.0), roughness=0.05, cytoplasm=(184, 176, 212), nucleus=(124, 74, 164),
                     chromatin=0.25, membrane=0.07, granules=None),
    "neutrophil": dict(radius=(14.0, 16.0), roughness=0.025, cytoplasm=(230, 204, 212), nucleus=(94, 40, 142),
                       chromatin=0.2, membrane=0.07, granules=((196, 150, 192), 0.2, 0.45, 0.5, False)),
    "platelet": dict(radius=(4.0, 6.0), roughness=0.1, cytoplasm=(200, 166, 214), nucleus=None, chromatin=0.0,
                     membrane=0.0, granules=((110, 50, 148), 0.4, 0.45, 0.85, True)),
}

def _blob(rng, center, radius, elongation=1.1, roughness=0.03):
    """A random smooth closed shape: an ellipse of mean radius `radius` with a wavy outline (harmonics 2..5)."""
    e = float(rng.uniform(1.0, elongation))
    harmonics = [[k, float(rng.uniform(0.0, roughness)), float(rng.uniform(0.0, 2 * math.pi))] for k in (2, 3, 4, 5)]
    return {"center": [float(center[0]), float(center[1])],
            "radii": [float(radius / math.sqrt(e)), float(radius * math.sqrt(e))],
            "angle": float(rng.uniform(0.0, math.pi)), "harmonics": harmonics}


def _extent(blob):
    """Largest distance from a blob's centre to its outline."""
    return max(blob["radii"]) * (1.0 + sum(abs(h[1]) for h in blob["harmonics"]))


def _radius_field(blob, yy, xx):
    """Normalised radius of every pixel: float [H, W], <= 1 inside the blob, 1 on its outline."""
    cy, cx = blob["center"]
    ry, rx = blob["radii"]
    cos, sin = math.cos(blob["angle"]), math.sin(blob["angle"])
    u = ((xx - cx) * cos + (yy - cy) * sin) / rx
    v = ((yy - cy) * cos - (xx - cx) * sin) / ry
    theta = np.arctan2(v, u)
    edge = np.ones_like(u)
    for k, amplitude, phase in blob["harmonics"]:
        edge += amplitude * np.cos(k * theta + phase)
    return np.hypot(u, v) / edge


def _segment_distance(yy, xx, p, q):
    """Distance of every pixel to the segment p-q (points as (y, x)): float [H, W]."""
    py, px = p
    dy, dx = q[0] - py, q[1] - px
    t = np.clip(((yy - py) * dy + (xx - px) * dx) / max(dy * dy + dx * dx, 1e-9), 0.0, 1.0)
    return np.hypot(yy - py - t * dy, xx - px - t * dx)


def _smooth_noise(rng, shape, sigma):
    """Gaussian-blurred white noise rescaled to unit standard deviation: float32 [H, W]."""
    noise = scipy.ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return noise / max(float(noise.std()), 1e-6)


def _smoothstep(low, high, x):
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _granule_map(rng, region, per_pixel, sigma):
    """Opacity float32 [H, W] in [0, 1] of granules scattered uniformly over the bool [H, W] `region`."""
    ys, xs = np.nonzero(region)
    out = np.zeros(region.shape, np.float32)
    count = int(round(per_pixel * ys.size))
    if count == 0:
        return out
    pick = rng.integers(0, ys.size, size=count)
    np.add.at(out, (ys[pick], xs[pick]), 1.0)
    out = scipy.ndimage.gaussian_filter(out, sigma) * (2 * math.pi * sigma * sigma)
    return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
#  Specifications
# ---------------------------------------------------------------------------------------------------------------

def _nucleus(rng, name, cy, cx, radius):
    """Nucleus of a white cell: {"parts": [blobs], "cuts": [blobs], "strands": [[y1, x1, y2, x2, width]]}."""
    parts, cuts, strands = [], [], []
    if name in ("neutrophil", "eosinophil"):
        lobes = int(rng.integers(3, 6)) if name == "neutrophil" else 2
        span = rng.uniform(2.6, 3.6) if lobes > 2 else rng.uniform(1.9, 2.4)
        arc = radius * (0.42 if lobes > 2 else 0.42)
        size = radius * (0.32 if lobes > 2 else 0.37)
        start = rng.uniform(0, 2 * math.pi)
        centres = []
        for angle in start + np.linspace(0.0, span, lobes) + rng.uniform(-0.15, 0.15, lobes):
            centres.append((cy + arc * math.sin(angle), cx + arc * math.cos(angle)))
            parts.append(_blob(rng, centres[-1], size * rng.uniform(0.85, 1.15), 1.35, 0.05))
        for p, q in zip(centres[:-1], centres[1:]):
            strands.append([p[0], p[1], q[0], q[1], radius * rng.uniform(0.06, 0.1)])
    elif name in ("lymphocyte", "erythroblast", "basophil"):
        scale, shift = {"lymphocyte": (0.84, 0.08), "erythroblast": (0.62, 0.14), "basophil": (0.62, 0.1)}[name]
        angle = rng.uniform(0, 2 * math.pi)
        center = (cy + shift * radius * math.sin(angle), cx + shift * radius * math.cos(angle))
        parts.append(_blob(rng, center, radius * scale * rng.uniform(0.95, 1.05), 1.1, 0.02))
    elif name in ("monocyte", "ig"):
        angle = rng.uniform(0, 2 * math.pi)
        shift, scale, notch = (0.1, 0.66, 0.36) if name == "monocyte" else (0.24, 0.56, 0.2)
        center = (cy + shift * radius * math.sin(angle), cx + shift * radius * math.cos(angle))
        main = _blob(rng, center, radius * scale, 1.3, 0.03)
        parts.append(main)
        reach = radius * scale * rng.uniform(0.8, 1.0)
        if name == "monocyte" or rng.uniform() < 0.6:
            cut_angle = angle + math.pi + rng.uniform(-0.6, 0.6)  # the notch faces the cell's centre side
            cuts.append(_blob(rng, (center[0] + reach * math.sin(cut_angle), center[1] + reach * math.cos(cut_angle)),
                              radius * notch * rng.uniform(0.85, 1.15), 1.4, 0.03))
    return {"parts": parts, "cuts": cuts, "strands": strands}


def _white_cell(rng, name, cy, cx, unit):
    """Specification of one labelled cell of class `name` centred near (cy, cx)."""
    look = _LOOKS[name]
    radius = rng.uniform(*look["radius"]) * unit
    cell = {"class_name": name, "body": _blob(rng, (cy, cx), radius, 1.12, look["roughness"]), "vacuoles": []}
    cell["nucleus"] = None if look["nucleus"] is None else _nucleus(rng, name, cy, cx, radius)
    if name == "monocyte":
        for _ in range(int(rng.integers(0, 4))):
            r, a = rng.uniform(0.5, 0.85) * radius, rng.uniform(0, 2 * math.pi)
            cell["vacuoles"].append(_blob(rng, (cy + r * math.sin(a), cx + r * math.cos(a)),
                                          rng.uniform(0.8, 1.6) * unit, 1.1, 0.02))
    return cell


def _platelet_clump(rng, cy, cx, unit):
    """2-5 platelets touching each other around (cy, cx); their outlines never overlap."""
    look = _LOOKS["platelet"]
    clump = [{"class_name": "platelet", "body": _blob(rng, (cy, cx), rng.uniform(*look["radius"]) * unit, 1.3,
                                                      look["roughness"]), "nucleus": None, "vacuoles": []}]
    for _ in range(int(rng.integers(2, 6)) - 1):
        for _attempt in range(30):
            anchor = clump[int(rng.integers(len(clump)))]["body"]
            body = _blob(rng, (0.0, 0.0), rng.uniform(*look["radius"]) * unit, 1.3, look["roughness"])
            angle, gap = rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 2.0) * unit
            distance = _extent(anchor) + _extent(body) + gap
            body["center"] = [anchor["center"][0] + distance * math.sin(angle),
                              anchor["center"][1] + distance * math.cos(angle)]
            if all(math.dist(body["center"], other["body"]["center"])
                   >= _extent(body) + _extent(other["body"]) + 0.5 for other in clump):
                clump.append({"class_name": "platelet", "body": body, "nucleus": None, "vacuoles": []})
                break
    return clump


def _cells_of(rng, name, cy, cx, unit):
    return _platelet_clump(rng, cy, cx, unit) if name == "platelet" else [_white_cell(rng, name, cy, cx, unit)]


def random_spec(rng, size, first_class, cells_per_image=(1, 1), red_cells=(4, 10)):
    """Specification (a JSON-able dict) of one smear whose main labelled cell is of class `first_class`.

    rng: numpy.random.Generator. size: image side in pixels. cells_per_image: (low, high) inclusive number of
    labelled cells (or platelet clumps); the first is `first_class` near the centre, the others random classes at
    free places. red_cells: (low, high) inclusive number of red cells.
    """
    if first_class not in CLASS_NAMES:
        raise ValueError(f"random_spec: first_class must be one of {CLASS_NAMES}, got {first_class!r}")
    unit = size / _REFERENCE_SIZE
    tone = "lilac" if rng.uniform() < 0.15 else "cream"
    spec = {"size": int(size), "background": [float(c + rng.uniform(-4, 4)) for c in _BACKGROUNDS[tone]],
            "texture_seed": int(rng.integers(0, 2 ** 31 - 1)), "red_cells": [], "cells": []}
    centre = size / 2.0 + rng.uniform(-0.06, 0.06, size=2) * size
    spec["cells"].extend(_cells_of(rng, first_class, centre[0], centre[1], unit))
    for _ in range(int(rng.integers(cells_per_image[0], cells_per_image[1] + 1)) - 1):
        name = CLASS_NAMES[int(rng.integers(len(CLASS_NAMES)))]
        for _attempt in range(50):
            cy, cx = rng.uniform(0.15 * size, 0.85 * size, size=2)
            reach = max(_LOOKS[name]["radius"]) * unit * (3.0 if name == "platelet" else 1.2)
            if all(math.dist((cy, cx), c["body"]["center"]) > _extent(c["body"]) + reach + 2 * unit
                   for c in spec["cells"]):
                spec["cells"].extend(_cells_of(rng, name, cy, cx, unit))
                break
    for _ in range(int(rng.integers(red_cells[0], red_cells[1] + 1))):
        for _attempt in range(10):  # prefer places not hidden under a labelled cell
            cy, cx = rng.uniform(-0.08 * size, 1.08 * size, size=2)
            if all(math.dist((cy, cx), c["body"]["center"]) > 0.8 * _extent(c["body"]) for c in spec["cells"]):
                break
        rim = np.clip(np.array(_RED_RIM) + rng.uniform(-0.02, 0.02, 3), 0.5, 1.0)
        spec["red_cells"].append({**_blob(rng, (cy, cx), rng.uniform(11.0, 13.0) * unit, 1.12, 0.015),
                                  "rim": rim.tolist(), "pallor": list(_RED_PALLOR),
                                  "pallor_radius": float(rng.uniform(0.0, 0.55))})
    return spec


# ---------------------------------------------------------------------------------------------------------------
#  Drawing
# ---------------------------------------------------------------------------------------------------------------

def _grid(size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def cell_body(cell, yy, xx):
    """bool [H, W]: the pixels a labelled cell covers (its mask before occlusion by later cells)."""
    return _radius_field(cell["body"], yy, xx) <= 1.0


def _red_cell_transmission(red, yy, xx):
    """float32 [H, W, 3] factor by which a translucent red cell dims what lies beneath it."""
    rho = _radius_field(red, yy, xx)
    alpha = np.clip((1.0 - rho) * min(red["radii"]) / 0.8 + 0.5, 0.0, 1.0)
    mix = _smoothstep(red["pallor_radius"] - 0.2, red["pallor_radius"] + 0.3, rho)[..., None]
    rim, pallor = np.asarray(red["rim"], np.float32), np.asarray(red["pallor"], np.float32)
    colour = pallor + (rim - pallor) * mix
    colour = colour * (1.0 - 0.05 * np.exp(-((rho - 0.94) / 0.07) ** 2))[..., None]
    return 1.0 - alpha[..., None] * (1.0 - colour)


def _cell_colours(cell, yy, xx, rng, unit):
    """float32 [H, W, 3] colours of a labelled cell (meaningful inside its body only)."""
    look = _LOOKS[cell["class_name"]]
    rho = _radius_field(cell["body"], yy, xx)
    body = rho <= 1.0
    colour = np.empty(yy.shape + (3,), np.float32)
    colour[:] = look["cytoplasm"]
    colour *= (1.0 + 0.03 * _smooth_noise(rng, yy.shape, 1.5 * unit))[..., None]
    nucleus_hard = np.zeros(yy.shape, bool)
    if cell["nucleus"] is not None:
        for part in cell["nucleus"]["parts"]:
            nucleus_hard |= _radius_field(part, yy, xx) <= 1.0
        for y1, x1, y2, x2, width in cell["nucleus"]["strands"]:
            nucleus_hard |= _segment_distance(yy, xx, (y1, x1), (y2, x2)) <= width
        for cut in cell["nucleus"]["cuts"]:
            nucleus_hard &= _radius_field(cut, yy, xx) > 1.0
        nucleus_hard &= rho <= 0.96
    for vacuole in cell["vacuoles"]:
        inside = (_radius_field(vacuole, yy, xx) <= 1.0) & ~nucleus_hard
        colour[inside] = colour[inside] * 0.3 + np.float32(0.7 * 240.0)
    granules = look["granules"]
    if granules is not None:
        tint, per_pixel, sigma, opacity, over_nucleus = granules
        region = body if over_nucleus else body & ~nucleus_hard
        gmap = _granule_map(rng, region, per_pixel / unit ** 2, sigma * unit) * opacity
    if granules is not None and not over_nucleus:
        colour += (np.asarray(tint, np.float32) - colour) * gmap[..., None]
    if cell["nucleus"] is not None:
        alpha = scipy.ndimage.gaussian_filter(nucleus_hard.astype(np.float32), 0.5 * unit)
        chromatin = 1.0 + look["chromatin"] * np.tanh(_smooth_noise(rng, yy.shape, 0.7 * unit))
        nucleus = np.asarray(look["nucleus"], np.float32) * chromatin[..., None]
        colour += (nucleus - colour) * alpha[..., None]
    if granules is not None and over_nucleus:
        colour += (np.asarray(tint, np.float32) - colour) * gmap[..., None]
    colour *= (1.0 - look["membrane"] * _smoothstep(0.86, 1.0, rho))[..., None]
    return colour


def render_smear(spec, red_cells=True, labelled_cells=True):
    """Draw a smear specification: uint8 [H, W, 3] RGB.

    red_cells / labelled_cells: False leaves those out (everything else is drawn identically), which is how the
    tests check that masks are exact.
    """
    size, seed = spec["size"], spec["texture_seed"]
    unit = size / _REFERENCE_SIZE
    yy, xx = _grid(size)
    shade = 1.0 + 0.015 * _smooth_noise(np.random.default_rng([seed, 0]), (size, size), size / 6.0)
    image = np.asarray(spec["background"], np.float32) * shade[..., None]
    if red_cells:
        for red in spec["red_cells"]:
            image *= _red_cell_transmission(red, yy, xx)
    if labelled_cells:
        for i, cell in enumerate(spec["cells"]):
            body = cell_body(cell, yy, xx)
            image[body] = _cell_colours(cell, yy, xx, np.random.default_rng([seed, 2, i]), unit)[body]
    image += np.random.default_rng([seed, 1]).normal(0.0, _NOISE_STD, image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def smear_masks(spec):
    """Instance masks of a specification: bool [H, W, N] and int32 [N] class ids (CLASS_NAMES index + 1).

    Later cells occlude earlier ones; a cell left with no visible pixel is dropped.
    """
    size = spec["size"]
    yy, xx = _grid(size)
    cells = spec["cells"]
    masks = np.zeros([size, size, len(cells)], bool)
    free = np.ones([size, size], bool)
    for i in range(len(cells) - 1, -1, -1):
        masks[:, :, i] = cell_body(cells[i], yy, xx) & free
        free &= ~masks[:, :, i]
    keep = np.flatnonzero(masks.any(axis=(0, 1)))
    class_ids = np.array([CLASS_NAMES.index(cells[i]["class_name"]) + 1 for i in keep], np.int32)
    return masks[:, :, keep], class_ids


# ---------------------------------------------------------------------------------------------------------------
#  Dataset
# ---------------------------------------------------------------------------------------------------------------

def _check_range(name, value, minimum):
    try:
        low, high = (int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"load_smears: {name} must be a (low, high) pair of ints, got {value!r}") from None
    if not minimum <= low <= high:
        raise ValueError(f"load_smears: {name} must satisfy {minimum} <= low <= high, got {value!r}")
    return low, high


class SyntheticSmearDataset(utils.Dataset):
    """Synthetic PBC-like blood smears with one labelled white cell (or platelet clump) each; see the module notes.

    ``load_smears(count, size=128, seed=0, cells_per_image=(1, 1), red_cells=(4, 10))`` registers ``count``
    images; the class of each image's main cell cycles through a seeded permutation of the 8 classes, so every block
    of 8 consecutive images holds each class once. ``load_image(image_id)`` -> uint8 [H, W, 3];
    ``load_mask(image_id)`` -> bool [H, W, N], int32 [N] (class id = CLASS_NAMES index + 1), exact masks of the
    labelled cells only. ``image_reference(image_id)`` names the classes drawn.
    """

    def load_smears(self, count, size=128, seed=0, cells_per_image=(1, 1), red_cells=(4, 10)):
        """Register `count` synthetic smears of `size` x `size` pixels, deterministic in `seed`."""
        for name, value in (("count", count), ("size", size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"load_smears: {name} must be an int, got {value!r}")
        if count < 0:
            raise ValueError(f"load_smears: count must be >= 0, got {count}")
        if size < MIN_SIZE:
            raise ValueError(f"load_smears: size must be >= {MIN_SIZE} pixels, got {size}")
        cells_per_image = _check_range("cells_per_image", cells_per_image, 1)
        red_cells = _check_range("red_cells", red_cells, 0)
        for i, name in enumerate(CLASS_NAMES):
            self.add_class(SOURCE, i + 1, name)
        rng = np.random.default_rng(seed)
        first = len(self.image_info)
        order = []
        for i in range(count):
            if not order:
                order = [CLASS_NAMES[j] for j in rng.permutation(len(CLASS_NAMES))]
            spec = random_spec(rng, int(size), order.pop(), cells_per_image, red_cells)
            self.add_image(SOURCE, image_id=f"synthetic-{seed}-{first + i}", path=None, width=int(size),
                           height=int(size), spec=spec,
                           class_names=[cell["class_name"] for cell in spec["cells"]])

    def _spec(self, image_id):
        if not 0 <= image_id < len(self.image_info):
            raise ValueError(f"image_id must be in [0, {len(self.image_info)}), got {image_id}")
        return self.image_info[image_id].get("spec")

    def load_image(self, image_id):
        """The smear drawn from its specification: uint8 [H, W, 3]."""
        spec = self._spec(image_id)
        return super().load_image(image_id) if spec is None else render_smear(spec)

    def load_mask(self, image_id):
        """Exact masks of the labelled cells: bool [H, W, N] and int32 [N] class ids."""
        spec = self._spec(image_id)
        return super().load_mask(image_id) if spec is None else smear_masks(spec)

    def image_reference(self, image_id):
        info = self.image_info[image_id]
        if info.get("spec") is None:
            return super().image_reference(image_id)
        return f"{info['id']} ({', '.join(info['class_names'])})"


def render_contact_sheet(dataset, image_ids, path, columns=4, outline=True):
    """Save a grid of images (mask outlines in green and class names when `outline`) to `path` (PNG, JPEG ...).

    dataset: a Dataset with load_image / load_mask (synthetic or annotated). Returns the sheet, uint8 [rows * H,
    columns * W, 3]; images of other sizes are resized to the first one's.
    """
    from PIL import Image, ImageDraw

    image_ids = list(image_ids)
    if not image_ids:
        raise ValueError("render_contact_sheet: image_ids is empty; give at least one image id")
    tiles = []
    for image_id in image_ids:
        image = dataset.load_image(image_id).copy()
        names = []
        if outline:
            masks, class_ids = dataset.load_mask(image_id)
            for i in range(masks.shape[-1]):
                edge = masks[:, :, i] & ~scipy.ndimage.binary_erosion(masks[:, :, i])
                image[edge] = (0, 200, 0)
            names = sorted({dataset.class_names[c] if hasattr(dataset, "class_names") else str(c)
                            for c in np.abs(class_ids)})
        tile = Image.fromarray(image)
        if tiles and tile.size != tiles[0].size:
            tile = tile.resize(tiles[0].size)
        if names:
            ImageDraw.Draw(tile).text((2, 1), ",".join(names), fill=(0, 0, 0))
        tiles.append(tile)
    width, height = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % columns) * width, (k // columns) * height))
    sheet.save(path)
    return np.asarray(sheet)
