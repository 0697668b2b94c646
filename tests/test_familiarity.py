"""The 'unlike the training images' score: zero for features at their training means, growing with the shift; the
cut-off a quantile of in-distribution scores; AUROC by hand."""

import numpy as np
import pytest

from mrcnn.familiarity import FamiliarityScorer, auroc, cutoff


def test_auroc_by_hand():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    # positives 0.5, 0.3; negatives 0.4, 0.3: pairs (0.5>0.4) (0.5>0.3) (0.3<0.4) (0.3=0.3 half) -> 2.5 / 4
    assert auroc([0.5, 0.3, 0.4, 0.3], [True, True, False, False]) == pytest.approx(0.625)
    assert auroc([0.5, 0.4], [True, True]) is None and auroc([], []) is None


def test_cutoff_is_the_quantile_of_the_scores():
    scores = list(np.arange(1, 101, dtype=float))  # 1..100
    assert cutoff(scores) == pytest.approx(np.quantile(scores, 0.99))
    assert cutoff([None, 2.0, 4.0], quantile=0.5) == 3.0
    with pytest.raises(ValueError, match="needs the scores"):
        cutoff([None])


def test_scorer_on_a_tiny_detector_grows_with_a_colour_shift(tmp_path):
    from mrcnn.model import MaskRCNN
    from samples.pbc.config import make_config
    config = make_config(inference=True, preset="cpu", backbone="tiny", image_size=64)
    model = MaskRCNN("inference", config, str(tmp_path))
    rng = np.random.default_rng(0)
    images = [rng.integers(150, 230, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    # give each batch-norm layer the statistics of these images: they become "the training images"
    from mrcnn.training.adapt import adapt_batch_norm
    adapt_batch_norm(model.keras_model, config, images * 2)
    scorer = FamiliarityScorer(model.keras_model, config, cutoff=None)
    like = scorer.score(images[:1])
    shifted = scorer.score([np.clip(images[0].astype(int) - 120, 0, 255).astype(np.uint8)])
    assert like < shifted
    judged = FamiliarityScorer(model.keras_model, config, cutoff=(like + shifted) / 2).judge(images[:1])
    assert judged["unlike"] is False and judged["score"] == pytest.approx(like, abs=1e-4)


def test_a_backbone_without_batch_norm_gets_no_scorer(tmp_path):
    from mrcnn.familiarity import familiarity_scorer
    from mrcnn.model import MaskRCNN
    from samples.pbc.config import make_config
    config = make_config(inference=True, preset="cpu", backbone="small_gn", image_size=64)
    model = MaskRCNN("inference", config, str(tmp_path))
    assert familiarity_scorer(model.keras_model, config) is None
    with pytest.raises(ValueError, match="no batch-norm layer"):
        FamiliarityScorer(model.keras_model, config)
    tiny = make_config(inference=True, preset="cpu", backbone="tiny", image_size=64)
    scorer = familiarity_scorer(MaskRCNN("inference", tiny, str(tmp_path)).keras_model, tiny, cutoff=1.0)
    assert isinstance(scorer, FamiliarityScorer) and scorer.cutoff == 1.0
