"""`pbc.py finetune`: a trained detector fine-tuned on a lab's verified cells (the web page's corrections.json), alone
or mixed with PBC so that it does not forget PBC.

    python samples/pbc/pbc.py finetune --annotations corrections.json --images lab_smears/ \\
        --weights out/pbc/detector_small_256.weights.h5 --backbone small --preset cpu --image-size 256 \\
        --with-pbc ../shared/data/pbc --pbc-annotations out/pbc/annotations.json --out out/lab/detector.weights.h5
    python samples/pbc/pbc.py detect --images lab_smears/ --weights out/lab/detector.weights.h5 ...

The lab's images are those of --annotations (any COCO or VIA file with PBC's classes; the page's corrections.json
names each image by the file name it was uploaded under, found below --images). With --with-pbc, PBC's training
images (and their masks, --pbc-annotations) make up --pbc-share of the images each batch is drawn from
(mrcnn/data/mixed.py). One stage of `MaskRCNN.train` (the training run of mrcnn/training/run.py, with checkpoints,
curves and the record under --logs/finetune<YYYYmmddTHHMM>/) trains --layers at --learning-rate for --steps steps,
batch norm frozen and the recipe's augmentation, from the detector --weights (every layer must fit the model that
--backbone, --preset and --image-size build). Its last checkpoint is copied to --out (through a temporary file, so
--out is never half-written) with a JSON beside it (`checkpoints.report_path`) naming the run, which `evaluate`,
`detect` and `serve` read as they read `pbc.py average`'s.

Resuming: a killed run is continued by giving its last checkpoint as --weights (or `--weights last` with the same
--logs): it trains the epochs left and writes --out.

Bad input, each an error naming it, before TensorFlow loads where it can: a missing --annotations file, --images
folder, --with-pbc folder or --pbc-annotations file, an --out not named *.weights.h5, --with-pbc without
--pbc-annotations, an annotation file with classes PBC does not have or without any instance on an image found under
--images, weights of another backbone or size.
"""

import json
import math
import os
import time

from mrcnn.cli import UsageError
from samples.pbc.config import add_model_options, config_from_args

NAME = "finetune"  # the name of fine-tuning runs (their folders and checkpoints), so `--weights last` finds them
DEFAULTS = {"steps": 300, "steps_per_epoch": 50, "learning_rate": 1e-4, "layers": "4+", "pbc_share": 0.5,
            "images_per_gpu": 4}


def check_inputs(args):
    """The command line's files and values, checked before anything is read or built (UsageError naming them)."""
    if not args.out.endswith(".weights.h5"):
        raise UsageError(f"--out {args.out}: the fine-tuned weights file's name must end in .weights.h5")
    if not os.path.isfile(args.annotations):
        raise UsageError(f"--annotations {args.annotations}: no such file (the page's corrections.json, or any COCO "
                         "or VIA file of the lab's images)")
    if not os.path.isdir(args.images):
        raise UsageError(f"--images {args.images}: no such folder (the folder holding the images of "
                         f"{args.annotations})")
    if bool(args.with_pbc) != bool(args.pbc_annotations):
        raise UsageError("--with-pbc and --pbc-annotations go together: PBC's folder and the COCO file of its masks "
                         "(pbc.py annotate's)")
    if args.with_pbc and not os.path.isdir(args.with_pbc):
        raise UsageError(f"--with-pbc {args.with_pbc}: no such folder (PBC's, in its layout: DIR/train/<class>/)")
    if args.pbc_annotations and not os.path.isfile(args.pbc_annotations):
        raise UsageError(f"--pbc-annotations {args.pbc_annotations}: no such file")
    if args.with_pbc and not 0 < args.pbc_share < 1:
        raise UsageError(f"--pbc-share {args.pbc_share}: must be between 0 and 1 (the fraction of PBC images)")
    if args.steps < 1 or args.steps_per_epoch < 1:
        raise UsageError(f"--steps {args.steps} and --steps-per-epoch {args.steps_per_epoch} must be at least 1")


