/* MedOA notification push: listens to /notifications/stream/ (server-sent events) and, for each
   new notification, updates the unread badge in the top bar and shows a toast. No inline script,
   no eval: the CSP allows this file only. The stream's URL comes from the badge's data-stream. */
(function () {
  "use strict";
  var origin = document.getElementById("notify-push");
  if (!origin || !origin.dataset.stream || !window.EventSource) return;
  var streamUrl = origin.dataset.stream;
  var inboxUrl = origin.dataset.inbox || "/notifications/";
  var labelNew = origin.dataset.labelNew || "New notification";
  var labelClose = origin.dataset.labelClose || "Close";
  var TOAST_MS = 8000;
  var MAX_TOASTS = 4;
  var SEEN_MAX = 500;
  var seen = Object.create(null);
  var seenOrder = [];

  /* A notification can come twice: the stream's ids are not in commit order (two writers), so
     after a reconnect the Last-Event-ID may be below one already shown, and the server resends it. */
  function firstTime(id) {
    var key = String(id);
    if (seen[key]) return false;
    seen[key] = true;
    seenOrder.push(key);
    if (seenOrder.length > SEEN_MAX) delete seen[seenOrder.shift()];
    return true;
  }

  function setUnread(count) {
    var badge = document.getElementById("unread-badge");
    if (!badge || typeof count !== "number") return;
    var hidden = badge.querySelector(".visually-hidden");
    badge.textContent = count > 99 ? "99+" : String(count);
    if (hidden) badge.appendChild(hidden);
    badge.hidden = count === 0;
    badge.dataset.count = String(count);
  }

  function toasts() {
    var box = document.getElementById("notify-toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "notify-toasts";
      box.className = "notify-toasts";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    return box;
  }

  function isSitePath(link) {
    return typeof link === "string" && link.charAt(0) === "/" && link.charAt(1) !== "/" && link.indexOf("\\") < 0;
  }

  function showToast(n) {
    var box = toasts();
    var toast = document.createElement("div");
    toast.className = "notify-toast notify-kind-" + String(n.kind || "info").replace(/[^a-z0-9_-]/gi, "");
    if (n.urgent) toast.classList.add("notify-urgent");
    toast.dataset.id = String(n.id);
    var head = document.createElement("div");
    head.className = "notify-toast-head";
    var label = document.createElement("span");
    label.className = "notify-toast-label";
    label.textContent = labelNew;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "notify-toast-close";
    close.setAttribute("aria-label", labelClose);
    close.textContent = "×";
    close.addEventListener("click", function () { toast.remove(); });
    head.appendChild(label);
    head.appendChild(close);
    var title = document.createElement(isSitePath(n.link) ? "a" : "span");
    title.className = "notify-toast-title";
    title.textContent = n.title;
    if (isSitePath(n.link)) title.href = n.link;
    toast.appendChild(head);
    toast.appendChild(title);
    if (n.body) {
      var body = document.createElement("p");
      body.className = "notify-toast-body";
      body.textContent = n.body;
      toast.appendChild(body);
    }
    if (n.requires_ack) {
      var more = document.createElement("a");
      more.className = "notify-toast-ack";
      more.href = inboxUrl + "?show=unread";
      more.textContent = origin.dataset.labelAck || inboxUrl;
      toast.appendChild(more);
      toast.classList.add("notify-needs-ack");
    }
    box.appendChild(toast);
    while (box.children.length > MAX_TOASTS) box.removeChild(box.firstChild);
    if (!n.urgent && !n.requires_ack) {
      window.setTimeout(function () { toast.remove(); }, TOAST_MS);
    }
  }

  var source = new EventSource(streamUrl);
  source.addEventListener("hello", function (e) {
    origin.dataset.state = "open";
    try { setUnread(JSON.parse(e.data).unread); } catch (err) { /* ignore a bad frame */ }
  });
  source.addEventListener("error", function () { origin.dataset.state = "reconnecting"; });
  source.addEventListener("notification", function (e) {
    var n;
    try { n = JSON.parse(e.data); } catch (err) { return; }
    if (!firstTime(n.id)) return;
    setUnread(n.unread);
    showToast(n);
    document.dispatchEvent(new CustomEvent("medoa:notification", { detail: n }));
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
