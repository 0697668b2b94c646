"""A cell the technologist draws gets the model's mask head's outline in its box (mrcnn/app/drawn.py), run on the
model's thread before the queued images, at the scale of the image's detection; the ellipse stands in otherwise."""

import concurrent.futures
import threading
import types

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the web app's extra is not installed (pip install -e .[app])")

from starlette.testclient import TestClient  # noqa: E402

from mrcnn.app import create_app  # noqa: E402
from mrcnn.app.drawn import drawn_mask, ellipse_mask  # noqa: E402
from mrcnn.app.store import LimitError  # noqa: E402
from mrcnn.app.worker import DetectionWorker  # noqa: E402
from tests.app.helpers import BASE, CLASS_NAMES, MEASURED_SCALE, ReportingDetector, StubDetector, png_bytes, \
    upload, wait_done  # noqa: E402


class MaskingDetector(StubDetector):
    """StubDetector with a mask head; records what it is given. The mask of a box (`shape`): "lower" its lower three
    quarters (a cell), "nucleus" the middle ninth, "empty" nothing, "fail" raises."""

    def __init__(self, shape="lower", **kwargs):
        super().__init__(**kwargs)
        self.shape, self.seen = shape, []

    def masks_for_boxes(self, image, boxes, class_ids, **kwargs):
        self.seen.append((image.shape, np.asarray(boxes).round(2).tolist(), list(class_ids), kwargs,
                          threading.current_thread().name))
        if self.shape == "fail":
            raise RuntimeError("the head failed")
        masks = np.zeros(image.shape[:2] + (len(boxes),), bool)
        for i, (y1, x1, y2, x2) in enumerate(np.rint(boxes).astype(int)):
            h, w = y2 - y1, x2 - x1
            if self.shape == "lower":
                masks[y1 + h // 4:y2, x1:x2, i] = True
            elif self.shape == "nucleus":
                masks[y1 + h // 3:y2 - h // 3, x1 + w // 3:x2 - w // 3, i] = True
        return masks


class ScaledMaskingDetector(MaskingDetector, ReportingDetector):
    """MaskingDetector that reports each image's scale, as a ScaledDetector."""


def _add_cell(model, box, height=40, width=48, class_name="platelet"):
    with TestClient(create_app(model, CLASS_NAMES), base_url=BASE) as client:
        batch = client.post("/api/batches").json()["batch"]
        upload(client, batch, "a.png", png_bytes(height=height, width=width, first_pixel=(250, 250, 250)))
        wait_done(client, batch)
        response = client.post(f"/api/batches/{batch}/images/1/cells", json={"box": box, "class_name": class_name})
        assert response.status_code == 201, response.text
        return response.json()["cell"]


def _mask(cell, height, width):
    from mrcnn.app.masks import cell_mask
    return cell_mask(cell, height, width)


def test_a_drawn_cell_gets_the_mask_heads_outline_from_the_models_thread():
    model = MaskingDetector()
    cell = _add_cell(model, [10, 8, 30, 28])
    expected = np.zeros((40, 48), bool)
    expected[15:30, 8:28] = True  # the head's answer: the box's lower three quarters, 300 px, 0.95 of the ellipse
    assert cell["mask_from"] == "model" and np.array_equal(_mask(cell, 40, 48), expected) and cell["area"] == 300
    shape, boxes, class_ids, kwargs, thread = model.seen[0]
    assert shape == (40, 48, 3) and boxes == [[10, 8, 30, 28]] and class_ids == [3] and kwargs == {}
    assert thread == "mrcnn-app-detector"


def test_a_scaled_detector_gets_the_scale_its_detection_had():
    model = ScaledMaskingDetector()
    cell = _add_cell(model, [10, 8, 30, 28])
    assert cell["mask_from"] == "model" and model.seen[0][3] == {"scale": MEASURED_SCALE}


def test_a_large_image_is_masked_on_its_display_copy_and_the_mask_brought_back():
    model = ScaledMaskingDetector()
    cell = _add_cell(model, [1000, 10, 1400, 50], height=4096, width=64)  # shown at 2048 x 32: half size
    shape, boxes, _, kwargs, _ = model.seen[0]
    assert shape == (2048, 32, 3) and boxes == [[500, 5, 700, 25]]
    assert kwargs["scale"]["factor"] == pytest.approx(MEASURED_SCALE["factor"] * 2)  # the copy is half as large
    mask = _mask(cell, 4096, 64)
    assert cell["mask_from"] == "model" and mask[1100:1400, 10:50].all() and mask.sum() == 300 * 40


@pytest.mark.parametrize("model", [StubDetector(), MaskingDetector("fail"), MaskingDetector("empty"),
                                   MaskingDetector("nucleus")],
                         ids=["no mask head", "the head fails", "an empty mask", "the nucleus only"])
def test_without_a_mask_from_the_model_the_cell_is_the_ellipse_in_its_box(model):
    cell = _add_cell(model, [10, 8, 30, 28])
    assert cell["mask_from"] == "ellipse"
    assert np.array_equal(_mask(cell, 40, 48), ellipse_mask(40, 48, (10, 8, 30, 28)))


def test_a_busy_model_times_out_to_the_ellipse_and_the_job_never_runs():
    never = concurrent.futures.Future()
    worker = types.SimpleNamespace(run=lambda job: never)
    entry = types.SimpleNamespace(name="a.png", height=20, width=20, info={},
                                  display_path=lambda: _png_file(20, 20))
    mask, mask_from = drawn_mask(MaskingDetector(), worker, entry, (2, 2, 12, 12), 1, timeout=0.01)
    assert mask_from == "ellipse" and np.array_equal(mask, ellipse_mask(20, 20, (2, 2, 12, 12)))
    assert never.cancelled()


def _png_file(height, width, _cache={}):
    import tempfile
    if (height, width) not in _cache:
        path = tempfile.NamedTemporaryFile(suffix=".png", delete=False).name
        with open(path, "wb") as f:
            f.write(png_bytes(height=height, width=width))
        _cache[height, width] = path
    return _cache[height, width]


def _slow_worker(order):
    """A worker whose model waits for the returned event before each image; `order` records what ran."""
    release = threading.Event()

    class Slow(StubDetector):
        def detect(self, images):
            order.append("image")
            release.wait(5)
            return super().detect(images)

    store = types.SimpleNamespace(finish=lambda *a: None, fail=lambda *a: None)
    worker = DetectionWorker(Slow(), store, max_pending=4)
    for i in range(2):
        worker.submit(types.SimpleNamespace(image=np.zeros((8, 8, 3), np.uint8), name=str(i), status=None))
    while not order:  # the first image is being detected
        threading.Event().wait(0.01)
    return worker, release


def test_a_job_goes_before_the_queued_images():
    order = []
    worker, release = _slow_worker(order)
    job = worker.run(lambda: order.append("job") or 7)
    release.set()
    assert job.result(5) == 7
    worker.close()
    assert order[:2] == ["image", "job"]  # before the second image
    with pytest.raises(LimitError, match="shutting down"):
        worker.run(lambda: None)


def test_closing_the_worker_cancels_the_jobs_left():
    order = []
    worker, release = _slow_worker(order)
    job = worker.run(lambda: order.append("job"))
    closing = threading.Thread(target=worker.close)
    closing.start()
    while not job.done():
        threading.Event().wait(0.01)
    release.set()
    closing.join(5)
    assert job.cancelled() and order == ["image"]


def test_the_models_mask_must_cover_min_fill_of_the_ellipse():
    from mrcnn.app.drawn import MIN_FILL

    box = (0, 0, 20, 20)
    ellipse = ellipse_mask(20, 20, box)
    needed = int(np.ceil(MIN_FILL * ellipse.sum()))
    entry = types.SimpleNamespace(name="a.png", height=20, width=20, info={}, display_path=lambda: _png_file(20, 20))
    for pixels, expected in ((needed, "model"), (needed - 1, "ellipse")):
        mask = np.zeros((20, 20), bool)
        mask.flat[:pixels] = True  # the first rows: any shape, only the area counts

        def run(job, mask=mask):
            done = concurrent.futures.Future()
            done.set_result(mask)
            return done
        got, mask_from = drawn_mask(MaskingDetector(), types.SimpleNamespace(run=run), entry, box, 1)
        assert mask_from == expected and np.array_equal(got, mask if expected == "model" else ellipse)
