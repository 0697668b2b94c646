"""The page in a real browser: Debian's headless Chromium driven by Selenium through Debian's chromedriver.

The server runs in this process (uvicorn on a free loopback port) with a stub detector, whose cells are known, so
the test can read exact counts off the page (and, with the reporting stub, each image's scale and flag). Screenshots
are saved as test artifacts in out/test-artifacts/ (not committed). Without Chromium (`apt-get install chromium chromium-driver`, which .ci/run does as root) or Selenium
the tests are skipped with the reason.
"""

import base64
import json
import os
import pathlib
import shutil
import socket
import tempfile
import threading
import time

import pytest

pytest.importorskip("starlette", reason="the web app's extra is not installed (pip install -e .[app])")
pytest.importorskip("selenium", reason="selenium is not installed (pip install -r requirements.txt)")

from mrcnn.app import create_app  # noqa: E402
from mrcnn.app.store import Limits  # noqa: E402
from tests.app.helpers import CLASS_NAMES, UNLIKE_PIXEL, ReportingDetector, StubDetector, png_bytes  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "out" / "test-artifacts"
LIMITS = Limits(max_images=6, max_bytes=100_000, max_pixels=5_000)
# The flags Chromium needs as root on a machine without a network (the machine notes).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000"]

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip(f"no browser: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; "
                ".ci/run installs them when it runs as root)", allow_module_level=True)


def _serve(model):
    """Serve the page for `model` on a free loopback port until the generator is closed; yields its address."""
    import uvicorn
    app = create_app(model, CLASS_NAMES, threshold=0.75, limits=LIMITS,
                     differential={"classes": ["neutrophil", "lymphocyte"], "label": "white cells"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def url():
    yield from _serve(StubDetector())


@pytest.fixture(scope="module")
def reporting_url():
    yield from _serve(ReportingDetector())


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="mrcnn-chromium-")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, timeout=30, what="the page"):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message=f"waiting for {what}")


def _open(driver, url):
    driver.get(url)
    _wait(driver, lambda d: d.find_element("id", "limits").text and d.execute_script(
        "return document.querySelectorAll('#classes .chip').length") == 3, what="the model info")
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.batch"), what="a batch")


def _counts(driver):
    rows = driver.find_elements("css selector", "#counts tbody tr[data-class]")
    return {r.get_attribute("data-class"): r.find_element("css selector", "td.num").text for r in rows
            if r.get_attribute("data-class")}


def _drop(driver, files):
    """Drop files on the drop zone as a user's drag and drop does: files = [(name, bytes)]."""
    encoded = [(name, base64.b64encode(data).decode()) for name, data in files]
    driver.execute_script("""
        const transfer = new DataTransfer();
        for (const [name, b64] of arguments[0]) {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          transfer.items.add(new File([bytes], name, { type: "application/octet-stream" }));
        }
        const zone = document.getElementById("drop");
        zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    """, encoded)


def _no_script_errors(driver):
    """No JavaScript error on the console (refused uploads log network errors: those are expected)."""
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not errors, errors


def _statuses(driver):
    return [(li.find_element("css selector", ".name").text, li.get_attribute("data-status"),
             li.find_element("css selector", ".status").text) for li in driver.find_elements("css selector",
                                                                                           "#images li")]


def _settled(driver, count):
    items = _statuses(driver)
    return len(items) == count and all(status in ("done", "failed") for _, status, _ in items)


