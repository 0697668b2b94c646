"""A local web page for Mask R-CNN: drop smear images, see the cells, download the differential count.

    from mrcnn.app import serve
    serve(model, ["BG", "basophil", ...], weights=path, eval_dir="out/eval", threshold=0.75)  # http://127.0.0.1:8000

or `python samples/pbc/pbc.py serve --weights last` (samples/pbc/README.md). Layout:
    server.py   the HTTP side (Starlette): routes, upload reading, the downloads
    guard.py    the Host / Origin guard and the security headers
    worker.py   the one thread that runs the model, images queued in upload order
    store.py    batches (on disk, the recent ones in memory) and the cells the page draws
    disk.py     the work folder: batches on disk, written atomically
    review.py   the technologist's review: accept, reclassify, not a cell, unidentified, add; the differential
    drawn.py    a cell the technologist draws: its mask from the model's mask head on the box
    exports.py  the downloads: counts.csv, results.json, differential.csv, corrections.json, changes.csv
    report.py   the one-page report PNG
    masks.py    a cell's mask as a small PNG for the page, and back
    uploads.py  uploaded bytes -> an RGB image, with a plain message for each bad file
    card.py     the model card: config, weights, and the evaluation's figures
    static/     the page: index.html, app.css, view.js (the image, its cells), card.js, counts.js (the
                differential), review.js (the keyboard review), app.js (state, uploads); no build step, nothing
                loaded from the internet

It needs the optional dependencies of `pip install -e .[app]` (starlette, uvicorn); the rest of mrcnn does not.
"""

import logging

INSTALL_HINT = ("the web app needs starlette and uvicorn: pip install -e '.[app]' "
                "(or pip install -r requirements-app.txt)")

log = logging.getLogger(__name__)


def require_dependencies():
    """ImportError with the install command when starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from error


def create_app(model, class_names, **kwargs):
    """The Starlette app (mrcnn.app.server.create_app; its docstring lists the options)."""
    require_dependencies()
    from mrcnn.app.server import create_app as create
    return create(model, class_names, **kwargs)


def serve(model, class_names, weights=None, eval_dir=None, threshold=None, host="127.0.0.1", port=8000,
          title=None, work_dir=None, **kwargs):
    """Build the model card and the app for `model`, then serve it with uvicorn until Ctrl-C.

    weights: the weights file loaded (shown on the card; a metrics.json beside it is the card's evaluation unless
    `eval_dir` names one). threshold: the page's starting confidence threshold; the model's own
    DETECTION_MIN_CONFIDENCE is the floor. work_dir: the folder the batches are kept in (default
    mrcnn.app.disk.default_work_dir(): the user's data folder). Binding to another address than loopback lets anyone who reaches it
    use the page (there is no login): the Host check then accepts that address too. Other keyword arguments go to
    `create_app`.
    """
    require_dependencies()
    import uvicorn

    from mrcnn.app.card import model_card
    from mrcnn.app.disk import default_work_dir, prepare_work_dir
    from mrcnn.app.guard import LOOPBACK_NAMES
    config = getattr(model, "config", None)
    floor = float(getattr(config, "DETECTION_MIN_CONFIDENCE", 0.0))
    card = model_card(config, class_names, weights=weights, eval_dir=eval_dir, threshold=threshold, floor=floor,
                      title=title)
    allowed = LOOPBACK_NAMES
    if host not in LOOPBACK_NAMES:
        log.warning("serving on %s: anyone who can reach this address can use the page (there is no login)", host)
        allowed = None if host in ("0.0.0.0", "::") else LOOPBACK_NAMES + (host,)
    work_dir = prepare_work_dir(work_dir or default_work_dir())
    log.info("batches are kept in %s", work_dir)
    app = create_app(model, class_names, card=card, threshold=threshold, allowed_hosts=allowed, work_dir=work_dir,
                     **kwargs)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    log.info("open http://%s:%d/ in a browser (Ctrl-C stops)", f"[{shown}]" if ":" in shown else shown, port)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
