"""The PBC training scale (samples/pbc/scale.py): the red-cell diameter a PBC model saw at its input size."""

import pytest

from samples.pbc.scale import PBC_NATIVE_SHAPE, PBC_RED_CELL_DIAMETER_PX, pbc_training_diameter


def test_training_diameter_at_the_recipes_sizes():
    assert PBC_NATIVE_SHAPE == (363, 360) and 70 <= PBC_RED_CELL_DIAMETER_PX <= 90
    # the long side 363 px becomes the input side: 79.6 * 192 / 363 = 42.10
    assert pbc_training_diameter(192) == pytest.approx(PBC_RED_CELL_DIAMETER_PX * 192 / 363)
    assert pbc_training_diameter(192) == pytest.approx(42.10, abs=0.01)
    assert pbc_training_diameter(128) == pytest.approx(28.07, abs=0.01)
    with pytest.raises(ValueError, match="image_size"):
        pbc_training_diameter(0)
