"""BatchStream: batch (epoch, idx) by direct indexing, or step start + i of an endless stream for fit."""

import numpy as np
import pytest

from mrcnn.data.generator import DataGenerator
from mrcnn.data.stream import BatchStream


class Places(BatchStream):
    def batch(self, epoch, idx):
        return epoch, idx


def test_direct_indexing_follows_the_epoch_counter():
    stream = Places(3)
    assert len(stream) == 3 and stream.num_batches == 3
    assert [stream[i] for i in range(3)] == [(0, 0), (0, 1), (0, 2)]
    stream.on_epoch_end()
    assert stream[1] == (1, 1)
    with pytest.raises(IndexError):
        stream[3]


def test_stream_mode_is_endless_and_ignores_on_epoch_end():
    stream = Places(3, stream=True)
    assert stream.num_batches is None  # Keras then asks for 0, 1, 2, ... and needs steps_per_epoch
    assert [stream[i] for i in range(7)] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]
    stream.on_epoch_end()  # called by Keras at a time that depends on its prefetching: no effect on the batches
    assert stream[4] == (1, 1)
    stream.start_step = 6  # a run resumed after 2 epochs
    assert stream[0] == (2, 0) and stream[5] == (3, 2)


@pytest.mark.parametrize("steps", [0, -1, 1.5, True])
def test_bad_steps(steps):
    with pytest.raises(ValueError, match="steps"):
        Places(steps)


def test_data_generator_stream_is_the_same_batches(config, make_toy_dataset):
    dataset = make_toy_dataset([[(1, 4, 4, 20, 20)], [(2, 30, 30, 50, 50)], [(1, 10, 30, 30, 60)]])
    plain = DataGenerator(dataset, config, seed=5, steps=2)
    stream = DataGenerator(dataset, config, seed=5, steps=2, stream=True)
    stream.start_step = 2
    for i in range(4):  # stream steps 2..5 are epochs 1 and 2 of the plain generator
        plain.epoch = 1 + i // 2
        expected, got = plain[i % 2], stream[i]
        for key in expected:
            np.testing.assert_array_equal(expected[key], got[key], err_msg=key)
