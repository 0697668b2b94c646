import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mrcnn.data.anchors import get_anchors
from mrcnn.data.generator import DataGenerator
from mrcnn.data.image_meta import parse_image_meta
from mrcnn.data.loader import load_image_gt
from mrcnn.data.mold import unmold_image


def _image_ids(batch):
    return parse_image_meta(batch["input_image_meta"])["image_id"].tolist()


def _assert_batches_equal(first, second):
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_batch_shapes_dtypes_and_content(config, toy_dataset):
    generator = DataGenerator(toy_dataset, config, shuffle=False, seed=0)
    assert len(generator) == 2
    batch = generator[1]
    num_anchors = get_anchors(config, (64, 64, 3)).shape[0]
    expected = {
        "input_image": ((2, 64, 64, 3), np.float32),
        "input_image_meta": ((2, config.IMAGE_META_SIZE), np.float32),
        "input_rpn_match": ((2, num_anchors, 1), np.int32),
        "input_rpn_bbox": ((2, 32, 4), np.float32),
        "input_gt_class_ids": ((2, 4), np.int32),
        "input_gt_boxes": ((2, 4, 4), np.float32),
        "input_gt_masks": ((2, 14, 14, 4), bool),
    }
    assert {k: (v.shape, v.dtype) for k, v in batch.items()} == expected
    assert _image_ids(batch) == [2, 3]
    for b, image_id in enumerate([2, 3]):
        image, _, class_ids, bbox, masks = load_image_gt(toy_dataset, config, image_id)
        np.testing.assert_array_equal(unmold_image(batch["input_image"][b], config.MEAN_PIXEL), image)
        n = len(class_ids)
        np.testing.assert_array_equal(batch["input_gt_class_ids"][b], np.pad(class_ids, (0, 4 - n)))
        np.testing.assert_array_equal(batch["input_gt_boxes"][b, :n], bbox)
        assert np.all(batch["input_gt_boxes"][b, n:] == 0)
        np.testing.assert_array_equal(batch["input_gt_masks"][b, :, :, :n], masks)
        assert not batch["input_gt_masks"][b, :, :, n:].any()
        match = batch["input_rpn_match"][b, :, 0]
        assert np.sum(match == 1) >= n and np.sum(match != 0) <= 32


def test_deterministic_per_seed_epoch_index(config, toy_dataset):
    def shift(image, mask, rng):
        step = int(rng.integers(0, 5))
        return np.roll(image, step, axis=1), np.roll(mask, step, axis=1)

    def make(seed=7):
        return DataGenerator(toy_dataset, config, seed=seed, augmentation=shift)

    first, second = make(), make()
    second.on_epoch_end()
    second.epoch = 0
    _assert_batches_equal(first[1], second[1])
    other = make(seed=8)
    assert any(first[i]["input_image"].tobytes() != other[i]["input_image"].tobytes() for i in range(2))
    first.on_epoch_end()
    assert first.epoch == 1
    orders = {tuple(_image_ids(first[0]))}
    for _ in range(4):
        first.on_epoch_end()
        orders.add(tuple(_image_ids(first[0])))
    assert len(orders) > 1  # a fresh order every pass


def test_thread_safe(config, toy_dataset):
    generator = DataGenerator(toy_dataset, config, seed=3, steps=6)
    sequential = [generator[i] for i in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(generator.__getitem__, range(6)))
    for a, b in zip(sequential, parallel):
        _assert_batches_equal(a, b)


def test_steps_wrap_around_with_a_fresh_permutation_per_pass(config, make_toy_dataset):
    dataset = make_toy_dataset([[(1, 4, 4, 20, 20)], [(2, 30, 30, 50, 50)], [(1, 10, 30, 30, 60)]])
    generator = DataGenerator(dataset, config, seed=1, steps=5)
    assert len(generator) == 5
    stream = [i for idx in range(5) for i in _image_ids(generator[idx])]
    generator.on_epoch_end()
    stream += _image_ids(generator[0])  # epoch 1 continues the stream
    passes = [stream[k:k + 3] for k in range(0, 12, 3)]
    assert all(sorted(p) == [0, 1, 2] for p in passes)
    assert len({tuple(p) for p in passes}) > 1
    ordered = DataGenerator(dataset, config, shuffle=False, steps=4)
    assert [i for idx in range(4) for i in _image_ids(ordered[idx])] == [0, 1, 2, 0, 1, 2, 0, 1]


