"""Speed of the core model on this CPU: inference per image (batch 1) and one training step (batch 2).

    python benchmarks/bench_core.py                      # ResNet50-FPN, 512x512, TRAIN_ROIS_PER_IMAGE 100
    python benchmarks/bench_core.py --backbone resnet101 --size 512 --repeats 10

Random weights, synthetic images with a few rectangular instances. Prints the median and the spread over
`--repeats` timed runs after warm-up (tracing excluded), plus the time the data pipeline takes to build one training
batch. Issue targets on 2 cores: inference <= 1.0 s, training step <= 4 s (torchvision's maskrcnn_resnet50_fpn:
1.1-1.4 s and 4.8-6 s on the same settings).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mrcnn import utils  # noqa: E402
from timing import timed  # noqa: E402
from mrcnn.config import DTYPE_POLICIES, Config  # noqa: E402
from mrcnn.data.generator import DataGenerator  # noqa: E402
from mrcnn.model import MaskRCNN, build_optimizer  # noqa: E402
from mrcnn.training.optimizer_state import build_optimizer_variables  # noqa: E402
from mrcnn.precision import resolve_policy  # noqa: E402


class BenchConfig(Config):
    NAME = "bench"
    NUM_CLASSES = 1 + 8
    TRAIN_ROIS_PER_IMAGE = 100
    MAX_GT_INSTANCES = 50


class BoxesDataset(utils.Dataset):
    """Images of random noise with 1-6 rectangles, each an instance of a random class."""

    def load(self, count, size, num_classes, seed=0):
        for i in range(1, num_classes):
            self.add_class("bench", i, f"class{i}")
        rng = np.random.default_rng(seed)
        for i in range(count):
            boxes = []
            for _ in range(rng.integers(1, 7)):
                y, x = rng.integers(0, size - 60, 2)
                h, w = rng.integers(20, 60, 2)
                boxes.append((int(y), int(x), int(y + h), int(x + w), int(rng.integers(1, num_classes))))
            self.add_image("bench", i, None, size=size, boxes=boxes, seed=int(rng.integers(1 << 30)))

    def load_image(self, image_id):
        info = self.image_info[image_id]
        rng = np.random.default_rng(info["seed"])
        return rng.integers(0, 255, (info["size"], info["size"], 3), dtype=np.uint8)

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        mask = np.zeros((info["size"], info["size"], len(info["boxes"])), bool)
        for i, (y1, x1, y2, x2, _) in enumerate(info["boxes"]):
            mask[y1:y2, x1:x2, i] = True
        return mask, np.array([b[4] for b in info["boxes"]], np.int32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--dtype-policy", default="auto", choices=DTYPE_POLICIES,
                        help="Config.DTYPE_POLICY (default auto: %(default)s resolves to the machine's best)")
    parser.add_argument("--jit-compile", action="store_true", help="Config.JIT_COMPILE: the trunk through XLA")
    args = parser.parse_args(argv)

    BenchConfig.DTYPE_POLICY = args.dtype_policy
    BenchConfig.JIT_COMPILE = args.jit_compile
    config = BenchConfig()
    config.BACKBONE = args.backbone
    config.IMAGE_MIN_DIM = config.IMAGE_MAX_DIM = args.size
    dataset = BoxesDataset()
    dataset.load(8, args.size, config.NUM_CLASSES)
    dataset.prepare()
    print(f"{args.backbone}-FPN, {args.size}x{args.size}, TRAIN_ROIS_PER_IMAGE {config.TRAIN_ROIS_PER_IMAGE}, "
          f"POST_NMS_ROIS_INFERENCE {config.POST_NMS_ROIS_INFERENCE}, {os.cpu_count()} CPU cores, "
          f"dtype policy {resolve_policy(config.DTYPE_POLICY)}, XLA {'on' if config.JIT_COMPILE else 'off'}")

    infer_config = BenchConfig()
    infer_config.BACKBONE = args.backbone
    infer_config.IMAGE_MIN_DIM = infer_config.IMAGE_MAX_DIM = args.size
    infer_config.IMAGES_PER_GPU = 1
    model = MaskRCNN("inference", infer_config, "/tmp/mrcnn-bench")
    image = dataset.load_image(0)
    med, lo, hi = timed(lambda: model.detect([image]), args.repeats)
    print(f"inference, batch 1:      median {med:.3f} s/image  (min {lo:.3f}, max {hi:.3f})")

    if not args.skip_train:
        model = MaskRCNN("training", config, "/tmp/mrcnn-bench")
        model.keras_model.compile(optimizer=build_optimizer(config, 0.001))
        build_optimizer_variables(model.keras_model)  # before the first step, as MaskRCNN.train does
        generator = DataGenerator(dataset, config, steps=4, seed=0)
        batch = generator[0]
        med, lo, hi = timed(lambda: model.keras_model.train_on_batch(batch), args.repeats)
        print(f"training step, batch 2:  median {med:.3f} s/step   (min {lo:.3f}, max {hi:.3f})")
        med, lo, hi = timed(lambda: generator[1], args.repeats, warmup=1)
        print(f"data pipeline, batch 2:  median {med:.3f} s/batch  (one thread; overlaps training when workers > 0)")


if __name__ == "__main__":
    main()
