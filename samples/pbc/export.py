"""`pbc.py export`: a trained PBC model as a SavedModel, an ONNX model or a LiteRT model, for other runtimes.

    python samples/pbc/pbc.py export --weights out/pbc/detector_small_256.weights.h5 --backbone small --preset cpu \\
        --image-size 256 --format onnx --out out/pbc/onnx
    python samples/pbc/pbc.py detect --model out/pbc/onnx --images smears/ --out out/detect

The export takes one RGB uint8 image of any size and returns the cells `detect` finds in it (mrcnn/export/,
docs/export.md): the model options (--backbone, --preset, --image-size, --min-confidence) are those of the weights, as
for evaluate and detect, and the export keeps them; the PBC class names and the config (with the scale the model
knows, RED_CELL_DIAMETER) go beside it as JSON, so that `detect --model DIR` brings each image to that scale first.
A format whose package is missing names the package and the pip command; an op a format cannot express is named with
its layer.
"""

from samples.pbc.classes import CLASS_NAMES
from samples.pbc.config import add_model_options, add_scoring_options

FORMATS = ("savedmodel", "onnx", "litert")  # mrcnn.export.FORMATS (not imported here: TensorFlow would load)


def cmd_export(args):
    from mrcnn.cli import UsageError
    from samples.pbc.models import inference_config
    config, weights = inference_config(args)
    if args.min_confidence is not None:
        config.DETECTION_MIN_CONFIDENCE = args.min_confidence
    from mrcnn.export.formats import require_packages, WRITER_PACKAGES
    try:  # before the model is built: a missing package is one line
        require_packages(WRITER_PACKAGES[args.format], f"export format {args.format!r}")
    except ImportError as e:
        raise UsageError(str(e)) from None
    from mrcnn.model import MaskRCNN
    model = MaskRCNN("inference", config, args.logs)
    model.load_weights(weights)
    path = model.export(args.out, args.format, class_names=["BG"] + CLASS_NAMES, weights=weights)
    print(f"exported {weights} as {args.format}: {path} (config.json and export.json beside it)\n"
          f"next: pbc.py detect --model {args.out} --images ... --out ...")
    return 0


def add_parser(sub):
    """The `export` subcommand's options (on the subparsers `sub` of pbc.py)."""
    p = sub.add_parser("export", help="write a trained model as a SavedModel, ONNX or LiteRT model (docs/export.md)",
                       description="Export the inference model with its pre- and post-processing: one RGB uint8 "
                                   "image of any size in; boxes in its pixels, class ids, scores and full-size masks "
                                   "out, the cells detect finds. savedmodel: TF Serving and tf.saved_model.load; "
                                   "onnx: onnxruntime (pip install -e .[export]); litert: LiteRT / TFLite.")
    p.add_argument("--weights", required=True, help="a checkpoint, or 'last'")
    p.add_argument("--format", required=True, choices=FORMATS, help="the format to write")
    p.add_argument("--out", required=True, help="folder to write the model, config.json and export.json to")
    add_model_options(p, training=True)
    p.add_argument("--min-confidence", type=float, default=None,
                   help="DETECTION_MIN_CONFIDENCE kept in the export (the paper: 0.75)")
    add_scoring_options(p)
    return p