def test_max_gt_instances_subsampled_with_one_warning(config, make_toy_dataset, caplog):
    specs = [(1 + i % 2, 2 + 8 * i, 4, 8 + 8 * i, 20) for i in range(7)]
    dataset = make_toy_dataset([specs])
    generator = DataGenerator(dataset, config, seed=0, steps=2)
    with caplog.at_level(logging.WARNING, logger="mrcnn.data.generator"):
        batches = [generator[0], generator[1]]
    assert sum("MAX_GT_INSTANCES" in r.message for r in caplog.records) == 1
    _, _, all_ids, all_boxes, _ = load_image_gt(dataset, config, 0)
    all_boxes = {tuple(b) for b in all_boxes}
    for batch in batches:
        assert np.all(batch["input_gt_class_ids"] > 0)
        assert {tuple(b) for b in batch["input_gt_boxes"].reshape(-1, 4).astype(int)} <= all_boxes
        assert batch["input_gt_masks"].any(axis=(1, 2)).all()


def test_random_rois_and_sources_without_augmentation(config, toy_dataset):
    calls = []

    def augmentation(image, mask, rng):
        calls.append(1)
        return image, mask

    generator = DataGenerator(toy_dataset, config, seed=0, random_rois=20, augmentation=augmentation,
                              no_augmentation_sources=["toy"])
    batch = generator[0]
    assert batch["input_rpn_rois"].shape == (2, 20, 4) and batch["input_rpn_rois"].dtype == np.float32
    assert not calls
    DataGenerator(toy_dataset, config, seed=0, augmentation=augmentation)[0]
    assert len(calls) == 2


def test_detection_targets(config, toy_dataset):
    batch = DataGenerator(toy_dataset, config, seed=0, random_rois=20, detection_targets=True)[0]
    assert batch["rois"].shape == (2, 16, 4)
    assert batch["target_class_ids"].shape == (2, 16)
    assert batch["target_bbox"].shape == (2, 16, 3, 4)
    assert batch["target_mask"].shape == (2, 16, 14, 14, 3)
    with pytest.raises(ValueError, match="random_rois"):
        DataGenerator(toy_dataset, config, detection_targets=True)


def test_images_without_instances_are_skipped(config, make_toy_dataset):
    dataset = make_toy_dataset([[(1, 4, 4, 20, 20)], [], [(2, 30, 30, 50, 50)]])
    generator = DataGenerator(dataset, config, seed=0, steps=6)
    seen = {i for idx in range(6) for i in _image_ids(generator[idx])}
    assert seen == {0, 2}
    with pytest.raises(ValueError, match="nothing to train on"):
        DataGenerator(make_toy_dataset([[], []]), config, seed=0)[0]


def test_image_size_must_match_the_graph(config, make_toy_dataset):
    config.IMAGE_RESIZE_MODE = "pad64"
    dataset = make_toy_dataset([[(1, 4, 4, 20, 20)]], height=64, width=128)
    with pytest.raises(ValueError, match=r"\(64, 128\).*IMAGE_SHAPE \(64, 64\)"):
        DataGenerator(dataset, config, seed=0)[0]


def test_bad_arguments(config, toy_dataset, make_toy_dataset):
    with pytest.raises(ValueError, match="steps"):
        DataGenerator(toy_dataset, config, steps=0)
    with pytest.raises(ValueError, match="seed"):
        DataGenerator(toy_dataset, config, seed=-1)
    with pytest.raises(ValueError, match="no images"):
        DataGenerator(make_toy_dataset([]), config)
    with pytest.raises(IndexError):
        DataGenerator(toy_dataset, config)[2]


