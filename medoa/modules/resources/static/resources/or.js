// OR booking form: live conflict feedback. Whenever a field changes, ask the check endpoint
// (read-only) and show the conflicts it names, or that the slot is free. No inline script (CSP).
(function () {
  "use strict";
  var form = document.getElementById("or-book");
  if (!form) { return; }
  var box = document.getElementById("or-feedback");
  var url = form.dataset.checkUrl;
  var timer = null;
  var seq = 0;

  function check() {
    var params = new URLSearchParams(new FormData(form));
    params.delete("csrfmiddlewaretoken");
    var mine = ++seq;
    fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || mine !== seq) { return; }
        box.classList.remove("or-ok", "or-bad");
        box.textContent = "";
        if (data.ok === null) { return; }
        if (data.ok) {
          box.classList.add("or-ok");
          box.textContent = box.dataset.free || "✓";
          return;
        }
        box.classList.add("or-bad");
        var ul = document.createElement("ul");
        data.conflicts.forEach(function (c) {
          var li = document.createElement("li");
          li.textContent = c.message;
          ul.appendChild(li);
        });
        box.appendChild(ul);
      })
      .catch(function () {});
  }

  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(check, 250); });
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 400); });
  check();
})();
