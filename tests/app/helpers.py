"""Shared by the web app's tests: stub detectors with known cells (one also reporting each image's scale and
"unlike the training images" flag), image bytes, and a wait for results."""

import io
import time
import types

import numpy as np
from PIL import Image

CLASS_NAMES = ["BG", "neutrophil", "lymphocyte", "platelet"]
BASE = "http://127.0.0.1:8000"  # the Host and Origin the guard accepts
# What StubDetector finds in every image: (class id, score, (y1, x1, y2, x2)).
STUB_CELLS = [(1, 0.92, (2, 3, 12, 14)), (2, 0.81, (16, 4, 30, 18)), (1, 0.55, (5, 20, 15, 34))]


class StubDetector:
    """The detect contract (DESIGN.md section 5) with fixed cells; an image whose top-left pixel is (13, 13, 13)
    makes it raise, as a model that fails on one image."""

    def __init__(self, floor=0.3, delay=0.0):
        self.config = types.SimpleNamespace(DETECTION_MIN_CONFIDENCE=floor, BATCH_SIZE=1, NUM_CLASSES=len(CLASS_NAMES))
        self.delay = delay
        self.calls = 0

    def detect(self, images):
        out = []
        for image in images:
            self.calls += 1
            time.sleep(self.delay)
            if tuple(image[0, 0]) == (13, 13, 13):
                raise RuntimeError("the stub fails on this image")
            h, w = image.shape[:2]
            masks = np.zeros((h, w, len(STUB_CELLS)), dtype=bool)
            rois = []
            for i, (_, _, (y1, x1, y2, x2)) in enumerate(STUB_CELLS):
                y1, x1, y2, x2 = min(y1, h - 1), min(x1, w - 1), min(y2, h), min(x2, w)
                masks[y1 + 1:y2 - 1, x1 + 1:x2 - 1, i] = True
                rois.append((y1, x1, y2, x2))
            out.append({"rois": np.array(rois, dtype=np.int32),
                        "class_ids": np.array([c for c, _, _ in STUB_CELLS], dtype=np.int32),
                        "scores": np.array([s for _, s, _ in STUB_CELLS], dtype=np.float32), "masks": masks})
        return out


# What ReportingDetector says of an image (the records of mrcnn.detector.ScaledDetector and mrcnn.familiarity).
MEASURED_SCALE = {"source": "red cells", "factor": 0.53, "pixel_size_um": 0.094, "red_cell_diameter_px": 79.8,
                  "red_cells": 41, "spread": 0.06, "confident": True, "reason": None}
UNKNOWN_SCALE = {"source": "none", "factor": None, "pixel_size_um": None, "red_cell_diameter_px": None, "red_cells": 2,
                 "spread": None, "confident": False, "reason": "too few red cells: 2 measured, min_cells = 3"}
FLAGGED = {"score": 3.2, "unlike": True, "cutoff": 2.1}
NO_CUTOFF = {"score": 1.7, "unlike": None, "cutoff": None}
UNLIKE_PIXEL = (250, 250, 250)  # ReportingDetector flags an image whose top-left pixel is this


class ReportingDetector(StubDetector):
    """StubDetector as a ScaledDetector with a familiarity scorer: each result also has "scale" and
    "unlike_training". An image whose top-left pixel is UNLIKE_PIXEL gets MEASURED_SCALE and FLAGGED; any other
    UNKNOWN_SCALE and NO_CUTOFF (a scale that could not be measured, weights without a cut-off)."""

    reports = ("scale", "unlike_training")

    def detect(self, images):
        out = super().detect(images)
        for image, result in zip(images, out):
            flagged = tuple(image[0, 0]) == UNLIKE_PIXEL
            result["scale"] = dict(MEASURED_SCALE if flagged else UNKNOWN_SCALE)
            result["unlike_training"] = dict(FLAGGED if flagged else NO_CUTOFF)
        return out


def png_bytes(height=40, width=48, seed=0, first_pixel=None, fmt="PNG"):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    if first_pixel is not None:
        pixels[0, 0] = first_pixel
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(client, batch, name, data, order=None, **kwargs):
    """POST one image file; `order`: its place in the page's list (?order=)."""
    params = {"name": name} if order is None else {"name": name, "order": order}
    return client.post(f"/api/batches/{batch}/images", params=params, content=data, **kwargs)


def wait_done(client, batch, timeout=120):
    """The batch's image summaries once none is queued or detecting."""
    end = time.time() + timeout
    while time.time() < end:
        images = client.get(f"/api/batches/{batch}").json()["images"]
        if all(image["status"] in ("done", "failed") for image in images):
            return images
        time.sleep(0.05)
    raise AssertionError(f"images still running after {timeout} s: {images}")
