"""The web app's HTTP side (Starlette): the page, a small JSON API, the downloads, and the guards around them.

Routes (errors are JSON {"error": a sentence for the page, "detail": what the reader found, or null}):
    GET  /                                        the page (static/index.html, with static/app.js and app.css)
    GET  /api/model                               the model card, class names, threshold, floor and limits
    GET  /api/batches                             the batches of the work folder: {"batches": [{"id", "created",
                                                  "updated", "images", "done", "names", "changes"}]}, newest first
    POST /api/batches                             a new batch: {"batch": id}
    GET  /api/batches/{b}                         its images: status, place in the queue, error, cells found
    POST /api/batches/{b}/images?name=FILE&order=N  the image file as the raw request body -> 202 {"image": ...};
                                                  N: its place in the page's list (the downloads' row order)
    GET  /api/batches/{b}/images/{i}              one image's cells: class, score, box, area, mask PNG; and what
                                                  the detector reports of it ("scale", "unlike_training")
    GET  /api/batches/{b}/images/{i}/image        the image as the page shows it (PNG, or JPEG when large)
    POST /api/batches/{b}/images/{i}/cells/{c}/review  {"decision": "accept" | "class" | "not_cell" |
                                                  "unidentified" | "undo", "class_name"} -> {"cell", "change"}
    POST /api/batches/{b}/images/{i}/cells        a missed cell {"box": [y1, x1, y2, x2], "class_name"} -> 201
                                                  {"index", "cell", "change"} (mrcnn/app/review.py; its mask
                                                  from the model's mask head: mrcnn/app/drawn.py)
    GET  /api/batches/{b}/counts.csv?min_score=T  pbc.py detect's counts.csv of the batch, scores >= T (with its
                                                  scale and unlike_training columns when the detector reports them)
    GET  /api/batches/{b}/results.json?min_score=T    pbc.py detect's results.json (COCO results), scores >= T
    GET  /api/batches/{b}/differential.csv?min_score=T   the verified differential, pre-classified beside it
    GET  /api/batches/{b}/corrections.json?min_score=T   the verified cells as COCO instances, with the changes
    GET  /api/batches/{b}/changes.csv             every change made in the review (what, from, to, when)
    GET  /api/batches/{b}/report.png?min_score=T  the one-page report (mrcnn/app/report.py)
    (the files: mrcnn/app/exports.py)

One file per upload request, so that the page shows each image's progress and a bad file fails alone; how many a
batch holds is `Limits.max_images`. The body is read in chunks and refused past `Limits.max_bytes`. The Host and
Origin checks and the security headers: mrcnn/app/guard.py.
"""

import contextlib
import json
import logging
import os
import pathlib
import shutil
import tempfile
import weakref

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mrcnn.app import exports
from mrcnn.app.disk import prepare_work_dir
from mrcnn.app.drawn import drawn_mask
from mrcnn.app.guard import LOOPBACK_NAMES, Guard
from mrcnn.app.report import report_png
from mrcnn.app.review import ReviewError
from mrcnn.app.store import DONE, LimitError, Limits, Store, clean_name
from mrcnn.app.uploads import READABLE, UploadError, decode_upload, display_image, too_large
from mrcnn.app.worker import DetectionWorker
from mrcnn.streaming import image_info_keys

log = logging.getLogger(__name__)
STATIC_DIR = pathlib.Path(__file__).resolve().with_name("static")  # the page: index.html, app.js, app.css

class Service:
    """The app's state: the store of batches in the work folder, the detection worker and the card."""

    def __init__(self, model, class_names, card, threshold, limits, category_map, differential, work_dir):
        self.model = model
        self.class_names = [str(c) for c in class_names]
        self.limits = limits or Limits()
        self.temporary = work_dir is None  # a work folder of its own, removed when the app stops
        if self.temporary:
            work_dir = tempfile.mkdtemp(prefix="mrcnn-app-")  # mode 0700
            weakref.finalize(self, shutil.rmtree, work_dir, True)  # also when the app is never started or closed
        self.work_dir = prepare_work_dir(work_dir)
        self.uploads = os.path.join(self.work_dir, "uploads")  # each upload for a moment (mrcnn/app/uploads.py)
        self.store = Store(self.class_names, self.limits, category_map, info_keys=image_info_keys(model),
                           work_dir=self.work_dir)
        self.worker = DetectionWorker(model, self.store, self.limits.max_pending)
        config = getattr(model, "config", None)
        self.floor = float(getattr(config, "DETECTION_MIN_CONFIDENCE", 0.0))
        self.threshold = max(self.floor, float(threshold if threshold is not None else self.floor))
        self.card = card or {"title": "Mask R-CNN", "classes": self.class_names[1:]}
        self.differential = differential

    def close(self):
        self.worker.close()
        if self.temporary:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def base(self):
        """(the classes of the differential's 100 %, their name), or (None, None): all classes."""
        if not self.differential:
            return None, None
        return list(self.differential["classes"]), self.differential.get("label")

    def coco_info(self):
        """What corrections.json's "info" says of the model."""
        return {"model": {key: self.card.get(key) for key in ("title", "backbone", "weights", "epoch")
                          if self.card.get(key) is not None}}

    def info(self):
        return {"card": self.card, "class_names": self.class_names[1:], "threshold": self.threshold,
                "floor": self.floor, "limits": self.limits.to_dict(), "differential": self.differential,
                "formats": READABLE, "work_dir": None if self.temporary else self.work_dir}


