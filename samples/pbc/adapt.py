"""`pbc.py adapt`: a trained model adapted to a lab's own unlabelled images.

    python samples/pbc/pbc.py adapt --images lab_smears/ --weights out/pbc/detector_small_256.weights.h5 \\
        --backbone small --preset cpu --image-size 256 --out out/lab/detector_lab.weights.h5
    python samples/pbc/pbc.py detect --images lab_smears/ --weights out/lab/detector_lab.weights.h5 ...

The images are brought to the model's scale as `detect` brings them (--pixel-size, default: from their red cells),
cut into the model's inputs, and the backbone's batch-norm statistics are re-estimated on them
(mrcnn/training/adapt.py); nothing else changes and no label is needed. The new weights file is a copy of the old one
with those statistics replaced, and a JSON report beside it names the weights it came from, the images and what moved
(per layer: the shift of the mean in former standard deviations, the ratio of standard deviations). Images of one
microscope and stain, as many as --max-images (default 200) taken evenly from the folder: a few dozen are enough.

Bad input: no image in --images, fewer readable images than adapting needs, a weights file of another backbone or
size: each an error naming it.
"""

import json
import os
import time

from samples.pbc.config import add_model_options
from samples.pbc.models import inference_config, inference_detector, spread


def cmd_adapt(args):
    from mrcnn.data.image_io import list_image_files
    files = list_image_files(args.images)
    config, weights = inference_config(args)
    if not args.out.endswith(".weights.h5"):
        raise ValueError(f"--out {args.out}: the adapted weights file's name must end in .weights.h5")
    from mrcnn.streaming import readable_images
    detector = inference_detector(config, weights, args, sample=lambda: readable_images(spread(files)))
    chosen = spread(files, args.max_images)
    start = time.time()
    inputs = [tile for image in readable_images(chosen) for tile in detector.inputs(image)]
    from mrcnn.training.adapt import adapt_batch_norm
    from mrcnn.training.checkpoints import report_path, write_text_atomic
    from mrcnn.training.run import run_folder
    from mrcnn.weights_io import replace_weights
    report = adapt_batch_norm(detector.model.keras_model, config, inputs)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    replace_weights(weights, args.out, report.pop("weights"))
    report.update({"weights": args.out, "adapted_from": weights, "run": run_folder(weights),
                   "images": list(args.images), "files": len(chosen), "inputs": len(inputs),
                   "pixel_size": str(args.pixel_size), "scale": detector.pooled,
                   "seconds": round(time.time() - start, 1)})
    write_text_atomic(report_path(args.out), json.dumps(report, indent=2) + "\n")
    moved = sorted(report["changes"].items(), key=lambda item: -item[1]["mean_shift"])[:3]
    folders = " ".join(args.images)
    print(f"adapted {report['layers']} batch-norm layers of {weights} on {len(inputs)} inputs from {len(chosen)} "
          f"images of {folders}: means moved {report['mean_shift']:.2f} former standard deviations on average, "
          f"standard deviations by a factor {report['std_ratio']:.2f} (most: "
          + ", ".join(f"{name} {c['mean_shift']:.2f}" for name, c in moved)
          + f")\nweights: {args.out}\nreport: {report_path(args.out)}\n"
          f"next: pbc.py detect --images {folders} --weights {args.out} ...")
    return 0


def add_parser(sub):
    """The `adapt` subcommand's options (on the subparsers `sub` of pbc.py)."""
    p = sub.add_parser("adapt", help="adapt a trained model to a lab's unlabelled images (batch-norm statistics)",
                       description="Re-estimate the backbone's batch-norm statistics on a folder of a lab's images "
                                   "(no labels needed) and write the adapted weights with a report beside them.")
    p.add_argument("--images", nargs="+", required=True, help="image files or folders of the lab")
    p.add_argument("--weights", required=True, help="the trained model: a weights file, or 'last'")
    p.add_argument("--out", required=True, help="adapted weights file to write (*.weights.h5); a .json goes beside")
    p.add_argument("--max-images", type=int, default=200, help="images used, evenly spread (default: 200)")
    add_model_options(p, training=False)
    return p
