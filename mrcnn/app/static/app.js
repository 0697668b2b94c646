// The cell-count page's state and its talk with the server (view.js, loaded first, draws it). Plain JavaScript, no
// build step, nothing from the internet (mrcnn/app/server.py serves it).
//
// Flow: GET /api/model (card, classes, threshold, limits) -> POST /api/batches -> one POST per image (the raw file
// as the body, at most MAX_IN_FLIGHT images between upload and result) -> poll GET /api/batches/{b} while images
// wait -> GET each finished image's cells once (with its scale and "unlike the training images" flag when the
// detector reports them). The server returns every cell down to the model's floor; the
// threshold slider, the class toggles, the overlay, the tables and the differential count are computed here, so
// none of them needs a round trip. The download links carry the threshold (?min_score=).
"use strict";

const MAX_IN_FLIGHT = 3;   // images uploaded but not finished: keeps the server's queue (and memory) short
const POLL_MS = 400;
const RETRY_MS = 1500;     // after a 503 "busy" answer

const state = {
  info: null, batch: null, items: [], selected: null, threshold: 0.75, hidden: new Set(), highlight: null,
  polling: false, nextKey: 1,
  current: null, drawing: null, scale: 1,  // the cell under review, a new cell's box being drawn (review.js)
  sending: Promise.resolve(), unsent: 0,   // review requests, sent one after another
};

// ---- server ------------------------------------------------------------------------------------------------------

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new Error("the server could not be reached: is it still running?");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function showBanner(message) {
  $("banner-text").textContent = message;
  $("banner").hidden = false;
}

async function start() {
  try {
    state.info = await api("/api/model");
  } catch (error) {
    $("model-line").textContent = `The model could not be loaded: ${error.message}`;
    return;
  }
  const info = state.info;
  state.threshold = info.threshold;
  const slider = $("threshold");
  slider.min = String(Math.floor(info.floor * 100) / 100);
  slider.value = String(info.threshold);
  $("threshold-value").textContent = fmt(info.threshold, 2);
  const l = info.limits;
  $("limits").textContent = `${info.formats} · at most ${megabytes(l.max_bytes)} and ` +
    `${Number((l.max_pixels / 1e6).toPrecision(3))} megapixels per image · at most ${l.max_images} images per batch`;
  $("work-note").textContent = info.work_dir
    ? `Images go only to this local server. Every batch, with its cells and corrections, is kept in ${info.work_dir} ` +
      "until that folder is removed: closing the page or restarting the server loses nothing."
    : "Images go only to this local server, which keeps them in a temporary folder until it stops.";
  renderCard();
  renderChips();
  const asked = new URLSearchParams(window.location.hash.slice(1)).get("batch");
  if (!asked || !(await openBatch(asked))) await newBatch();
  listBatches();
}

function showBatch(batch, items) {
  state.batch = batch;
  state.items = items;
  state.selected = null;
  window.history.replaceState(null, "", `#batch=${batch}`);  // a reload of the page reopens this batch
  document.body.dataset.batch = batch;  // for tests and scripts: the page is ready for files
  $("banner").hidden = true;
  renderAll();
}

async function newBatch() {
  let batch;
  try {
    batch = (await api("/api/batches", { method: "POST" })).batch;
  } catch (error) {
    showBanner(`A new batch could not be started: ${error.message}`);
    return;
  }
  showBatch(batch, []);
}

async function openBatch(batch) {
  // An earlier batch from the work folder: its images in the page's order, the finished ones with their cells.
  let status;
  try {
    status = await api(`/api/batches/${encodeURIComponent(batch)}`);
  } catch (error) {
    showBanner(`That batch could not be opened: ${error.message}`);
    return false;
  }
  // New uploads go after the batch's images in the downloads (their order is the page's key, see upload()).
  state.nextKey = Math.max(state.nextKey, ...status.images.map((s) => (s.order === null ? 0 : s.order) + 1));
  const items = status.images.map((s) => ({ key: state.nextKey++, id: s.id, name: s.name,
    status: s.status === "done" ? "loading" : s.status, 
    position: s.position, width: s.width, height: s.height, error: s.error, progress: 1 }));
  showBatch(batch, items);
  await Promise.all(items.filter((i) => i.status === "loading").map((i) => loadCells(i)));
  if (items.some((i) => i.status === "queued" || i.status === "detecting")) poll();
  return true;
}

async function listBatches() {
  // The work folder's batches with images, newest first; the one shown is marked.
  let batches = [];
  try {
    batches = (await api("/api/batches")).batches;
  } catch (error) {
    return;  // the list is a convenience: the page works without it
  }
  const list = $("earlier-list");
  list.replaceChildren();
  for (const b of batches) {
    const when = new Date(1000 * (b.updated || b.created)).toLocaleString();
    const names = b.names.join(", ") + (b.images > b.names.length ? ", …" : "");
    const button = el("button", { type: "button", class: "ghost earlier", "data-batch": b.id },
      el("strong", { text: `${plural(b.images, "image", "images")}` }), ` · ${when}`,
      el("span", { class: "small muted", text: `${names}${b.changes ? ` · ${plural(b.changes, "change", "changes")}` : ""}` }));
    button.setAttribute("aria-current", String(b.id === state.batch));
    button.addEventListener("click", async () => { await openBatch(b.id); listBatches(); });
    list.append(el("li", {}, button));
  }
  $("earlier").hidden = !batches.length;
}

// ---- adding and uploading images -----------------------------------------------------------------------------------

