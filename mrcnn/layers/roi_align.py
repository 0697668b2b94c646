"""PyramidROIAlign: pool a fixed-size feature patch for every ROI from the FPN level that suits its size
(Matterport's `PyramidROIAlign`).

Shape shorthand:
    B: batch, R: ROIs per image, M: image meta length, C: feature channels, h_i, w_i: size of feature map P_i,
    ph, pw: pool_shape.

Boxes are normalized `(y1, x1, y2, x2)` (convention in `mrcnn.ops.boxes`). The math is in `mrcnn.ops.roi_align`.
"""

import keras
import numpy as np

from mrcnn.data.image_meta import parse_image_meta_graph
from mrcnn.ops.roi_align import pyramid_roi_align


@keras.saving.register_keras_serializable(package="mrcnn")
class PyramidROIAlign(keras.layers.Layer):
    """ROI Align on a feature pyramid.

    Each box goes to level `min(5, max(2, 4 + round(log2(sqrt(h * w) / (224 / sqrt(image_area))))))`
    (`mrcnn.ops.roi_align.roi_pyramid_level`; the image area comes from the meta's image_shape) and is pooled from
    that level with bilinear `tf.image.crop_and_resize`. Gradients flow into the feature maps, not into the boxes.

    Args:
        pool_shape: (ph, pw), e.g. (POOL_SIZE, POOL_SIZE) or (MASK_POOL_SIZE, MASK_POOL_SIZE).
        name: layer name, e.g. Matterport's "roi_align_classifier" or "roi_align_mask".
        **kwargs: passed to `keras.layers.Layer`; the dtype defaults to "float32" (feature maps of another float
            type are cast to float32, the box math needs it).

    Inputs (a list):
        boxes: [B, R, (y1, x1, y2, x2)] normalized; zero padding on axis 1 gives finite (meaningless) features.
        image_meta: [B, M] (layout in `mrcnn.data.image_meta`).
        P2, P3, P4, P5: [B, h_i, w_i, C] feature maps.

    Output:
        pooled: float32 [B, R, ph, pw, C], in the order of the input boxes.
    """

    def __init__(self, pool_shape, name="roi_align", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        shape = [int(s) for s in np.ravel(pool_shape)]
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"PyramidROIAlign: pool_shape = {pool_shape!r}: need (height, width), both >= 1")
        self.pool_shape = tuple(shape)
        # The per-level box counts are dynamic shapes that XLA cannot compile: keeps jit_compile="auto" off.
        self.supports_jit = False

    def call(self, inputs):
        if len(inputs) != 6:
            raise ValueError(f"PyramidROIAlign expects [boxes, image_meta, P2, P3, P4, P5], got {len(inputs)} inputs")
        boxes, image_meta = inputs[0], inputs[1]
        feature_maps = list(inputs[2:])
        image_shape = parse_image_meta_graph(image_meta)["image_shape"]  # [B, 3]
        image_area = image_shape[:, 0] * image_shape[:, 1]
        return pyramid_roi_align(boxes, image_area, feature_maps, self.pool_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][1]) + self.pool_shape + (input_shape[2][-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_shape": list(self.pool_shape)})
        return config
