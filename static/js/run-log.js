// Live tail of a run's log: polls the API for lines after the last one shown, until the run finishes.
// Loaded as a static file (no inline script: Content-Security-Policy). Without JavaScript, the page's
// <noscript> meta refresh reloads it instead.
(function () {
  "use strict";
  function start() {
    var log = document.getElementById("run-log");
    if (!log || log.dataset.finished === "true") { return; }
    var after = parseInt(log.dataset.after || "0", 10);
    function poll() {
      fetch(log.dataset.logUrl + "?after=" + after, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (data) {
          data.lines.forEach(function (line) { log.appendChild(document.createTextNode(line.text + "\n")); });
          after = data.next_after;
          if (data.lines.length) { log.scrollTop = log.scrollHeight; }
          if (data.finished) { window.location.reload(); } else { window.setTimeout(poll, 1500); }
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    }
    window.setTimeout(poll, 1000);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
