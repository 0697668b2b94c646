"""A seeded run repeats: seed_everything + the data streams give bit-identical weights after MaskRCNN.train."""

import numpy as np
import pytest

from mrcnn.model import MaskRCNN
from mrcnn.training.determinism import seed_everything
from samples.pbc.augment import SmearAugmentation
from samples.shapes.train_shapes import make_datasets
from tests.tiny_config import TinyConfig


def _train(tmp_path, seed, name):
    config = TinyConfig()
    config.DTYPE_POLICY = "auto"  # bfloat16 on CPUs that have it: the kernels a real run uses
    train_set, val_set = make_datasets(train_count=12, val_count=4, size=64)
    seed_everything(seed)
    model = MaskRCNN("training", config, str(tmp_path / name))
    # Two calls, as the staged schedules make: the second continues the data stream of the first.
    model.train(train_set, val_set, learning_rate=0.01, epochs=2, layers="all", augmentation=SmearAugmentation(),
                workers=2, verbose=0, seed=seed)
    model.train(train_set, val_set, learning_rate=0.005, epochs=3, layers="heads", augmentation=SmearAugmentation(),
                workers=2, verbose=0, seed=seed)
    return [np.asarray(w) for w in model.keras_model.weights]


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    first = _train(tmp_path, 3, "a")
    second = _train(tmp_path, 3, "b")
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    other = _train(tmp_path, 4, "c")
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("seed", [-1, 1.0, True, None])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(seed)
