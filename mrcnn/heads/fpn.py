"""Feature Pyramid Network (FPN) top-down pathway, as in Matterport's Mask R-CNN.

The backbone gives four stages C2..C5 at strides 4, 8, 16 and 32. The FPN turns them into five maps P2..P6 that all
have `pyramid_size` channels: a 1x1 convolution brings each Ci to `pyramid_size` channels (so any backbone channel
count works), the coarser level is upsampled by 2 and added, a 3x3 convolution smooths each sum, and P6 is P5
subsampled by 2 (used by the RPN only, for the largest anchors).

Layer names are Matterport's (`fpn_c5p5`, `fpn_p4add`, `fpn_p2`, ..., `fpn_p6`) so that weights load by name and
the `heads` layer regex (`fpn_.*`) keeps its meaning.

Shape shorthand:
    B: batch, H, W: image height and width (multiples of 64), Ci: channels of backbone stage i,
    P: pyramid_size (channels of every P level)
"""

import keras


def build_fpn(c2, c3, c4, c5, pyramid_size=256):
    """Builds the FPN on the backbone stages (functional Keras; call on KerasTensors).

    Args:
        c2: [B, H/4, W/4, C2] backbone stage 2 output.
        c3: [B, H/8, W/8, C3] backbone stage 3 output.
        c4: [B, H/16, W/16, C4] backbone stage 4 output.
        c5: [B, H/32, W/32, C5] backbone stage 5 output.
        pyramid_size: int, channels of the pyramid maps (Matterport's TOP_DOWN_PYRAMID_SIZE).

    Returns:
        [P2, P3, P4, P5, P6]: [B, H/4, W/4, P], [B, H/8, W/8, P], [B, H/16, W/16, P], [B, H/32, W/32, P],
        [B, H/64, W/64, P]. Each stage's spatial size must be exactly twice the next one's (image sides
        divisible by 64), otherwise the `fpn_pNadd` layers reject the shapes.
    """
    if isinstance(pyramid_size, bool) or not isinstance(pyramid_size, int) or pyramid_size < 1:
        raise ValueError(f"build_fpn: pyramid_size must be a positive int, got {pyramid_size!r}")
    p5 = keras.layers.Conv2D(pyramid_size, (1, 1), name="fpn_c5p5")(c5)
    p4 = keras.layers.Add(name="fpn_p4add")([
        keras.layers.UpSampling2D(size=(2, 2), name="fpn_p5upsampled")(p5),
        keras.layers.Conv2D(pyramid_size, (1, 1), name="fpn_c4p4")(c4),
    ])
    p3 = keras.layers.Add(name="fpn_p3add")([
        keras.layers.UpSampling2D(size=(2, 2), name="fpn_p4upsampled")(p4),
        keras.layers.Conv2D(pyramid_size, (1, 1), name="fpn_c3p3")(c3),
    ])
    p2 = keras.layers.Add(name="fpn_p2add")([
        keras.layers.UpSampling2D(size=(2, 2), name="fpn_p3upsampled")(p3),
        keras.layers.Conv2D(pyramid_size, (1, 1), name="fpn_c2p2")(c2),
    ])
    # 3x3 convolutions on every level reduce the aliasing of the upsampling.
    p2 = keras.layers.Conv2D(pyramid_size, (3, 3), padding="same", name="fpn_p2")(p2)
    p3 = keras.layers.Conv2D(pyramid_size, (3, 3), padding="same", name="fpn_p3")(p3)
    p4 = keras.layers.Conv2D(pyramid_size, (3, 3), padding="same", name="fpn_p4")(p4)
    p5 = keras.layers.Conv2D(pyramid_size, (3, 3), padding="same", name="fpn_p5")(p5)
    # P6 is used for the 5th anchor scale in the RPN: P5 subsampled by 2.
    p6 = keras.layers.MaxPooling2D(pool_size=(1, 1), strides=2, name="fpn_p6")(p5)
    return [p2, p3, p4, p5, p6]
