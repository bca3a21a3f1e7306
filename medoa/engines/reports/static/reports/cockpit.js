/* The cockpit: KPI cards, drill-down by department (ECharts), the records behind a number.
   Numbers come from /reports/data/… (session); refreshes itself. No inline script (CSP). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("cockpit-config").textContent);
  var state = { from: cfg.from, to: cfg.to, department: cfg.department || "", kpi: "bed_occupancy_rate" };
  var RATES = { ratio: true };
  var units = {};
  var labels = {};
  var drills = {};
  cfg.catalog.forEach(function (k) { units[k.key] = k.unit; labels[k.key] = k.label; drills[k.key] = k.drill_dataset; });
  var bar = echarts.init(document.getElementById("chart-departments"));
  var gauge = echarts.init(document.getElementById("chart-gauge"));
  window.addEventListener("resize", function () { bar.resize(); gauge.resize(); });

  function fmt(key, v) {
    if (v === null || v === undefined) return "—";
    if (RATES[units[key]]) return (v * 100).toFixed(1) + "%";
    return (Math.round(v * 100) / 100).toString();
  }
  function qs(extra) {
    var p = new URLSearchParams({ from: state.from, to: state.to });
    if (state.department) p.set("department", state.department);
    Object.keys(extra || {}).forEach(function (k) { p.set(k, extra[k]); });
    return p.toString();
  }
  function get(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (b) { if (!r.ok) throw new Error(b.detail || r.status); return b; });
    });
  }
  function cards(values) {
    var grid = document.getElementById("kpi-grid");
    grid.textContent = "";
    Object.keys(values).forEach(function (key) {
      var card = document.createElement("button");
      card.type = "button";
      card.className = "kpi" + (key === state.kpi ? " active" : "");
      card.dataset.kpi = key;
      var l = document.createElement("div"); l.className = "kpi-label"; l.textContent = labels[key] || key;
      var v = document.createElement("div"); v.className = "kpi-value"; v.textContent = fmt(key, values[key]);
      card.appendChild(l); card.appendChild(v);
      card.addEventListener("click", function () { state.kpi = key; load(); });
      grid.appendChild(card);
    });
    var occ = values.bed_occupancy_rate;
    gauge.setOption({ series: [{ type: "gauge", min: 0, max: 100, detail: { formatter: "{value}%", offsetCenter: [0, "70%"], fontSize: 22 },
      title: { offsetCenter: [0, "100%"] },
      data: [{ value: occ === null ? 0 : Math.round(occ * 1000) / 10, name: labels.bed_occupancy_rate || "" }] }] });
  }
  function departments(body) {
    var rows = body.rows;
    document.getElementById("drill-title").textContent = (labels[state.kpi] || state.kpi);
    bar.setOption({
      grid: { left: 50, right: 20, bottom: 60, top: 20 },
      xAxis: { type: "category", data: rows.map(function (r) { return r.name; }), axisLabel: { rotate: 30 } },
      yAxis: { type: "value", axisLabel: { formatter: function (v) { return RATES[units[state.kpi]] ? Math.round(v * 100) + "%" : v; } } },
      tooltip: { valueFormatter: function (v) { return fmt(state.kpi, v); } },
      series: [{ type: "bar", label: { show: true, position: "top", formatter: function (p) { return fmt(state.kpi, p.value); } }, data: rows.map(function (r) { return { value: r.value, code: r.department }; }) }]
    }, true);
  }
  bar.on("click", function (p) { if (p.data && p.data.code) { state.department = p.data.code; document.getElementById("c-dept").value = p.data.code; load(); } });
  function records(body) {
    var t = document.getElementById("records");
    t.textContent = "";
    var head = t.createTHead().insertRow();
    body.columns.forEach(function (c) { var th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
    var tb = t.createTBody();
    body.rows.slice(0, 50).forEach(function (r) {
      var tr = tb.insertRow();
      r.forEach(function (v) { tr.insertCell().textContent = v === null ? "" : v; });
    });
  }
  var bedsEl = document.getElementById("chart-beds");
  var beds = bedsEl ? echarts.init(bedsEl) : null;
  function ward() {
    if (!beds) return null;
    return get("/reports/data/ward/").then(function (w) {
      beds.setOption({ tooltip: {}, series: [{ type: "pie", radius: "65%",
        data: (w.beds || []).map(function (b) { return { name: b.status, value: b.count }; }) }] }, true);
      document.getElementById("w-crit").textContent = w.open_critical_values === undefined ? "—" : w.open_critical_values;
      var rc = w.roster_coverage_today;
      document.getElementById("w-roster").textContent = rc === null || rc === undefined ? "—" : (rc * 100).toFixed(0) + "%";
    });
  }
  function load() {
    var status = document.getElementById("cockpit-status");
    status.textContent = "…";
    get("/reports/data/kpis/?" + qs()).then(function (values) {
      cards(values);
      status.textContent = new Date().toLocaleTimeString();
      return get("/reports/data/by-department/?" + qs({ kpi: state.kpi }));
    }).then(departments).then(function () {
      var ds = drills[state.kpi];
      return ds ? get("/reports/data/records/?" + qs({ dataset: ds })).then(records) : null;
    }).then(ward).catch(function (e) { status.textContent = String(e.message || e); });
  }
  document.getElementById("c-from").value = state.from;
  document.getElementById("c-to").value = state.to;
  document.getElementById("c-dept").value = state.department;
  document.getElementById("cockpit-filter").addEventListener("submit", function (ev) {
    ev.preventDefault();
    state.from = document.getElementById("c-from").value;
    state.to = document.getElementById("c-to").value;
    state.department = document.getElementById("c-dept").value.trim();
    load();
  });
  load();
  setInterval(load, (cfg.refresh_seconds || 60) * 1000);
})();
