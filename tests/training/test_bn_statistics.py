"""recompute_moving_statistics: each layer's moving statistics become the exact mean and biased variance of its input
over all batches, with the layers before it normalizing by batch statistics, as in training."""

import keras
import numpy as np
import pytest

from mrcnn.training.bn_statistics import recompute_moving_statistics


def _model():
    image = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", name="c1")(image)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(4, 1, name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn2", epsilon=1e-3)(x)
    return keras.Model(image, x)


def test_statistics_are_the_population_ones_of_training_mode_inputs():
    keras.utils.set_random_seed(0)
    model = _model()
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 3.0, (5, 6, 6, 2)).astype(np.float32) for _ in range(3)]
    bn1, bn2 = model.get_layer("bn1"), model.get_layer("bn2")
    bn1.gamma.assign([1.5, 0.5, 2.0])
    bn1.beta.assign([0.1, -0.2, 0.3])
    first = keras.Model(model.input, model.get_layer("c1").output)
    w2, b2 = (np.asarray(v) for v in model.get_layer("c2").weights)

    ones, twos = [], []
    for x in batches:  # by hand: bn1 normalizes with the batch's own mean and biased variance
        a = np.asarray(first(x)).astype(np.float64)
        ones.append(a.reshape(-1, 3))
        normalized = (a - a.mean(axis=(0, 1, 2))) / np.sqrt(a.var(axis=(0, 1, 2)) + bn1.epsilon)
        h = np.maximum(normalized * np.asarray(bn1.gamma) + np.asarray(bn1.beta), 0.0)
        twos.append((h @ w2[0, 0] + b2).reshape(-1, 4))
    assert recompute_moving_statistics(model, batches) == 2
    for layer, values in ((bn1, np.concatenate(ones)), (bn2, np.concatenate(twos))):
        np.testing.assert_allclose(np.asarray(layer.moving_mean), values.mean(axis=0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(layer.moving_variance), values.var(axis=0), rtol=1e-4, atol=1e-5)


def test_pairs_batches_and_edge_cases():
    model = _model()
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 2)).astype(np.float32)
    assert recompute_moving_statistics(model, [x]) == 2
    plain = [np.asarray(w) for w in model.get_layer("bn2").weights]
    assert recompute_moving_statistics(model, [(x, None)]) == 2  # (inputs, targets) pairs, as a PyDataset gives
    for a, b in zip(plain, model.get_layer("bn2").weights):
        np.testing.assert_array_equal(a, np.asarray(b))
    with pytest.raises(ValueError, match="no data"):
        recompute_moving_statistics(model, [])
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert recompute_moving_statistics(plain, [np.zeros((1, 3))]) == 0
