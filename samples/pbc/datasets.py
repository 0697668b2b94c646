"""The PBC folder layout as a dataset: ``PbcFolderDataset``, class = folder name, masks from a COCO / VIA file.

``PbcFolderDataset.load_folder(root, subset, ...)`` reads PBC's layout:
    root/train/<class>/*.jpg and root/val/<class>/*.jpg (and root/test/ if present): used as they are;
    otherwise root/<class>/*.jpg: split per class, reproducibly, into train / val / test of split = (300, 100, 100)
        images like the paper (files sorted, then shuffled by a generator seeded with (split_seed, the class
        name's CRC32), so the split of one class does not depend on the others; a class with fewer images than
        sum(split) is split in the same proportions, with a warning).
PBC has no masks. Without ``annotations`` the images are registered for detection / classification only and
``load_mask`` raises a ValueError saying that annotations are needed (``pbc.py annotate`` makes them); with a COCO
or VIA file, its images are matched to the subset's files by real path (file names relative to root, or else the
one file below root whose path ends with the name: MakeSense exports bare names, an annotator working in
root/train/ may write "neutrophil/x.jpg") and ``load_mask`` rasterises their instances. The classes are PBC's
(``samples.pbc.classes``: source "pbc", class id = index in CLASS_NAMES + 1, like the synthetic smears; the file's
class names may also be CLASS_ALIASES). Loading images, masks and any COCO / VIA file without the folder layout:
``mrcnn.data.annotated.AnnotatedDataset``, which this class extends.

What happens to bad input (E = ValueError, S = skipped with a logged warning, counted in the closing log line):
    root or subset folder missing, train/ without val/, subset "test" without root/test, no image at all: E
    a folder that is not a class, a class without a folder: logged warning
    an image file (or symbolic link) resolving outside root: S
    annotation problems: as documented in mrcnn/data/annotations/__init__.py (unknown class names: E unless
        skip_unknown)
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

from mrcnn.data.annotated import AnnotatedDataset
from mrcnn.data.annotations import read_annotations, safe_image_path
from mrcnn.data.image_io import IMAGE_EXTENSIONS
from samples.pbc.classes import CLASS_ALIASES, CLASS_NAMES, SOURCE

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


class PbcFolderDataset(AnnotatedDataset):
    """PBC's folder layout (class = folder name), optionally with a COCO / VIA file of masks; see the module notes.

    ``load_folder(root, subset, class_names=CLASS_NAMES, annotations=None, split_seed=0, split=(300, 100, 100))``
    registers one subset; ``folder_class_id(image_id)`` gives the folder's class (the image-level label).
    ``load_annotations`` (any COCO / VIA file, AnnotatedDataset's) defaults to PBC's classes and aliases too.
    """

    no_masks_hint = ". Run `pbc.py annotate` to make a COCO file of masks, then pass it as annotations"

    def __init__(self, class_map=None):
        super().__init__(SOURCE, class_map)

    def load_annotations(self, json_path, image_root, class_names=CLASS_NAMES, aliases=CLASS_ALIASES, **kwargs):
        """AnnotatedDataset.load_annotations with PBC's classes and aliases as defaults."""
        return super().load_annotations(json_path, image_root, class_names, aliases, **kwargs)

    def folder_class_id(self, image_id):
        """Internal class id of the folder an image came from (PBC's image-level label), or None."""
        name = self.image_info[image_id].get("folder_class")
        return None if name is None else self._class_id(name)

    def load_folder(self, root, subset, class_names=CLASS_NAMES, annotations=None, split_seed=0, split=PAPER_SPLIT,
                    label_key=None, skip_unknown=False, keep_empty=False, verify=False, aliases=CLASS_ALIASES):
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
            items = [(path, name) for path, name in items if self._decodes(path)]
        if not items:
            raise ValueError(f"no images with extensions {IMAGE_EXTENSIONS} for subset {subset!r} under {root} in "
                             f"class folders {class_names}")
        if annotations is None:
            for path, name in items:
                self._add(path, root, folder_class=name)
            log.info("%s %s: %d images (no annotations: detection only)", root, subset, len(items))
            return None
        records, report = read_annotations(annotations, root, class_names, label_key, skip_unknown, self.max_pixels,
                                           match_basename=True, aliases=aliases)
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

