// The local dashboard's script: fetches /dashboard/data and draws it as SVG, every few seconds.
// Plain browser JavaScript, no libraries. Every string that came from a user or a model is set with
// textContent, never parsed as HTML. Each chart carries data-metric, data-points and data-total so a
// test (or a curious reader) can check what was drawn; <body data-state> is "ready" after a render.
"use strict";

const REFRESH_MS = 5000;
const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
const W = 300, H = 120, PAD_L = 34, PAD_B = 16, PAD_T = 6, PAD_R = 6;

function keyFromFragment() {
  const match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (match) {
    sessionStorage.setItem("flywheel-key", decodeURIComponent(match[1]));
  }
  return sessionStorage.getItem("flywheel-key");
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return v.toFixed(a >= 1 ? 2 : 3);
}

function clock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

// One metric as a line chart over the window: one line per series, a dot per point.
function chart(metric, window) {
  const series = metric.series.filter((s) => s.points.length > 0);
  const points = series.reduce((n, s) => n + s.points.length, 0);
  const fig = el("figure", {"class": "chart", "data-metric": metric.name, "data-layer": metric.layer,
                             "data-points": String(points), "data-total": String(metric.total ?? "")});
  const cap = el("figcaption", {}, metric.name);
  cap.appendChild(el("small", {}, metric.unit));
  fig.appendChild(cap);
  fig.title = metric.description;
  if (!series.length) {
    fig.appendChild(el("p", {"class": "empty"}, "no data in this window"));
    return fig;
  }
  const all = series.flatMap((s) => s.points.map((p) => p[1]));
  let lo = Math.min(0, ...all), hi = Math.max(...all);
  if (hi === lo) hi = lo + 1;
  const t0 = window.start, t1 = window.end;
  const x = (t) => PAD_L + (W - PAD_L - PAD_R) * Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
  const y = (v) => PAD_T + (H - PAD_T - PAD_B) * (1 - (v - lo) / (hi - lo));
  const plot = svg("svg", {"class": "plot", viewBox: `0 0 ${W} ${H}`, role: "img",
                           "aria-label": `${metric.name} over time`});
  plot.appendChild(svg("line", {"class": "axis", x1: PAD_L, y1: H - PAD_B, x2: W - PAD_R, y2: H - PAD_B}));
  plot.appendChild(svg("line", {"class": "axis", x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B}));
  for (const [v, yy] of [[hi, PAD_T + 8], [lo, H - PAD_B]]) {
    const label = svg("text", {x: PAD_L - 3, y: yy, "text-anchor": "end"});
    label.textContent = fmt(v);
    plot.appendChild(label);
  }
  for (const [t, anchor] of [[t0, "start"], [t1, "end"]]) {
    const label = svg("text", {x: x(t), y: H - 3, "text-anchor": anchor});
    label.textContent = clock(t);
    plot.appendChild(label);
  }
  const legend = el("div", {"class": "legend"});
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const path = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    plot.appendChild(svg("path", {d: path, fill: "none", stroke: colour, "stroke-width": 1.5,
                                  "data-series": s.label}));
    for (const p of s.points) {
      const dot = svg("circle", {cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2.2, fill: colour,
                                 "data-value": String(p[1])});
      const tip = svg("title", {});
      tip.textContent = `${s.label} (${s.stat}) ${clock(p[0])}: ${fmt(p[1])}`;
      dot.appendChild(tip);
      plot.appendChild(dot);
    }
    const item = el("span", {}, `${s.label} (${s.stat})`);
    const swatch = el("i");
    swatch.style.background = colour;
    item.prepend(swatch);
    legend.appendChild(item);
  });
  fig.appendChild(plot);
  fig.appendChild(legend);
  if (metric.total !== null && metric.total !== undefined) {
    fig.appendChild(el("p", {"class": "summary"}, `total ${fmt(metric.total)} in the window`));
  }
  if (metric.percentiles && metric.percentiles.p99 !== undefined) {
    const p = metric.percentiles;
    const line = el("p", {"class": "summary percentiles", "data-p50": String(p.p50), "data-p99": String(p.p99)},
                    `p50 ${fmt(p.p50)} · p90 ${fmt(p.p90)} · p99 ${fmt(p.p99)} ms (from ${p.source})`);
    fig.appendChild(line);
  }
  return fig;
}

