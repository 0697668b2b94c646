// The model card and what the detector says of each image (its scale, how unlike the training images it is).
// Loaded after view.js (its helpers), before app.js; all share the page's global scope.
"use strict";

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
  add("Score", card.score && (card.score + (card.one_per_object ? "; one detection per cell, under its most " +
    "probable class" : "; a cell may be detected once per class")));
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
