"""Detection over folders of thousands of images, streamed to disk with a flat memory profile.

Shape shorthand:
    H, W: image height and width, N: detections of one image, K: classes including the background.

    from mrcnn.streaming import detect_files
    summary = detect_files(model, paths, "out/detect", class_names=["BG", "cell", ...])
    # summary["images"], ["detections"], ["skipped"], ["seconds"], ["outputs"]["results"] ...

A background thread reads and decodes the next images into a small bounded queue while the model works; the model
gets BATCH_SIZE images per `MaskRCNN.detect` call (detect itself goes one at a time when IMAGE_RESIZE_MODE is not a
fixed size). Each image's result is written at once and its masks [H, W, N] are dropped, so memory does not grow with
the number of images: only the list of paths (and, when resuming, the set of paths already done) is kept.

Files written in out_dir:
    results.jsonl  the journal: one JSON line per image, appended and flushed as each image finishes:
                   {"path": str, "image_id": str | int, "counts": [K - 1 ints], "results": [COCO result records]},
                   plus what the detector reports of the image (IMAGE_INFO: "scale" and "unlike_training" from
                   mrcnn/detector.py).
                   It is what `resume=True` reads to skip the images already done after an interrupted run, and it
                   can be followed (tail -f) while the run goes on. Unreadable images are not journaled (a resumed
                   run retries them).
    results.json   COCO *results* (a JSON list of {image_id, category_id, bbox [x, y, w, h], score, segmentation
                   (compressed RLE, "counts" as str)}), the records of mrcnn.evaluation.coco_io.to_coco_results.
                   Assembled from the journal once every image is done (streamed record by record), written under a
                   temporary name and renamed into place: a results.json that exists is complete. Scored by
                   pycocotools against any COCO ground truth whose image ids are the same image ids.
    counts.csv     header "image", class names..., "total" (and IMAGE_INFO's columns, e.g. pixel_size_um,
                   red_cell_px, scale_factor, scale_source); one row per image (its path and cells per class),
                   flushed as it goes. A cell is counted once: detections of other classes on the same cell are its
                   alternatives, not cells (mrcnn/counting.py); results.json keeps every detection.
    <name>_overlay.png  per image when `overlays` (mrcnn.visualize.draw_instances).

Why a journal plus a final results.json rather than one incrementally written array: a JSON array is not valid
until its "]" is written and cannot be appended to after a crash, while JSON lines stay valid line by line, so the
journal survives an interruption and tells a resumed run where to continue; results.json is then a pure function of
the journal, assembled in constant memory.
"""

import collections
import csv
import json
import logging
import os
import queue
import threading
import time

import numpy as np

from mrcnn.counting import cell_counts, same_cell
from mrcnn.data.image_io import read_image_rgb
from mrcnn.evaluation.coco_io import to_coco_results

log = logging.getLogger(__name__)

RESULTS = "results.json"
JOURNAL = "results.jsonl"
COUNTS = "counts.csv"
_END = object()  # end of the reader thread's stream


def read_image_file(path):
    """The image file at `path` as uint8 [H, W, 3] (mrcnn.data.image_io.read_image_rgb, the reader of
    Dataset.load_image: grayscale -> RGB, alpha dropped, 16-bit -> 8-bit); ValueError naming the file when it cannot
    be read or decoded."""
    return read_image_rgb(path)


def readable_images(paths, read_image=None):
    """The images of `paths` that can be read (`read_image`, default read_image_file), one at a time; the others are
    skipped with a logged warning (detect_files reports them in its summary)."""
    read_image = read_image or read_image_file
    for path in paths:
        try:
            yield read_image(path)
        except (ValueError, OSError) as error:
            log.warning("skipped %s: %s", path, error)


def default_names(paths):
    """Unique names of image files: the base names, or, when two base names collide, the paths relative to the
    files' common folder (with "/" separators)."""
    names = [os.path.basename(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    root = os.path.commonpath([os.path.abspath(p) for p in paths])
    names = [os.path.relpath(os.path.abspath(p), root).replace(os.sep, "/") for p in paths]
    if len(set(names)) != len(names):  # the same file given twice
        seen = {}
        for p, name in zip(paths, names):
            seen.setdefault(name, []).append(p)
        dupes = {name: ps for name, ps in seen.items() if len(ps) > 1}
        raise ValueError(f"paths name the same image file more than once: {dupes}")
    log.info("image base names are not unique: image ids are paths relative to %s", root)
    return names


class _Reader:
    """Reads images on a daemon thread into a bounded queue: yields (path, image or None, error or None) in order.

    Errors of `read_image` that mean "this file is unusable" (ValueError, OSError) come back as the error of that
    path; any other exception is re-raised in the consumer. `close()` stops the thread early.
    """

    def __init__(self, paths, read_image, depth):
        self.paths = paths
        self.read_image = read_image
        self.depth = depth
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mrcnn-image-reader", daemon=True)
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self):
        for path in self.paths:
            if self._stop.is_set():
                return
            try:
                image = self.read_image(path)
                item = (path, _check_image(image, path), None)
            except (ValueError, OSError) as e:
                item = (path, None, e)
            except BaseException as e:  # anything else (a bug in read_image) is raised in the consumer
                item = (path, None, _Fatal(e))
            if not self._put(item) or isinstance(item[2], _Fatal):
                return
        self._put(_END)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item[2], _Fatal):
                raise item[2].error
            yield item

    def close(self):
        self._stop.set()
        self._thread.join(timeout=10)


