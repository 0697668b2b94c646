"""adapt_batch_norm: the backbone's batch-norm statistics move to the new images' and nothing else changes;
replace_weights writes only the named layers into a copy of the file; bad input is named."""

import numpy as np
import pytest

from mrcnn.model import MaskRCNN
from mrcnn.training.adapt import MIN_IMAGES, adapt_batch_norm, batch_norm_statistics
from mrcnn.weights_io import read_weights, replace_weights
from samples.pbc.config import make_config


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config = make_config(inference=True, preset="cpu", backbone="tiny", image_size=64)
    model = MaskRCNN("inference", config, str(tmp_path_factory.mktemp("logs")))
    return model, config


def images(count, low, high, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(low, high, (64, 64, 3), dtype=np.uint8) for _ in range(count)]


def test_statistics_move_to_the_new_images_and_the_rest_stays(tiny, tmp_path):
    model, config = tiny
    path = str(tmp_path / "before.weights.h5")
    model.keras_model.save_weights(path)
    before = read_weights(path)
    report = adapt_batch_norm(model.keras_model, config, images(MIN_IMAGES, 0, 80))
    assert report["layers"] == len(report["changes"]) > 0 and report["images"] == MIN_IMAGES
    stem = next(name for name in report["changes"] if "stem" in name)
    mean, variance = batch_norm_statistics(model.keras_model)[stem]
    assert not np.allclose(mean, before[stem][2]) and report["changes"][stem]["mean_shift"] > 0
    # a second adaptation on the same images changes nothing more
    again = adapt_batch_norm(model.keras_model, config, images(MIN_IMAGES, 0, 80))
    assert again["mean_shift"] == pytest.approx(0.0, abs=1e-3)
    out = str(tmp_path / "adapted.weights.h5")
    replace_weights(path, out, report["weights"])
    after = read_weights(out)
    changed = {name for name in before if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))}
    assert changed == set(report["weights"])  # the batch-norm layers of the backbone, and nothing else
    assert all(name.startswith("tiny_") for name in changed)


def test_bad_input(tiny, tmp_path):
    model, config = tiny
    with pytest.raises(ValueError, match=f"at least {MIN_IMAGES} images"):
        adapt_batch_norm(model.keras_model, config, images(2, 0, 255))
    with pytest.raises(ValueError, match=r"must be 64 x 64"):
        adapt_batch_norm(model.keras_model, config, [np.zeros((32, 32, 3), np.uint8)] * MIN_IMAGES)
    path = str(tmp_path / "w.weights.h5")
    model.keras_model.save_weights(path)
    with pytest.raises(ValueError, match="no layer"):
        replace_weights(path, str(tmp_path / "out.weights.h5"), {"nowhere": [np.zeros(1)]})
    assert not (tmp_path / "out.weights.h5").exists()
    with pytest.raises(ValueError, match="array 0 is"):
        name = next(iter(read_weights(path)))
        replace_weights(path, str(tmp_path / "out.weights.h5"), {name: [np.zeros(7)] * len(read_weights(path)[name])})


def test_a_backbone_without_batch_norm_is_refused(tmp_path):
    config = make_config(inference=True, preset="cpu", backbone="small_gn", image_size=64)
    model = MaskRCNN("inference", config, str(tmp_path))
    images = np.full((MIN_IMAGES, 64, 64, 3), 200, np.uint8)
    with pytest.raises(ValueError, match="'small_gn' has no batch-norm layer"):
        adapt_batch_norm(model.keras_model, config, images)
