"""Shared by the web app's tests: a stub detector with known cells, image bytes, and a wait for results."""

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


def png_bytes(height=40, width=48, seed=0, first_pixel=None, fmt="PNG"):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    if first_pixel is not None:
        pixels[0, 0] = first_pixel
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(client, batch, name, data, **kwargs):
    return client.post(f"/api/batches/{batch}/images", params={"name": name}, content=data, **kwargs)


def wait_done(client, batch, timeout=120):
    """The batch's image summaries once none is queued or detecting."""
    end = time.time() + timeout
    while time.time() < end:
        images = client.get(f"/api/batches/{batch}").json()["images"]
        if all(image["status"] in ("done", "failed") for image in images):
            return images
        time.sleep(0.05)
    raise AssertionError(f"images still running after {timeout} s: {images}")
