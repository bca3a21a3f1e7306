// Bed board: live updates by polling the state endpoint with If-None-Match (304 while nothing
// changed), and the history drawer. No inline script (CSP).
(function () {
  "use strict";
  var board = document.getElementById("bed-board");
  if (!board) { return; }
  var stateUrl = board.dataset.stateUrl;
  var etag = board.dataset.etag ? '"' + board.dataset.etag + '"' : "";
  var live = document.getElementById("bed-live");
  var drawer = document.getElementById("bed-drawer");
  var drawerBody = document.getElementById("bed-drawer-body");
  var historyUrl = board.dataset.historyUrl;
  var INTERVAL = 2000;
  var openBed = null;

  function apply(data) {
    var seen = {};
    data.beds.forEach(function (b) {
      seen[b.id] = true;
      var cell = board.querySelector('[data-bed="' + b.id + '"]');
      if (!cell) { return; }
      if (cell.dataset.status !== b.status || cell.querySelector(".bed-initials").textContent !== b.initials) {
        cell.classList.remove("bed-" + cell.dataset.status);
        cell.classList.add("bed-" + b.status);
        cell.dataset.status = b.status;
        cell.title = b.label;
        cell.querySelector(".bed-initials").textContent = b.initials;
        cell.querySelector(".bed-state").textContent = b.label;
        cell.classList.remove("bed-changed");
        void cell.offsetWidth;
        cell.classList.add("bed-changed");
        if (openBed === String(b.id)) { loadHistory(openBed); }
      }
    });
    board.querySelectorAll("[data-bed]").forEach(function (cell) {
      cell.hidden = !seen[cell.dataset.bed];
    });
  }

  function poll() {
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(stateUrl, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 304) { return null; }
        if (!r.ok) { throw new Error(r.status); }
        etag = r.headers.get("ETag") || etag;
        return r.json();
      })
      .then(function (data) {
        if (data) { apply(data); }
        if (live) { live.textContent = new Date().toLocaleTimeString(); }
      })
      .catch(function () { if (live) { live.textContent = "…"; } })
      .finally(function () { setTimeout(poll, document.hidden ? INTERVAL * 5 : INTERVAL); });
  }

  function loadHistory(id) {
    fetch(historyUrl.replace("/0/", "/" + id + "/"), { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) { drawerBody.innerHTML = html; drawer.hidden = false; });
  }

  board.addEventListener("click", function (e) {
    var cell = e.target.closest("[data-bed]");
    if (!cell) { return; }
    openBed = cell.dataset.bed;
    loadHistory(openBed);
  });
  document.getElementById("bed-drawer-close").addEventListener("click", function () {
    drawer.hidden = true;
    openBed = null;
  });
  setTimeout(poll, INTERVAL);
})();
