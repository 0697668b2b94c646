"""Datasets of real images for the PBC sample: the PBC folder layout and any COCO / VIA annotation file.

``PbcFolderDataset.load_folder(root, subset, ...)`` reads PBC's layout, class = folder name:
    root/train/<class>/*.jpg and root/val/<class>/*.jpg (and root/test/ if present): used as they are;
    otherwise root/<class>/*.jpg: split per class, reproducibly, into train / val / test of split = (300, 100, 100)
        images like the paper (files sorted, then shuffled by a generator seeded with (split_seed, the class
        name's CRC32), so the split of one class does not depend on the others; a class with fewer images than
        sum(split) is split in the same proportions, with a warning).
PBC has no masks. Without ``annotations`` the images are registered for detection / classification only and
``load_mask`` raises a ValueError saying that annotations are needed (``pbc.py annotate`` makes them); with a COCO
or VIA file, its images are matched to the subset's files by real path (file names relative to root, or else the
one file below root whose path ends with the name: MakeSense exports bare names, an annotator working in
root/train/ may write "neutrophil/x.jpg") and ``load_mask`` rasterises their instances.
``AnnotatedDataset.load_annotations(json_path, image_root, class_names)`` registers every image of any COCO / VIA
file. Both use the class source "pbc" with class id = index in class_names + 1, like the synthetic smears.

Images of any size are registered as they are; the model's loader resizes them per IMAGE_RESIZE_MODE.
``load_image`` first reads the file's header and refuses (ValueError naming the file, nothing decoded) an image of
more than max_pixels pixels, then reuses ``mrcnn.utils.Dataset.load_image`` (grayscale -> RGB, alpha dropped,
16-bit -> 8-bit, ValueError naming an undecodable or truncated file). The header check and the limit are
``mrcnn.data.image_io``'s (``read_image_size``, ``MAX_IMAGE_PIXELS``), shared with the model's own loader.

What happens to bad input (E = ValueError, S = skipped with a logged warning, counted in the closing log line):
    root or subset folder missing, train/ without val/, subset "test" without root/test, no image at all: E
    a folder that is not a class, a class without a folder: logged warning
    an image file (or symbolic link) resolving outside root: S
    annotation problems: as documented in readers/__init__.py (unknown class names: E unless skip_unknown)
    subset images that the annotation file does not list, or lists without instances: S (not registered;
        keep_empty=True keeps the latter as images without objects); no annotated image at all: E
    verify=True: images above max_pixels or that fail to decode are found while loading: S (otherwise
        load_image raises E when the image is used)

Shape shorthand:
    H, W: image height and width, N: instances of one image.
"""

import logging
import os
import zlib

import numpy as np

from mrcnn import utils
from mrcnn.data.image_io import IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, read_image_rgb, read_image_size
from samples.pbc.readers import read_annotations, rasterize, safe_image_path
from samples.pbc.classes import CLASS_NAMES, SOURCE

log = logging.getLogger(__name__)

SUBSETS = ("train", "val", "test")
PAPER_SPLIT = (300, 100, 100)
SYNTHETIC_COUNTS = {"train": 400, "val": 80, "test": 80}  # generated smears per subset of `--dataset synthetic`
SYNTHETIC_SEEDS = {"train": 0, "val": 1, "test": 2}


def _class_images(root, folder, class_names):
    """[(real path, class name)] of the images in folder/<class>/, sorted; files escaping root are skipped."""
    if not os.path.isdir(folder):
        raise ValueError(f"image folder {folder} does not exist")
    extra = sorted(e for e in os.listdir(folder) if os.path.isdir(os.path.join(folder, e))
                   and e not in class_names and e not in SUBSETS)
    if extra:
        log.warning("%s: ignoring folders that are not classes %s (known classes: %s)", folder, extra, class_names)
    items = []
    for name in class_names:
        class_folder = os.path.join(folder, name)
        if not os.path.isdir(class_folder):
            log.warning("%s: no folder for class %r", folder, name)
            continue
        for file in sorted(os.listdir(class_folder)):
            if not file.lower().endswith(IMAGE_EXTENSIONS):
                continue
            try:
                path = safe_image_path(root, os.path.relpath(os.path.join(class_folder, file), root))
            except ValueError as error:
                log.warning("%s: skipped image: %s", class_folder, error)
                continue
            if os.path.isfile(path):
                items.append((path, name))
    return items


