// Live progress of a sending drive on its campaign page: polls the progress endpoint every three
// seconds and updates the progress line, the bar and the counts in place; when the drive's status
// changes (finished, paused elsewhere) the page is reloaded once. Without JavaScript the page
// shows the same numbers when it is reloaded.
(function () {
  var line = document.getElementById("drive-progress");
  if (!line || line.dataset.status !== "sending") return;
  var order = ["replied", "sent", "bounced", "failed", "uncertain", "deferred", "sending"];

  function text(p) {
    var parts = [p.percent + "% done (" + p.done + " of " + p.total + ")"];
    if (p.per_minute) parts.push(p.per_minute + " letters a minute over the last 10 minutes");
    if (p.finish_at) {
      var d = new Date(p.finish_at + (p.finish_at.endsWith("Z") || p.finish_at.includes("+") ? "" : "Z"));
      parts.push("estimated finish " + d.toISOString().slice(0, 16).replace("T", " ") + " UTC");
    } else if (p.remaining) {
      parts.push("waiting for the first letters to go out");
    }
    return parts.join(" · ");
  }

  function bar(p) {
    var el = document.querySelector(".progress");
    if (!el || !p.total) return;
    el.textContent = "";
    order.forEach(function (state) {
      var n = p.counts[state] || 0;
      if (!n) return;
      var span = document.createElement("span");
      span.className = state;
      span.style.width = (100 * n / p.total).toFixed(2) + "%";
      el.appendChild(span);
    });
  }

  function poll() {
    fetch(line.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { window.setTimeout(poll, 10000); return; }
        if (p.status !== line.dataset.status) { window.location.reload(); return; }
        line.textContent = text(p);
        bar(p);
        document.querySelectorAll("[data-count]").forEach(function (b) {
          b.textContent = p.counts[b.dataset.count] || 0;
        });
        window.setTimeout(poll, 3000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 3000);
})();
