"""The model a PBC command line asks for: its weights found, its config, and the detector that brings images to the
model's scale (`evaluate`, `detect`, `serve`).

Shape shorthand: none (files and configs; images are uint8 [H, W, 3]).
"""

from mrcnn.weights import resolve_weights
from samples.pbc.config import PbcConfig, config_from_args

CUTOFF_KEY = "unlike_cutoff"  # the key of the flag's cut-off in the JSON beside a weights file


def inference_config(args):
    """(inference config, weights path): --weights is found first, then the config, which takes the scale the model
    knows from the weights' run (config_from_args)."""
    path = resolve_weights(args.weights, args.logs, PbcConfig.NAME)
    return config_from_args(args, inference=True, start_weights=path), path


def inference_detector(config, path, args, sample=None):
    """A detector of `config` with the weights `path` loaded, bringing each image to the model's scale first unless
    --pixel-size off (mrcnn/detector.py); with --pixel-size auto the scale is the median of the red cells measured
    on `sample()`, an iterable of up to CALIBRATION_IMAGES images of the set."""
    from mrcnn.model import MaskRCNN  # TensorFlow loads here, once the inputs have passed their checks
    model = MaskRCNN("inference", config, args.logs)
    model.load_weights(path)
    from mrcnn.familiarity import familiarity_scorer
    # a backbone without batch norm (VGG19, small_gn) has no statistics to judge by: its flag is unknown, as an export's
    scorer = familiarity_scorer(model.keras_model, config, cutoff=stored_cutoff(path)) or _NoFamiliarity()
    return scaled_detector(model, args, scorer, sample)


def exported_detector(args, sample=None):
    """The detector of an exported model (`detect --model DIR`: mrcnn/export/runtime.py), at the scale its config.json
    knows, as `inference_detector`. The "unlike the training images" flag needs the Keras model's batch-norm
    statistics, which an export does not carry: its columns stay, blank."""
    from mrcnn.export import load_exported
    return scaled_detector(load_exported(args.model), args, _NoFamiliarity(), sample)


class _NoFamiliarity:
    """Stands in for the FamiliarityScorer of an exported model or a backbone without batch norm: the flag is reported
    as unknown."""

    def judge(self, inputs):
        return {"score": None, "unlike": None, "cutoff": None}


def scaled_detector(model, args, familiarity, sample=None):
    """`model` (a MaskRCNN or an exported model) in a ScaledDetector as --pixel-size and --colour ask."""
    from mrcnn.detector import ScaledDetector
    config = model.config
    known = args.pixel_size if isinstance(args.pixel_size, float) else None
    colour = None
    if getattr(args, "colour", "off") == "pbc":
        from mrcnn.data.colour import ColourNormalizer
        from samples.pbc.colour import PBC_LAB_MEAN, PBC_LAB_STD
        colour = ColourNormalizer(PBC_LAB_MEAN, PBC_LAB_STD)
    elif getattr(args, "colour", "off") == "background":
        from mrcnn.data.colour import BackgroundBalancer
        from samples.pbc.colour import PBC_BACKGROUND
        colour = BackgroundBalancer(PBC_BACKGROUND)
    detector = ScaledDetector(model, pixel_size=known, rescale=args.pixel_size != "off", familiarity=familiarity,
                              colour=colour)
    if args.pixel_size == "auto" and sample is not None and config.RED_CELL_DIAMETER:
        pooled = detector.calibrate(sample())
        print(f"scale: red cells {pooled['diameter_px']} px across (median of {pooled['measured']} of "
              f"{pooled['images']} images measured; the model knows them at {config.RED_CELL_DIAMETER} px)"
              if pooled["diameter_px"] else f"scale: no red cells measurable in {pooled['images']} images; each "
              "image is measured on its own")
    return detector


def stored_cutoff(weights):
    """The "unlike the training images" cut-off stored beside a weights file (by `pbc.py evaluate` on the validation
    images: the JSON at checkpoints.report_path), or None."""
    from mrcnn.training.checkpoints import read_json_object, report_path
    try:
        value = (read_json_object(report_path(weights)) or {}).get(CUTOFF_KEY)
    except ValueError:
        return None
    return float(value) if isinstance(value, (int, float)) else None


def store_cutoff(weights, cutoff):
    """Write the cut-off into the JSON beside the weights file (its other keys kept); returns that JSON's path."""
    import json

    from mrcnn.training.checkpoints import read_json_object, report_path, write_text_atomic
    path = report_path(weights)
    values = read_json_object(path) or {}
    values[CUTOFF_KEY] = cutoff
    write_text_atomic(path, json.dumps(values, indent=2) + "\n")
    return path


def spread(items, count=None):
    """Up to `count` (default CALIBRATION_IMAGES) of `items`, evenly spread."""
    from mrcnn.detector import CALIBRATION_IMAGES
    count = CALIBRATION_IMAGES if count is None else count
    step = max(1, len(items) / max(1, count))
    return [items[int(i * step)] for i in range(min(len(items), count))]
