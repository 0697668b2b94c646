"""The detection worker: the one thread that runs the model, one queued image at a time, in upload order.

TensorFlow is not re-entrant here (one model, one `predict` at a time), and a request handler must never wait for
the model, or the server would stop answering while it runs. So uploads are queued (`submit` returns at once) and
this thread takes them one by one: `model.detect([image])[0]`, then `Store.finish` turns the result into what the
page draws. An exception of the model fails that image only (its message is shown on the page); the thread goes on.

The model is anything with the detect contract of `mrcnn.model.MaskRCNN` (DESIGN.md section 5):
`detect([image]) -> [{"rois": int [N, (y1, x1, y2, x2)], "class_ids": int [N], "scores": float [N],
"masks": bool [H, W, N]}]` for an RGB uint8 image [H, W, 3], so tests can hand in a stub. A detector that lists
keys in a `reports` attribute (mrcnn.detector.ScaledDetector: "scale", "unlike_training") adds those records to each
dict; the store keeps them with the image.

The same thread runs the page's other model work, `run(job)`: a job (a cell the technologist draws, whose mask the
model's mask head makes) goes before the queued images, so it waits at most for the image being detected.
"""

import collections
import concurrent.futures
import ctypes
import ctypes.util
import gc
import logging
import threading
import time

from mrcnn.app.store import DETECTING, STOPPED, LimitError

log = logging.getLogger(__name__)


class DetectionWorker:
    """Runs `model.detect` on a daemon thread for the ImageEntry objects handed to `submit`.

    Args:
        model: an object with the detect contract (see the module notes).
        store: the `Store` whose `finish` records each result.
        max_pending: images waiting at most; `submit` raises LimitError (status 503) past it.
    """

    def __init__(self, model, store, max_pending):
        self.model = model
        self.store = store
        self.max_pending = int(max_pending)
        self._pending = collections.deque()
        self._jobs = collections.deque()  # (future, job): run before the images
        self._wake = threading.Condition()
        self._stopping = False
        self.busy = None  # the entry being detected
        self._worked = 0  # bytes of decoded images detected since memory was last given back
        self._thread = threading.Thread(target=self._run, name="mrcnn-app-detector", daemon=True)
        self._thread.start()

    def submit(self, entry):
        """Queue an entry; returns how many images are ahead of it (the one being detected included)."""
        with self._wake:
            if self._stopping:
                raise LimitError("the server is shutting down", status=503)
            if len(self._pending) >= self.max_pending:
                raise LimitError(f"the model is busy: {len(self._pending)} images are waiting; retry in a moment",
                                 status=503)
            self._pending.append(entry)
            self._wake.notify()
            return len(self._pending) - 1 + (self.busy is not None)

    def run(self, job):
        """A concurrent.futures.Future of `job()` run on the model's thread before the queued images; LimitError (503)
        when the server is stopping. A job cancelled (Future.cancel) before it starts never runs."""
        future = concurrent.futures.Future()
        with self._wake:
            if self._stopping:
                raise LimitError("the server is shutting down", status=503)
            self._jobs.append((future, job))
            self._wake.notify()
        return future

    def position(self, entry):
        """Images ahead of a queued entry (the one being detected included), or None when it is not queued."""
        with self._wake:
            for i, queued in enumerate(self._pending):
                if queued is entry:
                    return i + (self.busy is not None)
        return None

    def waiting(self):
        with self._wake:
            return len(self._pending)

    def close(self, timeout=30):
        """Stop after the image being detected; queued images fail with a message."""
        with self._wake:
            self._stopping = True
            dropped, jobs = list(self._pending), list(self._jobs)
            self._pending.clear()
            self._jobs.clear()
            self._wake.notify_all()
        for future, _ in jobs:
            future.cancel()
        for entry in dropped:
            self.store.fail(entry, STOPPED)
        self._thread.join(timeout)

    def _run(self):
        while True:
            with self._wake:
                while not self._pending and not self._jobs and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self._jobs.popleft() if self._jobs else None
                entry = self._pending.popleft() if job is None else None
                self.busy = entry
            if job is not None:
                _run_job(*job)
                continue
            entry.status = DETECTING
            self._worked += entry.image.nbytes if entry.image is not None else 0
            start = time.perf_counter()
            try:
                result = self.model.detect([entry.image])[0]
                self.store.finish(entry, result, time.perf_counter() - start)
            except Exception as error:  # one image's failure must not stop the worker: it is shown on the page
                log.exception("detection failed on %s", entry.name)
                self.store.fail(entry, f"detection failed: {type(error).__name__}: {error}")
            finally:
                entry.image = None  # the decoded pixels go; the display image and the results stay
                result = None
                with self._wake:
                    self.busy = None
                    idle = not self._pending
            if idle and self._worked >= RELEASE_AFTER_BYTES:  # a gc pass costs ~0.1 s: not after each small image
                self._worked = 0
                release_memory()


def _run_job(future, job):
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(job())
    except Exception as error:  # the caller reads it from the future; the worker goes on
        future.set_exception(error)


RELEASE_AFTER_BYTES = 64 * 1024 * 1024  # decoded pixels detected before an idle worker gives memory back


def release_memory():
    """Give freed memory back to the system once the queue is empty: after a burst of large images (a 4000 x 4000
    image is 48 MB decoded, its full-size masks 16 MB per cell) glibc keeps the freed pages, and the server's
    resident size would stay at its peak (1.4 GB measured) until it stops. gc.collect() frees what cycles hold,
    malloc_trim(0) returns the free heap to the system (Linux with glibc; elsewhere only the gc runs).
    benchmarks/app_memory.py measures it."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()
