"""Helper of tests/training/test_distribute.py: trains the tiny model a few steps on fixed batches, prints JSON.

It runs in a subprocess because logical devices and multi-worker collectives must be set up before TensorFlow starts.

    python tests/training/distribute_check.py compare      # 1 replica vs 2 replicas on 2 logical CPUs, this process
    python tests/training/distribute_check.py reference --out ref.npz   # 1 replica only, weights saved
    TF_CONFIG=... python tests/training/distribute_check.py worker --out w0.npz   # one MultiWorkerMirroredStrategy task
    DISTCHECK_RECOMPUTE=1 python tests/training/distribute_check.py compare    # the same with RECOMPUTE_BACKBONE

The last line of stdout is `RESULT <json>`.

Both runs see the same initial weights (seeded initialisers, and copied in `compare`) and the same global batches of
B = 4 images (2 per replica under 2 replicas). Everything random is pinned:
- The batches are built once by a seeded DataGenerator (image order, RPN anchor sampling) and then fixed.
- The DetectionTargetLayer samples ROIs from seeds drawn with tf.random.uniform, whose op seed differs between the
  two graphs. The random
  ROIs are replaced by hand-made ones whose sample cannot depend on the shuffle: 1 or 2 ROIs equal to ground-truth
  boxes (the positives, all kept: <= int(16 * 0.33) = 5), and every other row one and the same box far from every
  object (the negatives: whichever 2 or 4 of them are drawn, they are identical). Only the order of an image's 2
  positives may differ, which changes sums by rounding only. (Zero rows cannot pad the ROIs: normalized, they become
  (0, 0, -1/63, -1/63), a valid negative.) Images get 1 or 2 positives alternately, so the replicas hold different
  counts of positives.
- Batch norm is frozen (TRAIN_BN False): with trainable batch norm each replica would normalise by the statistics
  of its own 2 images. DTYPE_POLICY is float32, so both runs compute in the same precision.
- WEIGHT_DECAY is 0.05 (Matterport: 0.0001) so that weight decay counted per replica instead of once would show in
  the totals, and GRADIENT_CLIP_NORM is 1.0 so that clipping acts (the output counts the clipped tensors), which
  per-replica clipping before the all-reduce would get wrong.
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS = 2
SEED = 1


def _setup_devices(mode):
    import tensorflow as tf
    # Deterministic kernels: without them a CPU kernel's summation order can vary from run to run (seen: step-2 losses
    # 1e-4 apart between two identical 1-replica runs), which is noise, not what this check compares.
    tf.config.experimental.enable_op_determinism()
    if mode == "compare":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def check_config():
    from tests.tiny_config import TinyConfig

    class CheckConfig(TinyConfig):
        NAME = "distcheck"
        GPU_COUNT = 2
        IMAGES_PER_GPU = 2
        USE_RPN_ROIS = False
        TRAIN_BN = False
        DTYPE_POLICY = "float32"
        WEIGHT_DECAY = 0.05
        GRADIENT_CLIP_NORM = 1.0
        LEARNING_RATE = 0.02
        RECOMPUTE_BACKBONE = os.environ.get("DISTCHECK_RECOMPUTE") == "1"

    return CheckConfig()


def _fixed_rois(gt_boxes, gt_class_ids, positives, rows, image_side):
    """[rows, (y1, x1, y2, x2)] pixels: `positives` ground-truth boxes, then one box overlapping no object repeated."""
    import numpy as np
    from mrcnn import utils
    boxes = gt_boxes[gt_class_ids > 0][:positives]
    side = 6
    candidates = np.array([[y, x, y + side, x + side] for y in range(0, image_side - side, 3)
                           for x in range(0, image_side - side, 3)], np.float32)
    overlaps = utils.compute_overlaps(candidates, gt_boxes[gt_class_ids > 0]).max(axis=1)
    negative = candidates[np.argmin(overlaps)]
    assert overlaps.min() < 0.1, overlaps.min()
    rois = np.tile(negative, (rows, 1))
    rois[:len(boxes)] = boxes
    return rois


def fixed_batches(config):
    """STEPS global batches of config.BATCH_SIZE images with deterministic ROIs (see the module docstring)."""
    import numpy as np
    from mrcnn.data.generator import DataGenerator
    from samples.shapes.shapes import ShapesDataset
    dataset = ShapesDataset()
    dataset.load_shapes(12, 64, 64, seed=3)
    dataset.prepare()
    generator = DataGenerator(dataset, config, shuffle=True, steps=STEPS, seed=0,
                              random_rois=config.POST_NMS_ROIS_TRAINING)
    batches = []
    for index in range(STEPS):
        batch = generator[index]
        rois = [_fixed_rois(batch["input_gt_boxes"][b], batch["input_gt_class_ids"][b], 1 + b % 2,
                            config.POST_NMS_ROIS_TRAINING, 64) for b in range(config.BATCH_SIZE)]
        batch["input_rpn_rois"] = np.stack(rois)
        batches.append(batch)
    return batches


def _fixed_dataset(batches):
    import keras

    class FixedBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()

        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            return dict(batches[index])

    return FixedBatches()


def train(model, config, batches):
    """Compile as MaskRCNN.train does, fit one epoch of the fixed batches; (per-step logs, weights)."""
    import keras
    from mrcnn.model import build_optimizer
    recorded = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            recorded.append({k: float(v) for k, v in (logs or {}).items()})

    with model.strategy.scope():
        model.keras_model.compile(optimizer=build_optimizer(config, config.LEARNING_RATE), jit_compile=False)
    model.keras_model.fit(_fixed_dataset(batches), epochs=1, verbose=0, shuffle=False, callbacks=[Record()])
    return recorded, [w.copy() for w in model.keras_model.get_weights()]


def naive_and_clipping(model, config, batch):
    """Evidence that the comparison can fail: the mean of the two halves' losses (naive per-replica means) minus the
    whole batch's loss, and how many gradient tensors of the first step exceed GRADIENT_CLIP_NORM."""
    import numpy as np
    import tensorflow as tf
    from mrcnn.config import LOSS_NAMES
    from mrcnn.heads import losses as L
    from mrcnn.training.trainer import compute_losses
    keras_model = model.keras_model
    half = config.BATCH_SIZE // 2

    def losses_of(part):
        return compute_losses(part, keras_model(part, training=True))

    whole = losses_of(batch)
    halves = [losses_of({k: v[i * half:(i + 1) * half] for k, v in batch.items()}) for i in range(2)]
    naive = {n: float(np.mean([float(h[n]) for h in halves]) - float(whole[n])) for n in LOSS_NAMES}
    with tf.GradientTape() as tape:
        losses = losses_of(batch)
        total = tf.add_n([config.LOSS_WEIGHTS[n] * losses[n] for n in LOSS_NAMES])
        decay = L.weight_decay_loss(keras_model.trainable_weights, config.WEIGHT_DECAY)
        total = total + decay
    gradients = tape.gradient(total, keras_model.trainable_weights)
    norms = [float(tf.norm(g)) for g in gradients if g is not None]
    return {"naive_minus_global": naive, "weight_decay": float(decay),
            "clipped_tensors": sum(n > config.GRADIENT_CLIP_NORM for n in norms), "gradient_tensors": len(norms)}


