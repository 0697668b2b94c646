"""samples/pbc/models.py: the detector a command line asks for, with its --colour normalisation."""

from argparse import Namespace

import numpy as np
import pytest

from mrcnn.data.colour import BackgroundBalancer, ColourNormalizer, background_colour
from samples.pbc.colour import PBC_BACKGROUND
from samples.pbc.models import scaled_detector


class _Model:
    class config:  # noqa: N801 - stands in for a Config
        RED_CELL_DIAMETER = None
        IMAGE_MAX_DIM = 64


@pytest.mark.parametrize("choice, kind", [("off", type(None)), ("pbc", ColourNormalizer),
                                          ("background", BackgroundBalancer)])
def test_colour_choice_gives_its_normaliser(choice, kind):
    detector = scaled_detector(_Model(), Namespace(pixel_size="off", colour=choice), familiarity=None)
    assert isinstance(detector.colour, kind)


def test_background_choice_gives_a_yellow_smear_pbcs_background():
    image = np.empty((16, 16, 3), np.uint8)
    image[:] = (250, 245, 160)  # wbc_masks' yellow plasma
    image[4:8, 4:8] = (120, 60, 110)
    detector = scaled_detector(_Model(), Namespace(pixel_size="off", colour="background"), familiarity=None)
    np.testing.assert_allclose(background_colour(detector.colour(image)), PBC_BACKGROUND, atol=0.6)


def _inference_args(*flags):
    import argparse
    from samples.pbc.config import add_model_options
    parser = argparse.ArgumentParser()
    add_model_options(parser, training=False)
    return parser.parse_args(["--backbone", "tiny", "--preset", "cpu", "--image-size", "64", *flags])


def test_detection_score_is_the_objects_by_default_and_matterports_on_request():
    from samples.pbc.config import config_from_args
    config = config_from_args(_inference_args(), inference=True)
    assert (config.DETECTION_SCORE, config.DETECTION_NMS_ACROSS_CLASSES) == ("object", True)
    config = config_from_args(_inference_args("--detection-score", "class", "--nms", "per-class"), inference=True)
    assert (config.DETECTION_SCORE, config.DETECTION_NMS_ACROSS_CLASSES) == ("class", False)
    with pytest.raises(SystemExit):
        _inference_args("--detection-score", "logit")