function renderCharts(data) {
  const root = document.getElementById("charts");
  root.replaceChildren();
  for (const layer of data.layers) {
    const metrics = data.metrics.filter((m) => m.layer === layer);
    if (!metrics.length) continue;
    const section = el("section", {"class": "layer", "data-layer": layer});
    section.appendChild(el("h2", {}, layer));
    const grid = el("div", {"class": "grid"});
    // Metrics with data first, so what happened is at the top of each layer.
    metrics.sort((a, b) => Number(b.has_data) - Number(a.has_data));
    for (const metric of metrics) grid.appendChild(chart(metric, data.window));
    section.appendChild(grid);
    root.appendChild(section);
  }
}

function moderationCell(row) {
  const m = row.input_moderation;
  const td = el("td", {"class": m.flagged || row.input_attack ? "flagged" : "clean", "data-field": "moderation"});
  if (m.flagged) {
    td.textContent = `flagged: ${m.categories.join(", ")}`;
  } else {
    const top = m.top_score ? ` (highest: ${m.top_score[0]} ${fmt(m.top_score[1])})` : "";
    td.textContent = `not flagged${top}`;
  }
  if (row.input_attack) td.textContent += "; prompt attack";
  return td;
}

function outputCell(row) {
  const flagged = row.output_checks.filter((c) => c.flagged);
  const td = el("td", {"class": flagged.length ? "flagged" : "clean", "data-field": "output"});
  td.textContent = flagged.length
    ? flagged.map((c) => `withheld (${c.categories.join(", ")})`).join("; ")
    : `${row.output_checks.length} choice(s) passed`;
  return td;
}

function feedbackCell(row) {
  const td = el("td", {"data-field": "feedback"});
  if (!row.feedback.length) {
    td.textContent = "none yet";
    return td;
  }
  td.textContent = row.feedback.map((f) => {
    const value = typeof f.value === "object" ? JSON.stringify(f.value) : String(f.value);
    const choice = f.choice_index === null ? "" : ` on choice ${f.choice_index}`;
    return `${f.kind}: ${value}${choice}`;
  }).join("; ");
  return td;
}

function renderInteractions(data) {
  const body = document.querySelector("#interactions tbody");
  body.replaceChildren();
  if (!data.interactions.length) {
    const tr = el("tr");
    tr.appendChild(el("td", {colspan: "8", "class": "empty"}, "no interactions yet"));
    body.appendChild(tr);
    return;
  }
  for (const row of data.interactions) {
    const tr = el("tr", {"data-completion-id": row.completion_id, "data-request-id": row.request_id || ""});
    tr.appendChild(el("td", {}, row.created ? new Date(row.created * 1000).toLocaleTimeString() : "–"));
    tr.appendChild(el("td", {}, row.model_version));
    tr.appendChild(el("td", {"data-field": "prompt"}, row.prompt));
    tr.appendChild(el("td", {"data-field": "answer"}, row.choices.join(" ‖ ")));
    tr.appendChild(moderationCell(row));
    tr.appendChild(outputCell(row));
    tr.appendChild(feedbackCell(row));
    tr.appendChild(el("td", {}, row.latency_ms === null || row.latency_ms === undefined ? "–"
                                    : `${fmt(row.latency_ms)} ms`));
    body.appendChild(tr);
  }
}

let refreshes = 0;

async function refresh() {
  const key = keyFromFragment();
  const status = document.getElementById("status");
  if (!key) {
    document.getElementById("key-form").hidden = false;
    status.textContent = "enter the API key that flywheel up printed";
    document.body.dataset.state = "needs-key";
    return;
  }
  const minutes = document.getElementById("minutes").value;
  try {
    const answer = await fetch(`/dashboard/data?minutes=${encodeURIComponent(minutes)}`,
                               {headers: {"x-api-key": key}, cache: "no-store"});
    if (!answer.ok) {
      status.textContent = `data request failed: ${answer.status} ${(await answer.text()).slice(0, 200)}`;
      document.body.dataset.state = "error";
      if (answer.status === 403) document.getElementById("key-form").hidden = false;
      return;
    }
    const data = await answer.json();
    document.getElementById("stack").textContent = `· ${data.stack}`;
    renderCharts(data);
    renderInteractions(data);
    refreshes += 1;
    status.textContent = `updated ${new Date(data.generated_at * 1000).toLocaleTimeString()}`;
    document.body.dataset.refreshes = String(refreshes);
    document.body.dataset.state = "ready";
  } catch (err) {
    status.textContent = `cannot reach the dashboard's data: ${err}`;
    document.body.dataset.state = "error";
  }
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("flywheel-key", document.getElementById("key-input").value);
  document.getElementById("key-form").hidden = true;
  refresh();
});
document.getElementById("minutes").addEventListener("change", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
