"use strict";
// Draws one Grafana dashboard JSON with plotly.js: panels where gridPos puts them, rows,
// titles, units and decimals, legends (legendFormat names, list or table, bottom or
// right), thresholds, field overrides, and the alert annotations. The frames come from
// this server (/api/dashboards/<uid>/data), which runs the queries as Grafana does.
// Each panel's element carries data-title and data-state (ok, nodata, error) and the
// body data-ready="1" once every panel is drawn, for the browser test.

const GRID_H = 30, GAP = 8;
const TEXT = "#ccccdc", GRIDLINE = "#2c3235";
// Grafana's classic palette, in its order.
const PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0",
  "#37872d", "#fade2a", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62", "#584477"];
const NAMED = {green: "#73bf69", red: "#f2495c", orange: "#ff9830", yellow: "#fade2a", blue: "#5794f2",
  purple: "#b877d9", "dark-red": "#c4162a", "dark-green": "#37872d", "dark-orange": "#fa6400",
  "dark-yellow": "#e0b400", "semi-dark-red": "#e02f44", "semi-dark-green": "#56a64b",
  "semi-dark-orange": "#ff780a", "semi-dark-yellow": "#f2cc0c", text: TEXT, transparent: "rgba(0,0,0,0)"};
// What Grafana applies to a panel whose JSON sets no thresholds.
const DEFAULT_THRESHOLDS = {mode: "absolute", steps: [{color: "green", value: null}, {color: "red", value: 80}]};

const color = (name) => NAMED[name] || name;

// ---- units: Grafana's unit ids to value text and plotly axis formats --------------------

function round(v, decimals) {
  if (decimals !== undefined && decimals !== null) return v.toFixed(decimals);
  const a = Math.abs(v);
  if (a === 0) return "0";
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : Math.min(8, 2 - Math.floor(Math.log10(a)));
  return String(parseFloat(v.toFixed(digits)));
}

function scaled(v, decimals, steps) {
  for (const [factor, suffix] of steps) {
    if (Math.abs(v) >= factor) return round(v / factor, decimals) + suffix;
  }
  const [factor, suffix] = steps[steps.length - 1];
  return round(v / factor, decimals) + suffix;
}

const SHORT = [[1e12, " Tri"], [1e9, " Bil"], [1e6, " Mil"], [1e3, " K"], [1, ""]];
const SI = (u) => [[1e12, " T" + u], [1e9, " G" + u], [1e6, " M" + u], [1e3, " k" + u], [1, " " + u]];
const IEC = (u) => [[2 ** 40, " Ti" + u], [2 ** 30, " Gi" + u], [2 ** 20, " Mi" + u], [2 ** 10, " Ki" + u], [1, " " + u]];
const TIME = [[86400, " day"], [3600, " hour"], [60, " min"], [1, " s"], [1e-3, " ms"], [1e-6, " µs"], [1e-9, " ns"]];

function unitOf(unit, decimals) {
  const with_ = (steps, axis) => ({fmt: (v) => scaled(v, decimals, steps), axis});
  switch (unit) {
    case "percentunit": return {fmt: (v) => round(v * 100, decimals) + "%", axis: {tickformat: "~%"}};
    case "percent": return {fmt: (v) => round(v, decimals) + "%", axis: {ticksuffix: "%"}};
    case "s": return with_(TIME, {tickformat: "~s", ticksuffix: "s"});
    case "ms": return {fmt: (v) => scaled(v / 1000, decimals, TIME), axis: {ticksuffix: " ms"}};
    case "bytes": return with_(IEC("B"), {tickformat: "~s", ticksuffix: "B"});
    case "Bps": return with_(SI("B/s"), {tickformat: "~s", ticksuffix: "B/s"});
    case "reqps": return with_([...SHORT.slice(0, -1), [1, ""]].map(([f, s]) => [f, s + " req/s"]),
      {ticksuffix: " req/s"});
    case "celsius": return {fmt: (v) => round(v, decimals) + " °C", axis: {ticksuffix: " °C"}};
    case "watt": return with_(SI("W"), {tickformat: "~s", ticksuffix: "W"});
    default: return with_(SHORT, {});
  }
}