def train_with_model_train(model):
    """MaskRCNN.train under the model's strategy: one epoch with validation, checkpoint and TensorBoard logs."""
    import os
    from samples.shapes.shapes import ShapesDataset
    dataset = ShapesDataset()
    dataset.load_shapes(8, 64, 64, seed=5)
    dataset.prepare()
    history = model.train(dataset, dataset, learning_rate=0.001, epochs=1, layers="all", workers=1, verbose=0)
    return {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
            "files": sorted(os.listdir(model.log_dir))}


def main():
    import keras
    keras.config.disable_traceback_filtering()  # a failure in a subprocess shows where in Keras it happened
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("compare", "reference", "worker"))
    parser.add_argument("--out", help="save the weights after training to this .npz")
    parser.add_argument("--out-paths", help="compare: also save them by variable path to this .npz")
    parser.add_argument("--logs", default=None, help="model_dir (default: a temporary folder)")
    args = parser.parse_args()
    _setup_devices(args.mode)

    import tempfile
    import keras
    import numpy as np
    from mrcnn.model import MaskRCNN

    config = check_config()
    model_dir = args.logs or tempfile.mkdtemp(prefix="distcheck")
    batches = fixed_batches(config)
    result = {}
    if args.mode == "compare":
        keras.utils.set_random_seed(SEED)
        one = MaskRCNN("training", config, model_dir)  # GPU_COUNT 2 on no GPU: the default strategy, with a warning
        two = MaskRCNN("training", config, model_dir, devices=["/cpu:0", "/cpu:1"])
        two.keras_model.set_weights(one.keras_model.get_weights())
        initial = [w.copy() for w in one.keras_model.get_weights()]
        result["evidence"] = naive_and_clipping(one, config, batches[0])
        result["replicas"] = [one.strategy.num_replicas_in_sync, two.strategy.num_replicas_in_sync]
        (logs_one, weights_one), (logs_two, weights_two) = train(one, config, batches), train(two, config, batches)
        result["logs"] = [logs_one, logs_two]
        result["max_weight_diff"] = max(float(np.max(np.abs(a - b))) for a, b in zip(weights_one, weights_two))
        result["max_weight_change"] = max(float(np.max(np.abs(a - b))) for a, b in zip(weights_one, initial))
        result["weight_scale"] = max(float(np.max(np.abs(w))) for w in weights_one)
        if args.out:
            np.savez(args.out, *weights_one)
        if args.out_paths:
            np.savez(args.out_paths, **{v.path: v.numpy() for v in one.keras_model.weights})
        result["recompute"] = config.RECOMPUTE_BACKBONE
        result["train"] = train_with_model_train(two)
    else:
        keras.utils.set_random_seed(SEED)
        model = MaskRCNN("training", config, model_dir)  # worker: MultiWorkerMirroredStrategy from TF_CONFIG
        result["replicas"] = [model.strategy.num_replicas_in_sync]
        result["strategy"] = type(model.strategy).__name__
        from mrcnn.training import distribute
        result["is_chief"] = distribute.is_chief(model.strategy)
        logs, weights = train(model, config, batches)
        result["logs"] = [logs]
        if args.out:
            np.savez(args.out, *weights)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
