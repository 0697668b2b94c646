"""How long training waits for data: `fit` on the real input pipeline against `fit` on a batch already in memory.

    python benchmarks/bench_input_pipeline.py                 # PBC config (ResNet101, 512 px, batch 2), 20 steps
    python benchmarks/bench_input_pipeline.py --backbone resnet50 --steps 30 --workers 1

Both runs train the same model with `keras_model.fit` for `--steps` steps. Run A reads synthetic smears through the
DataGenerator (rendering, resizing, SmearAugmentation (symmetries, zoom, colour), RPN targets; `--workers` threads, Keras' queue of
10 batches). Run B feeds one prepared batch over and over, so it never waits. The time per step is measured between
consecutive `on_train_batch_end` calls after `--warmup` steps (tracing excluded); the data wait is the difference of
the medians, as a share of run A's step. The synthetic images are rendered on the fly, which costs more than
decoding a JPEG of the PBC dataset, so this is an upper bound for PBC.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

from mrcnn.data.generator import DataGenerator  # noqa: E402
from mrcnn.model import MaskRCNN, build_optimizer  # noqa: E402
from mrcnn.precision import resolve_policy  # noqa: E402
from samples.pbc.config import make_config  # noqa: E402
from samples.pbc.augment import SmearAugmentation  # noqa: E402
from samples.pbc.datasets import load_subset  # noqa: E402


class StepTimes(keras.callbacks.Callback):
    """Wall time between consecutive batch ends."""

    def __init__(self):
        super().__init__()
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


class SameBatch(keras.utils.PyDataset):
    """One prepared batch, `steps` times: a pipeline that never makes the model wait."""

    def __init__(self, batch, steps):
        super().__init__()
        self.batch, self.steps = batch, steps

    def __len__(self):
        return self.steps

    def __getitem__(self, idx):
        return self.batch


def step_times(model, data, steps, warmup):
    timer = StepTimes()
    model.keras_model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0, shuffle=False)
    gaps = [b - a for a, b in zip(timer.ends, timer.ends[1:])]
    return gaps[warmup:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet101")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    config = make_config(preset="paper", backbone=args.backbone, image_size=args.size, gpu_count=1,
                         images_per_gpu=2)
    dataset = load_subset("synthetic", "train", image_size=args.size, synthetic_count=64)
    print(f"{args.backbone}-FPN, {args.size} px, batch {config.BATCH_SIZE}, {resolve_policy(config.DTYPE_POLICY)}, "
          f"{args.workers} loader thread(s), {os.cpu_count()} CPU cores; {args.steps} steps, first {args.warmup} "
          "not counted")
    model = MaskRCNN("training", config, "/tmp/mrcnn-bench-input")
    model.keras_model.compile(optimizer=build_optimizer(config, config.LEARNING_RATE))
    pipeline = DataGenerator(dataset, config, augmentation=SmearAugmentation(), steps=args.steps + 1, seed=0,
                             workers=args.workers)
    start = time.perf_counter()
    for i in range(5):
        pipeline[i]
    loading = (time.perf_counter() - start) / 5
    real = step_times(model, pipeline, args.steps, args.warmup)
    cached = step_times(model, SameBatch(pipeline[0], args.steps + 1), args.steps, args.warmup)
    real_med, cached_med = statistics.median(real), statistics.median(cached)
    wait = max(real_med - cached_med, 0.0)
    print(f"building one batch (one thread):      {loading:.3f} s")
    print(f"step with the input pipeline:          {real_med:.3f} s (median)")
    print(f"step with the batch already in memory: {cached_med:.3f} s (median)")
    print(f"time waiting for data:                 {wait:.3f} s per step = {100 * wait / real_med:.1f} % of the step")


if __name__ == "__main__":
    main()
