"""Segmentation of one blood-cell image by classical image analysis (no learning, no weights): ``segment_cell``.

It finds the labelled cell of a PBC-style crop (the one in the middle; for platelet images every platelet of the
central cluster) and says how sure it is; ``samples.pbc.annotate`` runs it over a folder.

Method of ``segment_cell`` (at a working resolution whose shorter side is at most WORK_SIZE pixels):
1. Optical density (Beer-Lambert): OD = -log10(I / background) per channel, the background colour being the median
   of the brightest quarter of pixels. Stain amount is then measured independently of the illumination and of the
   slide's tint (cream or lilac in PBC, yellow in the wbc_masks images).
2. Nucleus candidates: the top class of a 3-class multi-Otsu threshold of the green-channel OD (the purple nuclear
   stain absorbs green most), each component kept only if it is NUCLEUS_CONTRAST times as dense as the other
   stained pixels (red cells, cytoplasm) and purple rather than red (blue / green OD ratio at most PURPLE_RATIO
   times the red cells'; overlapping red cells are dense but red). The one nearest the image centre seeds the cell.
3. Stainedness F in [0, 1]: the summed OD relative to the nucleus's median, ramped from STAIN_LOW to STAIN_HIGH
   (cytoplasm sits at 15-70 % of the nuclear density, background below 5 %).
4. Cell boundary: a closed path r(theta) around the nucleus by dynamic programming in polar coordinates, outside the
   nuclear convex hull, where F falls from inside to outside and the outside is unstained, with |dr| <= MAX_STEP px
   per 2 degrees. A first pass gathers the nuclear lobes inside the cell (neutrophils), a second runs from its
   centroid. The fraction of the path that follows a real drop of F is the edge support behind the confidence.
5. Red cells: where stained red cells are abundant (PBC, not wbc_masks) and their colour separates from the
   cytoplasm next to the nucleus (a per-image linear discriminant with d' >= 1.5), red-cell-coloured pixels are
   down-weighted in F before the second pass, so the boundary does not wrap round a touching red cell.
6. Platelets: each candidate (granules less than 6 px apart merged) of the cluster round the centre is an instance,
   bounded by the same search in a narrow band where the density falls half-way to the red cells'.
Measured: mean IoU 0.95 against the expert masks of wbc_masks (benchmarks/annotator_vs_wbc_masks.py).

Shape shorthand:
    H, W: image height and width, N: instances, K: angles of the polar search, R: radii sampled along a ray.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, morphology, transform

WORK_SIZE = 200  # working resolution (shorter side, px); larger images are downscaled, smaller ones kept
STAIN_LOW, STAIN_HIGH = 0.06, 0.16  # stainedness ramp, as fractions of the nuclear optical density
NUCLEUS_CONTRAST = 2.0  # a nucleus candidate must be this many times as dense (green OD) as other stained pixels
PURPLE_RATIO = 0.9  # a nucleus candidate's blue/green OD ratio is at most this times the red cells'
LOW_CONTRAST = 2.5  # below this contrast the nucleus (or platelet) is accepted but flagged "low_contrast"
N_ANGLES = 180  # rays of the polar boundary search (2 degrees apart)
MAX_STEP = 1  # largest radius change (px) between neighbouring rays
EDGE_SUPPORT = 0.3  # a boundary point is supported when F drops by at least this much across it
MIN_SUPPORT = 0.75  # below this fraction of supported boundary points: "weak_boundary"
MIN_CONFIDENCE = 0.5  # below this confidence an image is unsure ("low_confidence")
AREA_RATIO_MAX = 4.0  # cell area over nuclear hull area above this: "area_outlier" (likely leaked)
PLATELET_DIAMETER = 0.13  # class_name=None: a central object narrower than this fraction of the image is a platelet
PLATELET_LINK = 0.15  # platelets within this fraction of the image's shorter side of the cluster join it
FLAGS = {
    "no_nucleus_found": "no stained object dense enough near the image centre; no mask is given",
    "low_contrast": "the nucleus is barely denser than the red cells and cytoplasm",
    "touches_border": "a mask reaches the image border (the cell may be cut off)",
    "multiple_candidates": "another nucleus of comparable size lies about as close to the centre",
    "area_outlier": "the cell is much larger than its nucleus suggests, or covers most of the image",
    "weak_boundary": "much of the boundary follows no visible edge (bridged by the smoothness constraint)",
    "low_confidence": f"confidence below {MIN_CONFIDENCE}",
}


@dataclass
class SegmentationResult:
    """Output of ``segment_cell``.

    masks: bool [H, W, N], one channel per instance (N = 0 when nothing was found).
    confidence: float in [0, 1]: the fraction of the boundary that follows a visible edge times a nuclear-contrast
        term (the least of the instances for platelets).
    flags: names from FLAGS; an image with any flag is unsure and must be reviewed.
    notes: measurements behind the flags (contrast, edge support, areas, mode, ...), JSON-able.
    """
    masks: np.ndarray
    confidence: float
    flags: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    @property
    def unsure(self):
        return bool(self.flags)


def _as_rgb(image):
    """float32 RGB in [0, 1], [H, W, 3], from uint8 / float / grey / RGBA input."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array [H, W, 3]; got {type(image).__name__}")
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4) or min(image.shape[:2]) < 16:
        raise ValueError(f"image must be [H, W, 3] (or grey / RGBA) with H, W >= 16; got shape {image.shape}")
    image = image[..., :3]
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if np.issubdtype(image.dtype, np.floating) and image.size and 0 <= image.min() and image.max() <= 1:
        return image.astype(np.float32)
    raise ValueError(f"image must be uint8, or float in [0, 1]; got dtype {image.dtype} with range "
                     f"[{image.min()}, {image.max()}]")


