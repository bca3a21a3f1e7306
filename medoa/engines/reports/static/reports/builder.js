/* The report builder: dataset, measures, dimensions, filters, sort, chart (ECharts), save/share/
   schedule, exports. Fields are sent by registered name; the server compiles the query. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("builder-config").textContent);
  var csrf = document.querySelector('#builder input[name="csrfmiddlewaretoken"]').value;
  var OPS = ["count", "count_distinct", "sum", "avg", "ratio", "p50", "p90", "p95"];
  var chart = echarts.init(document.getElementById("b-chart-area"));
  window.addEventListener("resize", function () { chart.resize(); });
  var $ = function (id) { return document.getElementById(id); };
  function opt(sel, value, label) { var o = document.createElement("option"); o.value = value; o.textContent = label; sel.appendChild(o); }
  function ds() { return cfg.datasets.filter(function (d) { return d.key === $("b-dataset").value; })[0]; }
  function fieldSelect(kinds) {
    var s = document.createElement("select");
    opt(s, "", "—");
    ds().fields.forEach(function (f) { if (kinds.indexOf(f.kind) >= 0) opt(s, f.name, f.label); });
    return s;
  }
  function row(container, parts) {
    var div = document.createElement("div"); div.className = "builder-row";
    parts.forEach(function (p) { div.appendChild(p); });
    var del = document.createElement("button"); del.type = "button"; del.className = "btn btn-sm"; del.textContent = "×";
    del.addEventListener("click", function () { div.remove(); });
    div.appendChild(del); container.appendChild(div);
  }
  function addMeasure(op, field) {
    var s = document.createElement("select"); OPS.forEach(function (o) { opt(s, o, o); }); s.value = op || "count";
    var f = fieldSelect(["measure", "dimension"]); if (field) f.value = field;
    row($("b-measures"), [s, f]);
  }
  function addDim(field, grain) {
    var f = fieldSelect(["dimension", "time"]); if (field) f.value = field;
    var g = document.createElement("select"); ["day", "week", "month"].forEach(function (x) { opt(g, x, x); }); g.value = grain || "month";
    row($("b-dims"), [f, g]);
  }
  function addFilter() {
    var f = fieldSelect(["dimension", "time"]);
    var o = document.createElement("select"); ["eq", "ne", "gte", "lte", "gt", "lt"].forEach(function (x) { opt(o, x, x); });
    var v = document.createElement("input"); v.placeholder = "value";
    row($("b-filters"), [f, o, v]);
  }
  function reset() {
    ["b-measures", "b-dims", "b-filters"].forEach(function (id) { $(id).textContent = ""; });
    addMeasure("count");
  }
  cfg.datasets.forEach(function (d) { opt($("b-dataset"), d.key, d.label); });
  cfg.charts.forEach(function (c) { opt($("b-chart"), c, c); });
  $("b-dataset").addEventListener("change", reset);
  $("b-add-measure").addEventListener("click", function () { addMeasure(); });
  $("b-add-dim").addEventListener("click", function () { addDim(); });
  $("b-add-filter").addEventListener("click", addFilter);
  function spec() {
    var s = { dataset: $("b-dataset").value, measures: [], dimensions: [], filters: [], sort: [] };
    $("b-measures").querySelectorAll(".builder-row").forEach(function (r) {
      var sel = r.querySelectorAll("select"); var m = { op: sel[0].value };
      if (sel[1].value) m.field = sel[1].value; s.measures.push(m);
    });
    $("b-dims").querySelectorAll(".builder-row").forEach(function (r) {
      var sel = r.querySelectorAll("select"); if (sel[0].value) s.dimensions.push({ field: sel[0].value, grain: sel[1].value });
    });
    $("b-filters").querySelectorAll(".builder-row").forEach(function (r) {
      var sel = r.querySelectorAll("select"); var v = r.querySelector("input").value;
      if (sel[0].value) s.filters.push({ field: sel[0].value, op: sel[1].value, value: v });
    });
    var sort = $("b-sort").value;
    if (sort) { var p = sort.split(":"); if (p[0] !== "d0" || s.dimensions.length) s.sort.push({ by: p[0], desc: p[1] === "desc" }); }
    return s;
  }
  function draw(body, type) {
    var dims = body.columns.filter(function (c) { return c.kind === "dimension"; });
    var meas = body.columns.filter(function (c) { return c.kind === "measure"; });
    var idx = function (c) { return body.columns.indexOf(c); };
    var t = $("b-table"); t.textContent = "";
    var h = t.createTHead().insertRow();
    body.columns.forEach(function (c) { var th = document.createElement("th"); th.textContent = c.label; h.appendChild(th); });
    var tb = t.createTBody();
    body.rows.concat([body.totals]).forEach(function (r, i) {
      var tr = tb.insertRow(); if (i === body.rows.length) tr.className = "total";
      r.forEach(function (v) { tr.insertCell().textContent = v === null ? "" : v; });
    });
    if (type === "table" || !meas.length) { chart.clear(); return; }
    var cats = body.rows.map(function (r) { return dims.length ? String(r[idx(dims[0])]) : ""; });
    var option;
    if (type === "pie") {
      option = { tooltip: {}, series: [{ type: "pie", radius: "65%", data: body.rows.map(function (r, i) { return { name: cats[i], value: r[idx(meas[0])] }; }) }] };
    } else if (type === "gauge") {
      option = { series: [{ type: "gauge", data: [{ value: body.totals[idx(meas[0])], name: meas[0].label }] }] };
    } else if (type === "heatmap" && dims.length >= 2) {
      var xs = [], ys = [];
      body.rows.forEach(function (r) { var x = String(r[idx(dims[0])]), y = String(r[idx(dims[1])]); if (xs.indexOf(x) < 0) xs.push(x); if (ys.indexOf(y) < 0) ys.push(y); });
      var vals = body.rows.map(function (r) { return [xs.indexOf(String(r[idx(dims[0])])), ys.indexOf(String(r[idx(dims[1])])), r[idx(meas[0])]]; });
      var max = Math.max.apply(null, vals.map(function (v) { return v[2] || 0; }).concat([1]));
      option = { tooltip: {}, xAxis: { type: "category", data: xs }, yAxis: { type: "category", data: ys },
        visualMap: { min: 0, max: max, calculable: true, orient: "horizontal", left: "center", bottom: 0 },
        series: [{ type: "heatmap", data: vals }] };
    } else if (type === "stacked" && dims.length >= 2) {
      var xs2 = [], groups = {};
      body.rows.forEach(function (r) { var x = String(r[idx(dims[0])]); if (xs2.indexOf(x) < 0) xs2.push(x); });
      body.rows.forEach(function (r) { var g = String(r[idx(dims[1])]); groups[g] = groups[g] || xs2.map(function () { return 0; }); groups[g][xs2.indexOf(String(r[idx(dims[0])]))] = r[idx(meas[0])]; });
      option = { tooltip: {}, legend: {}, xAxis: { type: "category", data: xs2 }, yAxis: { type: "value" },
        series: Object.keys(groups).map(function (g) { return { name: g, type: "bar", stack: "all", data: groups[g] }; }) };
    } else {
      option = { tooltip: {}, legend: {}, xAxis: { type: "category", data: cats }, yAxis: { type: "value" },
        series: meas.map(function (m) { return { name: m.label, type: type === "line" ? "line" : "bar", stack: type === "stacked" ? "all" : undefined, data: body.rows.map(function (r) { return r[idx(m)]; }) }; }) };
    }
    chart.setOption(option, true);
  }
  function post(url, data) {
    return fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf, "Content-Type": "application/json" }, body: JSON.stringify(data) })
      .then(function (r) { return r.json().then(function (b) { if (!r.ok) throw new Error((b.errors && b.errors[0] ? b.errors[0].field + ": " : "") + (b.detail || r.status)); return b; }); });
  }
  function exports() {
    var q = "?spec=" + encodeURIComponent(JSON.stringify(spec())) + "&chart=" + $("b-chart").value;
    $("b-export-xlsx").href = "/reports/export/xlsx/" + q; $("b-export-pdf").href = "/reports/export/pdf/" + q;
  }
  $("builder").addEventListener("submit", function (ev) {
    ev.preventDefault(); $("b-status").textContent = "…"; exports();
    post("/reports/data/query/", spec()).then(function (b) { draw(b, $("b-chart").value); $("b-status").textContent = b.rows.length + " rows"; })
      .catch(function (e) { $("b-status").textContent = e.message; });
  });
  function listSaved() {
    fetch("/reports/data/saved/", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (b) {
      var ul = $("b-saved"); ul.textContent = "";
      b.reports.forEach(function (r) { var li = document.createElement("li"); var a = document.createElement("a"); a.href = "/reports/saved/" + r.id + "/export.pdf"; a.textContent = r.name + " (" + r.chart + ")"; li.appendChild(a); ul.appendChild(li); });
    });
  }
  $("b-save").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var roles = $("b-roles").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    post("/reports/data/saved/", { name: $("b-name").value, spec: spec(), chart: $("b-chart").value, shared_roles: roles,
      schedule: $("b-schedule").value, schedule_format: $("b-format").value })
      .then(function () { $("b-status").textContent = "✓"; listSaved(); }).catch(function (e) { $("b-status").textContent = e.message; });
  });
  reset(); listSaved();
})();
