// Drawing the cell-count page: the image list, the overlay, the cells and count tables, the model card.
// Loaded before app.js, which holds the state and talks to the server; both share the page's global scope.
"use strict";

// Okabe-Ito's colour-blind-safe palette (its black replaced by a light green that stands out on purple stain),
// then generated hues.
const PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#7FD13B"];

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
};
const colorOf = (classId) => classId - 1 < PALETTE.length ? PALETTE[classId - 1]
  : `hsl(${(classId * 137.5) % 360}, 70%, 45%)`;
const fmt = (v, digits = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
// A score rounded down, so that 0.9994 reads 0.99, never "1.00" (no model is that sure), and a score shown at the
// threshold's digits never reads above the threshold when it is below it.
const fmtScore = (v, digits = 2) => (v === null || v === undefined ? "–"
  : (Math.floor(Number(v) * 10 ** digits + 1e-9) / 10 ** digits).toFixed(digits));
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const isAre = (n) => (n === 1 ? "is" : "are");

function tooManyText(dropped, room, max) {
  // The banner for a drop of more files than the batch has room for.
  return `${plural(dropped, "file was", "files were")} dropped, but a batch holds at most ${max} images: ` +
    (room ? `the first ${room} ${isAre(room)} added, the other ${dropped - room} ${isAre(dropped - room)} not. `
      : "none is added. ") + "Download this batch's results and start a new batch for the rest.";
}
const megabytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.round(n / 1024)} KB`);

// ---- what is shown -----------------------------------------------------------------------------------------------

// A detection on a cell already counted (same_cell_as: mrcnn/counting.py) is that cell's alternative class, never a
// cell of its own: it scores lower than its cell, so it is hidden at every threshold and listed beside its cell.
// The rest mirrors mrcnn/app/review.py: a cell is shown when it scores at least the threshold, or a technologist
// reviewed it (at any threshold), or added it; its label is the class reviewed, else the model's.
const isCell = (cell) => cell.same_cell_as === null || cell.same_cell_as === undefined;
const isAdded = (cell) => cell.source === "added";
const visible = (cell) => isCell(cell) && (isAdded(cell) || Boolean(cell.review) || cell.score >= state.threshold);
const inPre = (cell) => isCell(cell) && !isAdded(cell) && cell.score >= state.threshold;
const NOT_A_CELL = "not a cell", UNIDENTIFIED = "unidentified";
const labelOf = (cell) => {
  if (!cell.review) return cell.class_name;
  if (cell.review.status === "not_cell") return NOT_A_CELL;
  if (cell.review.status === "unidentified") return UNIDENTIFIED;
  return cell.review.class_name;
};
const inVerified = (cell) => visible(cell) && labelOf(cell) !== NOT_A_CELL;
const labelId = (cell) => state.info.class_names.indexOf(labelOf(cell)) + 1;  // 0: not a class
const labelColor = (cell) => (labelId(cell) ? colorOf(labelId(cell)) : "#8a8f98");
const REVIEW_TEXT = { accepted: "✓ accepted", reclassified: "✓ reclassified", not_cell: "✓ not a cell",
  unidentified: "✓ unidentified", added: "✓ added" };
const alternativesText = (cell) => (cell.alternatives || []).filter((a) => a.score >= state.threshold)
  .map((a) => `${a.class_name} ${fmtScore(a.score)}`).join(", ");

function renderAll() {
  renderList();
  renderViewer();
  renderCounts();
  renderDownloads();
}

function statusText(item) {
  switch (item.status) {
    case "waiting": return item.retryAt ? "the model is busy: retrying in a moment" : "waiting to upload";
    case "uploading": return `uploading ${Math.round(item.progress * 100)} %`;
    case "queued": return item.position ? `queued: ${item.position} image${item.position > 1 ? "s" : ""} ahead`
      : "queued: next";
    case "detecting": return "detecting cells…";
    case "loading": return "loading its cells…";
    case "done": return item.seconds < 1 ? `done in ${Math.round(item.seconds * 1000)} ms`
      : `done in ${fmt(item.seconds, 1)} s`;
    default: return item.error || "failed";
  }
}

function progressOf(item) {
  return { waiting: 0, uploading: 0.3 * item.progress, queued: 0.35, detecting: 0.4, loading: 0.9, done: 1,
    failed: 1 }[item.status];
}

function renderItem(item) {
  let li = document.querySelector(`#images li[data-key="${item.key}"]`);
  if (!li) {
    li = el("li", { "data-key": String(item.key), tabIndex: 0 },
      el("span", { class: "name" }), el("span", { class: "n" }), el("div", { class: "bar" }, el("span")),
      el("span", { class: "status", role: "status" }), el("span", { class: "flag", hidden: true }));
    li.addEventListener("click", () => select(item));
    li.addEventListener("keydown", (e) => {  // on the image shown, Enter is the review's "accept" (review.js)
      if ((e.key === "Enter" || e.key === " ") && item !== state.selected) { e.preventDefault(); select(item); }
    });
    $("images").append(li);
  }
  li.dataset.status = item.status;
  li.classList.toggle("selected", item === state.selected);
  li.querySelector(".name").textContent = item.name;
  li.querySelector(".name").title = item.name;
  const n = item.status === "done" ? item.cells.filter(inVerified).length : null;
  li.querySelector(".n").textContent = n === null ? "" : `${n} cell${n === 1 ? "" : "s"}`;
  li.querySelector(".bar > span").style.width = `${Math.round(progressOf(item) * 100)}%`;
  const status = li.querySelector(".status");
  status.textContent = statusText(item);
  status.title = item.detail || "";
  const flag = li.querySelector(".flag");
  flag.hidden = !isFlagged(item);
  flag.textContent = flag.hidden ? "" : "⚠ Unlike the training images: check by eye";
  flag.title = flag.hidden ? "" : flagText(item.unlike);
  li.dataset.unlike = String(isFlagged(item));
  const done = state.items.filter((i) => i.status === "done").length;
  const failed = state.items.filter((i) => i.status === "failed").length;
  $("batch-progress").textContent = state.items.length
    ? `${done} of ${state.items.length} done` + (failed ? `, ${failed} failed` : "") : "";
}

