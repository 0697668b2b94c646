"""`pbc.py train`: Mask R-CNN trained on PBC (or synthetic smears) with the paper's configuration and stage plan.

    python samples/pbc/pbc.py train --dataset ../shared/data/pbc --annotations pbc_annotations.json \\
        --backbone resnet101 --weights none --logs logs

The starting weights are found first (`--weights`: mrcnn/weights.py), then the config (a continued run keeps its
settings: config.config_from_args), the datasets are read, and the stages of config.schedule run one `MaskRCNN.train`
call each (a run's record of them: mrcnn/training/run.py). With --fields the training images are fields composed of
the crops (mrcnn/data/mosaic.py).
"""

import logging
import os
import time

from mrcnn.cli import UsageError
from mrcnn.weights import CHOICES as WEIGHTS_CHOICES, resolve_weights
from samples.pbc.augment import PRESETS as AUGMENTATIONS
from samples.pbc.config import PbcConfig, add_model_options, config_from_args, schedule
from samples.pbc.datasets import load_subset

log = logging.getLogger("pbc")


def need_annotations(args):
    """UsageError when --dataset is a folder without --annotations (PBC has no masks of its own)."""
    if args.dataset != "synthetic" and not args.annotations:
        raise UsageError(f"--dataset {args.dataset} has no masks: PBC ships class folders only. Make instance "
                         "annotations first (`pbc.py annotate --dataset DIR --out FILE.json`, or label with "
                         "MakeSense) and pass them with --annotations FILE.json")


def cmd_train(args):
    need_annotations(args)
    if args.weights_file and not os.path.isfile(args.weights_file):
        raise FileNotFoundError(f"--weights-file {args.weights_file}: no such file")
    weights = resolve_weights(args.weights, args.logs, PbcConfig.NAME, args.backbone or PbcConfig.BACKBONE,
                              args.weights_file, offline=args.offline or None)
    config = config_from_args(args, start_weights=weights)
    train_set = load_subset(args.dataset, "train", args.annotations, config.IMAGE_MAX_DIM, args.synthetic_count)
    val_set = load_subset(args.dataset, "val", args.annotations, config.IMAGE_MAX_DIM)
    from mrcnn.training.preflight import check_log_dir
    check_log_dir(args.logs, 0)  # writable; the free space is checked once the checkpoint's size is known
    from mrcnn.model import MaskRCNN  # TensorFlow loads here, once the inputs have passed their checks
    from mrcnn.training import distribute
    from mrcnn.weights import load_start_weights
    print(f"train: {train_set.num_images} images, val: {val_set.num_images} images; backbone {config.BACKBONE}, "
          f"{config.IMAGE_MAX_DIM} px, global batch {config.BATCH_SIZE}, {config.STEPS_PER_EPOCH} steps x "
          f"{args.epochs} epochs")
    if args.seed is not None:  # the initial weights, the in-graph ROI sampling, deterministic kernels
        from mrcnn.training.determinism import seed_everything
        seed_everything(args.seed)
    model = MaskRCNN("training", config, args.logs)
    loaded = load_start_weights(model, args.weights, weights)
    if loaded:
        print(loaded["summary"])
        log.info("loaded %d layers (%d not in the file, %d shape-mismatched, %d excluded)", len(loaded["loaded"]),
                 len(loaded["missing"]), len(loaded["mismatched"]), len(loaded["excluded"]))
    from samples.pbc.augment import augmentation as preset
    augmentation = None if args.no_augmentation else preset(args.augmentation)
    if args.fields:  # fields at 0.5-2x the training scale, composed of the crops (mrcnn/data/mosaic.py)
        from mrcnn.data.mosaic import MosaicDataset
        first = train_set.load_image(train_set.image_ids[0]).shape[:2]
        train_set = MosaicDataset(train_set, config.IMAGE_MAX_DIM, config.IMAGE_MAX_DIM / max(first),
                                  seed=args.seed or 0)
        train_set.prepare()
    callbacks = []
    if args.val_map_images and distribute.is_chief(model.strategy):  # one writer of the mAP curve
        from mrcnn.evaluation import MeanAPCallback
        inference_config = config_from_args(args, inference=True)
        callbacks.append(MeanAPCallback(lambda: MaskRCNN("inference", inference_config, args.logs), val_set,
                                        val_set.image_ids[:args.val_map_images], log_dir=model))
    start = time.time()
    for end, layers, factor in schedule("none" if config.TRAIN_BN is True else "pretrained", args.epochs):
        if end <= model.epoch:
            continue
        print(f"epochs {model.epoch + 1}-{end}: layers {layers}, learning rate {config.LEARNING_RATE * factor:g}")
        model.train(train_set, val_set, learning_rate=config.LEARNING_RATE * factor, epochs=end, layers=layers,
                    augmentation=augmentation, custom_callbacks=callbacks, verbose=args.verbose, seed=args.seed)
    print(f"trained to epoch {model.epoch} in {time.time() - start:.0f} s; checkpoints and TensorBoard logs in "
          f"{model.log_dir} (tensorboard --logdir {args.logs})")
    return 0



