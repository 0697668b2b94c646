"""The scale PBC models are trained at: red-cell diameter in PBC crops, natively and at the model input.

PBC crops come from a CellaVision DM96 (Acevedo et al., 2020), all at one magnification, mostly 363 x 360 px (height x
width). Their red cells, measured by `mrcnn.data.scale.estimate_red_cell_diameter` on every image of pbc/train at its
native size (benchmarks/scale_estimate.py), are PBC_RED_CELL_DIAMETER_PX across: the median of the 2339 crops with an
estimate (61 refused), interquartile range 76.0-83.7 px, median deviation 4.8 %. With 7.5 µm red cells that is
7.5 / 79.6 = 0.094 µm per pixel. The estimator reads ~8 % below annotators' boxes on BCCD and Raabin (docs/scale.md),
so the boxes' convention would give ~86 px and 0.087 µm/px; a rescale factor compares two estimates of the same
estimator, so this offset cancels there.

Shape shorthand:
    (none: sizes are scalars)
"""

from mrcnn.data.scale import training_diameter_px

PBC_RED_CELL_DIAMETER_PX = 79.6  # median over the pbc/train crops at native size (benchmarks/scale_estimate.py)
PBC_NATIVE_SHAPE = (363, 360)  # (height, width) of most crops (a few are 369 x 366 or 360 x 360)


def pbc_training_diameter(image_size):
    """Red-cell diameter in pixels that a PBC model with input `image_size` saw: 28.1 at 128, 42.1 at 192, 112.3 at
    512; the `target_diameter_px` of `mrcnn.data.scale.rescale_factor` for that model."""
    return training_diameter_px(PBC_RED_CELL_DIAMETER_PX, PBC_NATIVE_SHAPE, image_size)