class _Fatal:
    def __init__(self, error):
        self.error = error


def _check_image(image, path):
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        got = f"shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image {path}: read_image must return an RGB array [H, W, 3], got {got}")
    return image


def _check_args(model, paths, out_dir, class_names, category_map):
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"paths must be a list of image file paths, got the single path {paths!r}")
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("paths is empty: give at least one image file")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {out_dir} exists and is not a folder")
    class_names = [str(c) for c in class_names]
    num_classes = getattr(getattr(model, "config", None), "NUM_CLASSES", None)
    if num_classes is not None and len(class_names) != num_classes:
        raise ValueError(f"class_names has {len(class_names)} names (background first) but the model's "
                         f"NUM_CLASSES is {num_classes}")
    if category_map is None:
        category_map = {k: k for k in range(1, len(class_names))}
    return paths, class_names, category_map


def _read_journal(path, num_counts):
    """Paths already done, from a journal; a torn last line (an interrupted write) is cut off the file."""
    done, good_end = set(), 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                entry = json.loads(line) if line.endswith(b"\n") else None
            except json.JSONDecodeError:
                entry = None
            if entry is None:
                if f.read(1):  # not the last line: the journal is damaged, not just interrupted
                    raise ValueError(f"{path}: line {number} is not a JSON object; delete the file to start over")
                log.warning("%s: dropping a partly written last line (the run was interrupted)", path)
                break
            if not isinstance(entry, dict) or "path" not in entry or len(entry.get("counts", ())) != num_counts:
                raise ValueError(f"{path}: line {number} is not an entry of a run with {num_counts} classes; "
                                 "resume with the same class names, or delete the file to start over")
            done.add(entry["path"])
            good_end += len(line)
    with open(path, "r+b") as f:
        f.truncate(good_end)
    return done


def _journal_entries(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


# ---- the per-image summary and the two file formats (also used by mrcnn.app) -------------------------------------

# What a detector may report about each image beside its cells (the keys it lists in its `reports` attribute, e.g.
# mrcnn.detector.ScaledDetector's "scale"): {result key: [(counts.csv column, key of the result's record)]}.
IMAGE_INFO = {"scale": [("pixel_size_um", "pixel_size_um"), ("red_cell_px", "red_cell_diameter_px"),
                        ("scale_factor", "factor"), ("scale_source", "source")],
              "unlike_training": [("unlike_training", "unlike"), ("unlike_score", "score")]}


def image_info_keys(model):
    """The IMAGE_INFO keys `model` reports (its `reports` attribute), in IMAGE_INFO's order."""
    reports = getattr(model, "reports", ())
    return [key for key in IMAGE_INFO if key in reports]


def counts_header(class_names, info=()):
    """The header of counts.csv: "image", the class names without the background, "total", then the columns of the
    IMAGE_INFO keys `info`."""
    return (["image"] + [str(c) for c in class_names[1:]] + ["total"]
            + [column for key in info for column, _ in IMAGE_INFO[key]])


def counts_row(image, counts, info=(), result=None):
    """A row of counts.csv: the image, its detections per class (class 1 first), their total, then the values of the
    IMAGE_INFO keys `info` from `result` (a detect() dict or a journal entry; blank where missing)."""
    extra = []
    for key in info:
        record = (result or {}).get(key) or {}
        extra += ["" if record.get(field) is None else record.get(field) for _, field in IMAGE_INFO[key]]
    return [image] + list(counts) + [sum(counts)] + extra


def summarize_result(result, image_id, class_names, category_map=None, where=None, owner=None):
    """(counts, records) of one image's detect() result.

    counts: cells per class, [K - 1] ints, class 1 first (a row of counts.csv; one count per cell, mrcnn/counting.py);
    records: its COCO result records (`to_coco_results`), one per detection. owner: `same_cell` of the result when
    the caller has it already, else None. Raises ValueError naming `where` (default the image id) when a class id
    does not index class_names.
    """
    records = to_coco_results([result], [image_id], category_map)
    class_ids = np.asarray(result["class_ids"], dtype=np.int64)
    if class_ids.size and (class_ids.min() < 1 or class_ids.max() >= len(class_names)):
        raise ValueError(f"image {where if where is not None else image_id}: class ids "
                         f"{sorted(set(class_ids.tolist()))} do not index class_names ({len(class_names)} names)")
    owner = same_cell(result["masks"], result["scores"]) if owner is None else owner
    counts = cell_counts(class_ids, owner, len(class_names))
    return counts, records


def write_results_json(records, out):
    """Write COCO result records to the text file `out` as results.json holds them (a JSON list, one record per
    line), one at a time, so that `records` may be a generator; returns how many were written."""
    count = 0
    out.write("[")
    for record in records:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(record))
        count += 1
    out.write("\n]\n")
    return count


