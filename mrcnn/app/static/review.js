// Verifying the cells, keyboard first, as a technologist does on a commercial analyser: go cell by cell, accept the
// model's class or give another (a key per class, in the order of the class buttons), mark "not a cell" or
// "unidentified", undo, and add a cell the model missed by dragging its box. Each decision is sent to the server
// (mrcnn/app/review.py), which records it (what, from -> to, when) in the batch on disk; the page moves on at once
// and the requests go one after another, in the order they were made. Loaded after view.js, before app.js.
"use strict";

const DECISION_KEYS = "n/→ next · p/← previous · Enter/a accept · digits: class · x/Del not a cell · u unidentified";

function shownList(item) {
  // The cells of the image the review goes through, in the order of the table.
  return item.cells.map((cell, index) => ({ cell, index })).filter(({ cell }) => visible(cell));
}

function ensureCurrent(item) {
  // The cell under review: kept while it is shown, else the first cell not yet verified (else the first).
  const shown = shownList(item);
  if (shown.some(({ index }) => index === state.current)) return;
  const next = shown.find(({ cell }) => !cell.review) || shown[0];
  state.current = next ? next.index : null;
}

function renderReviewBar(item, shownCells) {
  const bar = $("review-bar");
  const names = state.info.class_names;
  $("last-class-key").textContent = String(Math.min(9, names.length));
  bar.classList.toggle("drawing", Boolean(state.drawing));
  $("overlay").classList.toggle("drawing", Boolean(state.drawing));
  const text = $("review-cell");
  if (state.drawing) {
    const keys = names.slice(0, 9).map((name, i) => `${i + 1} ${name}`).join(", ");
    text.textContent = state.drawing.box
      ? `New cell: press its class key (${keys}); Esc cancels.`
      : "Add a missed cell: drag a box around it on the image; Esc cancels.";
    return;
  }
  const at = shownCells.findIndex(({ index }) => index === state.current);
  if (at < 0) {
    text.textContent = "No cell to verify on this image: press b to add one the model missed.";
    return;
  }
  const cell = item.cells[state.current];
  const model = isAdded(cell) ? "added by hand" : `model: ${cell.class_name} ${fmtScore(cell.score)}`;
  const verdict = cell.review ? REVIEW_TEXT[cell.review.status] : "not verified yet";
  text.replaceChildren(el("strong", { text: `Cell ${at + 1} of ${shownCells.length}: ${labelOf(cell)}` }),
    ` (${model}) · ${verdict}`);
  text.title = DECISION_KEYS;
}

// ---- moving ------------------------------------------------------------------------------------------------------

function move(step) {
  // The next (step 1) or previous (-1) cell; past the image's last cell, the first of the next finished image.
  const item = state.selected;
  const shown = shownList(item);
  const at = shown.findIndex(({ index }) => index === state.current);
  const to = at + step;
  if (to >= 0 && to < shown.length) {
    state.current = shown[to].index;
    renderViewer();
    return;
  }
  const done = state.items.filter((i) => i.status === "done");
  const other = done[done.indexOf(item) + step];
  if (!other) { renderViewer(); return; }
  select(other);
  const list = shownList(other);
  state.current = list.length ? list[step > 0 ? 0 : list.length - 1].index : null;
  renderViewer();
}

// ---- decisions ---------------------------------------------------------------------------------------------------

function send(path, body) {
  // One request after the ones before it; resolves to the answer, or null after showing what went wrong.
  state.unsent++;
  document.body.dataset.unsent = String(state.unsent);
  const answer = state.sending.then(() => api(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) })).catch((error) => {
    showBanner(`The change was not saved: ${error.message}`);
    return null;
  }).finally(() => {
    state.unsent--;
    document.body.dataset.unsent = String(state.unsent);
  });
  state.sending = answer;
  return answer;
}

