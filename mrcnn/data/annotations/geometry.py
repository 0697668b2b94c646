"""The values of an annotation, validated: numbers, image sizes, COCO boxes, polygons (clipped to the image), COCO
RLE masks (the compressed string parsed here only to check its run lengths). Each check raises _Skip with the
reason. Turning them into pixels is masks.py's.

Coordinates: (x, y) pixels with the COCO convention, pixel (row r, column c) covering [c, c + 1) x [r, r + 1).

Shape shorthand:
    H, W: image height and width, P: points of a polygon.
"""

import math

import numpy as np

from mrcnn.data.annotations.records import _Skip

COORDINATE_LIMIT = 1e7  # |x| or |y| above this is treated as corrupt, not clipped


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Skip(f"{what} must be a number, got {type(value).__name__} {value!r:.40}")
    try:
        value = float(value)
    except OverflowError:
        raise _Skip(f"{what} is too large") from None
    if not math.isfinite(value) or abs(value) > COORDINATE_LIMIT:
        raise _Skip(f"{what} is {value!r}; coordinates must be finite and within +-{COORDINATE_LIMIT:g}")
    return value


def _positive_int(entry, key):
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _Skip(f"{key} must be a positive integer, got {value!r:.40}")
    return value


def _bbox(value):
    """Validated COCO box [x, y, width, height] (finite floats, width and height >= 0), or _Skip."""
    if not isinstance(value, list) or len(value) != 4:
        raise _Skip(f"bbox must be a list [x, y, width, height], got {value!r:.60}")
    x, y, width, height = (_number(v, "bbox value") for v in value)
    if width < 0 or height < 0:
        raise _Skip(f"bbox width and height must be >= 0, got {value!r:.60}")
    return [x, y, width, height]


def _shoelace(points):
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _clip_polygon(points, width, height):
    """Sutherland-Hodgman: the part of a polygon [P, (x, y)] inside [0, width] x [0, height] (maybe < 3 points)."""
    for axis, bound, keep_low in ((0, 0.0, False), (0, float(width), True), (1, 0.0, False),
                                  (1, float(height), True)):
        inside = points[:, axis] <= bound if keep_low else points[:, axis] >= bound
        if inside.all():
            continue
        out = []
        for i in range(len(points)):
            current, previous = points[i], points[i - 1]
            if inside[i] != inside[i - 1]:
                t = (bound - previous[axis]) / (current[axis] - previous[axis])
                out.append(previous + t * (current - previous))
            if inside[i]:
                out.append(current)
        points = np.array(out, dtype=np.float64).reshape(-1, 2)
        if len(points) == 0:
            break
    return points


def _polygon(xs, ys, width, height, report):
    """Validated float [P, (x, y)] polygon clipped to the image, or _Skip."""
    if len(xs) != len(ys):
        raise _Skip(f"polygon has {len(xs)} x and {len(ys)} y coordinates")
    points = np.array([[_number(x, "x coordinate"), _number(y, "y coordinate")] for x, y in zip(xs, ys)],
                      dtype=np.float64).reshape(-1, 2)
    keep = np.any(points != np.roll(points, 1, axis=0), axis=1) if len(points) > 1 else np.ones(len(points), bool)
    points = points[keep]  # consecutive repeats, including a closing copy of the first point
    if len(points) < 3:
        raise _Skip(f"polygon has {len(points)} distinct points; at least 3 are needed")
    if _shoelace(points) < 1e-9:
        raise _Skip("polygon has zero area")
    clipped = _clip_polygon(points, width, height)
    if len(clipped) < 3 or _shoelace(clipped) < 1e-9:
        raise _Skip(f"polygon lies outside the {width} x {height} image (x in [{points[:, 0].min():g}, "
                    f"{points[:, 0].max():g}], y in [{points[:, 1].min():g}, {points[:, 1].max():g}])")
    if len(clipped) != len(points) or not np.array_equal(clipped, points):
        report.clipped += 1
    return clipped


def _rle_string_counts(text):
    """Run lengths of a compressed COCO RLE string (pycocotools' rleFrString), or _Skip when malformed."""
    counts, position = [], 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise _Skip("compressed RLE string ends in the middle of a number")
            code = ord(text[position]) - 48
            if not 0 <= code < 64:
                raise _Skip(f"compressed RLE string holds {text[position]!r}, not a valid character")
            value |= (code & 0x1F) << (5 * shift)
            more = bool(code & 0x20)
            position += 1
            shift += 1
            if shift > 13:
                raise _Skip("compressed RLE string holds a number too large for a run length")
            if not more and code & 0x10:
                value -= 1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _rle(segmentation, width, height):
    """Validated uncompressed RLE {"size": [H, W], "counts": [int]} from a COCO RLE dict, or _Skip."""
    size = segmentation.get("size")
    if not isinstance(size, list) or len(size) != 2 or size != [height, width]:
        raise _Skip(f"RLE size {size!r:.40} is not the image's [height, width] = [{height}, {width}]")
    counts = segmentation.get("counts")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if isinstance(counts, str):
        counts = _rle_string_counts(counts)
    elif isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise _Skip("RLE counts must be integers")
    else:
        raise _Skip(f"RLE counts must be a list of ints or a compressed string, got {type(counts).__name__}")
    if any(c < 0 for c in counts) or sum(counts) != height * width:
        raise _Skip(f"RLE counts must be non-negative and sum to height * width = {height * width}, got sum "
                    f"{sum(counts)}")
    return {"size": [height, width], "counts": [int(c) for c in counts]}
