"""AnnotatedDataset: a ``Dataset`` (mrcnn/data/dataset.py) of the images of one COCO or VIA annotation file.

    dataset = AnnotatedDataset(source="cells")
    report = dataset.load_annotations("instances.json", "images/", class_names=["nucleus", "cytoplasm"])
    dataset.prepare()
    masks, class_ids = dataset.load_mask(0)

The file is read by ``mrcnn.data.annotations`` (what happens to each kind of bad input is tabled in its
``__init__``; unknown class names are a ValueError unless skip_unknown). The classes are registered under `source`
with class id = index in class_names + 1; ``aliases`` gives other names of the classes that the file may use.
Subclasses that know a folder layout (samples/pbc/datasets.py) register images with ``_add`` and share
``load_image`` / ``load_mask``.

Images of any size are registered as they are; the model's loader resizes them per IMAGE_RESIZE_MODE.
``load_image`` first reads the file's header and refuses (ValueError naming the file, nothing decoded) an image of
more than max_pixels pixels, then reuses ``Dataset.load_image`` (grayscale -> RGB, alpha dropped,
16-bit -> 8-bit, ValueError naming an undecodable or truncated file). The header check and the limit are
``mrcnn.data.image_io``'s (``read_image_size``, ``MAX_IMAGE_PIXELS``), shared with the model's own loader.

What happens to bad input (E = ValueError, S = skipped with a logged warning):
    source empty, not a str or holding a dot; class_names empty or repeated: E
    annotation problems: as documented in mrcnn/data/annotations/__init__.py
    images listed without instances: S (not registered; keep_empty=True keeps them as images without objects);
        no usable image at all: E
    verify=True: images above max_pixels or that fail to decode are found while loading: S (otherwise load_image
        raises E when the image is used)
    an instance whose mask rasterises to no pixel: dropped by load_mask (logged at debug level)

Shape shorthand:
    H, W: image height and width, N: instances of one image.
"""

import logging
import os

import numpy as np

from mrcnn.data.dataset import Dataset
from mrcnn.data.annotations import rasterize, read_annotations
from mrcnn.data.image_io import MAX_IMAGE_PIXELS, read_image_rgb, read_image_size

log = logging.getLogger(__name__)


class AnnotatedDataset(Dataset):
    """Images with instance annotations from a COCO or VIA file (see the module notes).

    ``AnnotatedDataset(source="annotations")``: the Dataset source its classes and images are registered under.
    ``load_annotations(json_path, image_root, class_names, ...)`` registers the file's images.
    ``load_image(image_id)`` -> uint8 [H, W, 3] after a header check against max_pixels.
    ``load_mask(image_id)`` -> bool [H, W, N] and int32 [N] class ids (negative for COCO crowd instances);
    instances whose mask rasterises to no pixel are dropped.
    """

    max_pixels = MAX_IMAGE_PIXELS
    no_masks_hint = ""  # what to do about an image registered without annotations, ending load_mask's error

    def __init__(self, source="annotations", class_map=None):
        super().__init__(class_map)
        if not isinstance(source, str) or not source or "." in source:
            raise ValueError(f"source must be a non-empty string without a dot, got {source!r}")
        self.source = source

    def _register_classes(self, class_names):
        if isinstance(class_names, str) or not class_names or len(set(class_names)) != len(class_names):
            raise ValueError(f"class_names must be a non-empty list of distinct names, got {class_names!r}")
        for i, name in enumerate(class_names):
            self.add_class(self.source, i + 1, name)
        self._class_names = list(class_names)

    def _class_id(self, name):
        """Internal class id of a class name (after prepare)."""
        return self.map_source_class_id(f"{self.source}.{self._class_names.index(name) + 1}")

    def _add(self, path, root, width=None, height=None, instances=None, **info):
        """Register the image at real path `path` under the id "its path relative to root"; `info` is stored."""
        self.add_image(self.source, image_id=os.path.relpath(path, root), path=path, width=width, height=height,
                       instances=instances, **info)

    def _decodes(self, path):
        """Whether the image is within max_pixels and decodes completely (used by verify=True)."""
        try:
            read_image_rgb(path, self.max_pixels)
            return True
        except ValueError as error:
            log.warning("skipped image %s: it does not decode: %s", path, error)
            return False

    def load_annotations(self, json_path, image_root, class_names, aliases=None, label_key=None, skip_unknown=False,
                         keep_empty=False, match_basename=False, verify=False):
        """Register the images of a COCO / VIA file; returns the mrcnn.data.annotations.ReadReport.

        class_names: the known classes (class id = index + 1). aliases: None or {other name: class name}.
        keep_empty: also register images listed without any instance. verify: decode every image now and skip
        those that fail. Other arguments as in mrcnn.data.annotations.read_annotations.
        """
        self._register_classes(class_names)
        records, report = read_annotations(json_path, image_root, class_names, label_key, skip_unknown,
                                           self.max_pixels, match_basename, aliases=aliases)
        root = os.path.realpath(image_root)
        added = 0
        for record in records:
            if (record.instances or keep_empty) and (not verify or self._decodes(record.path)):
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
                             f"mask evaluation{self.no_masks_hint}")
        height, width = info["height"], info["width"]
        masks, class_ids = [], []
        for instance in info["instances"]:
            mask = rasterize(instance, height, width)
            if not mask.any():
                log.debug("%s: %s rasterises to no pixel; dropped", info["path"], instance.source)
                continue
            class_id = self._class_id(instance.class_name)
            masks.append(mask)
            class_ids.append(-class_id if instance.iscrowd else class_id)
        if not masks:
            return np.zeros([height, width, 0], bool), np.zeros([0], np.int32)
        return np.stack(masks, axis=-1), np.array(class_ids, np.int32)

    def image_reference(self, image_id):
        return self.image_info[image_id]["path"]