def paper_split(root, class_names=CLASS_NAMES, split_seed=0, split=PAPER_SPLIT):
    """Seeded per-class split of root/<class>/*: {"train": [(path, class)], "val": [...], "test": [...]}.

    split: (train, val, test) images per class. Reproducible for a given seed, disjoint, independent per class.
    """
    try:
        sizes = [int(s) for s in split]
    except (TypeError, ValueError):
        raise TypeError(f"split must be three ints (train, val, test), got {split!r}") from None
    if len(sizes) != 3 or min(sizes) < 0 or sum(sizes) == 0:
        raise ValueError(f"split must be three non-negative ints (train, val, test) with a positive sum, "
                         f"got {split!r}")
    by_class = {}
    for path, name in _class_images(root, root, class_names):
        by_class.setdefault(name, []).append(path)
    subsets = {subset: [] for subset in SUBSETS}
    for name, paths in by_class.items():
        order = np.random.default_rng([int(split_seed), zlib.crc32(name.encode())]).permutation(len(paths))
        counts = list(sizes)
        if len(paths) < sum(sizes):
            val, test = (len(paths) * s // sum(sizes) for s in sizes[1:])
            counts = [len(paths) - val - test, val, test]
            log.warning("%s: class %r has %d images, fewer than split %s; splitting it %s", root, name, len(paths),
                        tuple(sizes), tuple(counts))
        start = 0
        for subset, count in zip(SUBSETS, counts):
            subsets[subset].extend((paths[i], name) for i in order[start:start + count])
            start += count
    return subsets


def _decodes(path, max_pixels):
    """Whether the image is within max_pixels and decodes completely (used by verify=True)."""
    try:
        read_image_rgb(path, max_pixels)
        return True
    except ValueError as error:
        log.warning("skipped image %s: it does not decode: %s", path, error)
        return False


class AnnotatedDataset(utils.Dataset):
    """Images with instance annotations from a COCO or VIA file (class source "pbc", ids = class_names index + 1).

    ``load_annotations(json_path, image_root, class_names=CLASS_NAMES, ...)`` registers the file's images.
    ``load_image(image_id)`` -> uint8 [H, W, 3] after a header check against max_pixels.
    ``load_mask(image_id)`` -> bool [H, W, N] and int32 [N] class ids (negative for COCO crowd instances);
    instances whose mask rasterises to no pixel are dropped.
    """

    max_pixels = MAX_IMAGE_PIXELS

    def _register_classes(self, class_names):
        if not class_names or len(set(class_names)) != len(class_names):
            raise ValueError(f"class_names must be a non-empty list of distinct names, got {class_names!r}")
        for i, name in enumerate(class_names):
            self.add_class(SOURCE, i + 1, name)
        self._class_names = list(class_names)

    def _add(self, path, root, width=None, height=None, instances=None, folder_class=None):
        self.add_image(SOURCE, image_id=os.path.relpath(path, root), path=path, width=width, height=height,
                       instances=instances, folder_class=folder_class)

    def load_annotations(self, json_path, image_root, class_names=CLASS_NAMES, label_key=None, skip_unknown=False,
                         keep_empty=False, match_basename=False, verify=False):
        """Register the images of a COCO / VIA file; returns the readers.ReadReport.

        keep_empty: also register images listed without any instance. verify: decode every image now and skip
        those that fail. Other arguments as in readers.read_annotations.
        """
        self._register_classes(class_names)
        records, report = read_annotations(json_path, image_root, class_names, label_key, skip_unknown,
                                           self.max_pixels, match_basename)
        root = os.path.realpath(image_root)
        added = 0
        for record in records:
            if (record.instances or keep_empty) and (not verify or _decodes(record.path, self.max_pixels)):
                self._add(record.path, root, record.width, record.height, record.instances)
                added += 1
        if not added:
            raise ValueError(f"annotation file {json_path} gives no usable image with instances under {image_root} "
                             f"({report.summary()})")
        log.info("%s: registered %d of %d images", json_path, added, len(records))
        return report

    def load_image(self, image_id):
        """The image as uint8 [H, W, 3]; ValueError naming the file when it is too large or does not decode."""
        if not 0 <= image_id < len(self.image_info):
            raise ValueError(f"image_id must be in [0, {len(self.image_info)}), got {image_id}")
        read_image_size(self.image_info[image_id]["path"], self.max_pixels)
        return super().load_image(image_id)

    def load_mask(self, image_id):
        """Masks bool [H, W, N] and class ids int32 [N] rasterised from the annotations."""
        info = self.image_info[image_id]
        if info.get("instances") is None:
            raise ValueError(f"image {info['path']} has no instance annotations: {type(self).__name__} was loaded "
                             "without an annotation file, which is enough for detection but not for training or "
                             "mask evaluation. Run `pbc.py annotate` to make a COCO file of masks, then pass it "
                             "as annotations")
        height, width = info["height"], info["width"]
        masks, class_ids = [], []
        for instance in info["instances"]:
            mask = rasterize(instance, height, width)
            if not mask.any():
                log.debug("%s: %s rasterises to no pixel; dropped", info["path"], instance.source)
                continue
            class_id = self.map_source_class_id(f"{SOURCE}.{self._class_names.index(instance.class_name) + 1}")
            masks.append(mask)
            class_ids.append(-class_id if instance.iscrowd else class_id)
        if not masks:
            return np.zeros([height, width, 0], bool), np.zeros([0], np.int32)
        return np.stack(masks, axis=-1), np.array(class_ids, np.int32)

    def folder_class_id(self, image_id):
        """Internal class id of the folder an image came from (PBC's image-level label), or None."""
        name = self.image_info[image_id].get("folder_class")
        return None if name is None else self.map_source_class_id(f"{SOURCE}.{self._class_names.index(name) + 1}")

    def image_reference(self, image_id):
        return self.image_info[image_id]["path"]


class PbcFolderDataset(AnnotatedDataset):
    """PBC's folder layout (class = folder name), optionally with a COCO / VIA file of masks; see the module notes.

    ``load_folder(root, subset, class_names=CLASS_NAMES, annotations=None, split_seed=0, split=(300, 100, 100))``
    registers one subset; ``folder_class_id(image_id)`` gives the folder's class (the image-level label).
    """

    def load_folder(self, root, subset, class_names=CLASS_NAMES, annotations=None, split_seed=0, split=PAPER_SPLIT,
                    label_key=None, skip_unknown=False, keep_empty=False, verify=False):
        """Register the images of `subset` ("train", "val" or "test"); returns the ReadReport or None."""
        if subset not in SUBSETS:
            raise ValueError(f"subset must be one of {list(SUBSETS)}, got {subset!r}")
        if not os.path.isdir(root):
            raise ValueError(f"dataset folder {root} does not exist")
        self._register_classes(class_names)
        root = os.path.realpath(root)
        has_train, has_val = (os.path.isdir(os.path.join(root, s)) for s in ("train", "val"))
        if has_train or has_val:
            if not (has_train and has_val):
                raise ValueError(f"{root} has a {'train' if has_train else 'val'}/ folder but no "
                                 f"{'val' if has_train else 'train'}/ folder; give both, or neither for the seeded "
                                 f"{PAPER_SPLIT} split of {root}/<class>/")
            if not os.path.isdir(os.path.join(root, subset)):
                raise ValueError(f"{root} has no {subset}/ folder (PBC's copy holds only train/ and val/); "
                                 f"use subset 'val' or add {os.path.join(root, subset)}")
            items = _class_images(root, os.path.join(root, subset), class_names)
        else:
            items = paper_split(root, class_names, split_seed, split)[subset]
        if verify:
            items = [(path, name) for path, name in items if _decodes(path, self.max_pixels)]
        if not items:
            raise ValueError(f"no images with extensions {IMAGE_EXTENSIONS} for subset {subset!r} under {root} in "
                             f"class folders {class_names}")
        if annotations is None:
            for path, name in items:
                self._add(path, root, folder_class=name)
            log.info("%s %s: %d images (no annotations: detection only)", root, subset, len(items))
            return None
        records, report = read_annotations(annotations, root, class_names, label_key, skip_unknown, self.max_pixels,
                                           match_basename=True)
        by_path = {record.path: record for record in records}
        missing = empty = 0
        for path, name in items:
            record = by_path.get(path)
            if record is None or not (record.instances or keep_empty):
                missing += record is None
                empty += record is not None
                continue
            self._add(path, root, record.width, record.height, record.instances, folder_class=name)
        added = len(items) - missing - empty
        level = logging.WARNING if missing or empty else logging.INFO
        log.log(level, "%s %s: %d annotated images; left out %d not in %s and %d without instances", root, subset,
                added, missing, annotations, empty)
        if not added:
            raise ValueError(f"none of the {len(items)} {subset} images under {root} has instances in {annotations} "
                             f"({report.summary()})")
        return report

    def image_label(self, image_id):
        """The image-level class id: the class of the folder the image came from (what PBC labels), for the
        classification tables (mrcnn/evaluation/dataset.py)."""
        return self.folder_class_id(image_id)


def load_subset(dataset, subset, annotations=None, image_size=128, synthetic_count=None):
    """The prepared Dataset of a command line's --dataset: "synthetic" (generated smears with exact masks, at
    `image_size`, SYNTHETIC_COUNTS of them unless `synthetic_count`) or a folder in PBC's layout, with the instances
    of the COCO / VIA file `annotations` (None: detection and classification only). Problems of the folder's files
    are logged in one summary line."""
    if dataset == "synthetic":
        from samples.pbc.synthetic import SyntheticSmearDataset
        loaded = SyntheticSmearDataset()
        loaded.load_smears(synthetic_count or SYNTHETIC_COUNTS[subset], size=max(64, int(image_size)),
                           seed=SYNTHETIC_SEEDS[subset])
    else:
        if not os.path.isdir(dataset):
            raise FileNotFoundError(f"--dataset {dataset}: no such folder (give a folder in PBC's layout, or "
                                    "'synthetic')")
        loaded = PbcFolderDataset()
        report = loaded.load_folder(dataset, subset, annotations=annotations)
        if report is not None and (report.skipped_images or report.skipped_instances):
            log.warning("%s", report.summary())
    loaded.prepare()
    return loaded