def test_upload_overlay_counts_slider_and_toggles(browser, url, tmp_path):
    _open(browser, url)
    image = tmp_path / "smear one.png"
    image.write_bytes(png_bytes())
    browser.find_element("id", "picker").send_keys(str(image))
    _wait(browser, lambda d: _settled(d, 1), what="the detection")
    _wait(browser, lambda d: d.find_element("id", "overlay").get_attribute("data-drawn") == "2", what="the overlay")
    assert _statuses(browser)[0][:2] == ("smear one.png", "done")
    # the paper's 0.75: the neutrophil at 0.92 and the lymphocyte at 0.81 (the 0.55 neutrophil waits below)
    assert _counts(browser) == {"neutrophil": "1", "lymphocyte": "1", "platelet": "0"}
    assert browser.find_element("id", "total-count").text == "2"
    assert len(browser.find_elements("css selector", "#cells tbody tr")) == 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "web_page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    browser.execute_script("const s = document.getElementById('threshold'); s.value = '0.5';"
                           "s.dispatchEvent(new Event('input'));")
    _wait(browser, lambda d: d.find_element("id", "overlay").get_attribute("data-drawn") == "3", what="the slider")
    assert _counts(browser) == {"neutrophil": "2", "lymphocyte": "1", "platelet": "0"}
    percent = browser.find_element("css selector", "#counts tr[data-class=neutrophil] td.percent").text
    assert percent == "66.7 %"  # of the white cells (neutrophil + lymphocyte here)
    link = browser.find_element("id", "dl-csv").get_attribute("href")
    assert link.endswith("/counts.csv?min_score=0.5")
    csv_text = browser.execute_async_script(
        "fetch(arguments[0]).then((r) => r.text()).then(arguments[arguments.length - 1]);", link)
    assert csv_text.splitlines() == ["image,neutrophil,lymphocyte,platelet,total", "smear one.png,2,1,0,3"]

    browser.find_element("css selector", "#classes .chip[data-class=neutrophil]").click()
    _wait(browser, lambda d: d.find_element("id", "overlay").get_attribute("data-drawn") == "1", what="the toggle")
    assert _counts(browser)["neutrophil"] == "2"  # hiding a class changes the drawing, not the count
    _no_script_errors(browser)


def test_bad_files_and_too_many_files_get_messages(browser, url):
    _open(browser, url)
    _drop(browser, [("notes.txt", b"not an image at all"), ("huge.png", png_bytes(height=100, width=100)),
                    ("heavy.png", b"\x89PNG" + bytes(150_000)), ("cut.png", png_bytes()[:150])])
    _drop(browser, [(f"ok{i}.png", png_bytes(seed=i)) for i in range(4)])
    banner = browser.find_element("id", "banner")
    _wait(browser, lambda d: banner.is_displayed(), what="the limit message")
    assert banner.text.startswith("4 files were dropped, but a batch holds at most 6 images: the first 2 are added, "
                                  "the other 2 are not.")
    _wait(browser, lambda d: _settled(d, 6), what="six settled images")
    statuses = {name: (status, text) for name, status, text in _statuses(browser)}
    assert statuses["notes.txt"][0] == "failed" and "is not an image this page can read" in statuses["notes.txt"][1]
    assert statuses["huge.png"] == ("failed", "huge.png is 100 x 100 pixels (0.01 megapixels); an image may have at "
                                              "most 0.005 megapixels")
    assert statuses["heavy.png"] == ("failed", "heavy.png is 146 KB; an image may be at most 98 KB")
    assert "truncated or damaged" in statuses["cut.png"][1]
    assert statuses["ok0.png"][0] == statuses["ok1.png"][0] == "done"  # the server went on serving
    assert _counts(browser)["neutrophil"] == "2"
    assert "2 images counted" in browser.find_element("id", "count-note").text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web_page_errors.png"))
    _no_script_errors(browser)


def test_scale_and_unlike_training_flag_are_shown(browser, reporting_url):
    _open(browser, reporting_url)
    _drop(browser, [("odd.png", png_bytes(seed=5, first_pixel=UNLIKE_PIXEL)), ("plain.png", png_bytes(seed=6))])
    _wait(browser, lambda d: _settled(d, 2), what="the detections")
    odd, plain = browser.find_elements("css selector", "#images li")
    assert (odd.get_attribute("data-unlike"), plain.get_attribute("data-unlike")) == ("true", "false")
    assert odd.find_element("css selector", ".flag").text == "⚠ Unlike the training images: check by eye"
    assert plain.find_element("css selector", ".flag").text == ""
    assert browser.find_element("id", "count-flag").text == (
        "1 of 2 images is unlike the images this model was trained on: check its cells by eye; this count may be "
        "wrong.")

    odd.click()
    _wait(browser, lambda d: d.find_element("id", "image-flag").text, what="the flagged image's warning")
    assert browser.find_element("id", "image-flag").text == (
        "Unlike the images this model was trained on (score 3.2 > 2.1): check the cells by eye; counts may be wrong.")
    assert browser.find_element("id", "image-scale").text == (
        "Scale: 0.094 µm/px from 41 red cells, resized ×0.53 to the model's scale.")
    assert browser.find_element("id", "image-score").text == ""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web_page_unlike.png"))

    plain.click()
    _wait(browser, lambda d: not d.find_element("id", "image-flag").text, what="the plain image")
    assert browser.find_element("id", "image-scale").text == (
        "Scale unknown: too few red cells: 2 measured, min_cells = 3; resized to the model's input as it came.")
    assert browser.find_element("id", "image-score").text == (
        "Unlike-training score 1.7 (not judged: these weights have no cut-off; pbc.py evaluate sets one).")
    link = browser.find_element("id", "dl-csv").get_attribute("href")
    csv_text = browser.execute_async_script(
        "fetch(arguments[0]).then((r) => r.text()).then(arguments[arguments.length - 1]);", link)
    assert csv_text.splitlines()[0].endswith(",total,pixel_size_um,red_cell_px,scale_factor,scale_source,"
                                             "unlike_training,unlike_score")
    _no_script_errors(browser)