def add_parser(sub):
    """The `train` subcommand's options (on the subparsers `sub` of pbc.py)."""
    p = sub.add_parser("train", help="train Mask R-CNN (the paper's config and 240-epoch schedule by default)",
                       description="Train with the paper's Table 2 configuration. With --weights none every layer "
                                   "trains from the first step with Adam and batch norm on; from pretrained weights "
                                   "the heads train first (1/6 of the epochs), then stages 4+ (to 1/2), then all "
                                   "layers at a tenth of the rate. TensorBoard logs (the five losses, their val_ "
                                   "twins, the total and the learning rate) go to the run's folder under --logs.")
    p.add_argument("--dataset", required=True, help="'synthetic' or a folder in PBC's layout")
    p.add_argument("--annotations", default=None, help="COCO or VIA JSON with the instances of the folder's images")
    p.add_argument("--weights", default="none", help=f"starting weights: {WEIGHTS_CHOICES} (default: none)")
    p.add_argument("--weights-file", default=None,
                   help="with --weights imagenet: the keras.applications file (default: ~/.keras/models/..., "
                        "downloaded there when missing); with --weights coco: mask_rcnn_coco.h5")
    p.add_argument("--offline", action="store_true",
                   help="never download: --weights imagenet / coco must be in the Keras cache (~/.keras/models/) or "
                        "--weights-file (also MRCNN_OFFLINE=1); by default a missing file is downloaded there once")
    p.add_argument("--epochs", type=int, default=240, help="final epoch number (the paper: 240)")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="STEPS_PER_EPOCH (the paper: 100)")
    p.add_argument("--validation-steps", type=int, default=None, help="VALIDATION_STEPS")
    p.add_argument("--images-per-gpu", type=int, default=None, help="IMAGES_PER_GPU (the paper: 2)")
    p.add_argument("--gpu-count", type=int, default=None,
                   help="GPU_COUNT (the paper: 2); with fewer devices the same global batch runs on what is there")
    p.add_argument("--synthetic-count", type=int, default=None, help="training images of --dataset synthetic")
    p.add_argument("--no-augmentation", action="store_true",
                   help="no flips, 90-degree rotations, zoom or colour jitter (samples/pbc/augment.py)")
    p.add_argument("--augmentation", default="pbc", choices=sorted(AUGMENTATIONS),
                   help="pbc (default): small zoom and colour jitter; grey: the same, half the images in grey; labs: "
                        "zoom 0.5-2x and other labs' stains, lamps, cameras and focus (samples/pbc/augment.py)")
    p.add_argument("--fields", action="store_true",
                   help="train on fields composed of the training crops at 0.5-2x their scale, several cells each, "
                        "cells cut by the border (mrcnn/data/mosaic.py) instead of the crops as they are")
    p.add_argument("--recompute-backbone", action="store_true",
                   help="recompute the backbone's activations in the backward pass: less memory, a slower step "
                        "(Config.RECOMPUTE_BACKBONE; ResNet50 at 512 px, batch 2: -12%% memory, +15%% time on a CPU)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="LEARNING_RATE of the first stage (default: 0.001; later stages of the pretrained plan use "
                        "a tenth of it)")
    p.add_argument("--optimizer", default=None, choices=["sgd", "adam"],
                   help="OPTIMIZER (default: adam from scratch, Matterport's sgd from pretrained weights)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed Python, NumPy, TensorFlow and the data order, with deterministic kernels, so that a "
                        "run repeats bit for bit on the same machine (default: none, a new draw every run)")
    p.add_argument("--val-map-images", type=int, default=0,
                   help="after each epoch, score mask mAP on the first N validation images and write val_mAP50 and "
                        "val_mask_mAP to TensorBoard, with overlays of up to 4 of them (ground truth beside the "
                        "detections) as images val_overlay/0.. (default: 0, off)")
    add_model_options(p, training=True)
    return p
