"""A training run SIGKILLed mid-epoch and resumed from its last checkpoint loses nothing; a kill mid-save leaves no
half-written checkpoint.

The first slow test runs tests/training/resume_child.py twice (about a minute on 2 CPU cores): the first run is
killed inside epoch 3, the second resumes from `find_last()` (the library's `--weights last`) and trains to epoch 5.
The second kills `pbc.py train` at a random moment after its first checkpoint and resumes it with `--weights last`.
"""

import glob
import os
import random
import re
import signal
import subprocess
import sys
import time

import h5py
import pytest

from mrcnn.training import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHILD = os.path.join(REPO, "tests", "training", "resume_child.py")
EPOCHS = 5
KILL_AFTER = 2  # the first run is killed inside epoch KILL_AFTER + 1
STEPS = 3  # resume_child.STEPS_PER_EPOCH


def _start(args, log_path):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    out = open(log_path, "w")
    return subprocess.Popen([sys.executable, CHILD] + args, stdout=out, stderr=subprocess.STDOUT, env=env,
                            cwd=REPO), out


def _wait_for(condition, proc, timeout, what, log_path):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"timed out or exited waiting for {what}; child output:\n{open(log_path).read()[-3000:]}")


def _progress(path):
    try:
        epoch, step = open(path).read().split()
        return int(epoch), int(step)
    except (OSError, ValueError):
        return 0, 0


def _event_steps(path, tag):
    """{step: value} of `tag` in one event file; a record cut by a kill ends the file (TensorBoard does the same)."""
    import tensorflow as tf

    steps = {}
    try:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    assert event.step not in steps, f"step {event.step} of {tag} twice in {path}"
                    steps[event.step] = float(tf.make_ndarray(value.tensor))
    except tf.errors.DataLossError:
        pass
    return steps


def _event_files(run_dir):
    """The run's event files, oldest first (their names hold the creation time in seconds, then the pid)."""
    return sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*")),
                  key=lambda p: int(re.search(r"tfevents\.(\d+)", p).group(1)))


def _check_files(run_dir, name, epochs):
    """Every epoch's checkpoint exactly once, no temporary, every HDF5 file readable."""
    files = os.listdir(run_dir)
    assert sorted(f for f in files if checkpoints.CHECKPOINT_PATTERN.match(f)) == [
        f"mask_rcnn_{name}_{e:04d}.weights.h5" for e in range(1, epochs + 1)]
    assert not [f for f in files if f.startswith(".tmp-")]
    for f in files:
        if f.endswith(".h5"):
            with h5py.File(os.path.join(run_dir, f), "r") as h5:
                assert len(h5.keys()) > 0, f


@pytest.mark.slow
def test_killed_run_resumes_after_last_checkpoint_losing_nothing(tmp_path):
    logs = str(tmp_path / "logs")
    progress = str(tmp_path / "progress")
    first_log, second_log = str(tmp_path / "first.log"), str(tmp_path / "second.log")
    proc, out = _start(["--logs", logs, "--epochs", str(EPOCHS), "--sleep", "0.3", "--progress", progress],
                       first_log)

    def inside_next_epoch():
        found = glob.glob(os.path.join(logs, "*", f"mask_rcnn_tinytest_{KILL_AFTER:04d}.weights.h5"))
        epoch, step = _progress(progress)
        return bool(found) and epoch == KILL_AFTER + 1 and step >= 2

    try:
        _wait_for(inside_next_epoch, proc, 150, f"epoch {KILL_AFTER + 1}, step 2", first_log)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        out.close()
    assert proc.returncode == -signal.SIGKILL
    (run_dir,) = glob.glob(os.path.join(logs, "tinytest*"))
    names = lambda pattern: sorted(f for f in os.listdir(run_dir) if pattern.match(f))  # noqa: E731
    assert names(checkpoints.CHECKPOINT_PATTERN) == [f"mask_rcnn_tinytest_{e:04d}.weights.h5"
                                                     for e in range(1, KILL_AFTER + 1)]

    proc, out = _start(["--logs", logs, "--epochs", str(EPOCHS), "--resume"], second_log)
    try:
        proc.wait(150)
    finally:
        out.close()
    output = open(second_log).read()
    assert proc.returncode == 0, output[-3000:]
    assert f"finished at epoch {EPOCHS}" in output
    assert f"starting at epoch {KILL_AFTER}" in output
    assert f"restored the optimizer state of epoch {KILL_AFTER}" in output

    # Same run folder, every epoch's checkpoint exactly once, nothing half-written, every file readable.
    assert glob.glob(os.path.join(logs, "*")) == [run_dir]
    _check_files(run_dir, "tinytest", EPOCHS)
    assert names(checkpoints.OPTIMIZER_STATE_PATTERN) == [f"mask_rcnn_tinytest_{e:04d}.optimizer.h5"
                                                          for e in (EPOCHS - 1, EPOCHS)]
    # The optimizer's iteration count went on from the first run's: epoch * steps.
    for epoch in (EPOCHS - 1, EPOCHS):
        with h5py.File(checkpoints.optimizer_state_path(run_dir, "tinytest", epoch), "r") as h5:
            assert int(h5.attrs["iterations"]) == epoch * STEPS

    # TensorBoard: the first process wrote epochs 1..k, the second k+1..EPOCHS, no step twice; the learning-rate
    # schedule (halving per epoch of iterations) continued instead of restarting at the base rate.
    event_files = _event_files(run_dir)
    assert len(event_files) == 2
    first, second = (_event_steps(p, "loss") for p in event_files)
    assert sorted(first) == list(range(1, KILL_AFTER + 1))
    assert sorted(second) == list(range(KILL_AFTER + 1, EPOCHS + 1))
    rates = {}
    for path in event_files:
        rates.update(_event_steps(path, "learning_rate"))
    assert sorted(rates) == list(range(1, EPOCHS + 1))
    for epoch, rate in rates.items():
        assert rate == pytest.approx(0.01 * 0.5 ** epoch, rel=1e-5), epoch


