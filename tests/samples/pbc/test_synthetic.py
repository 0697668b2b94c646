"""Tests of samples/pbc/synthetic.py: determinism, exact masks, class coverage, platelet clumps, arguments."""

import numpy as np
import pytest

from samples.pbc.classes import CLASS_NAMES
from samples.pbc.synthetic import (SyntheticSmearDataset, random_spec, render_contact_sheet,
                                   render_smear, smear_masks)


def _dataset(count=16, **kwargs):
    dataset = SyntheticSmearDataset()
    dataset.load_smears(count, **kwargs)
    dataset.prepare()
    return dataset


@pytest.fixture(scope="module")
def smears():
    return _dataset(16, size=96, seed=3)


def test_class_names_are_pbc_folders_in_order():
    assert CLASS_NAMES == sorted(CLASS_NAMES) and len(CLASS_NAMES) == 8
    dataset = _dataset(1)
    assert dataset.class_names == ["BG"] + CLASS_NAMES


def test_same_seed_same_images_and_masks_other_seed_differs(smears):
    again = _dataset(16, size=96, seed=3)
    other = _dataset(16, size=96, seed=4)
    for i in (0, 5, 11):
        np.testing.assert_array_equal(smears.load_image(i), again.load_image(i))
        np.testing.assert_array_equal(smears.load_image(i), smears.load_image(i))  # regenerated on each call
        masks, ids = smears.load_mask(i)
        masks2, ids2 = again.load_mask(i)
        np.testing.assert_array_equal(masks, masks2)
        np.testing.assert_array_equal(ids, ids2)
    assert any(not np.array_equal(smears.load_image(i), other.load_image(i)) for i in range(4))


def test_image_and_mask_types(smears):
    image = smears.load_image(0)
    masks, class_ids = smears.load_mask(0)
    assert image.dtype == np.uint8 and image.shape == (96, 96, 3)
    assert masks.dtype == bool and masks.shape[:2] == (96, 96) and masks.shape[-1] == class_ids.size >= 1
    assert class_ids.dtype == np.int32 and set(class_ids.tolist()) <= set(range(1, 9))
    assert masks.any(axis=(0, 1)).all()
    assert (masks.sum(axis=-1) <= 1).all()  # instances never share a pixel


def test_all_classes_appear_once_per_block_of_eight(smears):
    main = [smears.image_info[i]["class_names"][0] for i in range(16)]
    assert sorted(main[:8]) == CLASS_NAMES and sorted(main[8:]) == CLASS_NAMES
    ids = set()
    for i in range(16):
        ids |= set(smears.load_mask(i)[1].tolist())
    assert ids == set(range(1, 9))


def test_masks_are_exact(smears):
    """Inside a mask: only the labelled cell's colours (red cells beneath are hidden, and the cell changes most
    pixels); outside all masks: the labelled cells change nothing."""
    hidden_red = 0
    for i in range(16):
        spec = smears.image_info[i]["spec"]
        masks, _ = smear_masks(spec)
        union = masks.any(axis=-1)
        full = render_smear(spec)
        no_red = render_smear(spec, red_cells=False)
        no_cells = render_smear(spec, labelled_cells=False)
        background = render_smear(spec, red_cells=False, labelled_cells=False)
        np.testing.assert_array_equal(full[union], no_red[union])
        np.testing.assert_array_equal(full[~union], no_cells[~union])
        changed = np.any(full != no_cells, axis=-1)
        assert changed[union].mean() > 0.9
        hidden_red += int(np.any(no_cells != background, axis=-1)[union].sum())
    assert hidden_red > 0  # some red cell did lie under a labelled cell, so the check above meant something


def test_class_colours_follow_the_stains(smears):
    colour = {}
    for i in range(16):
        image = smears.load_image(i).astype(float)
        masks, class_ids = smears.load_mask(i)
        for k, class_id in enumerate(class_ids):
            colour.setdefault(CLASS_NAMES[class_id - 1], []).append(image[masks[:, :, k]].mean(axis=0))
    mean = {name: np.mean(values, axis=0) for name, values in colour.items()}
    red_minus_blue = {name: c[0] - c[2] for name, c in mean.items()}
    assert red_minus_blue["eosinophil"] > 30  # orange-red granules
    assert all(v < 15 for name, v in red_minus_blue.items() if name != "eosinophil")
    assert mean["lymphocyte"].sum() < mean["neutrophil"].sum() - 100  # big dark nucleus vs pale cytoplasm
    assert mean["basophil"].sum() < mean["monocyte"].sum() - 100  # dark granules vs grey-blue cytoplasm


def test_platelet_images_hold_a_clump_of_separate_instances():
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(12):
        spec = random_spec(rng, 128, "platelet")
        masks, class_ids = smear_masks(spec)
        assert (class_ids == CLASS_NAMES.index("platelet") + 1).all()
        assert (masks.sum(axis=-1) <= 1).all()
        areas = masks.sum(axis=(0, 1))
        assert areas.min() > 20 and areas.max() < 200  # small fragments
        counts.append(len(class_ids))
    assert min(counts) >= 2 and max(counts) <= 5 and max(counts) >= 3


def test_main_cell_is_roughly_centred(smears):
    for i in range(8):
        masks, _ = smears.load_mask(i)
        rows, cols = np.nonzero(masks[:, :, 0])
        assert abs(rows.mean() - 48) < 14 and abs(cols.mean() - 48) < 14


def test_several_cells_per_image_and_red_cell_count():
    dataset = _dataset(6, size=128, seed=1, cells_per_image=(3, 3), red_cells=(0, 0))
    for i in range(6):
        spec = dataset.image_info[i]["spec"]
        assert spec["red_cells"] == []
        assert len(spec["cells"]) >= 3
        masks, _ = dataset.load_mask(i)
        assert masks.shape[-1] >= 2 and (masks.sum(axis=-1) <= 1).all()


def test_loading_twice_continues_ids():
    dataset = SyntheticSmearDataset()
    dataset.load_smears(2, seed=0)
    dataset.load_smears(2, seed=0)
    dataset.prepare()
    assert dataset.num_images == 4 and len({info["id"] for info in dataset.image_info}) == 4
    np.testing.assert_array_equal(dataset.load_image(0), dataset.load_image(2))


@pytest.mark.parametrize("kwargs, error", [
    (dict(count=-1), ValueError), (dict(count=2.0), TypeError), (dict(count=2, size=32), ValueError),
    (dict(count=2, cells_per_image=(0, 1)), ValueError), (dict(count=2, cells_per_image=(3, 2)), ValueError),
    (dict(count=2, red_cells=(-1, 2)), ValueError), (dict(count=2, red_cells=5), TypeError)])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match="load_smears"):
        SyntheticSmearDataset().load_smears(**kwargs)


def test_random_spec_rejects_unknown_class():
    with pytest.raises(ValueError, match="first_class must be one of"):
        random_spec(np.random.default_rng(0), 128, "blast")


def test_contact_sheet(tmp_path, smears):
    from PIL import Image

    path = tmp_path / "sheet.png"
    sheet = render_contact_sheet(smears, range(6), path, columns=4)
    assert sheet.shape == (192, 384, 3)
    assert Image.open(path).size == (384, 192)
    with pytest.raises(ValueError, match="image_ids"):
        render_contact_sheet(smears, [], path)
