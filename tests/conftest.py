import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No test downloads weights: a missing ImageNet / COCO file is an error here (tests that allow a download replace
# mrcnn.backbones.download.fetch and unset this themselves).
os.environ.setdefault("MRCNN_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _op_determinism_off_after_each_test():
    """A test that seeds a run (mrcnn.training.determinism.seed_everything) turns on TensorFlow's deterministic
    kernels for the whole process; turn them off again so that each test runs as it would alone."""
    yield
    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config as tf_config  # the only switch back (tests only)
        if tf_config.is_op_determinism_enabled():
            tf_config.disable_op_determinism()