def _error(message, status, detail=None):
    return JSONResponse({"error": message, "detail": detail}, status_code=status)


def _batch(request):
    service = request.app.state.service
    try:
        return service.store.batch(request.path_params["batch"])
    except KeyError:
        where = "this server's work folder" if service.temporary else f"the work folder {service.work_dir}"
        raise HTTPException(404, f"there is no batch {request.path_params['batch']!r} in {where}: it was never "
                                 "created, its folder was removed, or the server was started with another --work "
                                 "folder; start a new batch or open one from the list") from None
    except (ValueError, OSError) as error:  # a batch file damaged or removed by hand
        raise HTTPException(500, f"the batch could not be read from the work folder: {error}") from None


def _entry(request):
    entry = _batch(request).images.get(request.path_params["image"])
    if entry is None:
        raise HTTPException(404, "no such image in this batch")
    return entry


def _min_score(request):
    service = request.app.state.service
    raw = request.query_params.get("min_score")
    if raw is None:
        return service.threshold
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise HTTPException(400, f"min_score must be a number from 0 to 1, got {raw!r}")
    return value


def _order(request):
    """The upload's place in the page's list (?order=N, an integer >= 0), or None: the downloads list images in this
    order, whatever order the uploads arrive in."""
    raw = request.query_params.get("order")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise HTTPException(400, f"order must be a whole number from 0 to 999999999, got {raw!r}")
    return int(raw)


async def _read_body(request, name, max_bytes):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(name, max_bytes, int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large(name, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


# ---- endpoints --------------------------------------------------------------------------------------------------------

async def page(request):
    return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})


async def model_info(request):
    return JSONResponse(request.app.state.service.info())


async def list_batches(request):
    service = request.app.state.service
    return JSONResponse({"batches": await run_in_threadpool(service.store.list_batches)})


async def new_batch(request):
    return JSONResponse({"batch": request.app.state.service.store.new_batch().id}, status_code=201)


async def batch_status(request):
    service, batch = request.app.state.service, _batch(request)
    images = [entry.summary(service.worker.position(entry)) for entry in service.store.entries(batch)]
    return JSONResponse({"batch": batch.id, "images": images})


async def upload(request):
    service, batch = request.app.state.service, _batch(request)
    name = clean_name(request.query_params.get("name"))
    order = _order(request)
    limits = service.limits
    if len(batch.images) >= limits.max_images:  # answered before the body is read
        raise LimitError(f"{name} was not added: a batch holds at most {limits.max_images} images; download this "
                         "batch's results and start a new batch for more")
    if service.worker.waiting() >= limits.max_pending:
        raise LimitError("the model is busy with earlier images; retry in a moment", status=503)
    data = await _read_body(request, name, limits.max_bytes)
    image = await run_in_threadpool(decode_upload, data, name, service.uploads, limits.max_pixels)
    display, media_type = await run_in_threadpool(display_image, image)
    entry = await run_in_threadpool(service.store.add_image, batch, name, image, display, media_type, order)
    try:
        position = service.worker.submit(entry)
    except LimitError:
        await run_in_threadpool(service.store.remove, batch, entry)
        raise
    log.info("queued %s (%d x %d) in batch %s", entry.name, entry.width, entry.height, batch.id)
    return JSONResponse({"image": entry.summary(position)}, status_code=202)


async def image_detail(request):
    service, entry = request.app.state.service, _entry(request)
    out = entry.summary(service.worker.position(entry))
    out["cells"] = entry.cells if entry.status == DONE else []  # the summary's count becomes the list itself
    if entry.status == DONE:
        out.update(entry.info)  # the image's "scale" and "unlike_training", when the detector reports them
    return JSONResponse(out)


async def image_file(request):
    entry = _entry(request)
    return FileResponse(entry.display_path(), media_type=entry.display_type,
                        headers={"cache-control": "private, max-age=3600"})


async def _json_body(request, max_bytes=64 * 1024):
    """The request's JSON body, or 400 saying what was expected."""
    data = await _read_body(request, "the request", max_bytes)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ReviewError(f"the request body must be JSON ({error})") from None


def _cell_index(request):
    raw = request.path_params["cell"]
    if not raw.isdigit() or len(raw) > 6:
        raise ReviewError(f"a cell is numbered 0, 1, 2, ..., got {raw!r}", 404)
    return int(raw)


async def review_cell(request):
    service, batch = request.app.state.service, _batch(request)
    body = await _json_body(request)
    cell, change = await run_in_threadpool(service.store.review, batch, request.path_params["image"],
                                           _cell_index(request), body)
    return JSONResponse({"cell": cell, "change": change})


