"""Batch norm's moving statistics recomputed exactly for the final weights ("precise BN").

Shape shorthand: N: images, H, W: feature-map size, C: channels of one batch-norm layer.

During training, `moving_mean` and `moving_variance` are exponential averages (momentum 0.99: about the last 100
steps) of batch statistics taken while the weights were still changing. After a short run, or one that ends while
the learning rate is still high, they lag behind the final weights, and a model that trains well can predict badly
in inference. `recompute_moving_statistics` runs the finished model over a set of batches in training mode (every
layer normalizes with its batch's statistics, as it did in training), and sets each layer's moving statistics to the
mean and the (biased) variance of its input over all of those batches' pixels, as Keras' layer defines them.
A backbone that a detector then uses with frozen batch norm (TRAIN_BN False) gets statistics of its final weights.
"""

import keras
import numpy as np

from mrcnn.weights_io import batch_norm_layers


def recompute_moving_statistics(model, batches):
    """Set the moving statistics of every batch-norm layer of `model` from `batches`; returns how many layers.

    Args:
        model: a functional Keras model whose BatchNormalization layers (each called once, normalizing the last
            axis of a 4-D input) are trainable.
        batches: an iterable of model inputs, or of (inputs, anything) pairs (e.g. a PyDataset of (x, y)).
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    for layer in layers:
        if layer.axis not in (-1, 3, [-1], [3]) or len(layer.input.shape) != 4:
            raise ValueError(f"batch-norm layer {layer.name!r} does not normalize the last axis of a 4-D input")
    probe = keras.Model(model.input, [layer.input for layer in layers])
    total = np.zeros(len(layers))
    sums = [np.zeros(layer.input.shape[-1]) for layer in layers]
    squares = [np.zeros(layer.input.shape[-1]) for layer in layers]
    for batch in batches:
        inputs = batch[0] if isinstance(batch, tuple) else batch
        outputs = probe(inputs, training=True)
        for i, output in enumerate(outputs):
            values = keras.ops.convert_to_numpy(keras.ops.cast(output, "float32")).astype(np.float64)
            values = values.reshape(-1, values.shape[-1])
            total[i] += values.shape[0]
            sums[i] += values.sum(axis=0)
            squares[i] += np.square(values).sum(axis=0)
    if not total.any():
        raise ValueError("recompute_moving_statistics: `batches` gave no data")
    for i, layer in enumerate(layers):
        mean = sums[i] / total[i]
        variance = np.maximum(squares[i] / total[i] - np.square(mean), 0.0)
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(variance.astype(np.float32))
    return len(layers)