async function decide(body, advance = true) {
  const item = state.selected;
  const index = state.current;
  if (index === null || index === undefined) return;
  const answer = send(`/api/batches/${state.batch}/images/${item.id}/cells/${index}/review`, body);
  if (advance) move(1);
  const reply = await answer;
  if (reply) item.cells[index].review = reply.cell.review;
  renderAll();
}

function startDrawing() {
  state.drawing = { box: null, from: null };
  renderViewer();
}

function cancelDrawing() {
  state.drawing = null;
  renderViewer();
}

async function addCell(item, box, className) {
  state.drawing = null;
  const reply = await send(`/api/batches/${state.batch}/images/${item.id}/cells`, { box, class_name: className });
  if (reply) {
    await loadMask(reply.cell);
    item.cells[reply.index] = reply.cell;
    if (state.selected === item) state.current = reply.index;
  }
  renderAll();
}

function drawNewBox(ctx, scale) {
  // The box being dragged for a new cell.
  if (!state.drawing || !state.drawing.box) return;
  const [y1, x1, y2, x2] = state.drawing.box.map((v) => v * scale);
  ctx.lineWidth = 2;
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = "#2457a6";
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  ctx.setLineDash([]);
}

// ---- input -------------------------------------------------------------------------------------------------------

function onReviewKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = (e.target && e.target.tagName || "").toLowerCase();
  if (["input", "textarea", "select"].includes(tag)) return;
  if (["button", "a", "summary"].includes(tag) && (e.key === "Enter" || e.key === " ")) return;
  const item = state.selected;
  if (!item || item.status !== "done") return;
  const names = state.info.class_names;
  const digit = /^[1-9]$/.test(e.key) && Number(e.key) <= names.length ? Number(e.key) : null;
  if (state.drawing) {
    if (e.key === "Escape") cancelDrawing();
    else if (digit && state.drawing.box) addCell(item, state.drawing.box, names[digit - 1]);
    else return;
    e.preventDefault();
    return;
  }
  if (e.key === "n" || e.key === "ArrowRight") move(1);
  else if (e.key === "p" || e.key === "ArrowLeft") move(-1);
  else if (e.key === "Enter" || e.key === "a") decide({ decision: "accept" });
  else if (digit) decide({ decision: "class", class_name: names[digit - 1] });
  else if (e.key === "x" || e.key === "Delete") decide({ decision: "not_cell" });
  else if (e.key === "u") decide({ decision: "unidentified" });
  else if (e.key === "z") decide({ decision: "undo" }, false);
  else if (e.key === "b") startDrawing();
  else return;
  e.preventDefault();
}

function imagePoint(event) {
  // The pointer's position in the image's pixels (the canvas is drawn at state.scale).
  const rect = $("overlay").getBoundingClientRect();
  const item = state.selected;
  const x = Math.min(Math.max(0, (event.clientX - rect.left) / state.scale), item.width);
  const y = Math.min(Math.max(0, (event.clientY - rect.top) / state.scale), item.height);
  return [y, x];
}

function wireReview() {
  document.addEventListener("keydown", onReviewKey);
  const canvas = $("overlay");
  canvas.addEventListener("mousedown", (e) => {
    if (!state.drawing) return;
    e.preventDefault();
    state.drawing.from = imagePoint(e);
    state.drawing.box = null;
  });
  canvas.addEventListener("mousemove", (e) => {
    if (!state.drawing || !state.drawing.from) return;
    const [y0, x0] = state.drawing.from, [y, x] = imagePoint(e);
    state.drawing.box = [Math.min(y0, y), Math.min(x0, x), Math.max(y0, y), Math.max(x0, x)].map(Math.round);
    draw(state.selected);
  });
  window.addEventListener("mouseup", () => {
    if (!state.drawing || !state.drawing.from) return;
    state.drawing.from = null;
    const box = state.drawing.box;
    if (!box || box[2] - box[0] < 2 || box[3] - box[1] < 2) state.drawing.box = null;  // a click, not a box
    renderViewer();
  });
  $("add-cell").addEventListener("click", startDrawing);
}