// ---- field config: defaults, overrides, thresholds --------------------------------------

function defaults(panel) {
  return (panel.fieldConfig && panel.fieldConfig.defaults) || {};
}

function matches(matcher, frame) {
  const opt = matcher.options;
  switch (matcher.id) {
    case "byName": return frame.name === opt;
    case "byRegexp": return new RegExp(opt).test(frame.name);
    case "byFrameRefID": return frame.refId === opt;
    default: return false;
  }
}

// The field config one series gets: the panel's defaults with every matching override.
function fieldFor(panel, frame) {
  const field = {...defaults(panel), custom: {...(defaults(panel).custom || {})}};
  for (const o of (panel.fieldConfig && panel.fieldConfig.overrides) || []) {
    if (!matches(o.matcher || {}, frame)) continue;
    for (const p of o.properties || []) {
      if (p.id.startsWith("custom.")) field.custom[p.id.slice(7)] = p.value;
      else field[p.id] = p.value;
    }
  }
  return field;
}

function stepColor(thresholds, v) {
  const steps = (thresholds || DEFAULT_THRESHOLDS).steps;
  let c = steps[0].color;
  for (const s of steps) if (s.value === null || v >= s.value) c = s.color;
  return color(c);
}

// ---- panel frame and states --------------------------------------------------------------

function setState(el, state, message) {
  el.dataset.state = state;
  const body = el.querySelector(".body");
  if (state !== "ok") {
    body.replaceChildren();
    const msg = document.createElement("div");
    msg.className = state === "error" ? "message error" : "message";
    msg.textContent = message;
    body.append(msg);
  }
}

function hasData(frames) {
  return frames.some((f) => f.values.some((v) => v !== null));
}

function baseLayout(range) {
  return {
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", showlegend: false,
    font: {color: TEXT, size: 11, family: "Inter, Helvetica, Arial, sans-serif"},
    margin: {l: 64, r: 16, t: 6, b: 24}, hovermode: "x unified",
    xaxis: {type: "date", range: [range.start, range.end], gridcolor: GRIDLINE, linecolor: GRIDLINE,
      tickfont: {size: 10}, tickformat: range.end - range.start > 86400e3 ? "%m/%d %H:%M" : "%H:%M",
      hoverformat: "%Y-%m-%d %H:%M:%S"},
  };
}

function yAxis(field, unit, values) {
  const axis = {gridcolor: GRIDLINE, zeroline: false, tickfont: {size: 10}, automargin: true, ...unit.axis};
  if (field.custom.axisLabel) axis.title = {text: field.custom.axisLabel, font: {size: 11}};
  if ((field.custom.scaleDistribution || {}).type === "log") {
    axis.type = "log";
    axis.tickformat = axis.tickformat || "~s";  // 1k, 10k, 100k rather than 547.9202k
    axis.dtick = 1;  // a tick per decade
  }
  const has = (x) => x !== undefined && x !== null;
  if (has(field.min) && has(field.max)) axis.range = [field.min, field.max];
  else if (has(field.min)) axis.autorangeoptions = {minallowed: field.min, include: field.min};
  else if (has(field.max)) axis.autorangeoptions = {maxallowed: field.max};
  else if (values.every((v) => v === null || v >= 0)) axis.rangemode = "tozero";
  return axis;
}

function thresholdShapes(field, yref) {
  const mode = (field.custom.thresholdsStyle || {}).mode || "off";
  if (mode === "off" || !field.thresholds) return [];
  const steps = field.thresholds.steps.filter((s) => s.value !== null);
  return steps.map((s) => ({type: "line", xref: "paper", x0: 0, x1: 1, yref, y0: s.value, y1: s.value,
    line: {color: color(s.color), width: 1, dash: mode.startsWith("dashed") ? "dash" : "solid"}}));
}

