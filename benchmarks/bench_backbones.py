"""Parameters and inference time per image of the full Mask R-CNN with each backbone (random weights, CPU).

    python benchmarks/bench_backbones.py                       # the paper's seven backbones, 512x512, 3 repeats
    python benchmarks/bench_backbones.py --backbones resnet50,vgg19 --repeats 5 --size 512

For each backbone: build the inference model (the paper's config: 512x512 images, NUM_CLASSES 9, batch 1), run
`MaskRCNN.detect` once to trace the graph (reported as "first call"), then time `--repeats` more calls on the same
random image and report the median. The detection threshold defaults to 0 (`--min-confidence`), so random weights
give DETECTION_MAX_INSTANCES (100) detections on every backbone and each row includes the same mask-head work (the
worst case: the mask head runs on the valid detections only); the detections column shows the count. Prints
figures, asserts nothing.
"""

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from mrcnn.backbones import HEADS_REGEX, PAPER_BACKBONES, backbone_names  # noqa: E402
from mrcnn.config import Config  # noqa: E402
from mrcnn.model import MaskRCNN  # noqa: E402
from mrcnn.weights_io import weighted_layers  # noqa: E402



class BenchConfig(Config):
    """The paper's Table 2 where it matters for inference speed."""

    NAME = "bench"
    NUM_CLASSES = 1 + 8
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 512
    IMAGE_MAX_DIM = 512
    DETECTION_MIN_CONFIDENCE = 0.75


def _parameters(keras_model):
    """(all parameters, parameters of the backbone) — the backbone being every weighted layer outside the heads."""
    heads = re.compile(HEADS_REGEX)
    backbone = sum(int(np.prod(w.shape)) for name, layer in weighted_layers(keras_model).items()
                   if not heads.fullmatch(name) for w in layer.weights)
    return keras_model.count_params(), backbone


def measure(name, size, repeats, min_confidence=0.0, seed=0):
    config = BenchConfig()
    config.BACKBONE = name
    config.DETECTION_MIN_CONFIDENCE = min_confidence
    config.IMAGE_MIN_DIM = config.IMAGE_MAX_DIM = size
    with tempfile.TemporaryDirectory() as logs:
        start = time.perf_counter()
        model = MaskRCNN("inference", config, logs)
        build = time.perf_counter() - start
    total, backbone = _parameters(model.keras_model)
    image = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    start = time.perf_counter()
    model.detect([image])
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = model.detect([image])[0]
        times.append(time.perf_counter() - start)
    return {"detections": len(result["scores"]), "backbone": name, "parameters": total, "backbone_parameters": backbone, "build": build, "first": first,
            "median": statistics.median(times), "min": min(times), "max": max(times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default=",".join(PAPER_BACKBONES),
                        help=f"comma-separated names among {backbone_names()}")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (median reported)")
    parser.add_argument("--size", type=int, default=512, help="image side (a multiple of 64)")
    parser.add_argument("--min-confidence", type=float, default=0.0,
                        help="DETECTION_MIN_CONFIDENCE (default 0: the same 100 detections on every backbone)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.backbones.split(",") if n.strip()]
    unknown = [n for n in names if n not in backbone_names()]
    if unknown:
        parser.error(f"unknown backbone(s) {unknown}; registered: {backbone_names()}")
    if args.repeats < 1 or args.size % 64:
        parser.error("--repeats must be >= 1 and --size a multiple of 64")

    import tensorflow as tf
    print(f"Mask R-CNN inference, {args.size}x{args.size}, batch 1, random weights; {os.cpu_count()} CPU cores, "
          f"{platform.processor() or platform.machine()}, TensorFlow {tf.__version__}; median of {args.repeats} "
          "after one warm-up call")
    header = f"{'backbone':<12} {'parameters':>12} {'of which backbone':>18} {'build s':>8} {'first call s':>13} " \
             f"{'s / image':>10} {'(min-max)':>14} {'detections':>11}"
    print(header)
    print("-" * len(header))
    for name in names:
        r = measure(name, args.size, args.repeats, args.min_confidence)
        print(f"{r['backbone']:<12} {r['parameters']:>12,} {r['backbone_parameters']:>18,} {r['build']:>8.1f} "
              f"{r['first']:>13.1f} {r['median']:>10.3f} {'(%.3f-%.3f)' % (r['min'], r['max']):>14} "
              f"{r['detections']:>11}", flush=True)


if __name__ == "__main__":
    main()