PBC_TINY = ["--backbone", "tiny", "--preset", "cpu", "--image-size", "64", "--steps-per-epoch", "2",
            "--validation-steps", "1", "--images-per-gpu", "2", "--gpu-count", "1", "--synthetic-count", "8"]


@pytest.mark.slow
def test_pbc_train_killed_at_a_random_moment_resumes_with_weights_last(tmp_path):
    logs = str(tmp_path / "logs")
    epochs = 20  # long enough that a kill within 2.5 s of the first checkpoint lands mid-run
    delay = random.Random().uniform(0.0, 2.5)
    command = [sys.executable, os.path.join(REPO, "samples", "pbc", "pbc.py"), "train", "--dataset", "synthetic",
               "--logs", logs] + PBC_TINY
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    with open(tmp_path / "first.log", "w") as out:
        proc = subprocess.Popen(command + ["--weights", "none", "--epochs", str(epochs)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _wait_for(lambda: glob.glob(os.path.join(logs, "pbc*", "mask_rcnn_pbc_0001.weights.h5")), proc, 150,
                  "the first checkpoint", str(tmp_path / "first.log"))
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    (run_dir,) = glob.glob(os.path.join(logs, "pbc*"))
    done = max(int(checkpoints.CHECKPOINT_PATTERN.match(f).group("epoch")) for f in os.listdir(run_dir)
               if checkpoints.CHECKPOINT_PATTERN.match(f))
    context = f"killed {delay:.2f} s after the first checkpoint, at epoch {done}"
    if done == epochs:
        pytest.skip(f"the run finished before the kill ({context})")

    second = subprocess.run(command + ["--weights", "last", "--epochs", str(epochs)], capture_output=True,
                            text=True, env=env, cwd=REPO, timeout=150)
    output = second.stdout + second.stderr
    assert second.returncode == 0, f"{context}\n{output[-3000:]}"
    assert f"restored the optimizer state of epoch {done}" in output, context
    assert glob.glob(os.path.join(logs, "*")) == [run_dir], context
    _check_files(run_dir, "pbc", epochs)
    with h5py.File(checkpoints.optimizer_state_path(run_dir, "pbc", epochs), "r") as h5:
        assert int(h5.attrs["iterations"]) == epochs * 2, context
    # No epoch reported twice. The epoch `done` may be missing when the kill fell between its checkpoint and its
    # TensorBoard record (the checkpoint is written first), never any other.
    first, resumed = (_event_steps(p, "loss") for p in _event_files(run_dir))
    assert not set(first) & set(resumed), context
    assert set(range(1, epochs + 1)) - {done} <= set(first) | set(resumed), context
    assert min(resumed) == done + 1, context


_SLOW_SAVER = """
import os, sys, time
sys.path.insert(0, {repo!r})
from mrcnn.training import checkpoints

class SlowModel:
    def save_weights(self, path):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
            f.flush()
            time.sleep(60)
            f.write(b" and the rest")

checkpoints.save_weights_atomic(SlowModel(), {target!r})
"""


def test_kill_while_saving_leaves_no_half_checkpoint(tmp_path):
    run_dir = tmp_path / "tinytest20260101T0000"
    run_dir.mkdir()
    previous = run_dir / "mask_rcnn_tinytest_0001.weights.h5"
    previous.write_bytes(b"epoch 1, complete")
    target = run_dir / "mask_rcnn_tinytest_0002.weights.h5"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SAVER.format(repo=REPO, target=str(target))])
    try:
        deadline = time.time() + 30
        while not [f for f in os.listdir(run_dir) if f.startswith(".tmp-")] and time.time() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    temporaries = [f for f in os.listdir(run_dir) if f.startswith(".tmp-")]
    assert temporaries == [f".tmp-{proc.pid}-mask_rcnn_tinytest_0002.weights.h5"]
    assert not target.exists(), "a killed save never leaves a file under the checkpoint's name"
    assert checkpoints.find_last(str(tmp_path), "tinytest") == str(previous)
    assert previous.read_bytes() == b"epoch 1, complete"
    # The next run in the folder removes the dead process's temporary.
    assert checkpoints.remove_stale_temporaries(str(run_dir)) == temporaries
    assert sorted(os.listdir(run_dir)) == ["mask_rcnn_tinytest_0001.weights.h5"]
