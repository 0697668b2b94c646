"""Repeatable runs: one call that seeds everything a training run draws from.

A seeded run repeats exactly on the same machine (same library versions, same thread count) when
  - Python's, NumPy's and TensorFlow's global generators are seeded (the initial weights, the seeds of the ROI
    sampling inside the graph): `keras.utils.set_random_seed`;
  - the ROI sampling does not depend on thread timing: the DetectionTargetLayer samples the images of a batch in
    parallel threads, each with a stateless shuffle from its own seed (a stateful shuffle there handed its random
    numbers to whichever image came first, and two seeded runs of `make demo` parted after about 30 steps);
  - TensorFlow runs deterministic kernels: without `tf.config.experimental.enable_op_determinism()`, some CPU
    kernels of the Mask R-CNN train step sum in an order that depends on thread timing, and two seeded runs drift
    apart after a few steps (measured: the loss differed in the 4th decimal from the 9th step on);
  - the batches are a pure function of the seed and their place in the stream (mrcnn/data/stream.py: the data
    generators given to `fit` are endless streams, so Keras' prefetching across epochs cannot reorder them).
Different machines (another CPU, another number of threads, a GPU) may still give different numbers.
"""

import keras
import tensorflow as tf


def seed_everything(seed):
    """Seed Python, NumPy and TensorFlow with `seed` (int >= 0) and turn on TensorFlow's deterministic kernels.

    Call it before the model is built. Deterministic kernels stay on for the rest of the process.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
