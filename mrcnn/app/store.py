"""The web app's batches: uploaded images, their detections and the technologist's review of them.

Shape shorthand:
    H, W: image height and width, N: detections of one image, K: classes including the background.

A batch is what one page works on: up to `Limits.max_images` images, each with its display image (PNG or JPEG),
its detections as the page draws them (class, score, box, and the mask as a small PNG cropped to the mask's own
extent) and its COCO result records. The model returns every detection down to its DETECTION_MIN_CONFIDENCE (a low
floor); the page filters by the threshold the user picks, and the downloads (mrcnn/app/exports.py) take that
threshold as a parameter (`min_score`).

Every batch is kept on disk in the work folder (mrcnn/app/disk.py: batch.json, a JSON file and the display image per
image, written atomically), so a restart, a closed tab or other clients' batches never drop one; the last
`Limits.max_batches` used are also kept in memory, and any other is read back from disk when asked for. An image that
was still waiting for the model when the server stopped comes back failed, with the reason (its decoded pixels were
in memory only).

What the detector reports about each image beside its cells (the keys of mrcnn.streaming.IMAGE_INFO that it lists in
its `reports` attribute: mrcnn.detector.ScaledDetector's "scale" and "unlike_training") is kept with the image as it
came (NumPy numbers made plain, NaN as None), served with its cells for the page to show, and written as the same
extra counts.csv columns as `pbc.py detect` writes. A model without `reports` (a plain MaskRCNN) adds nothing.

File names are labels (made unique within a batch), never paths: the files on disk are named by ids the app makes.
"""

import collections
import contextlib
import dataclasses
import logging
import os
import secrets
import threading
import time
import unicodedata

import numpy as np

from mrcnn.app import review
from mrcnn.app.disk import BatchFolder, batch_ids, read_json, write_atomic, write_json
from mrcnn.app.masks import mask_png
from mrcnn.counting import same_cell
from mrcnn.evaluation.evaluate import to_jsonable
from mrcnn.streaming import IMAGE_INFO, summarize_result

QUEUED, DETECTING, DONE, FAILED = "queued", "detecting", "done", "failed"
STOPPED = "the server stopped before this image was detected: upload it again"
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one upload, one batch and the server accept (the page states them).

    max_bytes: bytes of one image file (the upload is refused while it streams in, past this).
    max_pixels: pixels of one image, from its header, checked before decoding (a 16 MP default: 4000 x 4000).
    max_images: images in one batch; the page says so and does not upload the rest.
    max_batches: batches kept in memory (all stay on disk; one asked for again is read back), beside those whose
        images are still being detected.
    max_pending: decoded images waiting for the model, over all batches; past it an upload is answered 503
        ("busy, retry") so that memory stays bounded (the page keeps only a few uploads in flight and retries).
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 16_000_000
    max_images: int = 100
    max_batches: int = 8
    max_pending: int = 16

    def to_dict(self):
        return dataclasses.asdict(self)


class LimitError(ValueError):
    """A limit of `Limits` was reached; `status` is the HTTP status to answer with."""

    def __init__(self, message, status=413):
        super().__init__(message)
        self.status = status