function addFiles(fileList) {
  if (!state.batch) return;
  const files = Array.from(fileList || []);
  if (!files.length) return;
  const max = state.info.limits.max_images;
  const room = Math.max(0, max - state.items.length);
  if (files.length > room) {
    showBanner(tooManyText(files.length, room, max));
  }
  for (const file of files.slice(0, room)) {
    const item = { key: state.nextKey++, file, name: file.name || "image", status: "waiting", progress: 0 };
    if (file.size > state.info.limits.max_bytes) {
      fail(item, `${item.name} is ${megabytes(file.size)}; an image may be at most ` +
        `${megabytes(state.info.limits.max_bytes)}`);
    } else if (file.size === 0) {
      fail(item, `${item.name} is empty (0 bytes)`);
    }
    state.items.push(item);
  }
  renderList();
  pump();
}

function fail(item, message, detail) {
  item.status = "failed";
  item.error = message;
  item.detail = detail || "";
  item.file = null;
}

function inFlight() {
  return state.items.filter((i) => ["uploading", "queued", "detecting"].includes(i.status)).length;
}

function pump() {
  for (const item of state.items) {
    if (inFlight() >= MAX_IN_FLIGHT) break;
    if (item.status === "waiting" && !item.retryAt) upload(item);
  }
}

function upload(item) {
  const batch = state.batch;
  item.status = "uploading";
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/api/batches/${batch}/images?name=${encodeURIComponent(item.name)}&order=${item.key}`);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) { item.progress = e.loaded / e.total; renderItem(item); }
  };
  xhr.onload = () => {
    if (batch !== state.batch) return;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: reported below */ }
    if (xhr.status === 202) {
      Object.assign(item, { id: body.image.id, name: body.image.name, status: body.image.status,
        position: body.image.position, width: body.image.width, height: body.image.height, file: null });
      poll();
    } else if (xhr.status === 503) {
      item.status = "waiting";
      item.retryAt = Date.now() + RETRY_MS;
      setTimeout(() => { item.retryAt = null; pump(); }, RETRY_MS);
    } else {
      fail(item, body.error || `the server answered ${xhr.status}`, body.detail);
    }
    renderItem(item);
    pump();
  };
  xhr.onerror = () => {
    if (batch !== state.batch) return;
    fail(item, `${item.name} could not be uploaded: the server could not be reached`);
    renderItem(item);
    pump();
  };
  xhr.send(item.file);
  renderItem(item);
}

async function poll() {
  if (state.polling) return;
  state.polling = true;
  try {
    while (state.items.some((i) => i.status === "queued" || i.status === "detecting")) {
      const batch = state.batch;
      let status;
      try {
        status = await api(`/api/batches/${batch}`);
      } catch (error) {
        showBanner(`Progress could not be read: ${error.message}`);
        if (error.status === 404) {
          for (const item of state.items) if (item.id && !["done", "failed"].includes(item.status)) fail(item, error.message);
          renderAll();
        }
        break;
      }
      if (batch !== state.batch) break;
      const byId = new Map(status.images.map((s) => [s.id, s]));
      for (const item of state.items) {
        const s = item.id && byId.get(item.id);
        if (!s || item.status === "done" || item.status === "failed") continue;
        item.position = s.position;
        if (s.status === "done") await loadCells(item);
        else if (s.status === "failed") fail(item, s.error);
        else item.status = s.status;
        renderItem(item);
      }
      pump();
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    state.polling = false;
  }
  listBatches();
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the image could not be shown"));
    image.src = src;
  });
}

async function loadCells(item) {
  try {
    const detail = await api(`/api/batches/${state.batch}/images/${item.id}`);
    item.image = await loadImage(`/api/batches/${state.batch}/images/${item.id}/image`);
    item.cells = detail.cells;
    item.seconds = detail.seconds;
    item.scale = detail.scale || null;  // present when the detector reports them (mrcnn/detector.py)
    item.unlike = detail.unlike_training || null;
    await Promise.all(item.cells.map(loadMask));
    item.status = "done";
  } catch (error) {
    fail(item, `the results could not be shown: ${error.message}`);
  }
  if (!state.selected || state.selected.status !== "done") state.selected = item.status === "done" ? item : state.selected;
  renderAll();
}

async function loadMask(cell) {
  if (cell.mask) cell.maskImage = await loadImage(cell.mask.png);  // tinted in its label's colour when drawn
}

// ---- wiring ------------------------------------------------------------------------------------------------------

function wire() {
  wireReview();
  const drop = $("drop");
  const picker = $("picker");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    e.stopPropagation();
    drop.classList.remove("over");
    addFiles(e.dataTransfer && e.dataTransfer.files);
  });
  // A file dropped anywhere else is added too, rather than opened by the browser in place of the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => { e.preventDefault(); addFiles(e.dataTransfer && e.dataTransfer.files); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); picker.click(); } });
  picker.addEventListener("change", () => { addFiles(picker.files); picker.value = ""; });
  $("threshold").addEventListener("input", (e) => {
    state.threshold = Number(e.target.value);
    $("threshold-value").textContent = fmt(state.threshold, 2);
    renderAll();
  });
  for (const id of ["show-masks", "show-boxes", "show-labels"]) $(id).addEventListener("change", renderViewer);
  $("new-batch").addEventListener("click", async () => {
    if (!state.items.length) return;  // this batch is still empty: it is the new batch
    await newBatch();
    listBatches();
  });
  // Everything finished is on the server; what is still on its way would be lost with the page: ask first.
  window.addEventListener("beforeunload", (e) => {
    if (state.unsent || inFlight() || state.items.some((i) => i.status === "waiting")) {
      e.preventDefault();
      e.returnValue = "";
    }
  });
  $("banner-close").addEventListener("click", () => { $("banner").hidden = true; });
  $("card-toggle").addEventListener("click", () => {
    const open = $("card").hidden;
    $("card").hidden = !open;
    $("card-toggle").setAttribute("aria-expanded", String(open));
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderViewer, 100); });
}

wire();
start();
