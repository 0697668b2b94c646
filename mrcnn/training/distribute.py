"""Training on several devices with tf.distribute: which strategy, how a batch is split, how the replicas agree.

Shape shorthand: B: global batch (Config.BATCH_SIZE = GPU_COUNT * IMAGES_PER_GPU), n: replicas in sync.

Matterport's `ParallelModel` (one model copy per GPU, outputs concatenated on the CPU) is replaced by
`tf.distribute`. The strategy is chosen in one place, `choose_strategy`, from the config and the machine:

    TF_CONFIG names more than one task   -> MultiWorkerMirroredStrategy (every local GPU of every machine, or its CPU)
    GPU_COUNT > 1 and >= 2 GPUs present  -> MirroredStrategy over the first n GPUs, n = the largest number
                                            <= min(GPU_COUNT, GPUs present) that divides B
    otherwise                            -> the default strategy (one device), logging once when GPUs are missing

In every case the global batch stays B images and each replica gets B / n of them, so a config trains the same
model on 1 device or on n (docs/distributed.md). The model is built and compiled under `strategy.scope()`; `fit`
then splits each global batch of the DataGenerator across the replicas (in order: replica i gets images
i * B / n ... (i + 1) * B / n - 1). `global_gradients` and `sum_over_replicas` (called by
mrcnn/training/trainer.py in the replica context) make the losses, the logged values and the update equal to those
of one device on the whole batch.
"""

import json
import logging
import os
import tempfile

import tensorflow as tf

log = logging.getLogger(__name__)

_DEVICES_REPORTED = set()
_MULTI_WORKER = []  # the process's one MultiWorkerMirroredStrategy (collective ops are configured once per process)


# ---- the machine and TF_CONFIG ---------------------------------------------------------------------------------------

def _gpu_count():
    """Physical GPUs visible to TensorFlow (listing them does not initialise the runtime)."""
    return len(tf.config.list_physical_devices("GPU"))


def parse_tf_config(value=None):
    """The TF_CONFIG cluster description as a dict, or None when it is unset or empty.

    Args:
        value: the JSON text; None reads the TF_CONFIG environment variable.
    Returns {"cluster": {task type: ["host:port", ...]}, "task": {"type": str, "index": int}}; a ValueError names
    what is malformed.
    """
    if value is None:
        value = os.environ.get("TF_CONFIG", "")
    if not str(value).strip():
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {value!r}") from None
    cluster = parsed.get("cluster") if isinstance(parsed, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(
            isinstance(v, list) and v and all(isinstance(a, str) for a in v) for v in cluster.values()):
        raise ValueError(f'TF_CONFIG needs "cluster": {{"worker": ["host:port", ...]}} (non-empty lists of '
                         f'"host:port" strings), got {value!r}')
    task = parsed.get("task", {})
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(f'TF_CONFIG "task" must be {{"type": one of {sorted(cluster)}, "index": i}}, got {task!r}')
    index = task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise ValueError(f'TF_CONFIG "task" index {index!r} is not an index of cluster[{task["type"]!r}] '
                         f'({len(cluster[task["type"]])} addresses)')
    return {"cluster": cluster, "task": {"type": task["type"], "index": index}}


def cluster_size(tf_config):
    """Number of training tasks (chief and workers) in a parsed TF_CONFIG; 1 for None."""
    if tf_config is None:
        return 1
    return sum(len(tf_config["cluster"].get(kind, [])) for kind in ("chief", "worker"))


def replica_count(batch_size, gpu_count, gpus_available):
    """Replicas for a global batch of `batch_size` images when GPU_COUNT = `gpu_count` and the machine has
    `gpus_available` GPUs: the largest n <= min(gpu_count, gpus_available) that divides `batch_size` (1 without GPUs).
    """
    n = max(1, min(int(gpu_count), int(gpus_available)))
    while batch_size % n:
        n -= 1
    return n


def report_devices(config, gpus=None):
    """Log once (per GPU_COUNT and machine) when GPU_COUNT asks for more GPUs than there are: the same global batch
    then trains on what is there."""
    gpus = _gpu_count() if gpus is None else gpus
    key = (config.GPU_COUNT, gpus)
    if config.GPU_COUNT > max(gpus, 1) and key not in _DEVICES_REPORTED:
        _DEVICES_REPORTED.add(key)
        log.warning("GPU_COUNT = %d but this machine has %d GPU(s): training on %s with the same global batch of %d "
                    "images", config.GPU_COUNT, gpus, "the CPU" if not gpus else f"{gpus} GPU(s)", config.BATCH_SIZE)


# ---- the strategy ----------------------------------------------------------------------------------------------------

def _make_mirrored(devices):
    return tf.distribute.MirroredStrategy(devices=list(devices))


def _make_multi_worker():
    if not _MULTI_WORKER:
        try:
            _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
        except RuntimeError as e:  # TensorFlow ran an op before: collectives can no longer be configured
            raise RuntimeError(
                f"TF_CONFIG asks for multi-worker training, but the MultiWorkerMirroredStrategy must be made before "
                f"TensorFlow runs any op ({e}). Call mrcnn.training.distribute.choose_strategy(config) at the start "
                "of the program; MaskRCNN then trains with that strategy.") from e
    return _MULTI_WORKER[0]


def _check_split(strategy, batch_size, source):
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"Config.BATCH_SIZE = {batch_size} (GPU_COUNT x IMAGES_PER_GPU) does not divide across the "
                         f"{replicas} replicas of {source}; make it a multiple of {replicas}")
    return strategy