function renderList() {
  const list = $("images");
  const keys = new Set(state.items.map((i) => String(i.key)));
  for (const li of Array.from(list.children)) if (!keys.has(li.dataset.key)) li.remove();
  for (const item of state.items) renderItem(item);
  if (!state.items.length) $("batch-progress").textContent = "";
}

function select(item) {
  state.selected = item;
  state.highlight = null;
  state.current = null;
  state.drawing = null;
  renderList();
  renderViewer();
}

function renderChips() {
  const box = $("classes");
  box.replaceChildren();
  state.info.class_names.forEach((name, i) => {
    const chip = el("button", { type: "button", class: "chip", "data-class": name },
      el("kbd", { text: i < 9 ? String(i + 1) : "" }), el("span", { class: "swatch" }), name);
    chip.style.setProperty("--swatch", colorOf(i + 1));
    chip.setAttribute("aria-pressed", String(!state.hidden.has(i + 1)));
    chip.title = i < 9 ? `Show or hide this class on the image; key ${i + 1} gives a cell this class`
      : "Show or hide this class on the image";
    chip.addEventListener("click", () => {
      if (state.hidden.has(i + 1)) state.hidden.delete(i + 1); else state.hidden.add(i + 1);
      chip.setAttribute("aria-pressed", String(!state.hidden.has(i + 1)));
      renderViewer();
    });
    box.append(chip);
  });
}

function renderViewer() {
  const item = state.selected;
  const shown = item && item.status === "done";
  $("empty").hidden = Boolean(shown);
  $("figure").hidden = !shown;
  $("cells").hidden = !shown;
  if (!shown) return;
  ensureCurrent(item);
  const shownCells = shownList(item);
  const verified = shownCells.filter(({ cell }) => cell.review).length;
  $("caption").replaceChildren(el("strong", { text: item.name }),
    ` · ${item.width} x ${item.height} px · ${shownCells.length} cells at confidence ≥ ${fmt(state.threshold, 2)}` +
    ` · ${verified} verified`);
  renderImageNotes(item);
  draw(item);
  const body = $("cells").querySelector("tbody");
  body.replaceChildren();
  shownCells.forEach(({ cell, index }, n) => {
    const [y1, x1, y2, x2] = cell.box;
    const label = labelOf(cell);
    const name = el("td", {}, el("span", { class: "dot" }), label);
    name.firstChild.style.setProperty("--swatch", labelColor(cell));
    if (label !== cell.class_name && !isAdded(cell)) {
      name.append(el("span", { class: "muted", text: ` (model: ${cell.class_name})` }));
    }
    const others = alternativesText(cell);
    if (others) name.append(el("span", { class: "muted alternatives", text: ` (or ${others})` }));
    const current = state.current === index;
    const row = el("tr", { class: [state.hidden.has(labelId(cell)) ? "hidden-class" : "", current ? "current" : ""]
      .join(" ").trim(), "data-index": String(index), "data-review": cell.review ? cell.review.status : "" },
      el("td", { class: "num", text: String(n + 1) }), name,
      el("td", { class: "num", text: isAdded(cell) ? "–" : fmtScore(cell.score, 3) }),
      el("td", { class: "verified", text: cell.review ? REVIEW_TEXT[cell.review.status] : "–" }),
      el("td", { text: `${x1}, ${y1}, ${x2 - x1}, ${y2 - y1}` }), el("td", { class: "num", text: String(cell.area) }));
    if (current) row.setAttribute("aria-current", "true");
    row.addEventListener("mouseenter", () => { state.highlight = cell; draw(item); });
    row.addEventListener("mouseleave", () => { state.highlight = null; draw(item); });
    row.addEventListener("click", () => { state.current = index; renderViewer(); });
    body.append(row);
  });
  if (!shownCells.length) {
    body.append(el("tr", {}, el("td", { colSpan: 6, class: "muted",
      text: "No cell at this threshold: lower the confidence threshold to see weaker detections, or press b to " +
        "add a cell the model missed." })));
  }
  renderReviewBar(item, shownCells);
}

