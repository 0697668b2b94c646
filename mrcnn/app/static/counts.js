// The differential count of the batch: pre-classified (the model's classes at the threshold) and verified (after
// the technologist's review), and the download links. Loaded after view.js, before app.js.
"use strict";

function batchCounts() {
  // The batch's differential at the threshold, counted as mrcnn/app/review.py's `differential` counts it.
  const names = state.info.class_names;
  const pre = new Array(names.length).fill(0), verified = new Array(names.length).fill(0);
  const out = { pre, verified, unidentified: 0, notCell: 0, cells: 0, reviewed: 0, changed: 0, images: 0 };
  for (const item of state.items) {
    if (item.status !== "done") continue;
    out.images++;
    for (const cell of item.cells) {
      if (inPre(cell)) pre[cell.class_id - 1]++;
      const label = labelOf(cell);
      const rejected = isCell(cell) && label === NOT_A_CELL;
      if (inVerified(cell)) {
        if (label === UNIDENTIFIED) out.unidentified++; else verified[labelId(cell) - 1]++;
      } else if (rejected) out.notCell++;
      if (inVerified(cell) || rejected) {
        out.cells++;
        if (cell.review) out.reviewed++;
        if (cell.review && cell.review.status !== "accepted") out.changed++;
      }
    }
  }
  return out;
}

function renderCounts() {
  const names = state.info.class_names;
  const counts = batchCounts();
  const { pre, verified, images } = counts;
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  const diff = state.info.differential;
  const inBase = (name) => !diff || diff.classes.includes(name);
  const base = names.reduce((total, name, i) => total + (inBase(name) ? verified[i] : 0), 0);
  const preBase = names.reduce((total, name, i) => total + (inBase(name) ? pre[i] : 0), 0);
  const label = diff ? diff.label : "all cells";
  $("percent-head").textContent = diff ? `% of ${label}` : "%";
  const body = $("counts").querySelector("tbody");
  body.replaceChildren();
  const percent = (n, per100) => (base ? `${(100 * n / base).toFixed(1)}${per100 ? " per 100" : " %"}` : "–");
  const row = (name, i, cls) => {
    const cellName = el("td", {}, el("span", { class: "dot" }), name);
    cellName.firstChild.style.setProperty("--swatch", colorOf(i + 1));
    return el("tr", { class: cls, "data-class": name }, cellName, el("td", { class: "num count", text: String(pre[i]) }),
      el("td", { class: "num verified", text: String(verified[i]) }),
      el("td", { class: "num percent", text: percent(verified[i], cls === "other") }));
  };
  names.forEach((name, i) => { if (inBase(name)) body.append(row(name, i, "")); });
  if (diff) {
    body.append(el("tr", { class: "sub", "data-class": "" }, el("td", { text: `${label[0].toUpperCase()}${label.slice(1)}` }),
      el("td", { class: "num", text: String(preBase) }), el("td", { class: "num", text: String(base) }),
      el("td", { class: "num", text: base ? "100 %" : "–" })));
    names.forEach((name, i) => { if (!inBase(name)) body.append(row(name, i, "other")); });
  }
  if (counts.unidentified) {
    body.append(el("tr", { class: "other", "data-class": UNIDENTIFIED }, el("td", { text: "unidentified" }),
      el("td", { class: "num count", text: "–" }), el("td", { class: "num verified", text: String(counts.unidentified) }),
      el("td", { class: "num percent", text: percent(counts.unidentified, true) })));
  }
  const others = names.filter((name) => !inBase(name));
  $("counts-others").textContent = diff && others.length
    ? `${others.join(" and ")} ${others.length > 1 ? "are" : "is"} not part of the 100 %: ` +
      `${others.length > 1 ? "they are" : "it is"} given per 100 ${label}.` : "";
  $("counts").querySelector("tfoot").replaceChildren(el("tr", {}, el("td", { text: "All cells" }),
    el("td", { class: "num", id: "total-count", text: String(sum(pre)) }),
    el("td", { class: "num", id: "verified-total", text: String(sum(verified) + counts.unidentified) }), el("td")));
  $("review-summary").textContent = counts.cells
    ? `${counts.reviewed} of ${plural(counts.cells, "cell", "cells")} verified · ${counts.changed} changed` +
      (counts.notCell ? ` (${counts.notCell} not a cell)` : "") : "";
  $("review-summary").dataset.reviewed = String(counts.reviewed);
  $("review-summary").dataset.changed = String(counts.changed);
  const pending = state.items.filter((i) => !["done", "failed"].includes(i.status)).length;
  const failed = state.items.filter((i) => i.status === "failed").length;
  $("count-note").textContent = images
    ? `${plural(images, "image", "images")} counted at confidence ≥ ${fmt(state.threshold, 2)}` +
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
  for (const [id, file] of [["dl-differential", "differential.csv"], ["dl-corrections", "corrections.json"],
    ["dl-report", "report.png"], ["dl-changes", "changes.csv"], ["dl-csv", "counts.csv"], ["dl-json", "results.json"]]) {
    const link = $(id);
    link.classList.toggle("disabled", !ready);
    link.setAttribute("aria-disabled", String(!ready));
    if (ready) link.href = `/api/batches/${state.batch}/${file}?${q}`; else link.removeAttribute("href");
  }
}