// Firing-alert spans, overlapping ones merged so that ten alerts at once do not stack ten
// shades; a thin line marks where each merged span begins.
function annotationShapes(regions) {
  const spans = [];
  for (const r of [...regions].sort((a, b) => a.start - b.start)) {
    const last = spans[spans.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else spans.push({start: r.start, end: Math.max(r.end, r.start + 1000), color: color(r.color)});
  }
  return spans.flatMap((s) => [
    {type: "rect", xref: "x", yref: "paper", x0: s.start, x1: s.end, y0: 0, y1: 1, fillcolor: s.color,
      opacity: 0.08, line: {width: 0}, layer: "below"},
    {type: "line", xref: "x", yref: "paper", x0: s.start, x1: s.start, y0: 0, y1: 1,
      line: {color: s.color, width: 1, dash: "dot"}, opacity: 0.6},
  ]);
}

// ---- legends ------------------------------------------------------------------------------

const CALCS = {
  lastNotNull: (vs) => [...vs].reverse().find((v) => v !== null),
  last: (vs) => vs[vs.length - 1],
  mean: (vs) => { const n = vs.filter((v) => v !== null); return n.length ? n.reduce((a, b) => a + b, 0) / n.length : null; },
  max: (vs) => { const n = vs.filter((v) => v !== null); return n.length ? Math.max(...n) : null; },
  min: (vs) => { const n = vs.filter((v) => v !== null); return n.length ? Math.min(...n) : null; },
  sum: (vs) => vs.filter((v) => v !== null).reduce((a, b) => a + b, 0),
};
const CALC_NAMES = {lastNotNull: "Last *", last: "Last", mean: "Mean", max: "Max", min: "Min", sum: "Total"};

function drawLegend(el, panel, entries, plot) {
  const opts = (panel.options && panel.options.legend) || {};
  if (opts.showLegend === false || opts.displayMode === "hidden") return;
  const calcs = (opts.calcs || []).filter((c) => CALCS[c]);
  const box = document.createElement("div");
  box.className = "legend " + (opts.displayMode === "table" ? "table" : "list");
  const legend = opts.displayMode === "table" ? document.createElement("table") : box;
  if (legend !== box) box.append(legend);
  el.classList.toggle("legend-right", opts.placement === "right");
  if (opts.displayMode === "table") {
    const head = legend.insertRow();
    for (const h of ["", ...calcs.map((c) => CALC_NAMES[c])]) head.insertCell().textContent = h;
  }
  entries.forEach((e, i) => {
    const item = opts.displayMode === "table" ? legend.insertRow() : document.createElement("span");
    const name = opts.displayMode === "table" ? item.insertCell() : item;
    name.innerHTML = `<i style="background:${e.color}"></i>`;
    name.append(document.createTextNode(e.name));
    for (const c of calcs) {
      const v = CALCS[c](e.values);
      const text = v === null || v === undefined ? "—" : e.unit.fmt(v);
      if (opts.displayMode === "table") item.insertCell().textContent = text;
      else name.append(document.createTextNode(` ${CALC_NAMES[c]}: ${text}`));
    }
    item.classList.add("entry");
    item.addEventListener("click", () => {
      item.classList.toggle("off");
      Plotly.restyle(plot, {visible: item.classList.contains("off") ? "legendonly" : true}, [i]);
    });
    if (opts.displayMode !== "table") legend.append(item);
  });
  el.querySelector(".body").append(box);
}

// ---- panel types --------------------------------------------------------------------------

function plotDiv(el) {
  let plot = el.querySelector(".plot");
  if (!plot) {
    el.querySelector(".body").replaceChildren();
    plot = document.createElement("div");
    plot.className = "plot";
    el.querySelector(".body").append(plot);
  }
  el.querySelector(".legend")?.remove();
  return plot;
}

function drawTimeseries(el, panel, data, ctx) {
  const frames = data.series;
  if (!hasData(frames)) return setState(el, "nodata", "No data");
  const plot = plotDiv(el);
  const layout = baseLayout(ctx.range);
  const entries = [];
  let right = null;
  const traces = frames.map((f, i) => {
    const field = fieldFor(panel, f);
    const unit = unitOf(field.unit, field.decimals);
    const onRight = field.custom.axisPlacement === "right";
    if (onRight) right = {field, unit};
    const c = field.color && field.color.fixedColor ? color(field.color.fixedColor) : PALETTE[i % PALETTE.length];
    entries.push({name: f.name, color: c, values: f.values, unit});
    const sparse = f.values.filter((v) => v !== null).length < 30;
    return {type: "scatter", mode: sparse ? "lines+markers" : "lines", x: f.times, y: f.values, name: f.name,
      line: {color: c, width: field.custom.lineWidth || 1}, marker: {size: 3}, connectgaps: false,
      fill: (field.custom.fillOpacity || 0) > 0 ? "tozeroy" : "none",
      text: f.values.map((v) => (v === null ? "" : unit.fmt(v))), hovertemplate: "%{text}",
      yaxis: onRight ? "y2" : "y"};
  });
  const field = fieldFor(panel, {name: "", refId: ""});
  const leftValues = traces.filter((t) => t.yaxis === "y").flatMap((t) => t.y);
  layout.yaxis = yAxis(field, unitOf(field.unit, field.decimals), leftValues);
  layout.shapes = [...thresholdShapes(field, "y"), ...annotationShapes(ctx.annotations)];
  if (right) {
    layout.yaxis2 = {...yAxis(right.field, right.unit, traces.filter((t) => t.yaxis === "y2").flatMap((t) => t.y)),
      overlaying: "y", side: "right", showgrid: false};
    layout.margin.r = 64;
  }
  Plotly.react(plot, traces, layout, {displayModeBar: false, responsive: true});
  drawLegend(el, panel, entries, plot);
  setState(el, "ok");
}

function drawStat(el, panel, data, ctx) {
  const frames = data.series.filter((f) => f.values.some((v) => v !== null));
  if (!frames.length) return setState(el, "nodata", "No data");
  const opts = panel.options || {};
  const calc = CALCS[((opts.reduceOptions || {}).calcs || ["lastNotNull"])[0]] || CALCS.lastNotNull;
  const body = el.querySelector(".body");
  body.replaceChildren();
  const box = document.createElement("div");
  box.className = "stats";
  body.append(box);
  for (const f of frames) {
    const field = fieldFor(panel, f);
    const unit = unitOf(field.unit, field.decimals);
    const v = calc(f.values);
    const c = stepColor(field.thresholds, v);
    const cell = document.createElement("div");
    cell.className = "stat";
    if (frames.length > 1) {
      const name = document.createElement("div");
      name.className = "stat-name";
      name.textContent = f.name;
      cell.append(name);
    }
    const value = document.createElement("div");
    value.className = "stat-value";
    value.textContent = v === null || v === undefined ? "—" : unit.fmt(v);
    value.style.color = (opts.colorMode || "value") === "none" ? TEXT : c;
    cell.append(value);
    box.append(cell);
    if ((opts.graphMode || "area") === "area" && f.times.length > 1) {
      const spark = document.createElement("div");
      spark.className = "spark";
      cell.append(spark);
      Plotly.newPlot(spark, [{type: "scatter", mode: "lines", x: f.times, y: f.values, fill: "tozeroy",
        line: {color: c, width: 1}, fillcolor: c + "26", hoverinfo: "skip"}],
      {margin: {l: 0, r: 0, t: 0, b: 0}, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        xaxis: {visible: false, range: [ctx.range.start, ctx.range.end]}, yaxis: {visible: false, rangemode: "tozero"},
        showlegend: false},
      {displayModeBar: false, staticPlot: true, responsive: true});
    }
  }
  fitStatText(box);
  setState(el, "ok");
}

function fitStatText(box) {
  for (const value of box.querySelectorAll(".stat-value")) {
    const cell = value.parentElement;
    const byWidth = cell.clientWidth / Math.max(3, value.textContent.length * 0.62);
    value.style.fontSize = `${Math.max(14, Math.min(cell.clientHeight * 0.42, byWidth, 64))}px`;
  }
}

function drawTable(el, panel, data) {
  const t = data.table;
  if (!t.rows.length) return setState(el, "nodata", "No data");
  const field = fieldFor(panel, {name: "", refId: ""});
  const unit = unitOf(field.unit, field.decimals);
  const cellType = ((field.custom.cellOptions || {}).type) || field.custom.displayMode || "auto";
  const table = document.createElement("table");
  table.className = "grid-table";
  const head = table.createTHead().insertRow();
  for (const c of t.columns) head.insertCell().textContent = c;
  const body = table.createTBody();
  for (const row of t.rows) {
    const tr = body.insertRow();
    row.forEach((v, i) => {
      const td = tr.insertCell();
      const numeric = t.columns[i].startsWith("Value");
      td.textContent = v === null ? "—" : numeric ? unit.fmt(v) : v;
      if (numeric && v !== null) {
        td.className = "num";
        if (cellType.includes("color-text")) td.style.color = stepColor(field.thresholds, v);
        if (cellType.includes("color-background")) td.style.background = stepColor(field.thresholds, v) + "66";
      }
    });
  }
  const wrap = el.querySelector(".body");
  wrap.replaceChildren();
  const scroll = document.createElement("div");
  scroll.className = "table-scroll";
  scroll.append(table);
  wrap.append(scroll);
  setState(el, "ok");
}

function drawHeatmap(el, panel, data, ctx) {
  const h = data.heatmap;
  if (!h.counts.some((row) => row.some((v) => v))) return setState(el, "nodata", "No data");
  const field = fieldFor(panel, {name: "", refId: ""});
  const unit = unitOf(field.unit, field.decimals);
  const labels = h.buckets.map((le) => (le === "+Inf" ? "+Inf" : "≤ " + unit.fmt(parseFloat(le))));
  const plot = plotDiv(el);
  const layout = baseLayout(ctx.range);
  layout.yaxis = {type: "category", tickfont: {size: 10}, automargin: true, gridcolor: GRIDLINE};
  layout.hovermode = "closest";
  Plotly.react(plot, [{type: "heatmap", x: h.times, y: labels, z: h.counts.map((r) => r.map((v) => (v ? v : null))),
    colorscale: [[0, "#3d1f0b"], [0.35, "#c4530f"], [0.7, "#ff9830"], [1, "#fde3b0"]], xgap: 1, ygap: 1,
    colorbar: {thickness: 8, outlinewidth: 0, tickfont: {size: 9}},
    hovertemplate: "%{y}: %{z:.3~s}<extra></extra>"}], layout, {displayModeBar: false, responsive: true});
  setState(el, "ok");
}

function drawStateTimeline(el, panel, data, ctx) {
  const frames = data.series;
  if (!hasData(frames)) return setState(el, "nodata", "No data");
  const field = fieldFor(panel, {name: "", refId: ""});
  const unit = unitOf(field.unit, field.decimals);
  const steps = (field.thresholds || DEFAULT_THRESHOLDS).steps;
  const index = (v) => steps.reduce((k, s, i) => (s.value === null || v >= s.value ? i : k), 0);
  const n = steps.length;  // one colour band per threshold step
  const scale = steps.flatMap((s, i) => [[i / n, color(s.color)], [(i + 1) / n, color(s.color)]]);
  const plot = plotDiv(el);
  const layout = baseLayout(ctx.range);
  layout.yaxis = {type: "category", automargin: true, tickfont: {size: 10}};
  layout.hovermode = "closest";
  Plotly.react(plot, [{type: "heatmap", x: frames[0].times, y: frames.map((f) => f.name),
    z: frames.map((f) => f.values.map((v) => (v === null ? null : index(v)))), zmin: -0.5, zmax: n - 0.5,
    colorscale: scale, showscale: false, ygap: 2,
    text: frames.map((f) => f.values.map((v) => (v === null ? "" : unit.fmt(v)))),
    hovertemplate: "%{y}: %{text}<extra></extra>"}], layout, {displayModeBar: false, responsive: true});
  setState(el, "ok");
}

const DRAW = {timeseries: drawTimeseries, stat: drawStat, table: drawTable, heatmap: drawHeatmap,
  "state-timeline": drawStateTimeline};

// ---- the page: grid, pickers, refresh -----------------------------------------------------

function panelsOf(panels) {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels || [])]);
}