class ImageEntry:
    """One uploaded image. `status` goes queued -> detecting -> done | failed; the worker writes the other fields
    before it sets the status, so a reader that sees "done" sees the detections."""

    def __init__(self, batch, image_id, name, image, display_type, order=None):
        self.batch = batch
        self.id = image_id
        self.name = name
        self.order = order  # its place in the page's list (None: after those that have one, in upload order)
        self.height, self.width = (int(image.shape[0]), int(image.shape[1])) if image is not None else (0, 0)
        self.image = image  # uint8 [H, W, 3] until the model has run, then None
        self.display_type = display_type  # the page's copy of the image is on disk: display_path()
        self.status = QUEUED
        self.error = None
        self.cells = []  # [{"class_id", "class_name", "score", "box", "area", "mask", ...}], best score first
        self.records = []  # COCO result records aligned with cells
        self.changes = []  # what the technologist changed on this image's cells (mrcnn/app/review.py)
        self.info = {}  # what the detector reports of the image: {"scale": {...}, "unlike_training": {...}} or {}
        self.seconds = None

    def display_path(self):
        return self.batch.folder.display_path(self.id, self.display_type)

    def summary(self, position=None):
        out = {"id": self.id, "name": self.name, "order": self.order, "status": self.status, "width": self.width,
               "height": self.height, "error": self.error, "cells": len(self.cells), "seconds": self.seconds}
        if position is not None:
            out["position"] = position
        return out

    def meta(self):
        """What batch.json keeps of the image."""
        return {"id": self.id, "name": self.name, "order": self.order, "status": self.status, "width": self.width,
                "height": self.height, "error": self.error, "seconds": self.seconds,
                "display_type": self.display_type, "info": self.info, "changes": len(self.changes)}

    def detail(self):
        """What <image id>.json keeps: the cells, their COCO records and the changes made to them."""
        return {"cells": self.cells, "records": self.records, "changes": self.changes}

    @classmethod
    def load(cls, batch, meta):
        """The entry of batch.json's `meta`, with its cells read from disk; an image that was still waiting when
        the server stopped is failed (its decoded pixels were in memory only)."""
        entry = cls(batch, str(meta["id"]), str(meta["name"]), None, meta.get("display_type", "image/png"),
                    meta.get("order"))
        entry.width, entry.height = int(meta.get("width", 0)), int(meta.get("height", 0))
        entry.status, entry.error, entry.seconds = meta.get("status", FAILED), meta.get("error"), meta.get("seconds")
        entry.info = meta.get("info") or {}
        if entry.status == DONE:
            detail = read_json(batch.folder.image_path(entry.id))
            entry.cells, entry.records, entry.changes = detail["cells"], detail["records"], detail.get("changes", [])
        elif entry.status != FAILED:
            entry.status, entry.error = FAILED, STOPPED
        return entry


class Batch:
    def __init__(self, batch_id, folder, created=None):
        self.id = batch_id
        self.folder = folder
        self.images = collections.OrderedDict()  # image id -> ImageEntry, in upload order
        self.created = time.time() if created is None else created
        self._next = 1

    def unique_name(self, name):
        taken = {entry.name for entry in self.images.values()}
        if name not in taken:
            return name
        n = 2
        while f"{name} ({n})" in taken:
            n += 1
        return f"{name} ({n})"

    def running(self):
        return any(entry.status in (QUEUED, DETECTING) for entry in self.images.values())

    def meta(self):
        return {"id": self.id, "created": self.created, "next": self._next,
                "images": [entry.meta() for entry in self.images.values()]}



def listing(meta, folder):
    """A batch as the page's list of earlier batches shows it, from its batch.json (`meta`): no image file is read."""
    images = sorted(meta.get("images", []), key=lambda i: (i.get("order") is None, i.get("order") or 0, int(i["id"])))
    return {"id": meta["id"], "created": meta.get("created"), "updated": _modified(folder), "images": len(images),
            "done": sum(image.get("status") == DONE for image in images), "names": [i["name"] for i in images[:3]],
            "changes": sum(image.get("changes", 0) for image in images)}


def _modified(folder):
    try:
        return max(os.path.getmtime(os.path.join(folder.path, name)) for name in os.listdir(folder.path))
    except (OSError, ValueError):
        return None


def clean_name(raw, max_length=120):
    """A file name fit to show and to use as a COCO image id: the last path part, control characters dropped,
    at most `max_length` characters; "image" when nothing is left. Never used as a path."""
    name = str(raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:max_length] or "image"


