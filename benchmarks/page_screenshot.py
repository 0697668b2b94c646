"""The docs' figure of the page's verify view (docs/images/page_verify.png), made in headless Chromium.

Serves the page for a stand-in detector that "detects" the exact cells of two synthetic PBC-like smears
(samples/pbc/synthetic.py) with one class wrong, uploads the smears, verifies the first cells with the keyboard as
a technologist would (Enter accepts, a digit reclassifies) and saves a screenshot as a 128-colour PNG (the figure
stays small). Needs Chromium and chromedriver (apt-get install chromium chromium-driver) and selenium.

Command (from the repository root):
    .venv/bin/python benchmarks/page_screenshot.py --out docs/images/page_verify.png
"""

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import types

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,900"]


class SmearDetector:
    """The detect contract for known smears: their exact cells, scores from 0.97 down, one class wrong."""

    def __init__(self, smears):
        self.config = types.SimpleNamespace(DETECTION_MIN_CONFIDENCE=0.05)
        self.smears = smears  # [(image, masks [H, W, N], class ids [N])]

    def detect(self, images):
        from mrcnn import utils
        for image, masks, class_ids in self.smears:
            if np.array_equal(image, images[0]):
                class_ids = class_ids.copy()
                class_ids[-1] = class_ids[-1] % 8 + 1  # the model's mistake the technologist corrects
                scores = np.linspace(0.97, 0.78, len(class_ids)).astype(np.float32)
                return [{"rois": utils.extract_bboxes(masks), "class_ids": class_ids, "scores": scores,
                         "masks": masks}]
        raise ValueError("not one of the smears")


def smears(count, size, seed):
    from samples.pbc.classes import CLASS_NAMES
    from samples.pbc.synthetic import random_spec, render_smear, smear_masks
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        spec = random_spec(rng, size, CLASS_NAMES[(3 * n + 5) % len(CLASS_NAMES)], cells_per_image=(3, 4))
        masks, class_ids = smear_masks(spec)
        out.append((render_smear(spec), masks, class_ids))
    return out


def serve(app):
    import uvicorn
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/images/page_verify.png", help="PNG to write")
    parser.add_argument("--size", type=int, default=320, help="smear side in pixels (default 320)")
    parser.add_argument("--seed", type=int, default=3, help="seed of the smears (default 3)")
    args = parser.parse_args(argv)

    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    from mrcnn.app import create_app
    from samples.pbc.classes import CLASS_NAMES, WHITE_CELL_CLASSES
    pictures = smears(2, args.size, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(SmearDetector(pictures), ["BG"] + CLASS_NAMES, threshold=0.75, work_dir=folder,
                         differential={"classes": WHITE_CELL_CLASSES, "label": "white cells"},
                         card={"title": "PBC Mask R-CNN", "classes": CLASS_NAMES, "backbone": "resnet101"})
        server, url = serve(app)
        files = []
        for n, (image, _, _) in enumerate(pictures):
            files.append(os.path.join(folder, f"smear_{n + 1}.png"))
            Image.fromarray(image).save(files[-1])
        options = webdriver.ChromeOptions()
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={os.path.join(folder, 'profile')}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 30)
            wait.until(lambda d: d.execute_script("return document.body.dataset.batch"))
            driver.find_element("id", "picker").send_keys("\n".join(files))
            wait.until(lambda d: len(d.find_elements("css selector", "#images li[data-status=done]")) == 2)
            driver.find_element("css selector", "#images li .name").click()
            time.sleep(0.5)
            for key in ("\ue007", "\ue007", "7"):  # Enter, Enter, then "neutrophil" for the third cell
                ActionChains(driver).send_keys(key).perform()
                time.sleep(0.3)
            ActionChains(driver).send_keys("p").perform()
            time.sleep(0.5)
            shot = os.path.join(folder, "shot.png")
            driver.save_screenshot(shot)
            Image.open(shot).convert("RGB").quantize(128).save(args.out, optimize=True)
        finally:
            driver.quit()
            server.should_exit = True
    print(f"{args.out}: {os.path.getsize(args.out) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