def _optical_density(rgb):
    """Per-channel optical density [H, W, 3] relative to the background (the brightest quarter's median)."""
    lum = rgb.mean(-1)
    background = np.median(rgb[lum >= np.percentile(lum, 75)], axis=0)
    od = -np.log10((rgb + 1 / 255) / (background + 1 / 255))
    return ndi.gaussian_filter(np.clip(od, 0, None), (1.0, 1.0, 0))


def _rays(centre, radii_max):
    """Sample coordinates of N_ANGLES rays: angles [K], (rows, cols) each [K, R]."""
    theta = np.linspace(0, 2 * np.pi, N_ANGLES, endpoint=False)
    r = np.arange(int(np.ceil(radii_max)) + 1, dtype=np.float32)
    return theta, centre[0] + r[None] * np.sin(theta)[:, None], centre[1] + r[None] * np.cos(theta)[:, None]


def _ray_extent(mask, centre, r_max):
    """Largest radius [K] at which each ray from `centre` is still inside `mask` (0 when never)."""
    _, rows, cols = _rays(centre, r_max)
    inside = ndi.map_coordinates(mask.astype(np.float32), [rows, cols], order=0, mode="constant") > 0
    last = inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)
    return np.where(inside.any(1), last, 0).astype(np.float32)


def _polar_boundary(stained, centre, r_in, r_out):
    """Closed boundary r(theta) maximising the drop of `stained` across it, by DP over three unrolled turns.

    stained: [H, W] in [0, 1]; r_in, r_out: [K] radius bounds (the path stays in (r_in, r_out]).
    Returns (radii [K] float, support [K] bool: the drop across the boundary is at least EDGE_SUPPORT).
    """
    theta, rows, cols = _rays(centre, r_out.max() + 5)
    profile = ndi.map_coordinates(stained, [rows, cols], order=1, mode="constant", cval=0.0)  # [K, R]
    n_r = profile.shape[1]
    csum = np.concatenate([np.zeros((N_ANGLES, 1)), np.cumsum(profile, 1)], 1)
    idx = np.arange(n_r)
    lo, hi = np.clip(idx - 3, 0, n_r), np.clip(idx + 4, 0, n_r)
    inside = (csum[:, idx + 1] - csum[:, lo]) / (idx + 1 - lo)
    outside = (csum[:, hi] - csum[:, idx + 1]) / np.maximum(hi - idx - 1, 1)
    drop = inside - outside
    cost = -(drop - outside) + 0.002 * idx[None]
    forbidden = (idx[None] <= np.ceil(r_in)[:, None]) | (idx[None] > r_out[:, None])
    cost[forbidden] = 1e6
    turns = np.concatenate([cost] * 3, 0)
    steps = np.arange(-MAX_STEP, MAX_STEP + 1)
    padded = np.full(n_r + 2 * MAX_STEP, 1e12)  # beyond the radius range; step 0 is always cheaper
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_r)  # live views of `padded`
    penalty = 0.02 * np.abs(steps)[:, None]
    acc, back = turns[0].copy(), np.zeros(turns.shape, np.int32)
    for k in range(1, turns.shape[0]):
        padded[MAX_STEP:MAX_STEP + n_r] = acc
        options = windows[MAX_STEP - steps] + penalty  # [steps, R]: acc[r - step]
        choice = np.argmin(options, axis=0)
        acc = options[choice, idx] + turns[k]
        back[k] = idx - steps[choice]
    path = np.zeros(turns.shape[0], np.int32)
    path[-1] = int(np.argmin(acc))
    for k in range(turns.shape[0] - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    radii = path[N_ANGLES:2 * N_ANGLES]
    support = drop[np.arange(N_ANGLES), radii] >= EDGE_SUPPORT
    smooth = ndi.uniform_filter1d(radii.astype(np.float32), 3, mode="wrap")
    return np.maximum(smooth, r_in + 1), support


def _polygon_mask(centre, radii, shape):
    """bool [H, W]: the star-shaped region {r <= radii(theta)} round `centre`, radii [K] linearly interpolated."""
    reach = float(radii.max()) + 1
    y0, x0 = (max(0, int(np.floor(c - reach))) for c in centre)
    y1, x1 = (min(n, int(np.ceil(c + reach)) + 1) for c, n in zip(centre, shape))
    mask = np.zeros(shape, bool)
    if y1 <= y0 or x1 <= x0:
        return mask
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dy, dx = yy - centre[0], xx - centre[1]
    position = (np.arctan2(dy, dx) % (2 * np.pi)) / (2 * np.pi) * N_ANGLES
    below = np.floor(position).astype(int) % N_ANGLES
    frac = position - np.floor(position)
    limit = radii[below] * (1 - frac) + radii[(below + 1) % N_ANGLES] * frac
    mask[y0:y1, x0:x1] = np.hypot(dy, dx) <= limit
    return mask


def _red_cell_weight(od, density, stained, nucleus, cell, group):
    """(weight [H, W] in [0, 1] that is low on red-cell-coloured pixels, or None when not applicable; notes).

    Cytoplasm sample: stained pixels of the first-pass `cell` within 4 px outside the nuclear hull; red-cell sample:
    stained pixels more than 6 px outside the cell. Fisher's linear discriminant in OD space separates them.
    """
    hull = morphology.convex_hull_image(group)
    dense = (stained > 0.5) & ~ndi.binary_dilation(nucleus)
    cytoplasm = dense & cell & ~hull & (ndi.distance_transform_edt(~hull) <= 4)
    far = ~ndi.binary_dilation(cell, iterations=6)
    red = dense & far
    red_fraction = float(red.sum() / max(far.sum(), 1))
    notes = {"red_cell_fraction": round(red_fraction, 3)}
    if cytoplasm.sum() < 30 or red.sum() < 200 or red_fraction < 0.12:
        return None, notes  # few stained red cells (e.g. wbc_masks): stainedness alone separates the cell
    x, y = od[cytoplasm], od[red]
    mean_x, mean_y = np.median(x, 0), np.median(y, 0)
    w = np.linalg.solve(np.cov(x.T) + np.cov(y.T) + 2e-5 * np.eye(3), mean_x - mean_y)
    px, py = x @ w, y @ w
    d_prime = float((np.median(px) - np.median(py)) / np.sqrt(0.5 * (px.var() + py.var()) + 1e-12))
    notes["colour_d_prime"] = round(d_prime, 2)
    if d_prime < 1.5:
        return None, notes
    mid, scale = 0.5 * (np.median(px) + np.median(py)), (np.median(px) - np.median(py)) / 4
    cell_colour = 1 / (1 + np.exp(-np.clip((od @ w - mid) / scale, -30, 30)))
    return np.maximum(cell_colour, np.clip((density - 0.4) / 0.2, 0, 1)), notes  # dark pixels are never red cells


def _white_cell(od, density, stained, labels, seed, notes):
    """The cell round nucleus component `seed`: (centre (y, x), radii [K], support [K], nuclear group [H, W]).

    labels: nucleus candidates [H, W]; density: summed OD over the seed's [H, W]; stained: its ramp [H, W].
    """
    shape = stained.shape
    group = labels == seed
    rough = ndi.binary_fill_holes((stained > 0.5) | group)
    rough_labels, _ = ndi.label(rough)
    rough = rough_labels == rough_labels[tuple(np.argwhere(group)[0])]
    cap = 0.5 * np.hypot(*shape)
    centre = np.argwhere(group).mean(0)
    for first_pass in (True, False):
        hull = morphology.convex_hull_image(group)
        r_in = _ray_extent(hull, centre, cap)
        r_out = np.maximum(_ray_extent(rough, centre, cap) + 3, r_in + 3)
        radii, support = _polar_boundary(stained, centre, r_in, r_out)
        cell = _polygon_mask(centre, radii, shape)
        if first_pass:
            inside = ndi.mean(cell, labels, index=np.arange(1, labels.max() + 1))
            group |= np.isin(labels, 1 + np.flatnonzero(inside > 0.8))
            weight, colour_notes = _red_cell_weight(od, density, stained, labels > 0, cell, group)
            notes.update(colour_notes)
            if weight is not None:
                stained = stained * weight
            centre = np.argwhere(cell).mean(0)
    return centre, radii, support, group


def _platelets(od, labels, seed, notes):
    """[(centre, radii [K], support [K])] of the platelet cluster round component `seed`.

    Candidates less than 6 px apart are one platelet (granules of a platelet fall apart into several); platelets
    within PLATELET_LINK x the shorter side of the cluster join it, unless much larger than the seed (a white cell).
    Each platelet's boundary lies where the density falls below half-way between its own and the red cells'.
    """
    shape = labels.shape
    objects, _ = ndi.label(ndi.binary_dilation(labels > 0, iterations=3))
    objects = np.where(labels > 0, objects, 0)
    seed = int(objects[labels == seed][0])
    areas = np.bincount(objects.ravel())
    cluster, link = {seed}, PLATELET_LINK * min(shape)
    max_area = max(3.0 * areas[seed], 0.01 * objects.size)
    grown = True
    while grown:
        near = ndi.distance_transform_edt(~np.isin(objects, list(cluster)))
        distance = ndi.minimum(near, objects, index=np.arange(1, len(areas)))
        new = {i + 1 for i in np.flatnonzero(distance <= link) if 0 < areas[i + 1] <= max_area} - cluster
        cluster |= new
        grown = bool(new)
    density = od.sum(-1)
    others = (density > 0.05) & ~ndi.binary_dilation(labels > 0, iterations=2)
    reference = float(np.median(density[others])) if others.sum() > 20 else 0.0
    out = []
    for obj in sorted(cluster):
        core = objects == obj
        half = 0.5 * max(float(np.median(density[core])) - reference, 1e-3)
        stained = np.clip((density - reference) / half, 0, 1)
        hull = morphology.convex_hull_image(core)
        centre = np.argwhere(core).mean(0)
        radius = np.sqrt(hull.sum() / np.pi)
        r_in = _ray_extent(hull, centre, 4 * radius + 4)
        radii, support = _polar_boundary(stained, centre, r_in, r_in + max(2.0, 0.5 * radius))
        out.append((centre, radii, support))
    notes["platelets"] = len(out)
    return out


def _nucleus_candidates(od, min_area):
    """Labelled nucleus candidates [H, W] (0 = none), their count and contrast ratios [n].

    A candidate must be dense (green OD at least NUCLEUS_CONTRAST x the other stained pixels') and purple, not red:
    its blue / green OD ratio at most PURPLE_RATIO x the other stained pixels' (eosin-stained red cells absorb
    relatively more blue than the azure-stained nuclei), which rejects places where red cells overlap.
    """
    green, blue = od[..., 1], od[..., 2]
    if np.ptp(green) < 1e-3:
        return np.zeros(green.shape, np.int32), 0, np.zeros(0)
    thresholds = filters.threshold_multiotsu(green, 3)
    candidates = ndi.binary_opening(green > thresholds[-1])
    candidates = morphology.remove_small_objects(candidates, max_size=min_area)
    labels, n = ndi.label(candidates)
    if n == 0:
        return labels, 0, np.zeros(0)
    others = (od.sum(-1) > 0.05) & ~ndi.binary_dilation(candidates, iterations=2)
    if others.sum() > 20:
        reference = max(float(np.median(green[others])), 0.02)
        reference_ratio = float(np.median(blue[others])) / reference
    else:  # nothing else stained: only the density floor applies
        reference, reference_ratio = 0.02, np.inf
    index = np.arange(1, n + 1)
    median_green = np.asarray(ndi.median(green, labels, index=index))
    contrast = median_green / reference
    blue_ratio = np.asarray(ndi.median(blue, labels, index=index)) / np.maximum(median_green, 1e-6)
    keep = np.flatnonzero((contrast >= NUCLEUS_CONTRAST) & (blue_ratio <= PURPLE_RATIO * reference_ratio))
    relabel = np.zeros(n + 1, np.int32)
    relabel[keep + 1] = np.arange(1, len(keep) + 1)
    return relabel[labels], len(keep), contrast[keep]


def segment_cell(image, class_name=None):
    """Segment the labelled cell of a blood-smear image: the one nearest the centre, or the central platelets.

    image: [H, W, 3] uint8 (or float in [0, 1], grey [H, W], RGBA [H, W, 4]), one cell crop as in PBC.
    class_name: the folder name; "platelet" (any case) makes every platelet of the central cluster an instance;
        None decides by size (a central object narrower than PLATELET_DIAMETER x the shorter side is a platelet).
    Returns SegmentationResult: masks bool [H, W, N] at the input resolution (N = 1 for a white cell or an
    erythroblast, N >= 1 for platelets, N = 0 with "no_nucleus_found"), confidence, flags (see FLAGS), notes.
    """
    if class_name is not None and not isinstance(class_name, str):
        raise TypeError(f"class_name must be a str or None; got {type(class_name).__name__}")
    rgb = _as_rgb(image)
    full_shape = rgb.shape[:2]
    scale = min(1.0, WORK_SIZE / min(full_shape))
    if scale < 1:
        rgb = transform.rescale(rgb, scale, channel_axis=-1, anti_aliasing=True).astype(np.float32)
    shape = rgb.shape[:2]
    od = _optical_density(rgb)
    labels, n, contrast = _nucleus_candidates(od, min_area=max(6, int(5e-4 * rgb[..., 0].size)))
    notes = {"candidates": int(n)}
    yy, xx = np.indices(shape)
    centre_distance = np.hypot(yy - (shape[0] - 1) / 2, xx - (shape[1] - 1) / 2)
    distance = np.asarray(ndi.minimum(centre_distance, labels, index=np.arange(1, n + 1))) if n else np.zeros(0)
    if n == 0 or distance.min() > 0.35 * min(shape):
        return SegmentationResult(np.zeros(full_shape + (0,), bool), 0.0, ["no_nucleus_found"], notes)
    seed = int(np.argmin(distance)) + 1
    seed_contrast = float(contrast[seed - 1])
    density = od.sum(-1) / float(np.median(od.sum(-1)[labels == seed]))  # 1 = the nucleus's optical density
    stained = np.clip((density - STAIN_LOW) / (STAIN_HIGH - STAIN_LOW), 0, 1)
    seed_diameter = 2 * np.sqrt((labels == seed).sum() / np.pi)
    small = seed_diameter < PLATELET_DIAMETER * min(shape)
    platelet = (class_name or "").lower() == "platelet" or (class_name is None and small)
    notes.update(mode="platelet" if platelet else "cell", nuclear_contrast=round(seed_contrast, 2))
    flags = []
    if platelet:
        boundaries = _platelets(od, labels, seed, notes)
    else:
        centre, radii, support, group = _white_cell(od, density, stained, labels, seed, notes)
        boundaries = [(centre, radii, support)]
        areas = np.bincount(labels.ravel(), minlength=n + 1)
        cell_radius = np.sqrt(_polygon_mask(centre, radii, shape).sum() / np.pi)
        in_group = np.unique(labels[group])
        rivals = [i for i in range(1, n + 1) if i not in in_group and areas[i] >= 0.3 * areas[in_group].sum()
                  and distance[i - 1] <= distance[seed - 1] + 1.5 * cell_radius]
        if rivals:
            flags.append("multiple_candidates")
        hull_area = morphology.convex_hull_image(group).sum()
        notes["area_ratio"] = round(float(np.pi * cell_radius ** 2 / hull_area), 2)
        if notes["area_ratio"] > AREA_RATIO_MAX or cell_radius ** 2 * np.pi > 0.6 * labels.size:
            flags.append("area_outlier")
    support = float(min(np.mean(s) for _, _, s in boundaries))
    notes["edge_support"] = round(support, 3)
    if seed_contrast < LOW_CONTRAST:
        flags.append("low_contrast")
    if support < MIN_SUPPORT:
        flags.append("weak_boundary")
    masks = np.zeros(full_shape + (len(boundaries),), bool)
    for i, (centre, radii, _) in enumerate(boundaries):
        masks[..., i] = _polygon_mask((np.asarray(centre) + 0.5) / scale - 0.5, radii / scale, full_shape)
    edge = int(np.ceil(1.5 / scale))  # a boundary within 1.5 working pixels of the border counts as touching
    if masks[:edge].any() or masks[-edge:].any() or masks[:, :edge].any() or masks[:, -edge:].any():
        flags.append("touches_border")
    confidence = support * min(1.0, (seed_contrast - 1) / 2)  # contrast 3 or more: no penalty
    if confidence < MIN_CONFIDENCE:
        flags.append("low_confidence")
    return SegmentationResult(masks, round(float(confidence), 3), flags, notes)
