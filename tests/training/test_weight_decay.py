"""The train step applies Matterport's weight decay: the update differs from the undecayed one by lr * 2 wd w / size.

The heads' losses are weighted 0: their ROIs are sampled from seeds drawn with tf.random.uniform, whose op seed
differs between two graphs built in one process, so only the RPN's losses (fixed by the batch) drive the two updates; every variable
still gets its decay term.
"""

import numpy as np

from mrcnn.config import LOSS_NAMES
from mrcnn.data.generator import DataGenerator
from mrcnn.model import MaskRCNN, build_optimizer
from mrcnn.training.optimizer_state import build_optimizer_variables
from samples.shapes.train_shapes import make_datasets
from tests.tiny_config import TinyConfig

LR, DECAY = 0.01, 0.5


def _one_step(tmp_path, weight_decay, weights, batch):
    config = TinyConfig()
    config.WEIGHT_DECAY = weight_decay
    config.LEARNING_MOMENTUM = 0.0
    config.GRADIENT_CLIP_NORM = 1e9
    config.LOSS_WEIGHTS = {name: float(name.startswith("rpn_")) for name in LOSS_NAMES}
    model = MaskRCNN("training", config, str(tmp_path))
    model.keras_model.set_weights(weights)
    model.keras_model.compile(optimizer=build_optimizer(config, LR), jit_compile=False)
    build_optimizer_variables(model.keras_model)
    logs = model.keras_model.train_on_batch(batch, return_dict=True)
    return {v.path: v.numpy() for v in model.keras_model.trainable_variables}, logs


def test_update_includes_the_decay_gradient_and_skips_gamma_beta(tmp_path):
    start = MaskRCNN("training", TinyConfig(), str(tmp_path)).keras_model
    weights = start.get_weights()
    before = {v.path: v.numpy() for v in start.trainable_variables}
    train_set, _ = make_datasets(train_count=4, val_count=1, size=64)
    batch = DataGenerator(train_set, TinyConfig(), steps=1, seed=0)[0]
    plain, plain_logs = _one_step(tmp_path, 0.0, weights, batch)
    decayed, decayed_logs = _one_step(tmp_path, DECAY, weights, batch)
    for name in ("rpn_class_loss", "rpn_bbox_loss"):  # the same forward pass
        np.testing.assert_allclose(decayed_logs[name], plain_logs[name], rtol=1e-5)
    assert decayed_logs["loss"] > plain_logs["loss"]  # the logged total includes the decay
    checked = 0
    for path, w in before.items():
        difference = decayed[path] - plain[path]
        if "gamma" in path or "beta" in path:
            np.testing.assert_allclose(difference, 0.0, atol=1e-6)
            continue
        expected = -LR * 2 * DECAY * w / w.size
        np.testing.assert_allclose(difference, expected, rtol=2e-3, atol=1e-6 + 2e-3 * np.abs(expected).max())
        checked += 1
    assert checked > 20