def _write_counts_from_journal(journal, counts_path, header, info):
    """counts.csv rewritten from the journal (a resumed run: rows of interrupted writes are dropped)."""
    tmp = counts_path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for entry in _journal_entries(journal):
            writer.writerow(counts_row(entry["path"], entry["counts"], info, entry))
    os.replace(tmp, counts_path)


def _assemble_results(journal, results_path):
    """results.json from the journal, record by record; returns (images, detections)."""
    tmp = results_path + ".tmp"
    images = 0

    def records():
        nonlocal images
        for entry in _journal_entries(journal):
            images += 1
            yield from entry["results"]

    with open(tmp, "w", encoding="utf-8") as out:
        detections = write_results_json(records(), out)
    os.replace(tmp, results_path)
    return images, detections


def detect_files(model, paths, out_dir, class_names, category_map=None, image_ids=None, overlays=True,
                 read_image=None, progress=None, log_every=100, prefetch=None, resume=False):
    """Detect on image files and stream COCO results, per-image counts and overlays to `out_dir`.

    Args:
        model: an inference `mrcnn.model.MaskRCNN` (anything with `.config` and `.detect(images)`).
        paths: image file paths, processed in this order.
        out_dir: output folder (created); see the module notes for the files.
        class_names: ["BG", name of class 1, ...] (NUM_CLASSES names): the overlay colours' classes and the
            columns of counts.csv.
        category_map: {class id: COCO category id}; default: category id = class id.
        image_ids: list of COCO image ids (str or int) aligned with `paths`; default: the file names
            (`default_names`: base names, or relative paths when base names collide).
        overlays: write `<name>_overlay.png` per image (name = the file name without extension, "/" -> "__").
        read_image: path -> uint8 [H, W, 3]; raises ValueError / OSError for a file that cannot be used (it is
            skipped with a logged warning); default `read_image_file`. Called on the reader thread.
        progress: callback(done, total, elapsed seconds) after every image of this run (skipped ones included);
            without it, progress is logged every `log_every` images.
        prefetch: how many decoded images the reader may hold ahead of the model (default 2 x BATCH_SIZE).
        resume: continue an interrupted run: images the journal in out_dir already holds are not detected again.
            Without it, earlier outputs of the same names are replaced.

    Returns:
        {"images": images in results.json (this run + resumed), "processed": images detected by this run,
         "resumed": images taken from the journal, "detections": records in results.json,
         "skipped": [{"path", "error"}] unreadable images, "seconds": this run's wall time,
         "images_per_second": processed / seconds, "outputs": {"results", "journal", "counts", "overlays"
         (out_dir or None)}}.
    Raises ValueError for an empty `paths`, an `out_dir` that is a file, class names that do not match the model,
    image ids that are not aligned with paths, or a bad `prefetch`; TypeError for a single path string or image ids
    that are neither str nor int. Nothing is kept per image in memory but its path (and id and name).
    """
    paths, class_names, category_map = _check_args(model, paths, out_dir, class_names, category_map)
    names = default_names(paths)
    if image_ids is None:
        image_ids = names
    else:
        image_ids = [int(i) if isinstance(i, np.integer) else i for i in image_ids]
        if len(image_ids) != len(paths):
            raise ValueError(f"image_ids must match paths one to one, got {len(image_ids)} ids for "
                             f"{len(paths)} paths")
        bad = [i for i in image_ids if isinstance(i, bool) or not isinstance(i, (str, int))]
        if bad:
            raise TypeError(f"image_ids must be str or int (COCO image ids), got {bad[:3]!r}")
    read_image = read_image or read_image_file
    batch_size = int(model.config.BATCH_SIZE)
    prefetch = 2 * batch_size if prefetch is None else prefetch
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
        raise ValueError(f"prefetch must be a positive int (images read ahead), got {prefetch!r}")
    os.makedirs(out_dir, exist_ok=True)
    outputs = {"results": os.path.join(out_dir, RESULTS), "journal": os.path.join(out_dir, JOURNAL),
               "counts": os.path.join(out_dir, COUNTS), "overlays": out_dir if overlays else None}
    info = image_info_keys(model)
    header = counts_header(class_names, info)
    if os.path.exists(outputs["results"]):
        os.remove(outputs["results"])  # a results.json that exists belongs to a finished run
    done = set()
    if resume and os.path.isfile(outputs["journal"]):
        done = _read_journal(outputs["journal"], len(class_names) - 1)
        _write_counts_from_journal(outputs["journal"], outputs["counts"], header, info)
    else:
        open(outputs["journal"], "w").close()
        with open(outputs["counts"], "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(header)
    todo = [i for i, p in enumerate(paths) if p not in done]
    if done:
        log.info("resuming: %d of %d images are already in %s", len(paths) - len(todo), len(paths),
                 outputs["journal"])

    index_of = {paths[i]: i for i in todo}
    total, processed, skipped = len(todo), 0, []
    start = time.time()
    journal = open(outputs["journal"], "a", encoding="utf-8")
    counts_file = open(outputs["counts"], "a", newline="", encoding="utf-8")
    counts_csv = csv.writer(counts_file)
    painter = _OverlayWriter(class_names) if overlays else None
    reader = _Reader([paths[i] for i in todo], read_image, prefetch)
    finished = False

    def tick():
        elapsed = time.time() - start
        count = processed + len(skipped)
        if progress is not None:
            progress(count, total, elapsed)
        elif count % max(1, int(log_every)) == 0 or count == total:
            rate = processed / elapsed if elapsed > 0 else 0.0
            eta = (total - count) / (count / elapsed) if count and elapsed > 0 else 0.0
            log.info("detected %d/%d images, %.2f images/s, ~%.0f s left", count, total, rate, eta)

    def write(path, image, result):
        i = index_of[path]
        counts, records = summarize_result(result, image_ids[i], class_names, category_map, where=path)
        entry = {"path": path, "image_id": image_ids[i], "counts": counts, "results": records}
        entry.update({key: result.get(key) for key in info})
        journal.write(json.dumps(entry) + "\n")
        journal.flush()
        counts_csv.writerow(counts_row(path, counts, info, result))
        counts_file.flush()
        if painter is not None:
            painter.submit(os.path.join(out_dir, _overlay_name(names[i])), image, result)

    try:
        batch = []
        items = iter(reader)
        while True:
            item = next(items, None)
            if item is not None:
                path, image, error = item
                if error is not None:
                    log.warning("skipped %s: %s", path, error)
                    skipped.append({"path": path, "error": str(error)})
                    tick()
                else:
                    batch.append((path, image))
            if batch and (len(batch) == batch_size or item is None):
                results = model.detect([image for _, image in batch])
                for (path, image), result in zip(batch, results):
                    write(path, image, result)
                    processed += 1
                    tick()
                batch, results = [], None  # the images and masks go now
            if item is None:
                break
        if painter is not None:
            painter.close()
        finished = True
    finally:
        reader.close()
        if painter is not None:
            painter.close(cancel=True)
        journal.close()
        counts_file.close()
        if not finished:
            log.warning("detection stopped after %d of %d images: %s holds the finished ones; run again with "
                        "resume to continue", processed, total, outputs["journal"])
    images, detections = _assemble_results(outputs["journal"], outputs["results"])
    seconds = time.time() - start
    return {"images": images, "processed": processed, "resumed": len(paths) - len(todo), "detections": detections,
            "skipped": skipped, "seconds": seconds, "images_per_second": processed / seconds if seconds > 0 else 0.0,
            "outputs": outputs}


def _overlay_name(name):
    return os.path.splitext(name)[0].replace("/", "__") + "_overlay.png"


class _OverlayWriter:
    """Draws and saves overlay PNGs on one worker thread (drawing and PNG encoding overlap the model), with at most
    `pending` images (and their masks) waiting; an error of a write is raised by a later submit or by close."""

    def __init__(self, class_names, pending=2):
        from concurrent.futures import ThreadPoolExecutor

        from mrcnn import visualize  # matplotlib comes with it: loaded only when overlays are asked for
        self.class_names = class_names
        self.pending = pending
        self._draw = visualize.draw_instances
        self._futures = collections.deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mrcnn-overlay-writer")

    def submit(self, path, image, result):
        while len(self._futures) >= self.pending:
            self._futures.popleft().result()
        self._futures.append(self._pool.submit(self._write, path, image, result))

    def _write(self, path, image, result):
        from PIL import Image
        overlay = self._draw(image, result["rois"], result["masks"], result["class_ids"], self.class_names,
                             result["scores"])
        Image.fromarray(overlay).save(path)

    def close(self, cancel=False):
        if cancel:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        while self._futures:
            self._futures.popleft().result()
        self._pool.shutdown(wait=True)
