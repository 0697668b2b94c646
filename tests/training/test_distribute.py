"""Training under tf.distribute: the strategy choice, TF_CONFIG, the chief, loss terms that add up across replicas,
and (slow, in subprocesses) 2 replicas against 1 replica on logical CPUs and a real 2-process multi-worker run."""

import json
import logging
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.heads import losses as L
from mrcnn.training import distribute
from tests.tiny_config import TinyConfig

CHECK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distribute_check.py")


def _config(gpu_count, images_per_gpu=2):
    config = TinyConfig()
    config.GPU_COUNT = gpu_count
    config.IMAGES_PER_GPU = images_per_gpu
    return config


def _tf_config(workers, task_type="worker", index=0, chief=None):
    cluster = {"worker": [f"localhost:{12000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["localhost:11999"]
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


class FakeStrategy:
    def __init__(self, replicas):
        self.num_replicas_in_sync = replicas


@pytest.fixture
def machine(monkeypatch):
    """A machine with `machine(n)` GPUs and no TF_CONFIG; records the MirroredStrategy devices asked for."""
    made = []
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setattr(distribute, "_DEVICES_REPORTED", set())

    def mirrored(devices):
        made.append(list(devices))
        return FakeStrategy(len(devices))

    monkeypatch.setattr(distribute, "_make_mirrored", mirrored)

    def set_gpus(count):
        monkeypatch.setattr(distribute, "_gpu_count", lambda: count)
        return made

    return set_gpus


# ---- strategy choice -------------------------------------------------------------------------------------------------

def test_replica_count_divides_the_global_batch():
    assert distribute.replica_count(4, gpu_count=2, gpus_available=0) == 1
    assert distribute.replica_count(4, gpu_count=2, gpus_available=2) == 2
    assert distribute.replica_count(4, gpu_count=2, gpus_available=8) == 2  # never more than GPU_COUNT
    assert distribute.replica_count(4, gpu_count=4, gpus_available=3) == 2  # 3 does not divide 4
    assert distribute.replica_count(3, gpu_count=3, gpus_available=2) == 1  # 2 does not divide 3
    assert distribute.replica_count(6, gpu_count=6, gpus_available=4) == 3


def test_no_gpu_gives_the_default_strategy_and_one_warning(machine, caplog):
    made = machine(0)
    config = _config(gpu_count=2)
    with caplog.at_level(logging.WARNING, logger="mrcnn.training.distribute"):
        first = distribute.choose_strategy(config)
        second = distribute.choose_strategy(config)
    assert first is tf.distribute.get_strategy() and second is first and first.num_replicas_in_sync == 1
    assert not made
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["GPU_COUNT = 2 but this machine has 0 GPU(s): training on the CPU with the same global "
                        "batch of 4 images"]


def test_one_gpu_asked_is_the_default_strategy_without_warning(machine, caplog):
    made = machine(2)
    with caplog.at_level(logging.WARNING, logger="mrcnn.training.distribute"):
        assert distribute.choose_strategy(_config(gpu_count=1)) is tf.distribute.get_strategy()
    assert not made and not caplog.records


def test_gpus_are_mirrored_up_to_gpu_count(machine):
    made = machine(4)
    strategy = distribute.choose_strategy(_config(gpu_count=2))
    assert made == [["/gpu:0", "/gpu:1"]] and strategy.num_replicas_in_sync == 2


def test_uneven_split_takes_fewer_replicas(machine, caplog):
    made = machine(3)
    config = _config(gpu_count=4, images_per_gpu=1)  # global batch 4 on 3 GPUs: 2 GPUs with 2 images each
    with caplog.at_level(logging.WARNING, logger="mrcnn.training.distribute"):
        distribute.choose_strategy(config)
    assert made == [["/gpu:0", "/gpu:1"]]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "GPU_COUNT = 4 but this machine has 3 GPU(s)" in messages
    assert "does not divide across 3 GPUs: training on 2 GPUs, 2 images each" in messages


def test_tf_config_with_two_workers_chooses_multi_worker(machine, monkeypatch):
    machine(0)
    fake = FakeStrategy(2)
    monkeypatch.setattr(distribute, "_make_multi_worker", lambda: fake)
    monkeypatch.setenv("TF_CONFIG", _tf_config(workers=2, index=1))
    assert distribute.choose_strategy(_config(gpu_count=2)) is fake
    with pytest.raises(ValueError, match="BATCH_SIZE = 3 .* 2 replicas"):
        distribute.choose_strategy(_config(gpu_count=1, images_per_gpu=3))
    # A one-task cluster is not multi-worker training.
    monkeypatch.setenv("TF_CONFIG", _tf_config(workers=1))
    assert distribute.choose_strategy(_config(gpu_count=1)) is tf.distribute.get_strategy()


def test_explicit_strategy_or_devices(machine, monkeypatch):
    made = machine(0)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert distribute.choose_strategy(_config(1), strategy=mirrored) is mirrored
    one = distribute.choose_strategy(_config(1), devices=["/cpu:0"])
    assert isinstance(one, tf.distribute.OneDeviceStrategy)
    assert distribute.choose_strategy(_config(2), devices=["/gpu:0", "/gpu:1"]).num_replicas_in_sync == 2
    assert made == [["/gpu:0", "/gpu:1"]]
    with pytest.raises(ValueError, match="devices=.* make it a multiple of 2"):
        distribute.choose_strategy(_config(1, images_per_gpu=3), devices=["/gpu:0", "/gpu:1"])
    with pytest.raises(ValueError, match="not both"):
        distribute.choose_strategy(_config(1), strategy=mirrored, devices=["/cpu:0"])
    with pytest.raises(ValueError, match="non-empty list"):
        distribute.choose_strategy(_config(1), devices="/gpu:0")
    with pytest.raises(TypeError, match="tf.distribute.Strategy"):
        distribute.choose_strategy(_config(1), strategy="mirrored")
    # A strategy entered around the call is used as it is.
    with mirrored.scope():
        assert distribute.choose_strategy(_config(2)) is mirrored


def test_is_distributed():
    assert not distribute.is_distributed(tf.distribute.get_strategy())
    assert distribute.is_distributed(tf.distribute.OneDeviceStrategy("/cpu:0"))
    assert not distribute.is_multi_worker(tf.distribute.get_strategy())


# ---- TF_CONFIG and the chief -----------------------------------------------------------------------------------------

def test_parse_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.parse_tf_config() is None and distribute.parse_tf_config("  ") is None
    parsed = distribute.parse_tf_config(_tf_config(workers=2, index=1, chief=True))
    assert parsed["task"] == {"type": "worker", "index": 1} and distribute.cluster_size(parsed) == 3
    assert distribute.cluster_size(None) == 1
    bad = {
        "{not json": "not valid JSON",
        json.dumps({"task": {"type": "worker", "index": 0}}): '"cluster"',
        json.dumps({"cluster": {"worker": []}, "task": {"type": "worker"}}): '"cluster"',
        json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}): '"task" must be',
        json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}): "index 1",
    }
    for text, message in bad.items():
        with pytest.raises(ValueError, match=message):
            distribute.parse_tf_config(text)