async def add_cell(request):
    service, batch = request.app.state.service, _batch(request)
    body = await _json_body(request)
    entry, box, name = await run_in_threadpool(service.store.new_cell, batch, request.path_params["image"], body)
    mask, mask_from = await run_in_threadpool(drawn_mask, service.model, service.worker, entry, box,
                                              service.class_names.index(name))
    index, cell, change = await run_in_threadpool(service.store.add_cell, batch, entry, box, name, mask, mask_from)
    return JSONResponse({"index": index, "cell": cell, "change": change}, status_code=201)


DOWNLOADS = {  # file name -> (media type, what makes it from the service, the batch id, its finished images, min_score)
    "counts.csv": ("text/csv; charset=utf-8",
                   lambda service, batch_id, entries, t: exports.counts_csv(entries, t, service.class_names,
                                                                  service.store.info_keys)),
    "results.json": ("application/json", lambda service, batch_id, entries, t: exports.results_json(entries, t)),
    "differential.csv": ("text/csv; charset=utf-8",
                         lambda service, batch_id, entries, t: exports.differential_csv(entries, t, service.class_names,
                                                                              *service.base())),
    "changes.csv": ("text/csv; charset=utf-8", lambda service, batch_id, entries, t: exports.changes_csv(entries)),
    "corrections.json": ("application/json",
                         lambda service, batch_id, entries, t: exports.corrections_json(entries, t, service.class_names,
                                                                              service.coco_info())),
    "report.png": ("image/png", lambda service, batch_id, entries, t: report_png(entries, t, service.class_names, service.card,
                                                                      *service.base(), batch_id=batch_id)),
}


def _download(name):
    media_type, make = DOWNLOADS[name]

    async def endpoint(request):
        service, batch = request.app.state.service, _batch(request)
        min_score = _min_score(request)
        body = await run_in_threadpool(make, service, batch.id, service.store.finished(batch), min_score)
        return Response(body, media_type=media_type,
                        headers={"content-disposition": f'attachment; filename="{name}"'})
    return endpoint


# ---- errors -----------------------------------------------------------------------------------------------------------

async def _upload_error(request, error):
    return _error(error.message, error.status, error.detail)


async def _review_error(request, error):
    return _error(str(error), error.status)


async def _limit_error(request, error):
    return _error(str(error), error.status)


async def _http_error(request, error):
    message = error.detail if error.status_code != 404 or error.detail != "Not Found" else \
        f"nothing at {request.url.path}"
    return _error(message, error.status_code)


async def _server_error(request, error):
    log.exception("error answering %s %s", request.method, request.url.path)
    return _error(f"the server failed on this request ({type(error).__name__}: {error}); it keeps running", 500)


def create_app(model, class_names, card=None, threshold=None, limits=None, category_map=None, differential=None,
               allowed_hosts=LOOPBACK_NAMES, work_dir=None):
    """The Starlette app serving `model` (anything with the detect contract, see mrcnn/app/worker.py).

    Args:
        class_names: ["BG", class 1, ...].
        card: the model card (mrcnn.app.card.model_card), shown as is.
        threshold: the page's starting confidence threshold (default: the model's DETECTION_MIN_CONFIDENCE, which
            is also the floor: the lowest score the model returns and the slider reaches).
        limits: `Limits` (bytes, pixels, images per batch, ...).
        category_map: {class id: COCO category id} for results.json (default: the class id).
        differential: {"classes": [names], "label": "white cells"}: the classes whose sum is the 100 % of the
            differential count (the others are given per 100 of them); None: all classes.
        allowed_hosts: host names the Host header may carry (None: any, for a server bound to 0.0.0.0 behind
            something that checks it).
        work_dir: the folder the batches are kept in (mrcnn/app/disk.py), created when missing; None: a temporary
            folder removed when the app stops (tests; `serve` passes the user's).
    The detection thread starts now and stops when the app shuts down (its lifespan), or with
    `app.state.service.close()`.
    """
    service = Service(model, class_names, card, threshold, limits, category_map, differential, work_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.close()

    routes = [
        Route("/", page),
        Route("/api/model", model_info),
        Route("/api/batches", new_batch, methods=["POST"]),
        Route("/api/batches", list_batches, methods=["GET"]),
        Route("/api/batches/{batch}", batch_status),
        Route("/api/batches/{batch}/images", upload, methods=["POST"]),
        Route("/api/batches/{batch}/images/{image}", image_detail),
        Route("/api/batches/{batch}/images/{image}/image", image_file),
        Route("/api/batches/{batch}/images/{image}/cells", add_cell, methods=["POST"]),
        Route("/api/batches/{batch}/images/{image}/cells/{cell}/review", review_cell, methods=["POST"]),
        *(Route(f"/api/batches/{{batch}}/{name}", _download(name)) for name in DOWNLOADS),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    handlers = {UploadError: _upload_error, LimitError: _limit_error, ReviewError: _review_error,
                HTTPException: _http_error,
                Exception: _server_error}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan,
                    middleware=[Middleware(Guard, allowed_hosts=allowed_hosts)])
    app.state.service = service
    return app
