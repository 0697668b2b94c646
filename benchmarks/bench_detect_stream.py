"""Memory and speed of detection over a folder of images: streamed to disk (mrcnn.streaming) vs kept in memory.

    python benchmarks/bench_detect_stream.py                              # 1000 JPEGs, 512 px, tiny backbone
    python benchmarks/bench_detect_stream.py --images 200 --mode keep     # the old way: every result kept
    python benchmarks/bench_detect_stream.py --backbone resnet50 --images 200

Writes `--images` synthetic 512x512 smear JPEGs to a temporary folder (a pool of `--distinct` smears drawn by
samples/pbc/synthetic.py, each written rotated / flipped / brightness-shifted so that every file differs), builds an
inference model with random weights (the PBC "cpu" preset, `--backbone`, `--size` px; DETECTION_MIN_CONFIDENCE
`--min-confidence`, default 0, so every image gets DETECTION_MAX_INSTANCES full-size masks: the worst case for
memory), then detects over the folder:
    --mode stream: mrcnn.streaming.detect_files (results.jsonl / results.json / counts.csv / overlays on disk);
    --mode keep:   the pre-streaming pbc.py detect: every result (with its masks) kept in a list until the end,
                   then to_coco_results and one json.dump.
Prints the resident set size (VmRSS of /proc/self/status) every `--every` images and at the end, the peak RSS
(getrusage ru_maxrss) and images/s. Run each mode in its own process: the peak is per process. Asserts nothing.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.timing import proc_status_mib  # noqa: E402


def rss_mib():
    """Current resident set size in MiB (VmRSS of /proc/self/status)."""
    return proc_status_mib("VmRSS")


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def write_images(folder, count, size, distinct, seed=0):
    """`count` JPEGs smear_00000.jpg ... in `folder`, variants of `distinct` synthetic smears."""
    from samples.pbc.classes import CLASS_NAMES
    from samples.pbc.synthetic import random_spec, render_smear
    rng = np.random.default_rng(seed)
    pool = [render_smear(random_spec(rng, size, CLASS_NAMES[k % len(CLASS_NAMES)], cells_per_image=(1, 3)))
            for k in range(min(distinct, count))]
    for i in range(count):
        image = np.rot90(pool[i % len(pool)], (i // len(pool)) % 4)
        if (i // (4 * len(pool))) % 2:
            image = image[:, ::-1]
        shift = int(rng.integers(-12, 13))
        image = np.clip(image.astype(np.int16) + shift, 0, 255).astype(np.uint8)
        Image.fromarray(np.ascontiguousarray(image)).save(os.path.join(folder, f"smear_{i:05d}.jpg"), quality=90)
    return sorted(os.path.join(folder, n) for n in os.listdir(folder))


def build_model(backbone, size, min_confidence, logs):
    import keras

    from mrcnn.model import MaskRCNN
    from samples.pbc.config import make_config
    keras.utils.set_random_seed(0)  # the same random weights, hence the same detections, in every run
    config = make_config(inference=True, preset="cpu", backbone=backbone, image_size=size)
    config.DETECTION_MIN_CONFIDENCE = min_confidence
    return MaskRCNN("inference", config.validate(), logs)


class Meter:
    """Prints RSS and speed every `every` images."""

    def __init__(self, every):
        self.every = every
        self.start = time.time()
        self.rows = []

    def __call__(self, done, total, elapsed=None):
        if done % self.every and done != total:
            return
        elapsed = time.time() - self.start
        row = (done, rss_mib(), elapsed)
        self.rows.append(row)
        print(f"{done:6d}/{total} images  RSS {row[1]:8.1f} MiB  {elapsed:7.1f} s  {done / elapsed:6.2f} images/s",
              flush=True)


def run_keep(model, paths, out_dir, class_names, meter):
    """The pre-streaming pbc.py detect: every result kept, written at the end."""
    from mrcnn.evaluation.coco_io import to_coco_results
    from mrcnn.streaming import read_image_file
    records, image_ids = [], []
    for i, path in enumerate(paths):
        records.append(model.detect([read_image_file(path)])[0])
        image_ids.append(os.path.basename(path))
        meter(i + 1, len(paths))
    results = to_coco_results(records, image_ids, {k: k for k in range(1, len(class_names))})
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f)
    return len(results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="number of JPEGs (default 1000)")
    parser.add_argument("--distinct", type=int, default=50, help="distinct smears drawn (default 50; 0.5 s each)")
    parser.add_argument("--size", type=int, default=512, help="image and model size in px (default 512)")
    parser.add_argument("--backbone", default="tiny", help="tiny (default) or resnet50, resnet101, ...")
    parser.add_argument("--min-confidence", type=float, default=0.0, help="DETECTION_MIN_CONFIDENCE (default 0)")
    parser.add_argument("--mode", default="stream", choices=["stream", "keep"])
    parser.add_argument("--no-overlays", action="store_true", help="stream mode: no overlay PNGs")
    parser.add_argument("--every", type=int, default=100, help="print RSS every N images (default 100)")
    args = parser.parse_args(argv)

    from samples.pbc.classes import CLASS_NAMES
    class_names = ["BG"] + CLASS_NAMES
    with tempfile.TemporaryDirectory() as tmp:
        folder, out_dir = os.path.join(tmp, "images"), os.path.join(tmp, "out")
        os.makedirs(folder)
        os.makedirs(out_dir)
        t = time.time()
        paths = write_images(folder, args.images, args.size, args.distinct)
        print(f"wrote {len(paths)} {args.size}x{args.size} JPEGs in {time.time() - t:.0f} s", flush=True)
        model = build_model(args.backbone, args.size, args.min_confidence, os.path.join(tmp, "logs"))
        from mrcnn.streaming import read_image_file
        model.detect([read_image_file(paths[0])])  # trace the graph before measuring
        print(f"mode {args.mode}, backbone {args.backbone}, batch {model.config.BATCH_SIZE}, "
              f"DETECTION_MAX_INSTANCES {model.config.DETECTION_MAX_INSTANCES}, min confidence "
              f"{args.min_confidence}; RSS after building and tracing the model {rss_mib():.1f} MiB", flush=True)
        meter = Meter(args.every)
        if args.mode == "stream":
            from mrcnn.streaming import detect_files
            summary = detect_files(model, paths, out_dir, class_names, overlays=not args.no_overlays,
                                   progress=meter)
            detections = summary["detections"]
        else:
            detections = run_keep(model, paths, out_dir, class_names, meter)
        seconds = time.time() - meter.start
        size = os.path.getsize(os.path.join(out_dir, "results.json")) / 2 ** 20
        first = next((r for r in meter.rows if r[0] >= args.every), meter.rows[0])
        last = meter.rows[-1]
        print(f"done: {len(paths)} images, {detections} detections, results.json {size:.1f} MiB, "
              f"{len(paths) / seconds:.2f} images/s")
        print(f"RSS after {first[0]} images {first[1]:.1f} MiB, after {last[0]} images {last[1]:.1f} MiB "
              f"(+{last[1] - first[1]:.1f} MiB); at the end {rss_mib():.1f} MiB; peak RSS {peak_rss_mib():.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