class Store:
    """Batches on disk in `work_dir` (mrcnn/app/disk.py), the recent ones also in memory; safe to use from the
    request handlers and the detection worker at once.

    class_names: ["BG", class 1, ...]; category_map: {class id: COCO category id} (default: the class id);
    info_keys: the IMAGE_INFO keys the model reports (mrcnn.streaming.image_info_keys(model)), kept per image;
    work_dir: a folder prepared by disk.prepare_work_dir.
    """

    def __init__(self, class_names, limits=None, category_map=None, info_keys=(), work_dir=None):
        unknown = [key for key in info_keys if key not in IMAGE_INFO]
        if unknown:
            raise ValueError(f"info_keys {unknown} are not keys of mrcnn.streaming.IMAGE_INFO ({list(IMAGE_INFO)})")
        if work_dir is None:
            raise ValueError("Store needs a work_dir (mrcnn.app.disk.prepare_work_dir)")
        self.class_names = [str(c) for c in class_names]
        self.limits = limits or Limits()
        self.category_map = category_map
        self.info_keys = list(info_keys)
        self.work_dir = work_dir
        self._batches = collections.OrderedDict()  # in memory, most recently used last
        self._lock = threading.RLock()

    def new_batch(self):
        """A new empty batch, written to the work folder at once (a page may upload to it after a restart); the
        list of batches leaves out those without images."""
        with self._lock:
            batch_id = secrets.token_urlsafe(12)
            batch = Batch(batch_id, BatchFolder(self.work_dir, batch_id))
            batch.folder.create()
            self._save_meta(batch)
            self._remember(batch)
            return batch

    def batch(self, batch_id):
        """The batch, from memory or from the work folder; KeyError when there is no such batch."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                folder = BatchFolder(self.work_dir, batch_id)  # KeyError for an id that is not one of ours
                if not folder.exists():
                    raise KeyError(batch_id)
                batch = self._load(batch_id, folder)
            self._remember(batch)
            return batch

    def _load(self, batch_id, folder):
        meta = read_json(folder.meta_path())
        batch = Batch(batch_id, folder, created=meta.get("created"))
        for image in meta.get("images", []):
            entry = ImageEntry.load(batch, image)
            batch.images[entry.id] = entry
        batch._next = max([int(meta.get("next", 1))] + [int(i) + 1 for i in batch.images])
        return batch

    def _remember(self, batch):
        """Keep `batch` in memory as the most recent; forget the oldest ones past Limits.max_batches from memory
        (they stay on disk) unless images of theirs are still being detected."""
        self._batches[batch.id] = batch
        self._batches.move_to_end(batch.id)
        for old in list(self._batches.values())[:-self.limits.max_batches or None]:
            if len(self._batches) <= self.limits.max_batches:
                break
            if not old.running():
                del self._batches[old.id]

    def list_batches(self):
        """The batches of the work folder that hold images, the most recently changed first."""
        listed = []
        for batch_id in batch_ids(self.work_dir):
            folder = BatchFolder(self.work_dir, batch_id)
            with self._lock:
                batch = self._batches.get(batch_id)
                meta = batch.meta() if batch is not None else None
            try:
                meta = meta or read_json(folder.meta_path())
            except (ValueError, OSError) as error:
                log.warning("batch %s in %s is skipped: %s", batch_id, self.work_dir, error)
                continue
            if meta.get("images"):
                listed.append(listing(dict(meta, id=batch_id), folder))
        return sorted(listed, key=lambda b: -(b["updated"] or b["created"] or 0))

    def add_image(self, batch, name, image, display, display_type, order=None):
        """A new ImageEntry in `batch` (queued), its display image written to the batch's folder; LimitError when
        the batch is full. `order`: its place in the page's list, which the downloads follow."""
        with self._lock:
            if len(batch.images) >= self.limits.max_images:
                raise LimitError(f"this batch already holds {len(batch.images)} images, the most one batch can "
                                 f"hold; download its results and start a new batch for more")
            entry = ImageEntry(batch, str(batch._next), batch.unique_name(name), image, display_type, order)
            batch._next += 1
            write_atomic(entry.display_path(), display)
            batch.images[entry.id] = entry
            self._save_meta(batch)
            return entry

    def entries(self, batch):
        """The batch's images in the page's order (their `order`; those without one after, in upload order): a
        snapshot, uploads may add more meanwhile."""
        with self._lock:
            entries = list(batch.images.values())
        return sorted(entries, key=lambda entry: (entry.order is None, entry.order or 0, int(entry.id)))

    def remove(self, batch, entry):
        with self._lock:
            batch.images.pop(entry.id, None)
            with contextlib.suppress(OSError):
                os.remove(entry.display_path())
            self._save_meta(batch)

    def fail(self, entry, message):
        """Mark an image failed, with the message the page shows, on disk too."""
        with self._lock:
            entry.image, entry.error, entry.status = None, message, FAILED
            self._save_meta(entry.batch)

    def save_image(self, entry):
        """Write the image's cells, records and changes (after a change to its cells)."""
        with self._lock:
            write_json(entry.batch.folder.image_path(entry.id), entry.detail())

    def _save_meta(self, batch):
        with self._lock:
            write_json(batch.folder.meta_path(), batch.meta())

    # ---- results -------------------------------------------------------------------------------------------------

    def finish(self, entry, result, seconds):
        """Store one detect() result {"rois", "class_ids", "scores", "masks"} as the page's cells and COCO records,
        and the records of `info_keys` it carries (None for one it lacks)."""
        # (the counts are recomputed by the downloads, at the threshold each asks for)
        rois = np.asarray(result["rois"]).reshape(-1, 4)
        masks = np.asarray(result["masks"])
        owner = same_cell(masks, result["scores"])
        _, records = summarize_result(result, entry.name, self.class_names, self.category_map, where=entry.name,
                                      owner=owner)
        cells = []
        for i in range(rois.shape[0]):
            class_id = int(result["class_ids"][i])
            mask = masks[..., i].astype(bool)
            cells.append({"class_id": class_id, "class_name": self.class_names[class_id],
                          "score": float(result["scores"][i]), "box": [int(v) for v in rois[i]],
                          "area": int(mask.sum()), "mask": mask_png(mask),
                          "same_cell_as": None if owner[i] < 0 else int(owner[i]), "alternatives": [],
                          "review": None})  # the technologist's (mrcnn/app/review.py)
        for i in np.flatnonzero(owner >= 0):  # highest score first, as the page lists them
            cells[owner[i]]["alternatives"].append({"class_name": cells[i]["class_name"], "score": cells[i]["score"]})
        for cell in cells:
            cell["alternatives"].sort(key=lambda alternative: -alternative["score"])
        info = {key: to_jsonable(result.get(key)) for key in self.info_keys}
        with self._lock:
            entry.info, entry.cells, entry.records = info, cells, to_jsonable(records)
            entry.seconds = round(float(seconds), 3)
            self.save_image(entry)
            entry.status = DONE
            self._save_meta(entry.batch)

    # ---- the review (mrcnn/app/review.py) ------------------------------------------------------------------------

    def review(self, batch, image_id, index, body):
        """Apply a client's decision on one cell and write the image's file; returns (the cell, the change)."""
        with self._lock:
            entry = self._finished(batch, image_id)
            change = review.decide(entry, index, body, self.class_names)
            self.save_image(entry)
            self._save_meta(batch)  # its count of changes, for the list of batches
            return entry.cells[index], change

    def new_cell(self, batch, image_id, body):
        """(the image's entry, the box, the class name) of a cell the client asks to add (review.new_cell); nothing
        is changed yet."""
        with self._lock:
            entry = self._finished(batch, image_id)
            return (entry,) + review.new_cell(entry, body, self.class_names)

    def add_cell(self, batch, entry, box, name, mask, mask_from):
        """Add the cell of `new_cell` with its mask (review.add_cell) and write the image's file; returns (index,
        cell, change)."""
        with self._lock:
            index, change = review.add_cell(entry, box, name, mask, mask_from, self.class_names)
            self.save_image(entry)
            self._save_meta(batch)
            return index, entry.cells[index], change

    def _finished(self, batch, image_id):
        entry = batch.images.get(image_id)
        if entry is None:
            raise review.ReviewError(f"no image {image_id!r} in this batch", 404)
        if entry.status != DONE:
            raise review.ReviewError(f"{entry.name} has no cells to review: it is {entry.status}", 409)
        return entry

    def finished(self, batch):
        """The batch's finished images, in the page's order."""
        return [entry for entry in self.entries(batch) if entry.status == DONE]
