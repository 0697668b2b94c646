"""Train and evaluate Mask R-CNN on Matterport's synthetic shapes, from scratch, on the CPU.

    python samples/shapes/train_shapes.py demo --logs logs --out out/shapes
    python samples/shapes/train_shapes.py train --epochs 8 --logs logs
    python samples/shapes/train_shapes.py evaluate --weights last --logs logs

`demo` trains a few minutes on the CPU, scores held-out images (mask mAP at IoU 0.5, Matterport's all-point AP)
and writes overlay PNGs. No weights or data are downloaded: the images are generated. A mistake in the input (a
missing weights file, no run to continue) is one line on stderr and exit status 2; --debug shows the traceback.
"""

import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from mrcnn import cli, visualize  # noqa: E402
from mrcnn.config import Config  # noqa: E402
from mrcnn.evaluation.dataset import detect_dataset, score_detections  # noqa: E402
from mrcnn.weights import resolve_weights  # noqa: E402
from samples.shapes.shapes import ShapesDataset  # noqa: E402

CLASS_NAMES = ["BG", "square", "circle", "triangle"]


class ShapesConfig(Config):
    """Shapes at 128 px, trained from scratch with the small `tiny` backbone (minutes on a CPU)."""

    NAME = "shapes"
    BACKBONE = "tiny"
    NUM_CLASSES = 1 + 3
    IMAGES_PER_GPU = 4
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 64
    RPN_CONV_CHANNELS = 128
    MASK_HEAD_CHANNELS = 64
    FPN_CLASSIF_FC_LAYERS_SIZE = 256
    RPN_TRAIN_ANCHORS_PER_IMAGE = 64
    PRE_NMS_LIMIT = 1000
    POST_NMS_ROIS_TRAINING = 200
    POST_NMS_ROIS_INFERENCE = 100
    TRAIN_ROIS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 8
    DETECTION_MAX_INSTANCES = 16
    STEPS_PER_EPOCH = 50
    VALIDATION_STEPS = 5
    # From scratch (no pretrained weights): batch norm trains, all layers train, and Adam converges in minutes where
    # Matterport's SGD at 0.001 (tuned for fine-tuning COCO weights) barely moves.
    TRAIN_BN = True
    OPTIMIZER = "ADAM"
    LEARNING_RATE = 0.001


class ShapesInferenceConfig(ShapesConfig):
    IMAGES_PER_GPU = 1
    DETECTION_MIN_CONFIDENCE = 0.7


def make_datasets(train_count=500, val_count=50, size=128, seed=0):
    train, val = ShapesDataset(), ShapesDataset()
    train.load_shapes(train_count, size, size, seed=seed)
    val.load_shapes(val_count, size, size, seed=seed + 1)
    train.prepare()
    val.prepare()
    return train, val


def evaluate(model, dataset, image_ids=None):
    """Matterport's evaluation: the mean over `image_ids` (default: all) of the all-point mask AP at IoU 0.5 of each
    image (utils.compute_ap; the "matterport" variant of mrcnn.evaluation)."""
    detections = detect_dataset(model, dataset, image_ids)
    metrics = score_detections(detections, dataset.class_names, coco=False, semantic_metrics=False,
                               object_metrics=False)
    return metrics["detection"]["variants"]["matterport"]["mAP"]["0.5"] or 0.0


def train(args, train_set, val_set, weights=None):
    from mrcnn.model import MaskRCNN  # TensorFlow loads with the first model
    config = ShapesConfig()
    if args.steps:
        config.STEPS_PER_EPOCH = args.steps
    model = MaskRCNN("training", config, args.logs)
    if weights is not None:
        model.load_weights(weights, by_name=args.weights != "last")
    start = time.time()
    model.train(train_set, val_set, learning_rate=config.LEARNING_RATE, epochs=args.epochs, layers="all")
    print(f"trained to epoch {model.epoch} in {time.time() - start:.0f} s; checkpoints in {model.log_dir}")
    return model


def detect_and_score(args, val_set, weights):
    from mrcnn.model import MaskRCNN
    model = MaskRCNN("inference", ShapesInferenceConfig(), args.logs)
    model.load_weights(weights)
    score = evaluate(model, val_set)
    print(f"mask mAP@0.5 (Matterport all-point AP) on {val_set.num_images} held-out images: {score:.3f}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for image_id in val_set.image_ids[:4]:
            image = val_set.load_image(image_id)
            r = model.detect([image])[0]
            path = visualize.display_instances(image, r["rois"], r["masks"], r["class_ids"], CLASS_NAMES, r["scores"],
                                               figsize=(4, 4), save_path=os.path.join(args.out, f"{image_id}.png"))
            print(f"wrote {path}")
    return score


def main(argv=None, quiet_native_logs=False):
    parser = argparse.ArgumentParser(prog="train_shapes.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["demo", "train", "evaluate"],
                        help="demo: train then evaluate; train: train only; evaluate: score a checkpoint")
    parser.add_argument("--logs", default="logs", help="folder for runs and checkpoints (default: logs)")
    parser.add_argument("--out", default=None, help="folder for overlay PNGs (evaluate/demo)")
    parser.add_argument("--epochs", type=int, default=12, help="final epoch number (default: 12)")
    parser.add_argument("--steps", type=int, default=None, help="override STEPS_PER_EPOCH")
    parser.add_argument("--weights", default="none", help="none, last, or a weights file (train/evaluate)")
    parser.add_argument("--val-images", type=int, default=50, help="held-out images to score (default: 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights' initialisation and sampling")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show TensorFlow's C++ log lines")
    args = cli.parse_args(parser, argv)
    if args.command == "evaluate" and args.weights in (None, "none"):
        parser.error("evaluate needs --weights last or a weights file")
    if quiet_native_logs and not args.verbose:
        cli.quiet_native_logs()
    import keras
    keras.utils.set_random_seed(args.seed)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with cli.reported_errors(f"{parser.prog} {args.command}", cli.debug_requested(args)):
        weights = resolve_weights(args.weights, args.logs, ShapesConfig.NAME)  # before any model is built
        train_set, val_set = make_datasets(val_count=args.val_images)
        if args.command in ("demo", "train"):
            model = train(args, train_set, val_set, weights)
            if args.command == "train":
                return 0
            weights = model.find_last()
        detect_and_score(args, val_set, weights)
    return 0


if __name__ == "__main__":
    sys.exit(main(quiet_native_logs=True))