def lab_dataset(annotations, images):
    """The lab's verified images as a prepared PbcFolderDataset (PBC's classes); prints what was left out."""
    from samples.pbc.datasets import PbcFolderDataset
    lab = PbcFolderDataset()
    report = lab.load_annotations(annotations, images, match_basename=True)
    lab.prepare()
    if report.skipped_images or report.skipped_instances:
        print(f"{annotations}: {report.summary()}")
    return lab


def cmd_finetune(args):
    check_inputs(args)
    from mrcnn.training.run import TrainingRun
    from mrcnn.weights import resolve_weights
    weights = resolve_weights(args.weights, args.logs, NAME)
    resumed = TrainingRun.from_checkpoint(weights, kind="mask_rcnn")
    resumed = resumed if resumed is not None and resumed.name == NAME else None  # a PBC checkpoint starts a new run
    config = config_from_args(args, start_weights=weights)
    config.NAME = NAME
    config.TRAIN_BN = False  # batch-norm statistics stay PBC's: a few dozen images cannot re-estimate them
    config.VALIDATION_STEPS = args.validation_steps
    epochs = math.ceil(args.steps / args.steps_per_epoch)
    lab = lab_dataset(args.annotations, args.images)
    train_set, mix = lab, f"{lab.num_images} lab images"
    if args.with_pbc:
        from mrcnn.data.mixed import MixedDataset
        from samples.pbc.datasets import load_subset
        pbc = load_subset(args.with_pbc, "train", args.pbc_annotations, config.IMAGE_MAX_DIM)
        train_set = MixedDataset([lab, pbc], [1 - args.pbc_share, args.pbc_share])
        train_set.prepare()
        mix = (f"{lab.num_images} lab images (x{train_set.copies[0]}) mixed with {pbc.num_images} PBC training "
               f"images (x{train_set.copies[1]}): {args.pbc_share:.0%} PBC")
    from mrcnn.training.preflight import check_log_dir
    check_log_dir(args.logs, 0)
    from mrcnn.model import MaskRCNN  # TensorFlow loads here, once the inputs have passed their checks
    if args.seed is not None:
        from mrcnn.training.determinism import seed_everything
        seed_everything(args.seed)
    model = MaskRCNN("training", config, args.logs)
    try:
        model.load_weights(weights)  # every layer, same shapes: a detector of this very model
    except ValueError as e:
        raise UsageError(f"--weights {weights}: not a detector of the model that --backbone {config.BACKBONE} "
                         f"--preset {args.preset} --image-size {config.IMAGE_MAX_DIM} build ({e})") from None
    if resumed is None:
        model.run = TrainingRun.new(args.logs, NAME)
    elif model.epoch >= epochs:
        print(f"{weights}: the run already trained its {epochs} epochs; writing --out from it")
    from samples.pbc.augment import augmentation as preset
    augmentation = None if args.no_augmentation else preset(args.augmentation)
    print(f"finetune: {mix}; layers {args.layers}, {config.OPTIMIZER.lower()} at {config.LEARNING_RATE:g}, batch "
          f"{config.BATCH_SIZE}, {epochs} epochs x {config.STEPS_PER_EPOCH} steps, from {weights}")
    start = time.time()
    if model.epoch < epochs:
        model.train(train_set, lab, learning_rate=config.LEARNING_RATE, epochs=epochs, layers=args.layers,
                    augmentation=augmentation, verbose=args.verbose, seed=args.seed)
    report = write_output(model.run, args.out, {
        "finetuned_from" if resumed is None else "resumed_from": weights, "annotations": args.annotations,
        "images": args.images, "lab_images": lab.num_images, "with_pbc": args.with_pbc,
        "pbc_annotations": args.pbc_annotations, "pbc_share": args.pbc_share if args.with_pbc else 0.0,
        "layers": args.layers, "learning_rate": config.LEARNING_RATE, "steps": epochs * config.STEPS_PER_EPOCH,
        "seed": args.seed, "seconds": round(time.time() - start, 1)})
    from mrcnn.training.checkpoints import report_path
    print(f"fine-tuned in {report['seconds']:.0f} s: {args.out}\nreport: {report_path(args.out)}\nnext: pbc.py detect "
          f"--images {args.images} --weights {args.out} --backbone {config.BACKBONE} --preset {args.preset} "
          f"--image-size {config.IMAGE_MAX_DIM}")
    return 0