function layoutGrid(dashboard) {
  const grid = document.getElementById("grid");
  const elements = {};
  let bottom = 0;
  for (const p of panelsOf(dashboard.panels || [])) {
    const g = p.gridPos;
    const el = document.createElement("section");
    el.className = p.type === "row" ? "row" : "panel";
    el.style.left = `calc(${(g.x / 24) * 100}% + ${GAP / 2}px)`;
    el.style.width = `calc(${(g.w / 24) * 100}% - ${GAP}px)`;
    el.style.top = `${g.y * (GRID_H + GAP)}px`;
    el.style.height = `${g.h * GRID_H + (g.h - 1) * GAP}px`;
    bottom = Math.max(bottom, (g.y + g.h) * (GRID_H + GAP));
    const title = document.createElement("h2");
    title.textContent = p.title || "";
    if (p.description) title.title = p.description;
    el.append(title);
    if (p.type !== "row") {
      el.dataset.title = p.title || "";
      el.dataset.type = p.type;
      el.dataset.state = "loading";
      const body = document.createElement("div");
      body.className = "body";
      el.append(body);
      elements[p.id] = {el, panel: p};
    }
    grid.append(el);
  }
  grid.style.height = `${bottom}px`;
  return elements;
}

const RANGES = ["5m", "10m", "15m", "20m", "30m", "1h", "3h", "6h", "12h", "24h"];

