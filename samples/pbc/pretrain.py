"""`pbc.py pretrain`: the backbone learns PBC as an 8-class image classifier before Mask R-CNN is trained on it.

    python samples/pbc/pbc.py pretrain --dataset ../shared/data/pbc --backbone tiny --image-size 192 \\
        --epochs 60 --out pbc_backbone.weights.h5
    python samples/pbc/pbc.py train ... --weights pbc_backbone.weights.h5

Only the training split teaches (class = folder name); the validation split is scored after every epoch for the
curves and after the last one for the report, printed and written beside the weights (`pbc_backbone.json`), and is
never used to choose anything (no early stopping, no best epoch). Images are resized once, as the detector resizes
them (so the backbone sees cells at the size it will see them in `train`), and kept in memory (3,200 PBC images at
192 px: 0.35 GB); each batch is augmented with `SmearAugmentation`.

What happens to bad input: a missing dataset folder, a subset folder without images, a class folder without any
training image, or training images of a single class: ValueError naming the folder and the classes; an image that
does not decode or is too large: skipped with a warning, counted in the summary line.
"""

import concurrent.futures
import logging
import os
import sys
import time

import numpy as np

from samples.pbc.augment import PRESETS as AUGMENTATIONS
from samples.pbc.classes import CLASS_NAMES
from samples.pbc.config import add_model_options, make_config

log = logging.getLogger("pbc.pretrain")


def load_split(dataset_dir, subset, config, workers=2, progress=None):
    """(images uint8 [N, H, W, 3] resized for `config`, labels int [N] in 0..7, skipped [(path, reason)]).

    The images of `dataset_dir`'s `subset` in PBC's layout (class = folder, see samples/pbc/datasets.py), decoded by
    `workers` threads; `progress(done, total)` is called as they come in.
    """
    from samples.pbc.datasets import PbcFolderDataset

    if dataset_dir == "synthetic":
        raise ValueError("--dataset synthetic: pretraining needs one labelled cell per image in class folders "
                         "(PBC's layout); the synthetic smears hold a cell of every class in each image")
    dataset = PbcFolderDataset()
    dataset.load_folder(dataset_dir, subset)
    dataset.prepare()
    ids = list(dataset.image_ids)
    from mrcnn.training.pretrain import mold_images  # TensorFlow loads here, once the folder has passed its checks

    def read(image_id):
        try:
            return mold_images([dataset.load_image(image_id)], config)[0], None
        except (ValueError, OSError) as error:
            return None, str(error)

    images, labels, skipped = [], [], []
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        for done, (image_id, (image, error)) in enumerate(zip(ids, pool.map(read, ids)), start=1):
            path = dataset.image_info[image_id]["path"]
            if image is None:
                log.warning("skipped %s: %s", path, error)
                skipped.append((path, error))
            else:
                images.append(image)
                labels.append(CLASS_NAMES.index(dataset.image_info[image_id]["folder_class"]))
            if progress:
                progress(done, len(ids))
    if not images:
        raise ValueError(f"{dataset_dir} {subset}: none of the {len(ids)} images could be read "
                         f"(first reason: {skipped[0][1]})")
    return np.stack(images), np.asarray(labels, dtype=np.int64), skipped