def write_output(run, out, details):
    """Copy the run's last checkpoint to `out` and write the JSON report beside it (atomically, both); returns it."""
    import shutil

    from mrcnn.training.checkpoints import report_path, write_atomic, write_text_atomic
    checkpoint = run.checkpoint_path()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    write_atomic(out, lambda tmp: shutil.copyfile(checkpoint, tmp))
    report = dict({"weights": out, "run": run.log_dir, "epochs": [run.epoch, run.epoch], "checkpoint": checkpoint},
                  **details)
    write_text_atomic(report_path(out), json.dumps(report, indent=2) + "\n")
    return report


def add_parser(sub):
    """The `finetune` subcommand's options (on the subparsers `sub` of pbc.py)."""
    from samples.pbc.augment import PRESETS as AUGMENTATIONS
    p = sub.add_parser("finetune", help="fine-tune a trained detector on a lab's verified cells (corrections.json)",
                       description="Fine-tune a trained detector on a lab's verified images (the web page's "
                                   "corrections.json, or any COCO / VIA file with PBC's classes), alone or mixed with "
                                   "PBC's training images, and write the new weights with a JSON beside them.")
    p.add_argument("--annotations", required=True, help="the lab's verified cells: corrections.json from the page")
    p.add_argument("--images", required=True, help="folder holding the images it names (searched by file name)")
    p.add_argument("--weights", required=True,
                   help="the detector to start from (a weights file), or a checkpoint of a fine-tuning run (or "
                        "'last': the newest under --logs) to resume it")
    p.add_argument("--out", required=True, help="fine-tuned weights file to write (*.weights.h5); a .json goes beside")
    p.add_argument("--with-pbc", default=None, metavar="PBC_DIR",
                   help="mix in PBC's training images (folder in PBC's layout) so the model keeps PBC")
    p.add_argument("--pbc-annotations", default=None, help="with --with-pbc: the COCO file of PBC's masks")
    p.add_argument("--pbc-share", type=float, default=DEFAULTS["pbc_share"],
                   help=f"with --with-pbc: the fraction of training images drawn from PBC (default "
                        f"{DEFAULTS['pbc_share']})")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                   help=f"training steps, rounded up to whole epochs (default {DEFAULTS['steps']})")
    p.add_argument("--steps-per-epoch", type=int, default=DEFAULTS["steps_per_epoch"],
                   help=f"steps between checkpoints (default {DEFAULTS['steps_per_epoch']})")
    p.add_argument("--validation-steps", type=int, default=1,
                   help="batches of the lab's images scored for the val_ loss curves after each epoch (default 1)")
    p.add_argument("--layers", default=DEFAULTS["layers"],
                   help=f"layers trained: heads, 3+, 4+, 5+, all (default {DEFAULTS['layers']}: the heads and the "
                        "backbone's upper stages)")
    p.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"],
                   help=f"LEARNING_RATE (default {DEFAULTS['learning_rate']:g})")
    p.add_argument("--optimizer", default="adam", choices=["sgd", "adam"], help="OPTIMIZER (default adam)")
    p.add_argument("--images-per-gpu", type=int, default=DEFAULTS["images_per_gpu"],
                   help=f"batch size (default {DEFAULTS['images_per_gpu']})")
    p.add_argument("--gpu-count", type=int, default=1, help="GPU_COUNT (default 1)")
    p.add_argument("--no-augmentation", action="store_true", help="no flips, rotations, zoom or colour jitter")
    p.add_argument("--augmentation", default="pbc", choices=sorted(AUGMENTATIONS),
                   help="the augmentation preset (default pbc: the recipe's; samples/pbc/augment.py)")
    p.add_argument("--seed", type=int, default=None, help="seed everything, so that a run repeats on one machine")
    add_model_options(p, training=True)
    p.set_defaults(logs=os.path.join("logs", "finetune"), weights_file=None, offline=False)
    return p
