"""The training input pipeline: a keras.utils.PyDataset that yields Mask R-CNN's input dicts.

Shape shorthand:
    B: batch (Config.BATCH_SIZE), H, W: image height and width, M: meta length, A: anchors,
    T: RPN_TRAIN_ANCHORS_PER_IMAGE, G: MAX_GT_INSTANCES, h, w: mini-mask (or image) height and width,
    R: random ROIs per image, S: TRAIN_ROIS_PER_IMAGE, K: NUM_CLASSES.

Replaces Matterport's `data_generator` (a Python generator for `fit_generator`, gone in Keras 3). Batches are pure
functions of (seed, epoch, index), so worker threads or processes can build them in any order and a run can be
repeated exactly.
"""

import logging
import math
import threading

import numpy as np

from mrcnn.data.anchors import get_anchors
from mrcnn.data.loader import BadImageError, load_image_gt
from mrcnn.data.mold import mold_image
from mrcnn.data.rpn_targets import build_detection_targets, build_rpn_targets, generate_random_rois
from mrcnn.data.stream import BatchStream

log = logging.getLogger(__name__)


class DataGenerator(BatchStream):
    """Batches of training inputs for Mask R-CNN, keyed by the model's input names.

    Arguments:
        dataset: a prepared `mrcnn.utils.Dataset`.
        config: a Config (BATCH_SIZE, resize settings, anchors, RPN_TRAIN_ANCHORS_PER_IMAGE, RPN_POSITIVE_IOU,
            RPN_NEGATIVE_IOU, RPN_BBOX_STD_DEV, MAX_GT_INSTANCES, USE_MINI_MASK, MEAN_PIXEL are read).
        shuffle: visit the images in a fresh random order on every pass over the dataset (else in id order).
        augmentation: None, an imgaug augmenter, an albumentations transform or `f(image, mask, rng)`
            (see mrcnn.data.augment).
        no_augmentation_sources: dataset sources whose images are never augmented.
        random_rois: if > 0, add "input_rpn_rois" with this many random ROIs per image (to train the heads without
            the RPN, Config.USE_RPN_ROIS = False).
        detection_targets: with random_rois, also add the heads' targets computed in NumPy (Matterport's debugging
            aid; these keys are for inspection and are not model inputs): "rois" [B, S, 4] pixels,
            "target_class_ids" int32 [B, S], "target_bbox" float32 [B, S, K, 4], "target_mask" float32
            [B, S, MASK_SHAPE[0], MASK_SHAPE[1], K].
        steps: batches per epoch. None gives ceil(num_images / B). Any value works: batches take images from an
            endless stream that runs through the dataset again and again, in a fresh order each pass.
        seed: int seed; None picks one at random (still fixed for the life of this object).
        stream: present the batches to Keras as an endless stream (mrcnn/data/stream.py): what `fit` gets, so that
            a seeded run repeats; `start_step` then says where the stream starts.
        workers, use_multiprocessing, max_queue_size: passed to keras.utils.PyDataset.

    `generator[idx]` is a dict:
        "input_image": float32 [B, H, W, 3], resized and mean-subtracted (mold_image).
        "input_image_meta": float32 [B, M].
        "input_rpn_match": int32 [B, A, 1], 1 positive, -1 negative, 0 neutral anchor.
        "input_rpn_bbox": float32 [B, T, (dy, dx, log(dh), log(dw))], zero-padded after the positive anchors.
        "input_gt_class_ids": int32 [B, G], zero-padded.
        "input_gt_boxes": float32 [B, G, (y1, x1, y2, x2)] pixels, zero-padded.
        "input_gt_masks": bool [B, h, w, G], zero-padded along the last axis; h, w = MINI_MASK_SHAPE with
            USE_MINI_MASK, else the image's.
        "input_rpn_rois": float32 [B, R, (y1, x1, y2, x2)] pixels, only when random_rois > 0.
    Keras 3 takes a dict batch as `x` (no targets: the model computes its losses from these inputs).

    Batch `idx` of epoch `e` is a pure function of (seed, e, idx): its images are positions (e * len + idx) * B ...
    of the endless image stream, and its randomness (augmentation, anchor sampling, random ROIs) comes from a
    numpy Generator seeded with (seed, e, idx). `generator[idx]` is batch idx of epoch `epoch`, which
    `on_epoch_end()` advances (or set `epoch` directly); with `stream=True`, `generator[i]` is step
    `start_step + i` of the stream instead (mrcnn/data/stream.py).
    As in Matterport, images without any non-crowd instance are skipped (the next image of the stream is taken
    instead); images with more than MAX_GT_INSTANCES instances keep a random subset (with a warning, logged once).
    An image that cannot be used (load_image_gt raises BadImageError: a missing, empty, truncated, undecodable or
    oversized file, masks that do not fit) is skipped the same way, with a warning logged once per image; it is
    not read again. When no image of the dataset can be used, a ValueError says so. `bad_images` maps the ids
    skipped so far to the reason.
    """

    def __init__(self, dataset, config, shuffle=True, augmentation=None, no_augmentation_sources=None,
                 random_rois=0, detection_targets=False, steps=None, seed=None, stream=False, workers=1,
                 use_multiprocessing=False, max_queue_size=10):
        if not hasattr(dataset, "num_images"):
            raise ValueError(f"dataset {type(dataset).__name__} is not prepared: call dataset.prepare() first")
        if dataset.num_images == 0:
            raise ValueError(f"dataset {type(dataset).__name__} has no images")
        if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 1):
            raise ValueError(f"steps must be a positive integer or None, got {steps!r}")
        super().__init__(int(math.ceil(dataset.num_images / config.BATCH_SIZE)) if steps is None else steps,
                         stream=stream, workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        if detection_targets and not random_rois:
            raise ValueError("detection_targets=True needs random_rois > 0 (the targets are built for those ROIs)")
        self.dataset = dataset
        self.config = config
        self.shuffle = shuffle
        self.augmentation = augmentation
        self.no_augmentation_sources = list(no_augmentation_sources or [])
        self.random_rois = int(random_rois)
        self.detection_targets = bool(detection_targets)
        self.steps = None if steps is None else int(steps)
        self.seed = int(np.random.SeedSequence().entropy % (2 ** 63)) if seed is None else int(seed)
        self.image_ids = np.asarray(dataset.image_ids)
        self._warned_max_instances = False
        self.bad_images = {}
        self._bad_images_lock = threading.Lock()

    def image_id_at(self, position):
        """Image id at `position` of the endless stream: pass p = position // num_images visits the images in the
        permutation seeded by (seed, p) (id order without shuffle)."""
        count = len(self.image_ids)
        pass_index, offset = divmod(int(position), count)
        if not self.shuffle:
            return int(self.image_ids[offset])
        order = np.random.default_rng([self.seed, 1, pass_index]).permutation(count)
        return int(self.image_ids[order[offset]])

    def batch(self, epoch, idx):
        """Batch `idx` of epoch `epoch` (see the class notes)."""
        config = self.config
        batch_size = config.BATCH_SIZE
        rng = np.random.default_rng([self.seed, 0, epoch, idx])
        start = (epoch * len(self) + idx) * batch_size
        samples = [self._load_sample(start + b, rng) for b in range(batch_size)]
        return self._collate(samples)

    def _load_sample(self, position, rng):
        """Targets of one image; skips ahead in the stream past images without instances."""
        config = self.config
        count = len(self.image_ids)
        for attempt in range(count):
            image_id = self.image_id_at(position + attempt)
            if image_id in self.bad_images:
                continue
            source = self.dataset.image_info[image_id]["source"]
            augmentation = None if source in self.no_augmentation_sources else self.augmentation
            try:
                image, image_meta, class_ids, boxes, masks = load_image_gt(
                    self.dataset, config, image_id, augmentation=augmentation, rng=rng)
            except BadImageError as error:
                self._skip_bad_image(image_id, error)
                continue
            if np.any(class_ids > 0):
                break
            log.debug("skipping image %d: no instances (with class id > 0) after resizing and augmentation",
                      image_id)
        else:
            name = type(self.dataset).__name__
            if len(self.bad_images) == count:
                raise ValueError(f"none of the {count} images of {name} can be used; the first reason: "
                                 f"{next(iter(self.bad_images.values()))}")
            skipped = f" ({len(self.bad_images)} images skipped as unusable)" if self.bad_images else ""
            raise ValueError(f"none of the {count} images of {name} has an instance with a class id > 0 (after "
                             f"resizing and augmentation){skipped}; there is nothing to train on")

        anchors = get_anchors(config, image.shape)
        rpn_match, rpn_bbox = build_rpn_targets(
            anchors, class_ids, boxes, config.RPN_TRAIN_ANCHORS_PER_IMAGE, config.RPN_BBOX_STD_DEV,
            positive_iou=config.RPN_POSITIVE_IOU, negative_iou=config.RPN_NEGATIVE_IOU, rng=rng)
        if class_ids.shape[0] > config.MAX_GT_INSTANCES:
            if not self._warned_max_instances:
                self._warned_max_instances = True
                log.warning("image %d has %d instances, more than Config.MAX_GT_INSTANCES = %d: a random subset is "
                            "kept (logged once; raise MAX_GT_INSTANCES to keep all)", image_id,
                            class_ids.shape[0], config.MAX_GT_INSTANCES)
            ids = np.sort(rng.choice(class_ids.shape[0], config.MAX_GT_INSTANCES, replace=False))
            class_ids, boxes, masks = class_ids[ids], boxes[ids], masks[:, :, ids]
        sample = {
            "input_image": mold_image(image, config.MEAN_PIXEL),
            "input_image_meta": image_meta,
            "input_rpn_match": rpn_match[:, np.newaxis],
            "input_rpn_bbox": rpn_bbox,
            "class_ids": class_ids,
            "boxes": boxes,
            "masks": masks,
        }
        if self.random_rois:
            rois = generate_random_rois(image.shape, self.random_rois, class_ids, boxes, rng=rng)
            sample["input_rpn_rois"] = rois.astype(np.float32)
            if self.detection_targets:
                targets = build_detection_targets(
                    rois, class_ids, boxes, masks, config.TRAIN_ROIS_PER_IMAGE, config.ROI_POSITIVE_RATIO,
                    config.BBOX_STD_DEV, config.MASK_SHAPE, config.NUM_CLASSES, image.shape, config.USE_MINI_MASK,
                    positive_iou=config.ROI_POSITIVE_IOU, rng=rng)
                for key, value in zip(("rois", "target_class_ids", "target_bbox", "target_mask"), targets):
                    sample[key] = value
        return sample

    def __getstate__(self):  # worker processes get a copy; a lock does not pickle
        state = dict(self.__dict__)
        del state["_bad_images_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._bad_images_lock = threading.Lock()

    def _skip_bad_image(self, image_id, error):
        """Remember an unusable image and warn about it once."""
        with self._bad_images_lock:
            if image_id in self.bad_images:
                return
            self.bad_images[image_id] = str(error)
            log.warning("skipping image %d, it cannot be used (%d skipped so far): %s", image_id,
                        len(self.bad_images), error)

    def _collate(self, samples):
        """Stack per-image samples; pad the instance axes to MAX_GT_INSTANCES."""
        max_instances = self.config.MAX_GT_INSTANCES
        shapes = sorted({s["input_image"].shape for s in samples})
        if len(shapes) > 1:
            raise ValueError(f"images of one batch have different sizes {shapes} (IMAGE_RESIZE_MODE = "
                             f"{self.config.IMAGE_RESIZE_MODE!r}); use 'square' or 'crop', or IMAGES_PER_GPU = 1")
        expected = self.config.IMAGE_SHAPE
        if expected[0] is not None and shapes[0][:2] != (int(expected[0]), int(expected[1])):
            raise ValueError(f"images mould to {shapes[0][:2]} but the training graph expects Config.IMAGE_SHAPE "
                             f"{tuple(int(v) for v in expected[:2])} (IMAGE_RESIZE_MODE = "
                             f"{self.config.IMAGE_RESIZE_MODE!r}); train with 'square' or 'crop'")
        batch = {
            "input_image": np.stack([s["input_image"] for s in samples]).astype(np.float32),
            "input_image_meta": np.stack([s["input_image_meta"] for s in samples]).astype(np.float32),
            "input_rpn_match": np.stack([s["input_rpn_match"] for s in samples]).astype(np.int32),
            "input_rpn_bbox": np.stack([s["input_rpn_bbox"] for s in samples]).astype(np.float32),
        }
        size = len(samples)
        mask_hw = samples[0]["masks"].shape[:2]
        gt_class_ids = np.zeros([size, max_instances], dtype=np.int32)
        gt_boxes = np.zeros([size, max_instances, 4], dtype=np.float32)
        gt_masks = np.zeros([size, mask_hw[0], mask_hw[1], max_instances], dtype=bool)
        for b, sample in enumerate(samples):
            n = sample["class_ids"].shape[0]
            gt_class_ids[b, :n] = sample["class_ids"]
            gt_boxes[b, :n] = sample["boxes"]
            gt_masks[b, :, :, :n] = sample["masks"]
        batch["input_gt_class_ids"] = gt_class_ids
        batch["input_gt_boxes"] = gt_boxes
        batch["input_gt_masks"] = gt_masks
        for key in ("input_rpn_rois", "rois", "target_class_ids", "target_bbox", "target_mask"):
            if key in samples[0]:
                batch[key] = np.stack([s[key] for s in samples])
        return batch