def test_is_chief_and_worker_dir(monkeypatch, tmp_path):
    log_dir = str(tmp_path / "shapes20240101T0000")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.is_chief() and distribute.worker_dir(log_dir) == log_dir
    cases = [(_tf_config(2, "worker", 0), True), (_tf_config(2, "worker", 1), False),
             (_tf_config(2, "chief", 0, chief=True), True), (_tf_config(2, "worker", 0, chief=True), False)]
    for text, chief in cases:
        monkeypatch.setenv("TF_CONFIG", text)
        assert distribute.is_chief() is chief, text
        where = distribute.worker_dir(log_dir)
        if chief:
            assert where == log_dir
        else:
            assert where != log_dir and where.endswith("shapes20240101T0000") and "mrcnn_worker_" in where
    assert distribute.is_chief(tf.distribute.get_strategy())  # a strategy is asked, not TF_CONFIG


# ---- losses that add up across replicas ------------------------------------------------------------------------------

def test_loss_terms_of_two_halves_add_up_to_the_whole_batch():
    # Image 0 has 1 positive anchor, image 1 has 3: the batch mean over 4 positives is not the mean of the two
    # images' means, but the halves' sums and counts add up to the batch's.
    rpn_match = tf.constant([[[1], [-1], [0], [0]], [[1], [1], [1], [-1]]], tf.int32)
    target = tf.constant([[[3.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
                          [[0.5, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 0.25, 0]]])
    pred = tf.zeros([2, 4, 4])
    whole = L.rpn_bbox_loss_terms(target, rpn_match, pred)
    halves = [L.rpn_bbox_loss_terms(target[i:i + 1], rpn_match[i:i + 1], pred[i:i + 1]) for i in range(2)]
    # smooth L1: 2.5 (image 0: 4 coordinates); 0.125 + 1.5 + 0.03125 (image 1: 12 coordinates).
    np.testing.assert_allclose([float(v) for v in whole], [4.15625, 16.0], rtol=1e-6)
    np.testing.assert_allclose([float(halves[0][0] + halves[1][0]), float(halves[0][1] + halves[1][1])],
                               [4.15625, 16.0], rtol=1e-6)
    assert float(L.rpn_bbox_loss(target, rpn_match, pred)) == float(L.ratio(whole))
    naive = np.mean([float(L.ratio(h)) for h in halves])
    assert naive == pytest.approx((2.5 / 4 + 1.65625 / 12) / 2, rel=1e-6)  # 0.38151, not the batch's 0.25977
    assert float(L.ratio((tf.constant(0.0), tf.constant(0.0)))) == 0.0  # no positive anywhere: 0, not NaN


def test_outside_a_strategy_the_replica_helpers_change_nothing():
    gradients = [tf.ones([2]), tf.ones([3])]
    optimizer = keras.optimizers.SGD(0.1, clipnorm=0.5)
    assert distribute.replicas_in_sync() == 1
    assert distribute.global_gradients(optimizer, gradients) is gradients
    assert distribute.sum_over_replicas(gradients) is gradients


# ---- slow: real replicas in subprocesses -----------------------------------------------------------------------------

def _run(args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}, **(env_extra or {}))
    return subprocess.Popen([sys.executable, CHECK_SCRIPT] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _result(process, timeout=900):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"{CHECK_SCRIPT} timed out:\n{err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, f"{CHECK_SCRIPT} failed:\n{err[-5000:]}"
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distribute")
    reference = str(folder / "one_replica.npz")
    return _result(_run(["compare", "--out", reference, "--out-paths", str(folder / "one_replica_paths.npz"),
                         "--logs", str(folder / "logs")])), reference


# Both runs use TensorFlow's deterministic kernels (distribute_check.py): without them two identical 1-replica runs
# were seen to differ by 1e-4 at step 2, kernel noise rather than what this compares.
# Tolerances: both runs compute the same float32 ops on the same images; only the order of additions differs (the
# two replicas' sums are added after the all-reduce, the 2 positives of an image may come in the other order,
# oneDNN may block a batch of 2 differently from a batch of 4). Measured: losses agree to 2e-7 relative, weights to
# 3e-8 absolute after 2 SGD steps that move them by up to 0.03. rtol 1e-5 / atol 1e-6 leave a margin of ~30x and are
# still far below the differences of the wrong answers: naive per-replica means (`evidence`) are off by up to 15% of
# a loss, and clipping each replica's gradient before the sum moved the weights by 1e-2.
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-6


@pytest.mark.slow
def test_two_replicas_train_like_one_replica_on_the_same_global_batch(compare_run):
    result, _ = compare_run
    assert result["replicas"] == [1, 2]
    one, two = result["logs"]
    assert len(one) == len(two) == 2
    # The comparison can fail: per-replica means are off by far more than the tolerance, the weight decay (counted
    # once) is far above it, and clipping acts on many tensors.
    evidence = result["evidence"]
    for name in ("rpn_bbox_loss", "mrcnn_bbox_loss"):
        assert abs(evidence["naive_minus_global"][name]) > 100 * LOSS_RTOL * one[0][name]
    assert evidence["weight_decay"] > 10 * LOSS_RTOL * one[0]["loss"]
    assert evidence["clipped_tensors"] >= 10
    for step_one, step_two in zip(one, two):
        assert set(step_one) == {"loss", "rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss",
                                 "mrcnn_mask_loss"}
        for name in step_one:
            assert step_two[name] == pytest.approx(step_one[name], rel=LOSS_RTOL), name
    assert result["max_weight_change"] > 1000 * WEIGHT_ATOL  # the steps did move the weights
    assert result["max_weight_diff"] < WEIGHT_ATOL
    # MaskRCNN.train under the 2-replica strategy: validation, a checkpoint and TensorBoard logs.
    train = result["train"]
    assert all(np.isfinite(v[0]) for v in train["history"].values())
    assert {"loss", "val_loss", "val_mrcnn_mask_loss"} <= set(train["history"])
    assert "mask_rcnn_distcheck_0001.weights.h5" in train["files"]
    assert any(f.startswith("events.out.tfevents") for f in train["files"])


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_worker_processes_train_like_one_replica(compare_run, tmp_path):
    """A real MultiWorkerMirroredStrategy: two processes on localhost (TF_CONFIG with two ports), one CPU replica
    each, global batch 4 (2 per worker), against the 1-replica run of the same batches."""
    result, reference = compare_run
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    processes = [_run(["worker", "--out", str(tmp_path / f"worker{i}.npz"), "--logs", str(tmp_path / f"logs{i}")],
                      {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
                 for i in range(2)]
    try:
        workers = [_result(p, timeout=600) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    assert [w["replicas"] for w in workers] == [[2], [2]]
    assert [w["is_chief"] for w in workers] == [True, False]
    for worker in workers:
        for step_one, step_worker in zip(result["logs"][0], worker["logs"][0]):
            for name in step_one:
                assert step_worker[name] == pytest.approx(step_one[name], rel=LOSS_RTOL), name
    one = np.load(reference)
    for i in range(2):
        weights = np.load(tmp_path / f"worker{i}.npz")
        assert max(float(np.max(np.abs(weights[k] - one[k]))) for k in one.files) < WEIGHT_ATOL


@pytest.mark.slow
def test_recomputation_trains_like_the_plain_model_on_one_and_two_replicas(compare_run, tmp_path):
    """RECOMPUTE_BACKBONE under MirroredStrategy: 2 replicas give what 1 gives, and both what the plain model gives
    (weights compared by variable path: the backbone's layers sit inside the segments)."""
    result, reference = compare_run
    recomputed = _result(_run(["compare", "--out-paths", str(tmp_path / "recomputed.npz"), "--logs",
                               str(tmp_path / "logs")], {"DISTCHECK_RECOMPUTE": "1"}))
    assert recomputed["recompute"] is True and result["recompute"] is False
    assert recomputed["replicas"] == [1, 2]
    assert recomputed["max_weight_diff"] < WEIGHT_ATOL
    for step_plain, step_recomputed in zip(result["logs"][0], recomputed["logs"][0]):
        for name in step_plain:
            assert step_recomputed[name] == pytest.approx(step_plain[name], rel=LOSS_RTOL), name
    plain = np.load(reference.replace(".npz", "_paths.npz"))
    mine = np.load(tmp_path / "recomputed.npz")
    assert set(mine.files) == set(plain.files)
    assert max(float(np.max(np.abs(mine[k] - plain[k]))) for k in plain.files) < WEIGHT_ATOL
    assert all(np.isfinite(v[0]) for v in recomputed["train"]["history"].values())
