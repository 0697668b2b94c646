"""``Dataset``: the base class of datasets, Matterport's API (classes and images from one or more sources).

Shape shorthand:
    H, W: image height and width, N: instances of one image.
"""

import logging

import numpy as np

from mrcnn.data.image_io import MAX_IMAGE_PIXELS, read_image_rgb

logger = logging.getLogger(__name__)

_warned_load_mask = set()


class Dataset:
    """Base class of datasets: classes and images from one or more sources, Matterport's API.

    Subclass it, call ``add_class``/``add_image`` in a loader method, override ``load_mask`` (and
    ``image_reference`` if useful), then call ``prepare()`` before use::

        class CellDataset(Dataset):
            def load_cells(self, folder): ...      # add_class / add_image
            def load_mask(self, image_id): ...     # -> bool [H, W, N], int32 [N]

    Class 0 is always the background ``{"source": "", "id": 0, "name": "BG"}``. Attributes:
    ``class_info`` (list of dicts with source, id, name), ``image_info`` (list of dicts with id, source,
    path and any extra keyword given to ``add_image``); after ``prepare()`` also ``num_classes``,
    ``class_ids``, ``class_names``, ``num_images``, ``class_from_source_map``, ``image_from_source_map``
    (keys "source.id"), ``sources`` and ``source_class_ids`` (source -> internal class ids, BG included).
    ``max_pixels`` (class attribute, default ``mrcnn.data.image_io.MAX_IMAGE_PIXELS``): ``load_image`` refuses
    files whose header declares more pixels, before decoding them.
    """

    max_pixels = MAX_IMAGE_PIXELS

    def __init__(self, class_map=None):
        self._image_ids = []
        self.image_info = []
        self.class_info = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids = {}

    def add_class(self, source, class_id, class_name):
        """Register a class; a (source, class_id) pair already present is skipped silently."""
        if "." in source:
            raise ValueError(f"source name cannot contain a dot, got {source!r}")
        for info in self.class_info:
            if info["source"] == source and info["id"] == class_id:
                return
        self.class_info.append({"source": source, "id": class_id, "name": class_name})

    def add_image(self, source, image_id, path, **kwargs):
        """Register an image; extra keyword arguments are stored in its ``image_info`` entry."""
        image_info = {"id": image_id, "source": source, "path": path}
        image_info.update(kwargs)
        self.image_info.append(image_info)

    def image_reference(self, image_id):
        """A link or description of the image for debugging; override in subclasses."""
        return ""

    def prepare(self, class_map=None):
        """Build the internal ids and lookup tables (``class_map`` is unused, as in Matterport)."""

        def clean_name(name):
            """Keep the part of the name before the first comma."""
            return ",".join(name.split(",")[:1])

        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        self.class_names = [clean_name(c["name"]) for c in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)
        self.class_from_source_map = {f"{info['source']}.{info['id']}": int(i)
                                      for info, i in zip(self.class_info, self.class_ids)}
        self.image_from_source_map = {f"{info['source']}.{info['id']}": int(i)
                                      for info, i in zip(self.image_info, self._image_ids)}
        self.sources = list(dict.fromkeys(info["source"] for info in self.class_info))
        self.source_class_ids = {
            source: [i for i, info in enumerate(self.class_info) if i == 0 or info["source"] == source]
            for source in self.sources}

    def _require_prepared(self):
        if not hasattr(self, "class_from_source_map"):
            raise ValueError(f"{type(self).__name__}.prepare() must be called first")

    def map_source_class_id(self, source_class_id):
        """Internal class id of a "source.id" key, e.g. ``map_source_class_id("coco.12") -> 23``."""
        self._require_prepared()
        if source_class_id not in self.class_from_source_map:
            raise ValueError(f"unknown source class id {source_class_id!r}; known: "
                             f"{sorted(self.class_from_source_map)}")
        return self.class_from_source_map[source_class_id]

    def get_source_class_id(self, class_id, source):
        """The id that internal class ``class_id`` has in ``source``."""
        if not 0 <= class_id < len(self.class_info):
            raise ValueError(f"class_id must be in [0, {len(self.class_info)}), got {class_id}")
        info = self.class_info[class_id]
        if info["source"] != source:
            raise ValueError(f"class {class_id} ({info['name']!r}) comes from source {info['source']!r}, "
                             f"not {source!r}")
        return info["id"]

    @property
    def image_ids(self):
        """Internal image ids, [num_images] (an empty list before ``prepare()``)."""
        return self._image_ids

    def source_image_link(self, image_id):
        """Path or URL of the image; override to return a URL."""
        return self.image_info[image_id]["path"]

    def load_image(self, image_id):
        """Read an image as uint8 [H, W, 3] (grayscale -> RGB, alpha dropped, 16-bit scaled to 8-bit).

        A missing, empty, truncated or undecodable file, or one whose header declares more than ``max_pixels``
        pixels, raises ValueError naming its path (see mrcnn.data.image_io.read_image_rgb).
        """
        if not 0 <= image_id < len(self.image_info):
            raise ValueError(f"image_id must be in [0, {len(self.image_info)}), got {image_id}")
        return read_image_rgb(self.image_info[image_id]["path"], self.max_pixels)

    def load_mask(self, image_id):
        """Instance masks of an image; override it. The base class returns no instances.

        Returns: masks: bool [H, W, N], one binary mask per instance; class_ids: int32 [N].
        """
        name = type(self).__qualname__
        if name not in _warned_load_mask:
            _warned_load_mask.add(name)
            logger.warning("%s does not override load_mask(); every image gets an empty mask", name)
        return np.empty([0, 0, 0]), np.empty([0], np.int32)