def check_classes(labels, dataset_dir, subset):
    """ValueError naming the class folders without images, when any of the 8 classes has none."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    empty = [name for name, count in zip(CLASS_NAMES, counts) if count == 0]
    if empty:
        folders = ", ".join(os.path.join(dataset_dir, subset, name) for name in empty)
        raise ValueError(f"no {subset} images of class {', '.join(empty)} (looked in {folders}); the classifier and "
                         f"the detector need images of all {len(CLASS_NAMES)} classes {CLASS_NAMES}")
    return counts


def cmd_pretrain(args):
    """The `pretrain` command (its options: add_parser); prints the report of
    mrcnn.training.pretrain.pretrain_backbone and returns 0."""
    run(args, make_config(preset=args.preset, backbone=args.backbone, image_size=args.image_size, from_scratch=True))
    return 0


def run(args, config):
    """Pretrain the backbone of `config` as the command line `args` asks; returns pretrain_backbone's report."""
    from mrcnn.cli import progress_line
    from mrcnn.training.pretrain import KIND, PREFIX, pretrain_backbone, run_name
    from mrcnn.training.run import TrainingRun
    from samples.pbc.augment import augmentation as preset

    resume_from = None
    if args.weights == "last":
        try:
            resume_from = TrainingRun.last(args.logs, run_name(config), kind=KIND).checkpoint_path()
        except FileNotFoundError as error:
            raise ValueError(f"--weights last: {error}; pretrain once without it first") from None
    elif args.weights != "none":
        if not os.path.isfile(args.weights):
            raise ValueError(f"--weights {args.weights}: no such file (give none, last, or a "
                             f"{PREFIX}_{run_name(config)}_NNNN.weights.h5 checkpoint)")
        resume_from = args.weights

    started = time.time()
    splits = {}
    for subset in ("train", "val"):
        start = time.time()
        progress = progress_line(f"reading {subset}")
        images, labels, skipped = load_split(args.dataset, subset, config, workers=args.workers,
                                             progress=lambda done, total: progress(done, total, start))
        counts = check_classes(labels, args.dataset, subset) if subset == "train" else None
        if counts is not None and np.count_nonzero(counts) < 2:
            raise ValueError(f"{args.dataset} train: images of one class only; a classifier needs at least 2")
        splits[subset] = (images, labels)
        print(f"{subset}: {len(images)} images ({images.nbytes / 2 ** 20:.0f} MiB at {images.shape[1]} px)"
              + (f", skipped {len(skipped)} unreadable" if skipped else ""), flush=True)
    augmentation = None if args.no_augmentation else preset(args.augmentation)
    report = pretrain_backbone(config, splits["train"], splits["val"], CLASS_NAMES, args.logs, args.epochs,
                               batch_size=args.batch_size, learning_rate=args.learning_rate,
                               weight_decay=args.weight_decay, augmentation=augmentation, resume_from=resume_from,
                               out=args.out, seed=args.seed, workers=args.workers, verbose=args.verbose)
    recall = ", ".join(f"{name} {value:.2f}" for name, value in report["val_recall"].items() if value is not None)
    print(f"pretrained {report['backbone']} to epoch {report['epochs']} in {time.time() - started:.0f} s; val "
          f"accuracy {report['val_accuracy']:.4f} ({report['val_images']} images; recall per class: {recall})")
    print(f"backbone weights ({report['layers']} layers): {report['weights']}\nreport: {report['report']}\n"
          f"checkpoints and TensorBoard curves: {report['log_dir']}\nnext: pbc.py train ... --backbone "
          f"{report['backbone']} --image-size {report['image_shape'][0]} --weights {report['weights']}")
    sys.stdout.flush()
    return report


def add_parser(sub):
    """The `pretrain` subcommand's options (on the subparsers `sub` of pbc.py)."""
    p = sub.add_parser("pretrain", help="pretrain the backbone as an 8-class image classifier (train split only)",
                       description="Train the backbone on the training split's class folders as an image "
                                   "classifier (flips, 90-degree rotations, small colour and scale jitter), then "
                                   "write its weights for `train --weights FILE` and its validation accuracy "
                                   "beside them. Checkpoints and TensorBoard curves (loss, accuracy, val_accuracy) "
                                   "go to a pretrain_<backbone> run folder under --logs.")
    p.add_argument("--dataset", required=True, help="folder in PBC's layout: DIR/{train,val}/<class>/*.jpg")
    p.add_argument("--epochs", type=int, default=60, help="final epoch number (default: 60)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (default: 32)")
    p.add_argument("--learning-rate", type=float, default=2e-3,
                   help="AdamW's peak learning rate, after a 5%% warm-up, then cosine to 0 (default: 0.002)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="AdamW's weight decay (default: 0.0005)")
    p.add_argument("--weights", default="none",
                   help="none (default), last (continue the newest pretrain run of this backbone) or a "
                        "classifier_*.weights.h5 checkpoint to continue")
    p.add_argument("--out", default=None,
                   help="backbone weights file to write (*.weights.h5; default: backbone_<name>.weights.h5 in the "
                        "run folder); the report goes beside it as .json")
    p.add_argument("--no-augmentation", action="store_true", help="no flips, rotations or jitter")
    p.add_argument("--augmentation", default="pbc", choices=sorted(AUGMENTATIONS),
                   help="pbc (default): small zoom and colour jitter; grey: the same, half the images in grey; labs: "
                        "zoom 0.5-2x and other labs' stains, lamps, cameras and focus (samples/pbc/augment.py)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batches and the initial weights (default: 0)")
    p.add_argument("--workers", type=int, default=2, help="threads decoding and augmenting images (default: 2)")
    add_model_options(p, training=True)
    return p
