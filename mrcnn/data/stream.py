"""Seeded batch streams: batches that are a pure function of their place in the stream, whatever Keras prefetches.

Shape shorthand: none (batches are whatever a subclass builds).

A training run sees an endless stream of batches, cut into epochs of `steps` batches: batch `idx` of epoch `e` is
step `e * steps + idx` of the stream. Subclasses build batch (epoch, idx) from a generator seeded with
(seed, epoch, idx), so a run repeats exactly.

Given a finite dataset, Keras' `fit` reorders each epoch's batch indices with Python's global `random`, and calls
`on_epoch_end` only after it has created the next epoch's iterator (Keras 3.12's EpochIterator), so a batch read from
an epoch counter advanced by `on_epoch_end` relies on no prefetching happening in between. An endless stream asks for
neither. `BatchStream` therefore has two modes:
  - `stream=False` (the default; direct use, tests): `self[idx]` is batch idx of epoch `self.epoch`, and
    `on_epoch_end()` advances `self.epoch` (Matterport-style).
  - `stream=True` (what `fit` gets): the dataset tells Keras it is endless (`num_batches` None, so fit needs
    steps_per_epoch), Keras asks for 0, 1, 2, ... across epochs, and `self[i]` is step `start_step + i` of the stream.
    `start_step` = epoch * steps continues a resumed run where it stopped. `on_epoch_end` changes nothing here.
"""

import keras


class BatchStream(keras.utils.PyDataset):
    """Base of the seeded batch generators. Subclasses implement `batch(epoch, idx)`.

    Args:
        steps: batches per epoch (>= 1).
        stream: see the module notes; `start_step` (default 0) is where an endless stream starts.
        workers, use_multiprocessing, max_queue_size: passed to keras.utils.PyDataset.
    """

    def __init__(self, steps, stream=False, workers=1, use_multiprocessing=False, max_queue_size=10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self._steps = int(steps)
        self.stream = bool(stream)
        self.start_step = 0
        self.epoch = 0

    def __len__(self):
        return self._steps

    @property
    def num_batches(self):
        return None if self.stream else self._steps

    def on_epoch_end(self):
        self.epoch += 1

    def __getitem__(self, idx):
        if self.stream:
            epoch, idx = divmod(self.start_step + int(idx), self._steps)
        else:
            if not 0 <= idx < self._steps:
                raise IndexError(f"batch index {idx} out of range for {self._steps} batches per epoch")
            epoch = self.epoch
        return self.batch(epoch, int(idx))

    def batch(self, epoch, idx):
        """Batch `idx` of epoch `epoch`: a pure function of (the subclass's seed, epoch, idx)."""
        raise NotImplementedError
