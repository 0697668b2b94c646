"""The backbone cut into consecutive segments that are recomputed in the backward pass (Config.RECOMPUTE_BACKBONE).

Shape shorthand: B: batch, H, W: image size, h, w, C: a segment boundary's size and channels.

A segment ends at a boundary: the output of a residual block (`conv{s}_block{b}_out` of the ResNets and ResNeXt), of
a dense block's last concatenation or transition (`conv{s}_block{b}_concat`, `pool{s}_pool` of the DenseNets), of a
VGG block (`block{s}_pool`), of the stem (`pool1_pool`), and always at the taps C2..C5. Each segment is a sub-model
from the previous boundary to its own, wrapped in a `RecomputeModel` (mrcnn/layers/recompute.py) named
"recompute_<boundary layer>"; the backbone's layers keep their names inside, so weight files, layer regexes and
TRAIN_BN work as without it. A candidate boundary that does not cut the graph (something after it also reads an
earlier tensor) is merged into the next segment, so any backbone can be segmented, a user's too, at worst at the
taps. Training then keeps the boundaries ([B, h, w, C] each) plus one segment's intermediates at a time.
"""

import re

import keras

from mrcnn.layers.recompute import RecomputeModel

BOUNDARY = re.compile(r"pool1_pool|block\d_pool|pool\d_pool|conv\d_block\d+_(out|concat)")


def segment_models(build_features, image_shape):
    """(segments, tap indices): the backbone `build_features(input) -> [C2, C3, C4, C5]` built on a fresh input of
    `image_shape` (without batch) and cut into sub-models at its boundaries; `tap indices[i]` is the segment whose
    output is C(i + 2)."""
    start = keras.Input(tuple(image_shape), name="backbone_input")
    taps = list(build_features(start))
    tap_ids = [id(t) for t in taps]
    graph = keras.Model(start, taps)
    candidates = []
    for layer in graph.layers:
        output = layer.output
        if isinstance(output, (list, tuple)):
            continue
        if id(output) in tap_ids or BOUNDARY.fullmatch(layer.name):
            candidates.append((layer.name, output))
    segments, tap_index, current = [], {}, start
    for name, boundary in candidates:
        try:
            segment = keras.Model(current, boundary, name=f"segment_{name}")
        except ValueError:  # does not cut the graph: merge into the next segment
            if id(boundary) in tap_ids:
                raise
            continue
        segments.append((name, segment))
        if id(boundary) in tap_ids:
            tap_index[id(boundary)] = len(segments) - 1
        current = boundary
    return segments, [tap_index[i] for i in tap_ids]


def recomputed_features(build_features, input_image):
    """[C2, C3, C4, C5] of `build_features` on `input_image` [B, H, W, C], every segment a `RecomputeModel`."""
    segments, taps = segment_models(build_features, input_image.shape[1:])
    outputs, x = [], input_image
    for name, segment in segments:
        x = RecomputeModel(segment, name=f"recompute_{name}")(x)
        outputs.append(x)
    return [outputs[i] for i in taps]