function pickers(variables, params) {
  const form = document.getElementById("pickers");
  if (form.childElementCount) return;
  const go = () => {
    const next = new URLSearchParams();
    for (const sel of form.querySelectorAll("select")) {
      for (const o of sel.selectedOptions) next.append(sel.name, o.value);
    }
    location.search = next.toString();
  };
  // One value or All per picker (Grafana's multi-select is not drawn; several var-<name>
  // values in the URL still apply).
  const add = (label, name, options, selected) => {
    const lab = document.createElement("label");
    lab.textContent = label;
    const sel = document.createElement("select");
    sel.name = name;
    for (const [value, text] of options) sel.add(new Option(text, value, false, selected.includes(value)));
    sel.addEventListener("change", go);
    lab.append(sel);
    form.append(lab);
  };
  for (const v of variables) {
    const opts = [...(v.includeAll ? [["$__all", "All"]] : []), ...v.options.map((o) => [o, o])];
    add(v.label, `var-${v.name}`, opts, v.selected);
  }
  const from = params.get("from") || "";
  const ranges = RANGES.map((r) => [`now-${r}`, `Last ${r}`]);
  if (!ranges.some(([v]) => v === (from || ctxDefaultFrom))) ranges.unshift([from || ctxDefaultFrom, from || ctxDefaultFrom]);
  add("Range", "from", ranges, [from || ctxDefaultFrom]);
}

