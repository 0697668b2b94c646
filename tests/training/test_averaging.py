"""Checkpoint averaging: the mean of the float weights, counters from the last file, other models refused."""

import keras
import numpy as np
import pytest

from mrcnn.training.averaging import average_weights_files


def small_model(width=3):
    inputs = keras.Input((4,))
    x = keras.layers.Dense(width, name="dense")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def saved(tmp_path, name, fill, width=3):
    model = small_model(width)
    model.set_weights([np.full(w.shape, fill, w.dtype) for w in model.get_weights()])
    path = str(tmp_path / f"{name}.weights.h5")
    model.save_weights(path)
    return path


def test_mean_of_three_checkpoints_loads_into_the_model(tmp_path):
    paths = [saved(tmp_path, f"e{i}", fill) for i, fill in enumerate([1.0, 2.0, 6.0])]
    out = str(tmp_path / "avg.weights.h5")
    count = average_weights_files(paths, out)
    model = small_model()
    model.load_weights(out)
    assert count == len(model.weights)  # 2 dense kernels, 2 biases, 4 batch-norm arrays
    for weight in model.get_weights():
        np.testing.assert_allclose(weight, 3.0)


def test_one_checkpoint_is_copied_unchanged(tmp_path):
    path = saved(tmp_path, "only", 0.25)
    out = str(tmp_path / "avg.weights.h5")
    average_weights_files([path], out)
    model = small_model()
    model.load_weights(out)
    assert all(np.all(w == 0.25) for w in model.get_weights())


def test_optimizer_state_is_the_last_files_and_may_differ(tmp_path):
    """A compiled model saves its optimizer's variables too; they change with the layers that train."""
    paths = []
    for fill, trainable in [(1.0, False), (3.0, True)]:
        model = small_model()
        model.get_layer("dense").trainable = trainable  # fewer optimizer variables in the first file
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.zeros((2, 4)), np.zeros((2, 2)), verbose=0)
        model.set_weights([np.full(w.shape, fill, w.dtype) for w in model.get_weights()])
        paths.append(str(tmp_path / f"{fill}.weights.h5"))
        model.save_weights(paths[-1])
    out = str(tmp_path / "avg.weights.h5")
    average_weights_files(paths, out)
    model = small_model()
    model.load_weights(out)
    assert all(np.allclose(w, 2.0) for w in model.get_weights())


def test_checkpoints_of_another_model_are_refused_by_name(tmp_path):
    paths = [saved(tmp_path, "narrow", 1.0, width=3), saved(tmp_path, "wide", 1.0, width=5)]
    out = tmp_path / "avg.weights.h5"
    with pytest.raises(ValueError, match=r"narrow\.weights\.h5 does not hold the same weights"):
        average_weights_files(paths, str(out))
    assert not out.exists()


def test_missing_file_and_empty_list(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        average_weights_files([str(tmp_path / "nope.weights.h5")], str(tmp_path / "avg.weights.h5"))
    with pytest.raises(ValueError, match="no checkpoint"):
        average_weights_files([], str(tmp_path / "avg.weights.h5"))
