"""The tiny model configuration shared by the tests that build whole models (64 px, narrow heads, few ROIs), and a
small shapes dataset at that size."""

from mrcnn.config import Config


class TinyConfig(Config):
    NAME = "tinytest"
    BACKBONE = "tiny"
    NUM_CLASSES = 4
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = IMAGE_MAX_DIM = 64
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 32
    RPN_CONV_CHANNELS = 32
    MASK_HEAD_CHANNELS = 16
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    PRE_NMS_LIMIT = 200
    POST_NMS_ROIS_TRAINING = 64
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 16
    MAX_GT_INSTANCES = 6
    DETECTION_MAX_INSTANCES = 8
    DETECTION_MIN_CONFIDENCE = 0.0
    STEPS_PER_EPOCH = 2
    VALIDATION_STEPS = 1
    TRAIN_BN = True
    LEARNING_RATE = 0.01
    # float32 so that tests can compare two model instances exactly; tests/test_precision.py covers the mixed
    # policies (under "auto" this CPU computes in bfloat16, and two instances then agree to bfloat16 rounding only).
    DTYPE_POLICY = "float32"


def shapes_dataset(count=4, seed=5, size=64):
    """A prepared ShapesDataset of `count` generated `size` px images (the shapes sample's)."""
    from samples.shapes.shapes import ShapesDataset

    dataset = ShapesDataset()
    dataset.load_shapes(count, size, size, seed=seed)
    dataset.prepare()
    return dataset
