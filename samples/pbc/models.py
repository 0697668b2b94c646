"""The model a PBC command line asks for: its weights found, its config, and the detector that brings images to the
model's scale (`evaluate`, `detect`, `serve`).

Shape shorthand: none (files and configs; images are uint8 [H, W, 3]).
"""

from mrcnn.weights import resolve_weights
from samples.pbc.config import PbcConfig, config_from_args


def inference_config(args):
    """(inference config, weights path): --weights is found first, then the config, which takes the scale the model
    knows from the weights' run (config_from_args)."""
    path = resolve_weights(args.weights, args.logs, PbcConfig.NAME)
    return config_from_args(args, inference=True, start_weights=path), path


def inference_detector(config, path, args, sample=None):
    """A detector of `config` with the weights `path` loaded, bringing each image to the model's scale first unless
    --pixel-size off (mrcnn/detector.py); with --pixel-size auto the scale is the median of the red cells measured
    on `sample()`, an iterable of up to CALIBRATION_IMAGES images of the set."""
    from mrcnn.detector import ScaledDetector
    from mrcnn.model import MaskRCNN  # TensorFlow loads here, once the inputs have passed their checks
    model = MaskRCNN("inference", config, args.logs)
    model.load_weights(path)
    known = args.pixel_size if isinstance(args.pixel_size, float) else None
    detector = ScaledDetector(model, pixel_size=known, rescale=args.pixel_size != "off")
    if args.pixel_size == "auto" and sample is not None and config.RED_CELL_DIAMETER:
        pooled = detector.calibrate(sample())
        print(f"scale: red cells {pooled['diameter_px']} px across (median of {pooled['measured']} of "
              f"{pooled['images']} images measured; the model knows them at {config.RED_CELL_DIAMETER} px)"
              if pooled["diameter_px"] else f"scale: no red cells measurable in {pooled['images']} images; each "
              "image is measured on its own")
    return detector


def spread(items, count=None):
    """Up to `count` (default CALIBRATION_IMAGES) of `items`, evenly spread."""
    from mrcnn.detector import CALIBRATION_IMAGES
    count = CALIBRATION_IMAGES if count is None else count
    step = max(1, len(items) / max(1, count))
    return [items[int(i * step)] for i in range(min(len(items), count))]