function draw(item) {
  const canvas = $("overlay");
  const area = $("figure").clientWidth || 640;
  const maxHeight = Math.max(320, window.innerHeight * 0.7);
  const scale = Math.min(area / item.width, maxHeight / item.height, 6);
  const w = Math.round(item.width * scale), h = Math.round(item.height * scale);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(item.image, 0, 0, w, h);
  state.scale = scale;  // image px -> canvas px, for drawing a new cell's box (review.js)
  const current = item.cells[state.current];
  const cells = item.cells.filter((c) => visible(c) && !state.hidden.has(labelId(c)));
  const masks = $("show-masks").checked, boxes = $("show-boxes").checked, labels = $("show-labels").checked;
  for (const cell of cells) {
    if (masks && cell.maskImage && labelOf(cell) !== NOT_A_CELL) {
      // The outline marks the cell; the tint stays light so that the cell's own colour (an eosinophil's orange
      // granules, a basophil's purple ones) shows through it.
      const tinted = tintedOf(cell, labelColor(cell));
      ctx.globalAlpha = cell === state.highlight || cell === current ? MASK_TINT_HIGHLIGHT : MASK_TINT;
      ctx.drawImage(tinted, cell.mask.x * scale, cell.mask.y * scale, tinted.width * scale, tinted.height * scale);
      ctx.globalAlpha = 1;
      ctx.drawImage(outline(cell, scale), cell.mask.x * scale - RING, cell.mask.y * scale - RING);
    }
  }
  ctx.font = "600 12px system-ui, sans-serif";
  ctx.textBaseline = "top";
  for (const cell of cells) {
    const [y1, x1, y2, x2] = cell.box.map((v) => v * scale);
    const color = labelColor(cell);
    const rejected = labelOf(cell) === NOT_A_CELL;
    if (boxes || rejected || cell === state.highlight) {
      ctx.lineWidth = cell === state.highlight ? 3.5 : 2;
      ctx.strokeStyle = color;
      ctx.setLineDash(rejected ? [4, 3] : []);
      ctx.strokeRect(x1 + 0.5, y1 + 0.5, x2 - x1 - 1, y2 - y1 - 1);
      ctx.setLineDash([]);
    }
    if (cell === current) {  // the cell under review: a black and white frame around its box
      ctx.lineWidth = 2;
      for (const [dash, style] of [[[], "#000"], [[5, 5], "#fff"]]) {
        ctx.setLineDash(dash);
        ctx.strokeStyle = style;
        ctx.strokeRect(x1 - 3.5, y1 - 3.5, x2 - x1 + 7, y2 - y1 + 7);
      }
      ctx.setLineDash([]);
    }
    if (labels) {
      const text = `${labelOf(cell)}${isAdded(cell) ? "" : ` ${fmtScore(cell.score)}`}${cell.review ? " ✓" : ""}`;
      const tw = ctx.measureText(text).width + 8;
      const ty = y1 >= 17 ? y1 - 17 : y1;
      const tx = Math.min(Math.max(0, x1), w - tw);
      ctx.fillStyle = "rgba(20, 24, 33, 0.78)";
      ctx.fillRect(tx, ty, tw, 16);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, tx + 4, ty + 2);
      ctx.fillStyle = color;
      ctx.fillRect(tx, ty + 14, tw, 2);
    }
  }
  drawNewBox(ctx, scale);
  canvas.dataset.drawn = String(cells.length);
}

const RING = 2;  // px of the mask's outline, drawn at the screen's scale so that it stays sharp
const MASK_TINT = 0.12, MASK_TINT_HIGHLIGHT = 0.3;  // opacity of the mask's colour over the cell

function tint(maskImage, color) {
  const canvas = el("canvas", { width: maskImage.width, height: maskImage.height });
  const ctx = canvas.getContext("2d");
  ctx.drawImage(maskImage, 0, 0);
  ctx.globalCompositeOperation = "source-in";
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  return canvas;
}

function tintedOf(cell, color) {
  // The cell's mask in `color` (made again when a review changes its class, with its outline).
  if (cell.tintColor !== color) {
    cell.tinted = tint(cell.maskImage, color);
    cell.tintColor = color;
    cell.ring = null;
  }
  return cell.tinted;
}

function outline(cell, scale) {
  // The mask's tinted copy drawn at scale, moved by RING px four ways, minus the mask itself: a ring around it.
  if (cell.ring && cell.ringScale === scale) return cell.ring;
  const w = Math.ceil(cell.tinted.width * scale), h = Math.ceil(cell.tinted.height * scale);
  const ring = el("canvas", { width: w + 2 * RING, height: h + 2 * RING });
  const ctx = ring.getContext("2d");
  for (const [dx, dy] of [[0, 0], [2 * RING, 0], [0, 2 * RING], [2 * RING, 2 * RING], [RING, 0], [0, RING],
    [2 * RING, RING], [RING, 2 * RING]]) {
    ctx.drawImage(cell.tinted, dx, dy, w, h);
  }
  ctx.globalCompositeOperation = "destination-out";
  ctx.drawImage(cell.tinted, RING, RING, w, h);
  cell.ring = ring;
  cell.ringScale = scale;
  return ring;
}

