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
const visible = (cell) => cell.score >= state.threshold && (cell.same_cell_as === null || cell.same_cell_as === undefined);
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
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(item); } });
    $("images").append(li);
  }
  li.dataset.status = item.status;
  li.classList.toggle("selected", item === state.selected);
  li.querySelector(".name").textContent = item.name;
  li.querySelector(".name").title = item.name;
  const n = item.status === "done" ? item.cells.filter(visible).length : null;
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
  renderList();
  renderViewer();
}

function renderChips() {
  const box = $("classes");
  box.replaceChildren();
  state.info.class_names.forEach((name, i) => {
    const chip = el("button", { type: "button", class: "chip", "data-class": name },
      el("span", { class: "swatch" }), name);
    chip.style.setProperty("--swatch", colorOf(i + 1));
    chip.setAttribute("aria-pressed", String(!state.hidden.has(i + 1)));
    chip.title = "Show or hide this class on the image";
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
  const cells = item.cells.filter(visible);
  $("caption").replaceChildren(el("strong", { text: item.name }),
    ` · ${item.width} x ${item.height} px · ${cells.length} of ${item.cells.length} detections at confidence ≥ ` +
    `${fmt(state.threshold, 2)}`);
  renderImageNotes(item);
  draw(item);
  const body = $("cells").querySelector("tbody");
  body.replaceChildren();
  cells.forEach((cell, n) => {
    const [y1, x1, y2, x2] = cell.box;
    const name = el("td", {}, el("span", { class: "dot" }), cell.class_name);
    name.firstChild.style.setProperty("--swatch", colorOf(cell.class_id));
    const others = alternativesText(cell);
    if (others) name.append(el("span", { class: "muted alternatives", text: ` (or ${others})` }));
    const row = el("tr", { class: state.hidden.has(cell.class_id) ? "hidden-class" : "" },
      el("td", { class: "num", text: String(n + 1) }), name, el("td", { class: "num", text: fmtScore(cell.score, 3) }),
      el("td", { text: `${x1}, ${y1}, ${x2 - x1}, ${y2 - y1}` }), el("td", { class: "num", text: String(cell.area) }));
    row.addEventListener("mouseenter", () => { state.highlight = cell; draw(item); });
    row.addEventListener("mouseleave", () => { state.highlight = null; draw(item); });
    body.append(row);
  });
  if (!cells.length) {
    body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted",
      text: "No cell at this threshold: lower the confidence threshold to see weaker detections." })));
  }
}

// ---- what the detector says of an image: its scale, and how unlike the training images it is ------------------------
// (the records "scale" and "unlike_training" of mrcnn/detector.py; absent when the model does not report them)

const isFlagged = (item) => item.status === "done" && Boolean(item.unlike) && item.unlike.unlike === true;

function scaleText(scale) {
  // Where the image's µm per pixel came from, and how the image was resized before the model saw it.
  const size = scale.pixel_size_um;
  if (scale.source === "none" || size === null || size === undefined) {
    const reason = scale.reason || "no red cells could be measured";
    return `Scale unknown: ${reason}; resized to the model's input as it came.`;
  }
  let from = "";
  if (scale.source === "pixel size") from = " (the pixel size given)";
  else if (scale.pooled_diameter_px) {
    from = ` from the red cells of the set's images (their median: ${fmt(scale.pooled_diameter_px, 1)} px)`;
  } else {
    from = ` from ${scale.red_cells} red cell${scale.red_cells === 1 ? "" : "s"}` +
      (scale.confident === false ? " (few, or uneven: an uncertain estimate)" : "");
  }
  const resized = scale.factor === null || scale.factor === undefined
    ? "; not rescaled: resized to the model's input as it came"
    : `, resized ×${fmt(scale.factor, 2)} to the model's scale`;
  return `Scale: ${fmt(size, 3)} µm/px${from}${resized}.`;
}

function scorePair(score, cutoff) {
  // The score and the cut-off with as few decimals (1 to 3) as tell them apart.
  let digits = 1;
  while (digits < 3 && fmt(score, digits) === fmt(cutoff, digits)) digits++;
  return [fmt(score, digits), fmt(cutoff, digits)];
}

function flagText(unlike) {
  const [score, cutoff] = scorePair(unlike.score, unlike.cutoff);
  return `Unlike the images this model was trained on (score ${score} > ${cutoff}): check the cells by eye; ` +
    "counts may be wrong.";
}