def test_scores_are_rounded_down_and_messages_agree_in_number(browser, url):
    _open(browser, url)
    assert "GIF" in browser.find_element("id", "limits").text
    shown = browser.execute_script("return [fmtScore(0.9994), fmtScore(0.9994, 3), fmtScore(0.75), fmtScore(0.749),"
                                   " fmtScore(0.5)]")
    assert shown == ["0.99", "0.999", "0.75", "0.74", "0.50"]
    assert browser.execute_script("return tooManyText(2, 1, 6)") == (
        "2 files were dropped, but a batch holds at most 6 images: the first 1 is added, the other 1 is not. "
        "Download this batch's results and start a new batch for the rest.")
    assert browser.execute_script("return tooManyText(1, 0, 6)").startswith(
        "1 file was dropped, but a batch holds at most 6 images: none is added.")
    _no_script_errors(browser)


def test_a_reload_reopens_the_batch_and_earlier_batches_are_listed(browser, url, tmp_path):
    _open(browser, url)
    _drop(browser, [("kept.png", png_bytes(seed=9))])
    _wait(browser, lambda d: _settled(d, 1), what="the detection")
    batch = browser.execute_script("return document.body.dataset.batch")
    assert browser.current_url.endswith(f"#batch={batch}")
    browser.refresh()
    _open(browser, browser.current_url)
    _wait(browser, lambda d: _settled(d, 1), what="the reopened batch")
    assert browser.execute_script("return document.body.dataset.batch") == batch
    assert _statuses(browser)[0][:2] == ("kept.png", "done") and _counts(browser)["neutrophil"] == "1"

    browser.find_element("id", "new-batch").click()
    _wait(browser, lambda d: d.execute_script("return document.body.dataset.batch") != batch, what="a new batch")
    assert _statuses(browser) == []
    _wait(browser, lambda d: d.find_elements("css selector", f"#earlier-list button[data-batch='{batch}']"),
          what="the earlier batch in the list")
    browser.find_element("css selector", "#earlier summary").click()
    browser.find_element("css selector", f"#earlier-list button[data-batch='{batch}']").click()
    _wait(browser, lambda d: _settled(d, 1) and d.execute_script("return document.body.dataset.batch") == batch,
          what="the batch reopened from the list")
    assert _counts(browser)["neutrophil"] == "1"
    _no_script_errors(browser)


def _keys(driver, *keys):
    """Press keys as a technologist does, on the page (not in a field); wait until the server has every change."""
    from selenium.webdriver.common.action_chains import ActionChains
    for key in keys:
        ActionChains(driver).send_keys(key).perform()
    _wait(driver, lambda d: d.execute_script("return (document.body.dataset.unsent || '0') === '0'"),
          what="the changes to reach the server")


def _drag_box(driver, box):
    """Drag a box (y1, x1, y2, x2 in the image's pixels) on the overlay, as with a mouse."""
    from selenium.webdriver.common.action_chains import ActionChains
    canvas = driver.find_element("id", "overlay")
    scale, width, height = driver.execute_script(
        "const r = document.getElementById('overlay').getBoundingClientRect(); return [state.scale, r.width, r.height]")
    y1, x1, y2, x2 = (v * scale for v in box)
    ActionChains(driver).move_to_element_with_offset(canvas, int(x1 - width / 2), int(y1 - height / 2)) \
        .click_and_hold().move_by_offset(int(x2 - x1), int(y2 - y1)).release().perform()


def _verified(driver):
    rows = driver.find_elements("css selector", "#counts tbody tr[data-class]")
    return {r.get_attribute("data-class"): r.find_element("css selector", "td.verified").text for r in rows
            if r.get_attribute("data-class")}


def _fetch(driver, link_id):
    """The text of the file a download link of the page points to."""
    link = driver.find_element("id", link_id).get_attribute("href")
    return driver.execute_async_script(
        "fetch(arguments[0]).then((r) => r.text()).then(arguments[arguments.length - 1]);", link)