def test_keras_takes_the_dict_as_inputs(config, toy_dataset):
    keras = pytest.importorskip("keras")
    batch = DataGenerator(toy_dataset, config, seed=0)[0]
    inputs = {name: keras.Input(shape=value.shape[1:], dtype=str(value.dtype), name=name)
              for name, value in batch.items()}
    total = keras.ops.sum(keras.ops.cast(inputs["input_gt_class_ids"], "float32"), axis=1)
    model = keras.Model(inputs, total)
    generator = DataGenerator(toy_dataset, config, seed=0, shuffle=False, workers=2)
    predicted = model.predict(generator, verbose=0)
    expected = np.concatenate([generator[i]["input_gt_class_ids"].sum(axis=1) for i in range(2)])
    np.testing.assert_allclose(predicted, expected)


def _file_backed(make_toy_dataset, tmp_path, corrupt):
    """The four-image toy dataset read from PNG files; the images in `corrupt` are truncated files."""
    from PIL import Image

    from mrcnn.data.image_io import read_image_rgb

    specs = [[(1, 8, 8, 24, 30)], [(2, 4, 40, 20, 60)], [(1, 40, 4, 60, 20)], [(2, 16, 16, 48, 48)]]
    drawn = make_toy_dataset(specs)
    paths = []
    for image_id in drawn.image_ids:
        path = tmp_path / f"{image_id}.png"
        Image.fromarray(drawn.load_image(image_id)).save(path)
        if image_id in corrupt:
            path.write_bytes(path.read_bytes()[:60])
        paths.append(str(path))
    return make_toy_dataset(specs, image_fn=lambda image_id, image: read_image_rgb(paths[image_id])), paths


def test_corrupt_image_file_is_skipped_with_one_warning(config, make_toy_dataset, tmp_path, caplog):
    dataset, paths = _file_backed(make_toy_dataset, tmp_path, corrupt={1})
    generator = DataGenerator(dataset, config, shuffle=False, seed=0, steps=2)
    with caplog.at_level(logging.WARNING, logger="mrcnn.data.generator"):
        first = generator[0]
        for _ in range(3):
            generator[0], generator[1]
    assert _image_ids(first) == [0, 2], "image 1 is skipped like an image without instances"
    assert list(generator.bad_images) == [1] and paths[1] in generator.bad_images[1]
    warnings = [r.getMessage() for r in caplog.records if "cannot be used" in r.getMessage()]
    assert len(warnings) == 1 and paths[1] in warnings[0] and "image 1" in warnings[0]


def test_every_image_corrupt_is_an_error(config, make_toy_dataset, tmp_path):
    dataset, paths = _file_backed(make_toy_dataset, tmp_path, corrupt={0, 1, 2, 3})
    with pytest.raises(ValueError, match="none of the 4 images of ToyDataset can be used") as info:
        DataGenerator(dataset, config, shuffle=False, seed=0)[0]
    assert paths[0] in str(info.value)


def test_bad_annotations_of_one_image_are_skipped_but_check_dataset_still_checks_the_first(config, make_toy_dataset):
    from mrcnn.data.loader import BadImageError, check_dataset

    def bad_mask_for_image_2(image_id, mask, class_ids):
        return (mask[:10], class_ids) if image_id == 2 else (mask, class_ids)

    dataset = make_toy_dataset([[(1, 8, 8, 24, 30)], [(2, 4, 40, 20, 60)], [(1, 40, 4, 60, 20)]],
                               mask_fn=bad_mask_for_image_2)
    check_dataset(dataset, config)  # image 0 is fine
    generator = DataGenerator(dataset, config, shuffle=False, seed=0, steps=2)
    # Batch 1 takes stream positions 2 and 3: image 2 is skipped for image 0 (the stream wraps around), and
    # position 3 is image 0 again.
    assert _image_ids(generator[1]) == [0, 0]
    assert "masks have height x width 10 x 64" in generator.bad_images[2]
    broken_first = make_toy_dataset([[(1, 8, 8, 24, 30)], [(2, 4, 40, 20, 60)]],
                                    mask_fn=lambda i, m, c: (m[:10], c))
    with pytest.raises(BadImageError, match="image 0"):
        check_dataset(broken_first, config)