function scoreText(unlike) {
  // The score of an image that is not flagged: below the cut-off, or with no cut-off to judge it by.
  if (unlike.unlike === false) {
    const [score, cutoff] = scorePair(unlike.score, unlike.cutoff);
    return `Like the images this model was trained on (score ${score} ≤ ${cutoff}).`;
  }
  return `Unlike-training score ${fmt(unlike.score, 1)} (not judged: these weights have no cut-off; pbc.py evaluate ` +
    "sets one).";
}

function renderImageNotes(item) {
  const note = (id, text) => { $(id).textContent = text || ""; $(id).hidden = !text; };
  note("image-flag", isFlagged(item) ? flagText(item.unlike) : "");
  note("image-scale", item.scale ? scaleText(item.scale) : "");
  const scored = item.unlike && !isFlagged(item) && typeof item.unlike.score === "number";
  note("image-score", scored ? scoreText(item.unlike) : "");
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
  const cells = item.cells.filter((c) => visible(c) && !state.hidden.has(c.class_id));
  const masks = $("show-masks").checked, boxes = $("show-boxes").checked, labels = $("show-labels").checked;
  for (const cell of cells) {
    if (masks && cell.tinted) {
      // The outline marks the cell; the tint stays light so that the cell's own colour (an eosinophil's orange
      // granules, a basophil's purple ones) shows through it.
      ctx.globalAlpha = cell === state.highlight ? MASK_TINT_HIGHLIGHT : MASK_TINT;
      ctx.drawImage(cell.tinted, cell.mask.x * scale, cell.mask.y * scale, cell.tinted.width * scale,
        cell.tinted.height * scale);
      ctx.globalAlpha = 1;
      ctx.drawImage(outline(cell, scale), cell.mask.x * scale - RING, cell.mask.y * scale - RING);
    }
  }
  ctx.font = "600 12px system-ui, sans-serif";
  ctx.textBaseline = "top";
  for (const cell of cells) {
    const [y1, x1, y2, x2] = cell.box.map((v) => v * scale);
    const color = colorOf(cell.class_id);
    if (boxes || cell === state.highlight) {
      ctx.lineWidth = cell === state.highlight ? 3.5 : 2;
      ctx.strokeStyle = color;
      ctx.strokeRect(x1 + 0.5, y1 + 0.5, x2 - x1 - 1, y2 - y1 - 1);
    }
    if (labels) {
      const text = `${cell.class_name} ${fmtScore(cell.score)}`;
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
  canvas.dataset.drawn = String(cells.length);
}

const RING = 2;  // px of the mask's outline, drawn at the screen's scale so that it stays sharp
const MASK_TINT = 0.12, MASK_TINT_HIGHLIGHT = 0.3;  // opacity of the mask's colour over the cell

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

function batchCounts() {
  const names = state.info.class_names;
  const counts = new Array(names.length).fill(0);
  let images = 0;
  for (const item of state.items) {
    if (item.status !== "done") continue;
    images++;
    for (const cell of item.cells) if (visible(cell)) counts[cell.class_id - 1]++;
  }
  return { counts, images };
}

function renderCounts() {
  const names = state.info.class_names;
  const { counts, images } = batchCounts();
  const total = counts.reduce((a, b) => a + b, 0);
  const diff = state.info.differential;
  const inBase = (name) => !diff || diff.classes.includes(name);
  const base = names.reduce((sum, name, i) => sum + (inBase(name) ? counts[i] : 0), 0);
  const label = diff ? diff.label : "all cells";
  $("percent-head").textContent = diff ? `% of ${label}` : "%";
  const body = $("counts").querySelector("tbody");
  body.replaceChildren();
  const row = (name, i, value, cls) => {
    const cellName = el("td", {}, el("span", { class: "dot" }), name);
    cellName.firstChild.style.setProperty("--swatch", colorOf(i + 1));
    return el("tr", { class: cls, "data-class": name }, cellName, el("td", { class: "num count", text: String(counts[i]) }),
      el("td", { class: "num percent", text: value }));
  };
  names.forEach((name, i) => {
    if (inBase(name)) body.append(row(name, i, base ? `${(100 * counts[i] / base).toFixed(1)} %` : "–", ""));
  });
  if (diff) {
    body.append(el("tr", { class: "sub", "data-class": "" }, el("td", { text: `${label[0].toUpperCase()}${label.slice(1)}` }),
      el("td", { class: "num", text: String(base) }), el("td", { class: "num", text: base ? "100 %" : "–" })));
    names.forEach((name, i) => {
      if (!inBase(name)) {
        body.append(row(name, i, base ? `${(100 * counts[i] / base).toFixed(1)} per 100` : "–", "other"));
      }
    });
  }
  const others = names.filter((name) => !inBase(name));
  $("counts-others").textContent = diff && others.length
    ? `${others.join(" and ")} ${others.length > 1 ? "are" : "is"} not part of the 100 %: ` +
      `${others.length > 1 ? "they are" : "it is"} given per 100 ${label}.` : "";
  $("counts").querySelector("tfoot").replaceChildren(el("tr", {}, el("td", { text: "All cells" }),
    el("td", { class: "num", id: "total-count", text: String(total) }), el("td")));
  const pending = state.items.filter((i) => !["done", "failed"].includes(i.status)).length;
  const failed = state.items.filter((i) => i.status === "failed").length;
  $("count-note").textContent = images
    ? `${images} image${images === 1 ? "" : "s"} counted at confidence ≥ ${fmt(state.threshold, 2)}` +
      (pending ? `; ${pending} still running` : "") + (failed ? `; ${failed} could not be used` : "") + "."
    : (pending ? "Waiting for the first result…" : "No image detected yet.");
  const flagged = state.items.filter(isFlagged).length;
  $("count-flag").hidden = !flagged;
  $("count-flag").textContent = flagged
    ? `${flagged} of ${images} image${images === 1 ? "" : "s"} ${flagged === 1 ? "is" : "are"} unlike the images ` +
      `this model was trained on: check ${flagged === 1 ? "its" : "their"} cells by eye; this count may be wrong.`
    : "";
}

function renderDownloads() {
  const ready = state.items.some((i) => i.status === "done");
  const q = `min_score=${encodeURIComponent(state.threshold)}`;
  for (const [id, file] of [["dl-csv", "counts.csv"], ["dl-json", "results.json"]]) {
    const link = $(id);
    link.classList.toggle("disabled", !ready);
    link.setAttribute("aria-disabled", String(!ready));
    if (ready) link.href = `/api/batches/${state.batch}/${file}?${q}`; else link.removeAttribute("href");
  }
}

function renderCard() {
  const card = state.info.card;
  const e = card.evaluation;
  const parts = [card.backbone && `${card.backbone} backbone`, card.image_size, `${card.classes.length} classes`,
    card.epoch && `epoch ${card.epoch}`];
  if (e && e.detection) parts.push(`mask mAP@0.5 ${fmt(e.detection["mAP@0.5"])} on ${e.images} ${e.dataset || ""} ${e.subset || ""} images`);
  $("model-line").textContent = `${card.title}: ` + parts.filter(Boolean).join(" · ");
  const box = $("card");
  const dl = el("dl");
  const add = (term, value) => { if (value !== undefined && value !== null && value !== "") dl.append(el("dt", { text: term }), el("dd", { text: String(value) })); };
  add("Backbone", card.backbone);
  add("Input size", card.image_size);
  add("Classes", card.classes.join(", "));
  add("Weights", card.weights);
  add("Epoch", card.epoch);
  add("Saved", card.saved);
  add("Threshold", `starts at ${fmt(state.info.threshold, 2)}; the slider goes down to ${fmt(state.info.floor, 2)}`);
  add("At most", card.max_detections && `${card.max_detections} detections per image`);
  const columns = [el("div", {}, el("h2", { text: "Model" }), dl)];
  if (e) {
    const figures = el("dl");
    const put = (term, value) => figures.append(el("dt", { text: term }), el("dd", { text: fmt(value) }));
    for (const [k, v] of Object.entries(e.detection || {})) put(k, v);
    for (const [k, v] of Object.entries(e.classification || {})) put(k, v);
    const evalBox = el("div", {}, el("h2", { text: "Evaluation" }),
      el("p", { class: "small muted", text: `${e.images} images of ${e.dataset || "?"} (${e.subset || "?"}); ` +
        `${e.variant || ""}. From ${e.file}.` }), figures);
    if (e.same_weights === false) {
      evalBox.append(el("p", { class: "small warn", text: `This evaluation was made with ${e.weights}, not with ` +
        "the weights loaded now: its figures may not describe this model." }));
    }
    columns.push(evalBox);
    if (e.per_class && e.per_class.length) {
      const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Class" }),
        el("th", { class: "num", text: "AP@0.5" }), el("th", { class: "num", text: "Recall" }))));
      const tbody = el("tbody");
      for (const row of e.per_class) {
        tbody.append(el("tr", {}, el("td", { text: row.class }), el("td", { class: "num", text: fmt(row["AP@0.5"]) }),
          el("td", { class: "num", text: fmt(row.recall) })));
      }
      table.append(tbody);
      columns.push(el("div", {}, el("h2", { text: "Per class" }), table));
    }
  } else {
    columns.push(el("div", {}, el("h2", { text: "Evaluation" }), el("p", { class: "small muted", text: card.evaluation_note || "none" })));
  }
  box.replaceChildren(...columns);
}
