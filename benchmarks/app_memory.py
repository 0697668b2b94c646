"""The web app's memory after a burst of large images: resident size before, at the peak and after, on Linux.

Uploads `--images` random 4000 x 4000 PNGs (16 MP, the page's limit) to the app through Starlette's test client,
with a stub detector that returns `--cells` full-size masks per image as the real model does, waits for every
result, and prints the server process's resident size (from /proc/self/status) before the burst, its peak (VmHWM)
and after. mrcnn/app/worker.py gives the freed memory back to the system once the queue is empty
(`release_memory`); `--no-release` turns that off to show the difference.

Command (from the repository root):
    .venv/bin/python benchmarks/app_memory.py --images 8
"""

import argparse
import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.timing import proc_status_mib  # noqa: E402


class FullSizeStub:
    """The detect contract with `cells` square cells, each with a full-image mask (as MaskRCNN.detect returns)."""

    def __init__(self, cells):
        import types
        self.config = types.SimpleNamespace(DETECTION_MIN_CONFIDENCE=0.3)
        self.cells = cells

    def detect(self, images):
        image = images[0]
        h, w = image.shape[:2]
        masks = np.zeros((h, w, self.cells), dtype=bool)
        rois = []
        for i in range(self.cells):
            y, x = (i * 97) % (h - 100), (i * 131) % (w - 100)
            masks[y + 10:y + 90, x + 10:x + 90, i] = True
            rois.append((y, x, y + 100, x + 100))
        return [{"rois": np.array(rois, np.int32), "class_ids": np.ones(self.cells, np.int32),
                 "scores": np.linspace(0.99, 0.5, self.cells).astype(np.float32), "masks": masks}]


def resident_mb():
    """(current, peak) resident size of this process in MB, from /proc/self/status."""
    return proc_status_mib("VmRSS"), proc_status_mib("VmHWM")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8, help="images in the burst (default 8)")
    parser.add_argument("--side", type=int, default=4000, help="image side in pixels (default 4000)")
    parser.add_argument("--cells", type=int, default=20, help="cells the stub finds per image (default 20)")
    parser.add_argument("--no-release", action="store_true", help="do not give memory back (for comparison)")
    args = parser.parse_args(argv)

    from PIL import Image
    from starlette.testclient import TestClient

    from mrcnn.app import create_app, worker
    from mrcnn.app.store import Limits
    if args.no_release:
        worker.release_memory = lambda: None
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (args.side, args.side, 3), dtype=np.uint8)).save(buffer, "PNG",
                                                                                          compress_level=1)
    data = buffer.getvalue()
    app = create_app(FullSizeStub(args.cells), ["BG", "cell"], limits=Limits(max_bytes=len(data) + 1))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        before = resident_mb()[0]
        batch = client.post("/api/batches").json()["batch"]
        start = time.time()
        for i in range(args.images):
            while client.post(f"/api/batches/{batch}/images", params={"name": f"{i}.png"},
                              content=data).status_code == 503:
                time.sleep(0.2)
        while any(image["status"] not in ("done", "failed")
                  for image in client.get(f"/api/batches/{batch}").json()["images"]):
            time.sleep(0.2)
        seconds = time.time() - start
        time.sleep(0.5)  # the worker releases memory once its queue is empty
        after, peak = resident_mb()
    print(f"{args.images} images of {args.side} x {args.side} px, {args.cells} cells each, in {seconds:.1f} s: "
          f"resident {before:.0f} MB before, {peak:.0f} MB at the peak, {after:.0f} MB after"
          + (" (memory not released)" if args.no_release else ""))


if __name__ == "__main__":
    main()
