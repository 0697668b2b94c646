"""Child process of tests/training/test_kill_resume.py: trains the tiny model on shapes, or resumes the last run.

    python tests/training/resume_child.py --logs DIR --epochs 5 [--resume] [--sleep 0.3] [--progress FILE]

Before every training step it writes "<epoch> <step>" (both 1-based) to --progress and sleeps --sleep seconds, so
that the test can kill it in the middle of an epoch. The learning rate is a schedule halving every epoch
(0.01 * 0.5 ** (iterations / STEPS_PER_EPOCH)): its logged values show whether the optimizer's iteration count
continued across a kill.
"""

import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402

from mrcnn.model import MaskRCNN  # noqa: E402
from samples.shapes.shapes import ShapesDataset  # noqa: E402
from tests.tiny_config import TinyConfig  # noqa: E402

STEPS_PER_EPOCH = 3
BASE_LEARNING_RATE = 0.01


class Progress(keras.callbacks.Callback):
    """Writes "<epoch> <step>" to a file before each training step, then sleeps."""

    def __init__(self, path, sleep):
        super().__init__()
        self.path = path
        self.sleep = sleep
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_begin(self, batch, logs=None):
        if self.path:
            with open(self.path + ".tmp", "w") as f:
                f.write(f"{self.epoch} {batch + 1}")
            os.replace(self.path + ".tmp", self.path)
        time.sleep(self.sleep)


def learning_rate():
    return keras.optimizers.schedules.ExponentialDecay(BASE_LEARNING_RATE, decay_steps=STEPS_PER_EPOCH,
                                                       decay_rate=0.5)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--logs", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--progress", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    config = TinyConfig()
    config.STEPS_PER_EPOCH = STEPS_PER_EPOCH
    config.VALIDATION_STEPS = 1
    dataset = ShapesDataset()
    dataset.load_shapes(8, 64, 64, seed=3)
    dataset.prepare()
    model = MaskRCNN("training", config, args.logs)
    if args.resume:
        model.load_weights(model.find_last())
    model.train(dataset, dataset, learning_rate=learning_rate(), epochs=args.epochs, layers="all",
                custom_callbacks=[Progress(args.progress, args.sleep)], workers=1, verbose=0)
    print(f"finished at epoch {model.epoch}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