def test_verify_with_the_keyboard_reclassify_add_and_delete(browser, url):
    """The whole loop: upload, verify with the keyboard, reclassify, add and delete a cell, export the differential
    and the COCO corrections, reload the page and find the batch again."""
    from selenium.webdriver.common.keys import Keys
    _open(browser, url)
    assert [k.text for k in browser.find_elements("css selector", "#classes .chip kbd")] == ["1", "2", "3"]
    _drop(browser, [("one.png", png_bytes(seed=1)), ("two.png", png_bytes(seed=2))])
    _wait(browser, lambda d: _settled(d, 2), what="the detections")
    browser.find_element("css selector", "#images li[data-key] .name").click()  # one.png (the first to finish is shown)
    _wait(browser, lambda d: "Cell 1 of 2: neutrophil" in d.find_element("id", "review-cell").text,
          what="the first cell under review")
    _keys(browser, "9", "q")  # no class 9 here, no key q: nothing happens
    assert browser.find_element("id", "review-summary").text == "0 of 4 cells verified · 0 changed"
    _keys(browser, Keys.ENTER)  # one.png: the neutrophil 0.92 is right
    assert "Cell 2 of 2: lymphocyte" in browser.find_element("id", "review-cell").text
    _keys(browser, "3")  # the lymphocyte 0.81 is a platelet; the review goes on to two.png
    _wait(browser, lambda d: d.find_element("css selector", "#images li.selected .name").text == "two.png",
          what="the next image")
    _keys(browser, "x")  # two.png's neutrophil is not a cell
    _keys(browser, "b")
    assert "drag a box" in browser.find_element("id", "review-cell").text
    _drag_box(browser, (22, 24, 36, 44))
    _wait(browser, lambda d: "press its class key" in d.find_element("id", "review-cell").text, what="the box")
    _keys(browser, "2")  # the missed cell is a lymphocyte
    _wait(browser, lambda d: len(d.find_elements("css selector", "#cells tbody tr")) == 3, what="the added cell")
    assert [(r.get_attribute("data-review"), r.find_element("css selector", "td.verified").text)
            for r in browser.find_elements("css selector", "#cells tbody tr")] == [
        ("not_cell", "✓ not a cell"), ("", "–"), ("added", "✓ added")]
    assert _counts(browser) == {"neutrophil": "2", "lymphocyte": "2", "platelet": "0"}  # the model's, at 0.75
    assert _verified(browser) == {"neutrophil": "1", "lymphocyte": "2", "platelet": "1"}
    summary = browser.find_element("id", "review-summary")
    assert summary.text == "4 of 5 cells verified · 3 changed (1 not a cell)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web_page_verify.png"))

    differential = _fetch(browser, "dl-differential").splitlines()
    assert differential[1:4] == ["neutrophil,2,50.0,1,33.3,white cells", "lymphocyte,2,50.0,2,66.7,white cells",
                                 "white cells,4,100.0,3,100.0,"]
    assert differential[-4:] == ["cells verified,,,4,,", "cells changed,,,3,,", "not a cell,,,1,,", "images,,,2,,"]
    corrections = json.loads(_fetch(browser, "dl-corrections"))
    assert [(a["image_id"], a["category_id"], a["verification"]["status"]) for a in corrections["annotations"]] == [
        (1, 1, "accepted"), (1, 3, "reclassified"), (2, 2, "pending"), (2, 2, "added")]
    assert [(c["what"], c["from"], c["to"]) for c in corrections["changes"]] == [
        ("accept", "neutrophil", "neutrophil"), ("class", "lymphocyte", "platelet"),
        ("not_cell", "neutrophil", "not a cell"), ("add", "none", "lymphocyte")]
    batch = browser.execute_script("return document.body.dataset.batch")

    _keys(browser, "p", "p", "z")  # from the added cell back to the neutrophil: undo "not a cell"
    _wait(browser, lambda d: _verified(d)["neutrophil"] == "2", what="the undo")
    browser.refresh()  # everything is on the server: the reopened batch shows the same review
    _wait(browser, lambda d: _settled(d, 2) and d.find_element("id", "review-summary").text, what="the reload")
    assert browser.execute_script("return document.body.dataset.batch") == batch
    assert _verified(browser) == {"neutrophil": "2", "lymphocyte": "2", "platelet": "1"}
    assert browser.find_element("id", "review-summary").text == "3 of 5 cells verified · 2 changed"
    _wait(browser, lambda d: d.find_elements("css selector", f"#earlier-list button[data-batch='{batch}']"),
          what="the batch among the earlier batches")
    _no_script_errors(browser)
