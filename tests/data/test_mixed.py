"""MixedDataset: two datasets with the same classes as one, each at its share of the images the training batches
draw from (seeded), the images and masks those of their part."""

import numpy as np
import pytest

from mrcnn.data.generator import DataGenerator
from mrcnn.data.mixed import MixedDataset, copies_for
from tests.tiny_config import TinyConfig, shapes_dataset


def test_copies_give_each_part_its_share():
    assert copies_for([50, 2400], [0.5, 0.5]) == [48, 1]
    assert copies_for([2400, 50], [0.5, 0.5]) == [1, 48]
    assert copies_for([50, 2400], [0.8, 0.2]) == [192, 1]
    assert copies_for([100, 100], [0.5, 0.5]) == [1, 1]
    assert copies_for([300, 10], [0.1, 0.9]) == [1, 270]
    for sizes, shares in (([5], [0.5]), ([5, 0], [0.5, 0.5]), ([5, 5], [0.0, 1.0]), ([5, 5], [0.6, 0.6])):
        with pytest.raises(ValueError):
            copies_for(sizes, shares)


def test_batches_draw_half_from_each_part_seeded():
    lab, other = shapes_dataset(count=3, seed=1), shapes_dataset(count=30, seed=2)
    mixed = MixedDataset([lab, other], [0.5, 0.5])
    mixed.prepare()
    assert mixed.copies == [10, 1] and mixed.num_images == 60 and mixed.class_names == lab.class_names
    generator = DataGenerator(mixed, TinyConfig(), seed=0, steps=10)
    parts = [mixed.part_of(generator.image_id_at(p)) for p in range(400)]
    assert 0.4 < np.mean(parts) < 0.6  # half of the images from each part
    assert parts == [mixed.part_of(DataGenerator(mixed, TinyConfig(), seed=0, steps=10).image_id_at(p))
                     for p in range(400)]  # the same draw for the same seed
    lab_id = next(i for i in mixed.image_ids if mixed.part_of(i) == 0)
    base = mixed.image_info[lab_id]["base_id"]
    assert np.array_equal(mixed.load_image(lab_id), lab.load_image(base))
    assert np.array_equal(mixed.load_mask(lab_id)[0], lab.load_mask(base)[0])
    batch = generator[0]
    assert batch["input_image"].shape[0] == TinyConfig().BATCH_SIZE


def test_parts_must_have_the_same_classes():
    from samples.pbc.synthetic import SyntheticSmearDataset
    smears = SyntheticSmearDataset()
    smears.load_smears(2, size=64, seed=0)
    smears.prepare()
    with pytest.raises(ValueError, match="the same classes"):
        MixedDataset([shapes_dataset(count=2), smears], [0.5, 0.5])
