// Approval centre: "select all" for batch approval; the working days of a leave request as it is typed.
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="task_ids"]').forEach(function (box) { box.checked = all.checked; });
    });
  }
  // my requests: their status is live — the list reloads every N seconds while the tab is visible
  var live = document.querySelector("[data-live]");
  if (live) {
    var seconds = parseInt(live.getAttribute("data-live"), 10) || 30;
    window.setInterval(function () {
      if (document.visibilityState === "visible") { window.location.reload(); }
    }, seconds * 1000);
  }
  var form = document.getElementById("request-form");
  var url = form && form.getAttribute("data-working-days");
  var out = document.getElementById("working-days");
  if (!url || !out) { return; }
  var start = document.getElementById("start_date");
  var end = document.getElementById("end_date");
  function update() {
    if (!start.value || !end.value || end.value < start.value) { out.textContent = ""; return; }
    fetch(url + "?start=" + encodeURIComponent(start.value) + "&end=" + encodeURIComponent(end.value), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
      if (body) { out.textContent = (out.getAttribute("data-label") || "工作日") + "：" + body.days; }
    }).catch(function () { out.textContent = ""; });
  }
  start.addEventListener("change", update);
  end.addEventListener("change", update);
  update();
})();