def choose_strategy(config, strategy=None, devices=None):
    """The tf.distribute strategy to train `config` with (see the module docstring for the rules).

    Args:
        config: a Config (GPU_COUNT, BATCH_SIZE are read).
        strategy: use this tf.distribute.Strategy as it is (e.g. one the caller made for its cluster).
        devices: or mirror over these device names (e.g. ["/gpu:0", "/gpu:1"], or logical CPUs in tests).
    Without either, a strategy entered with `with s.scope():` around the call is used; then TF_CONFIG, then the GPUs.
    A ValueError says when BATCH_SIZE does not divide across the replicas of a strategy or device list given.
    """
    if strategy is not None and devices is not None:
        raise ValueError("give strategy= or devices=, not both")
    batch_size = config.BATCH_SIZE
    if strategy is not None:
        if not isinstance(strategy, tf.distribute.Strategy):
            raise TypeError(f"strategy must be a tf.distribute.Strategy, got {type(strategy).__name__}")
        return _check_split(strategy, batch_size, f"the given {type(strategy).__name__}")
    if devices is not None:
        if isinstance(devices, str) or not devices or not all(isinstance(d, str) for d in devices):
            raise ValueError(f"devices must be a non-empty list of device names like '/gpu:0', got {devices!r}")
        if len(devices) == 1:
            return tf.distribute.OneDeviceStrategy(devices[0])
        return _check_split(_make_mirrored(devices), batch_size, f"devices={list(devices)}")
    if tf.distribute.has_strategy():
        return _check_split(tf.distribute.get_strategy(), batch_size, "the strategy in scope")
    tf_config = parse_tf_config()
    if cluster_size(tf_config) > 1:
        strategy = _make_multi_worker()
        log.info("TF_CONFIG: %s %d of a %d-task cluster, %d replicas in sync", tf_config["task"]["type"],
                 tf_config["task"]["index"], cluster_size(tf_config), strategy.num_replicas_in_sync)
        return _check_split(strategy, batch_size, "the MultiWorkerMirroredStrategy of TF_CONFIG")
    gpus = _gpu_count()
    report_devices(config, gpus)
    replicas = replica_count(batch_size, config.GPU_COUNT, gpus)
    if replicas > 1:
        if replicas < min(config.GPU_COUNT, gpus):
            log.warning("BATCH_SIZE = %d does not divide across %d GPUs: training on %d GPUs, %d images each",
                        batch_size, min(config.GPU_COUNT, gpus), replicas, batch_size // replicas)
        log.info("MirroredStrategy over %d GPUs, %d images per GPU", replicas, batch_size // replicas)
        return _make_mirrored([f"/gpu:{i}" for i in range(replicas)])
    return tf.distribute.get_strategy()


def is_distributed(strategy):
    """True for a strategy other than the default one (Keras then distributes every batch `fit` takes)."""
    with strategy.scope():
        return tf.distribute.has_strategy()


def is_multi_worker(strategy):
    """True for a strategy whose cluster (its cluster resolver) has more than one training task."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return False
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(kind, [])) for kind in ("chief", "worker")) > 1


def is_chief(strategy=None):
    """True on the task that should write checkpoints and TensorBoard logs: always, unless training under a
    MultiWorkerMirroredStrategy on a task other than the chief ("chief" task, or "worker" 0 when the cluster has no
    "chief"). Reads `strategy` when given, else TF_CONFIG."""
    if strategy is not None:
        return bool(strategy.extended.should_checkpoint)
    tf_config = parse_tf_config()
    if cluster_size(tf_config) <= 1:
        return True
    task = tf_config["task"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and task["index"] == 0 and "chief" not in tf_config["cluster"]


def worker_dir(log_dir, strategy=None):
    """Where this task writes checkpoints and logs: `log_dir` on the chief; on another worker a folder under the
    system's temporary directory (TensorFlow's advice: every worker saves, since saving may run collective ops that
    need all of them, but only the chief's files are kept; delete the folder after training)."""
    if is_chief(strategy):
        return log_dir
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_type is not None:
        task_type, task_id = resolver.task_type, resolver.task_id
    else:
        task = parse_tf_config()["task"]
        task_type, task_id = task["type"], task["index"]
    run = os.path.basename(os.path.normpath(log_dir))
    return os.path.join(tempfile.gettempdir(), f"mrcnn_{task_type}_{task_id}", run)


# ---- in the replica context (mrcnn/training/trainer.py) --------------------------------------------------------------

def replicas_in_sync():
    """Number of replicas of the current replica context (1 outside a strategy)."""
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


def sum_over_replicas(values):
    """Sum of a structure of tensors over all replicas (one batched all-reduce); `values` itself with one replica."""
    if replicas_in_sync() == 1:
        return values
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)


def global_gradients(optimizer, gradients):
    """Per-replica gradients -> what to hand to `optimizer.apply` so that the update equals one device's update.

    Keras 3's TensorFlow optimizer clips each replica's gradients (clipnorm, global_clipnorm, clipvalue) and only then
    all-reduces them by SUM (keras/src/optimizers/base_optimizer.py `_backend_apply_gradients`,
    keras/src/backend/tensorflow/optimizer.py `_all_reduce_sum_gradients`). Our per-replica losses add up to the
    global loss, so the summed gradients are the global gradients; but clipping before the sum is not clipping the
    sum. When the optimizer clips, the gradients are therefore summed here, clipped as Keras would clip one device's
    gradients (loss scaling undone for the clip), and divided by n, so that the optimizer's own clip leaves them be
    (their norm is at most 1/n of the limit) and its sum gives back the clipped global gradients. This costs a
    second all-reduce of the gradients; without clipping, with one replica, or with an optimizer that clips the
    summed gradients itself (`clips_summed_gradients`: mrcnn.training.sgd.SGD), `gradients` is returned as it is.

    Args:
        optimizer: a Keras optimizer (or LossScaleOptimizer) in the replica context.
        gradients: list of per-replica gradient tensors of the global loss's per-replica share.
    """
    replicas = replicas_in_sync()
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    clipnorm, global_clipnorm, clipvalue = inner.clipnorm, inner.global_clipnorm, inner.clipvalue
    clips_sum = getattr(inner, "clips_summed_gradients", False)
    if replicas == 1 or not (clipnorm or global_clipnorm or clipvalue) or clips_sum:
        return gradients
    summed = [tf.convert_to_tensor(g) for g in sum_over_replicas(list(gradients))]  # IndexedSlices made dense
    scale = tf.convert_to_tensor(optimizer.scale_loss(tf.constant(1.0)), tf.float32)  # loss scaling, else 1
    unscaled = [g / tf.cast(scale, g.dtype) for g in summed]
    if clipnorm:  # Keras' order of precedence
        clipped = [tf.clip_by_norm(g, clipnorm) for g in unscaled]
    elif global_clipnorm:
        clipped, _ = tf.clip_by_global_norm(unscaled, global_clipnorm)
    else:
        clipped = [tf.clip_by_value(g, -clipvalue, clipvalue) for g in unscaled]
    return [g * tf.cast(scale, g.dtype) / replicas for g in clipped]
