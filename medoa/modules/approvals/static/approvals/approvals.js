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
  // the leave page: the balance of the chosen type beside it, the working days as dates are picked
  var type = document.getElementById("leave_type");
  var balance = document.getElementById("leave-balance");
  if (type && balance) {
    var showBalance = function () {
      var option = type.options[type.selectedIndex];
      balance.textContent = (option && option.getAttribute("data-balance")) || "";
    };
    type.addEventListener("change", showBalance);
    showBalance();
  }
  var form = document.getElementById("request-form");
  var url = form && form.getAttribute("data-working-days");
  var out = document.getElementById("working-days");
  if (!url || !out) { return; }
  var start = document.getElementById("start_date");
  var end = document.getElementById("end_date");
  var asked = 0;
  function update() {
    if (start.value && !end.value) { end.value = start.value; }
    if (!start.value || !end.value) { out.textContent = ""; return; }
    if (end.value < start.value) { out.textContent = out.getAttribute("data-invalid") || ""; return; }
    var mine = ++asked;
    fetch(url + "?start=" + encodeURIComponent(start.value) + "&end=" + encodeURIComponent(end.value), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
      if (mine !== asked) { return; }
      if (body && body.days !== null && body.days !== undefined) {
        out.textContent = (out.getAttribute("data-label") || "工作日") + "：" + body.days + "　" + (out.getAttribute("data-hint") || "");
      } else { out.textContent = ""; }
    }).catch(function () { out.textContent = ""; });
  }
  start.addEventListener("change", update);
  end.addEventListener("change", update);
  start.addEventListener("input", update);
  end.addEventListener("input", update);
  update();
})();
