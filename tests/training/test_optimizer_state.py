import logging

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.training import optimizer_state
from mrcnn.training.callbacks import EpochCheckpoint
from mrcnn.training.checkpoints import optimizer_state_path

X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
Y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)


def small_model(optimizer=None, freeze_first=False):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(2, name="b")],
                             name="small")
    model.get_layer("a").trainable = not freeze_first
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


def fit_steps(model, steps):
    for i in range(steps):
        model.train_on_batch(X[2 * i % 8:2 * i % 8 + 2], Y[2 * i % 8:2 * i % 8 + 2])


def test_round_trip_restores_momentum_and_iterations_but_not_the_learning_rate(tmp_path, caplog):
    trained = small_model()
    fit_steps(trained, 3)
    path = str(tmp_path / "mask_rcnn_x_0001.optimizer.h5")
    optimizer_state.save_optimizer_state(trained, path, epoch=1)

    resumed = small_model(keras.optimizers.SGD(0.05, momentum=0.9))
    resumed.set_weights(trained.get_weights())
    with caplog.at_level(logging.INFO, logger="mrcnn.training.optimizer_state"):
        assert optimizer_state.restore_optimizer_state(resumed, path)
    assert "restored the optimizer state of epoch 1" in caplog.text
    assert int(resumed.optimizer.iterations.numpy()) == 3
    saved = {v.name: v.numpy() for v in trained.optimizer.variables}
    restored = {v.name: v.numpy() for v in resumed.optimizer.variables}
    momenta = [n for n in saved if n.endswith("_momentum")]
    assert len(momenta) == 4 and all(np.abs(saved[n]).sum() > 0 for n in momenta)
    for name in momenta:
        np.testing.assert_array_equal(restored[name], saved[name])
    assert float(resumed.optimizer.learning_rate.numpy()) == pytest.approx(0.05), "each train() sets its own rate"

    # One more identical step at the same rate: a fresh optimizer would move the weights differently.
    resumed.optimizer.learning_rate.assign(0.1)
    fresh = small_model()
    fresh.set_weights(trained.get_weights())
    for model in (trained, resumed, fresh):
        model.train_on_batch(X[:2], Y[:2])
    for a, b in zip(trained.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(trained.get_weights()[0], fresh.get_weights()[0])


def test_file_layout_is_plain_data(tmp_path):
    model = small_model(keras.optimizers.Adam(0.01))
    fit_steps(model, 2)
    path = str(tmp_path / "state.h5")
    optimizer_state.save_optimizer_state(model, path, epoch=7)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "mrcnn-optimizer-state" and f.attrs["optimizer"] == "Adam"
        assert int(f.attrs["epoch"]) == 7 and int(f.attrs["iterations"]) == 2
        names = [f["variables"][k].attrs["name"] for k in sorted(f["variables"])]
    assert names[0] == "iteration" and "learning_rate" not in names
    assert len(names) == 1 + 2 * 4  # iteration, then momentum and velocity of 4 variables
    saved = optimizer_state.read_optimizer_state(path)
    assert saved["trainable_variables"] == [["small/a/kernel", [3, 4]], ["small/a/bias", [4]],
                                            ["small/b/kernel", [4, 2]], ["small/b/bias", [2]]]


def test_mismatches_start_fresh_with_a_reason(tmp_path, caplog):
    trained = small_model()
    fit_steps(trained, 2)
    path = str(tmp_path / "state.h5")
    optimizer_state.save_optimizer_state(trained, path)
    cases = [
        (small_model(freeze_first=True), "this run trains 2 other ones"),  # staged training: other layers
        (small_model(keras.optimizers.Adam(0.01)), "is of SGD, this run uses Adam"),
        (small_model(keras.optimizers.SGD(0.1)), "do not match"),  # no momentum: no slots
    ]
    for model, reason in cases:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="mrcnn.training.optimizer_state"):
            assert not optimizer_state.restore_optimizer_state(model, path)
        assert reason in caplog.text and "starts fresh" in caplog.text
        assert int(model.optimizer.iterations.numpy()) == 0
    caplog.clear()
    missing = small_model()
    assert not optimizer_state.restore_optimizer_state(missing, str(tmp_path / "none.h5"))
    assert "no optimizer state" in caplog.text
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    assert not optimizer_state.restore_optimizer_state(small_model(), str(junk))
    assert "cannot read the optimizer state" in caplog.text


def test_save_needs_a_built_optimizer(tmp_path):
    model = small_model()
    with pytest.raises(ValueError, match="no built optimizer"):
        optimizer_state.save_optimizer_state(model, str(tmp_path / "s.h5"))
    uncompiled = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not compiled"):
        optimizer_state.build_optimizer_variables(uncompiled)


def test_restore_under_a_mirrored_strategy(tmp_path):
    trained = small_model()
    fit_steps(trained, 2)
    path = str(tmp_path / "state.h5")
    optimizer_state.save_optimizer_state(trained, path)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = small_model()
    model.set_weights(trained.get_weights())
    assert optimizer_state.restore_optimizer_state(model, path)
    assert isinstance(model.optimizer.variables[-1].value, tf.distribute.DistributedValues)
    for a, b in zip(trained.optimizer.variables, model.optimizer.variables):
        if a.name != "learning_rate":
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    again = str(tmp_path / "again.h5")
    optimizer_state.save_optimizer_state(model, again)  # and saving reads the mirrored values back
    for x, y in zip(optimizer_state.read_optimizer_state(path)["values"],
                    optimizer_state.read_optimizer_state(again)["values"]):
        np.testing.assert_array_equal(x, y)


def test_epoch_checkpoint_saves_state_before_weights_and_keeps_the_last_two(tmp_path):
    model = small_model()
    fit_steps(model, 1)
    callback = EpochCheckpoint(str(tmp_path), "x")
    callback.set_model(model)
    for epoch in range(4):
        callback.on_epoch_end(epoch)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mask_rcnn_x_0001.weights.h5", "mask_rcnn_x_0002.weights.h5", "mask_rcnn_x_0003.optimizer.h5",
        "mask_rcnn_x_0003.weights.h5", "mask_rcnn_x_0004.optimizer.h5", "mask_rcnn_x_0004.weights.h5"]
    assert optimizer_state.read_optimizer_state(optimizer_state_path(str(tmp_path), "x", 4))["epoch"] == 4
    with pytest.raises(ValueError, match="keep_optimizer_states"):
        EpochCheckpoint(str(tmp_path), "x", keep_optimizer_states=0)


def test_loss_scale_optimizer_state_round_trips(tmp_path):
    """mixed_float16 training wraps the optimizer in a LossScaleOptimizer: its dynamic scale is state too."""
    def make(rate):
        return small_model(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(rate, momentum=0.9),
                                                               initial_scale=1024.0, dynamic_growth_steps=2))

    trained = make(0.1)
    fit_steps(trained, 3)  # the scale doubles after 2 finite steps
    path = str(tmp_path / "state.h5")
    optimizer_state.save_optimizer_state(trained, path)
    resumed = make(0.05)
    assert optimizer_state.restore_optimizer_state(resumed, path)
    values = {v.path.split("/")[-1]: float(np.ravel(v.numpy())[0]) for v in resumed.optimizer.variables}
    assert values["dynamic_scale"] == 2048.0 and values["step_counter"] == 1
    assert int(resumed.optimizer.iterations.numpy()) == 3
    assert float(resumed.optimizer.learning_rate.numpy()) == pytest.approx(0.05)
