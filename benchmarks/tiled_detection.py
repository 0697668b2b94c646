"""What does tiling cost beyond the model? Time and peak memory of `detect_tiled` (mrcnn/tiling.py) by field size.

A stand-in model (no network) "detects" the cells painted in each tile: channel 0 of the image holds each cell's
number (0 = background), so each tile's detections are exact and cut at the tile edge, and what is timed is the
tiling: cutting tiles, cropping masks, merging, assembling. Fields of 192 x 192 up to 2048 x 1536 hold discs of
40 px (a red cell at PBC's 192-px training scale) about 60 px apart. Per field: tiles, cells painted, detections
after merging (must equal the cells), milliseconds, and the peak memory traced by tracemalloc beyond the image,
with full masks and with `full_masks=False` (cropped masks): the latter should stay flat as the tiles multiply.

Command (from the repository root):
    .venv/bin/python benchmarks/tiled_detection.py [--tile 192] [--overlap 96]

Shape shorthand:
    H, W: field height and width; T: tile side; N: detections.
"""

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mrcnn.tiling import detect_tiled  # noqa: E402


class NumberedCellModel:
    """Detects the numbered cells of channel 0 in each tile (Matterport's result dicts)."""

    def __init__(self, tile):
        self.config = type("Config", (), {"IMAGE_RESIZE_MODE": "square", "IMAGE_MIN_DIM": tile,
                                          "IMAGE_MAX_DIM": tile, "IMAGE_MIN_SCALE": 0, "BATCH_SIZE": 1})()

    def detect(self, images):
        results = []
        for image in images:
            numbers = image[:, :, 0].astype(np.int32) * 256 + image[:, :, 1]
            ids = np.unique(numbers[numbers > 0])
            masks = numbers[:, :, None] == ids[None, None, :]
            rois = []
            for k in range(len(ids)):
                ys, xs = np.nonzero(masks[:, :, k])
                rois.append([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])
            results.append({"rois": np.array(rois, np.int32).reshape(-1, 4), "class_ids": np.ones(len(ids), np.int32),
                            "scores": np.full(len(ids), 0.9, np.float32), "masks": masks})
        return results


def numbered_field(height, width, diameter=40, pitch=60, seed=0):
    """uint8 [H, W, 3] with discs numbered 1.. in channels 0-1 (background 0; channel 2 unused), and the count."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    yy, xx = np.mgrid[:height, :width]
    count = 0
    for cy in np.arange(pitch / 2, height, pitch):
        for cx in np.arange(pitch / 2, width, pitch):
            y, x = cy + rng.uniform(-8, 8), cx + rng.uniform(-8, 8)
            count += 1
            inside = (yy - y) ** 2 + (xx - x) ** 2 <= (diameter / 2) ** 2
            image[inside, 0], image[inside, 1] = count // 256, count % 256
    return image, count


def run(image, tile, overlap, full_masks):
    """(detections, seconds, peak bytes traced beyond the inputs)."""
    model = NumberedCellModel(tile)
    tracemalloc.start()
    start = time.perf_counter()
    result = detect_tiled(model, image, overlap=overlap, pad_value=0, full_masks=full_masks)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(result["class_ids"]), seconds, peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tile", type=int, default=192)
    parser.add_argument("--overlap", type=int, default=96)
    args = parser.parse_args(argv)
    print(f"tile {args.tile} px, overlap {args.overlap} px; peak memory beyond the image")
    for height, width in [(192, 192), (480, 640), (1024, 1024), (1536, 2048)]:
        image, cells = numbered_field(height, width)
        stride = args.tile - args.overlap
        tiles = (max(1, -(-(height - args.overlap) // stride)) * max(1, -(-(width - args.overlap) // stride)))
        found, seconds, peak = run(image, args.tile, args.overlap, full_masks=True)
        found_crops, seconds_crops, peak_crops = run(image, args.tile, args.overlap, full_masks=False)
        print(f"{height:5d} x {width:<5d} tiles {tiles:4d}  cells {cells:4d}  found {found:4d}/{found_crops:4d}  "
              f"full masks {seconds:6.2f} s {peak / 2 ** 20:8.1f} MB   cropped {seconds_crops:6.2f} s "
              f"{peak_crops / 2 ** 20:6.1f} MB")


if __name__ == "__main__":
    main()
