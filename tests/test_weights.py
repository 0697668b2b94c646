"""resolve_weights: every spec to its file (or None) before any model exists, errors naming the spec and what would
work; load_start_weights: what a starting file brought in, in one line."""

import json

import pytest

from mrcnn.weights import load_start_weights, resolve_weights


def test_none_last_and_files(tmp_path):
    assert resolve_weights("none") is None
    run = tmp_path / "logs" / "pbc20261201T0000"
    run.mkdir(parents=True)
    for epoch in (1, 2):
        (run / f"mask_rcnn_pbc_{epoch:04d}.weights.h5").write_bytes(b"")
    assert resolve_weights("last", str(tmp_path / "logs"), "PBC") == str(run / "mask_rcnn_pbc_0002.weights.h5")
    file = tmp_path / "any.weights.h5"
    file.write_bytes(b"")
    assert resolve_weights(str(file)) == str(file)


def test_errors_name_the_spec_and_what_works(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^--weights last: no log folder .*Train first, or give a weights "):
        resolve_weights("last", str(tmp_path / "nowhere"), "pbc")
    with pytest.raises(FileNotFoundError, match=r"^--weights x.h5: no such file \(none, last, imagenet, coco, or a "):
        resolve_weights("x.h5")
    with pytest.raises(ValueError, match=r"^--weights imagenet: backbone 'tiny' has no keras.applications"):
        resolve_weights("imagenet", backbone="tiny")
    with pytest.raises(ValueError, match=r"^weights last: needs the log folder"):
        resolve_weights("last", flag="weights")


class FakeModel:
    """What load_start_weights reads of a MaskRCNN: config, keras_model, load_weights."""

    class config:
        BACKBONE, IMAGE_MAX_DIM, NUM_CLASSES = "small", 192, 9

    def __init__(self, loaded, mismatched=()):
        self.loaded = loaded
        self.mismatched = list(mismatched)
        self.calls = []

    def load_weights(self, path, by_name=False, skip_mismatch=False):
        self.calls.append({"by_name": by_name, "skip_mismatch": skip_mismatch})
        return {"loaded": self.loaded, "missing": ["fpn_c5p5"], "mismatched": self.mismatched, "excluded": [],
                "unused": ["x"]}


def test_start_weights_summary_of_a_pretrained_backbone(tmp_path, caplog):
    assert load_start_weights(FakeModel(["a"]), "none", None) is None
    path = str(tmp_path / "backbone.weights.h5")
    plain = load_start_weights(FakeModel(["a", "b"]), path, path)
    assert plain["summary"] == f"2 layers loaded from {path} (1 not in the file, 0 shape-mismatched, 0 excluded)"
    (tmp_path / "backbone.json").write_text(json.dumps({"backbone": "small", "val_accuracy": 0.981,
                                                        "image_shape": [160, 160, 3]}))
    described = load_start_weights(FakeModel(["a", "b"]), path, path)
    assert described["summary"].startswith("pretrained backbone small (160 px, val accuracy 0.9810 as a classifier)")
    assert "pretrained on 160 px images and this model takes 192 px" in caplog.text
    with pytest.raises(ValueError, match="no layer of this model .small backbone. is in the file"):
        load_start_weights(FakeModel([]), path, path)


def test_start_weights_skip_mismatched_layers_with_a_warning(tmp_path, caplog):
    """A start file of other classes: load_start_weights asks load_weights to skip (not raise on) the class heads
    of other shapes, and warns which layers keep their initialisation."""
    path = str(tmp_path / "other_classes.weights.h5")
    model = FakeModel(["a", "b", "c"], mismatched=["mrcnn_class_logits", "mrcnn_bbox_fc"])
    with caplog.at_level("WARNING", logger="mrcnn.weights"):
        report = load_start_weights(model, path, path)
    assert model.calls == [{"by_name": True, "skip_mismatch": True}]
    assert report["summary"] == f"3 layers loaded from {path} (1 not in the file, 2 shape-mismatched, 0 excluded)"
    assert "2 layers have other shapes than this model's" in caplog.text
    assert "mrcnn_class_logits, mrcnn_bbox_fc" in caplog.text
