/* The head nurse's roster grid: a cell change is saved at once and answered with the rule check
   of the whole roster (marks and reasons on every cell); lock mode toggles a cell's lock on click;
   "Generate" shows a progress bar while the solver runs (polling the roster's progress). */
(function () {
  "use strict";

  function csrf() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().then(function (data) {
        data.httpStatus = r.status;
        return data;
      });
    });
  }

  var table = document.getElementById("roster-grid");
  if (!table) return;
  var url = table.getAttribute("data-url");
  var statusLine = document.getElementById("generate-status");

  function say(text) {
    if (statusLine) statusLine.textContent = text || "";
  }

  function applyMarks(data) {
    var cells = data.cells || {};
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var staff = tr.getAttribute("data-staff");
      tr.querySelectorAll("td.cell").forEach(function (td) {
        var reasons = cells[staff + "|" + td.getAttribute("data-date")] || [];
        td.classList.toggle("has-violation", reasons.length > 0);
        td.title = reasons.join("; ");
        var span = td.querySelector(".reason");
        if (span) span.textContent = reasons.join("; ");
      });
      var who = tr.querySelector("th.who");
      var issues = (data.staff || {})[staff] || [];
      who.classList.toggle("has-violation", issues.length > 0);
      who.title = issues.join("; ");
    });
    table.querySelectorAll("thead th.day").forEach(function (th) {
      var issues = (data.days || {})[th.getAttribute("data-date")] || [];
      th.classList.toggle("has-violation", issues.length > 0);
      th.title = issues.join("; ");
    });
    var list = document.getElementById("violation-list");
    if (list) {
      list.textContent = "";
      (data.violations || []).forEach(function (v) {
        var li = document.createElement("li");
        var dates = v.dates.map(function (d) { return d.slice(5); }).join(" ");
        li.textContent = (v.name ? v.name + " " : "") + dates + " — " + v.reason;
        list.appendChild(li);
      });
    }
    var hard = document.getElementById("hard-count");
    if (hard) hard.textContent = data.hard_count;
    var objective = document.getElementById("objective");
    if (objective) objective.textContent = data.objective;
    var status = document.getElementById("roster-status");
    if (status && data.status_label) {
      status.textContent = data.status_label;
      status.classList.toggle("badge-success", data.status === "published");
    }
  }

  function kindOf(select) {
    var code = select.value;
    var legend = document.querySelectorAll(".legend li");
    for (var i = 0; i < legend.length; i++) {
      if (code && legend[i].textContent.trim().indexOf(code + " ") === 0) {
        return legend[i].className;
      }
    }
    return "kind-off";
  }

  table.addEventListener("change", function (event) {
    var select = event.target;
    if (select.tagName !== "SELECT") return;
    var td = select.closest("td");
    var tr = select.closest("tr");
    var previous = select.getAttribute("data-code") || "";
    td.classList.add("saving");
    post(url, { staff: tr.getAttribute("data-staff"), date: td.getAttribute("data-date"), code: select.value })
      .then(function (data) {
        td.classList.remove("saving");
        if (!data.ok) {
          select.value = previous;
          say(data.error || "");
          return;
        }
        select.setAttribute("data-code", select.value);
        td.className = td.className.replace(/\bkind-\w+/g, "").trim() + " " + kindOf(select);
        say("");
        applyMarks(data);
      })
      .catch(function () {
        td.classList.remove("saving");
        select.value = previous;
      });
  });

  var lockButton = document.getElementById("lock-mode");
  if (lockButton) {
    lockButton.addEventListener("click", function () {
      var on = !table.classList.contains("lock-mode");
      table.classList.toggle("lock-mode", on);
      lockButton.setAttribute("aria-pressed", on ? "true" : "false");
      lockButton.classList.toggle("btn-primary", on);
    });
    table.addEventListener("click", function (event) {
      if (!table.classList.contains("lock-mode")) return;
      var td = event.target.closest("td.cell");
      if (!td) return;
      event.preventDefault();
      var tr = td.closest("tr");
      var locked = !td.classList.contains("is-locked");
      post(url, { staff: tr.getAttribute("data-staff"), date: td.getAttribute("data-date"), locked: locked }).then(
        function (data) {
          if (!data.ok) {
            say(data.error || "");
            return;
          }
          td.classList.toggle("is-locked", locked);
          applyMarks(data);
        }
      );
    });
  }

  var form = document.getElementById("generate-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = document.getElementById("generate-btn");
      var bar = document.getElementById("generate-progress");
      var limit = parseFloat(form.querySelector("[name=time_limit]").value) || 20;
      var started = Date.now();
      button.disabled = true;
      bar.hidden = false;
      bar.value = 0;
      var timer = window.setInterval(function () {
        var seconds = (Date.now() - started) / 1000;
        bar.value = Math.min(99, (100 * seconds) / limit);
        fetch(form.getAttribute("data-progress"), { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.json(); })
          .then(function (p) {
            say(Math.round(seconds) + " s" + (p.objective !== null && p.objective !== undefined ? " · " + p.objective : ""));
          })
          .catch(function () {});
      }, 1000);
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
        body: new FormData(form),
      })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          window.clearInterval(timer);
          if (data.ok) {
            bar.value = 100;
            window.location.assign(data.url);
          } else {
            button.disabled = false;
            bar.hidden = true;
            say(data.error || "");
          }
        })
        .catch(function () {
          window.clearInterval(timer);
          button.disabled = false;
          bar.hidden = true;
        });
    });
  }
})();