let ctxDefaultFrom = "now-1h";

function seconds(text) {
  const m = /^(\d+)([smhd])$/.exec(text || "");
  return m ? Number(m[1]) * {s: 1, m: 60, h: 3600, d: 86400}[m[2]] : 0;
}

async function refresh(uid, elements) {
  const params = new URLSearchParams(location.search);
  const answer = await fetch(`/api/dashboards/${uid}/data?${params}`);
  const data = await answer.json();
  if (!answer.ok) {
    for (const {el} of Object.values(elements)) setState(el, "error", data.error || answer.statusText);
    return;
  }
  pickers(data.variables, params);
  const ctx = {range: data.range, annotations: data.annotations};
  for (const [id, {el, panel}] of Object.entries(elements)) {
    const frames = data.panels[id];
    try {
      if (frames.error) setState(el, "error", frames.error);
      else if (DRAW[panel.type]) DRAW[panel.type](el, panel, frames, ctx);
      else setState(el, "error", `panel type ${panel.type} is not drawn by the preview`);
    } catch (e) {
      setState(el, "error", String(e));
    }
  }
}

async function main() {
  const uid = document.body.dataset.uid;
  const dashboard = await (await fetch(`/api/dashboards/${uid}`)).json();
  ctxDefaultFrom = (dashboard.time || {}).from || ctxDefaultFrom;
  const elements = layoutGrid(dashboard);
  await refresh(uid, elements);
  document.body.dataset.ready = "1";
  const every = seconds(new URLSearchParams(location.search).get("refresh") || dashboard.refresh);
  if (every) setInterval(() => refresh(uid, elements), every * 1000);
}

main();
