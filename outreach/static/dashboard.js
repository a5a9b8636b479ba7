// Live progress of the drives on the dashboard: while one is sending, polls the drives' JSON
// every three seconds and updates each drive's bar, figures and estimated finish in place. When
// a drive starts, finishes or changes status, the page is reloaded once (it then lists it where
// it now belongs). Without JavaScript the page shows the same figures when it is reloaded.
(function () {
  var root = document.getElementById("drives");
  if (!root || !root.querySelector('[data-status="sending"]')) return;
  var order = ["replied", "sent", "bounced", "failed", "uncertain", "deferred", "sending"];

  function utc(iso) {
    var d = new Date(iso + (/Z$|[+-]\d\d:\d\d$/.test(iso) ? "" : "Z"));
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  // The same words as the drive_line macro of templates/reports/_chart.html.
  function line(d) {
    var parts = [d.percent + "% done"];
    if (d.per_minute) parts.push(d.per_minute + " letters a minute over the last 10 minutes");
    if (d.status === "paused") parts.push("paused: " + (d.counts.held || 0) + " letters held");
    else if (d.finish_at) parts.push("estimated finish " + utc(d.finish_at));
    else if (d.remaining) parts.push("waiting for the first letters to go out");
    else parts.push("every letter has left; waiting for the last outcomes");
    return parts.join(" · ");
  }

  function bar(el, d) {
    if (!el || !d.total) return;
    el.textContent = "";
    order.forEach(function (state) {
      var n = d.counts[state] || 0;
      if (!n) return;
      var span = document.createElement("span");
      span.className = state;
      span.style.width = (100 * n / d.total).toFixed(2) + "%";
      el.appendChild(span);
    });
    el.setAttribute("aria-label", d.sent + " of " + d.total + " delivered or answered");
  }

  function update(d) {
    var card = root.querySelector('[data-drive="' + d.id + '"]');
    if (!card) return;
    bar(card.querySelector(".progress"), d);
    ["sent", "total", "failed", "uncertain"].forEach(function (name) {
      var el = card.querySelector('[data-field="' + name + '"]');
      if (el) el.textContent = d[name];
    });
    card.querySelector('[data-field="line"]').textContent = line(d);
  }

  function changed(drives) {
    if (drives.map(function (d) { return d.id; }).join(",") !== root.dataset.ids) return true;
    return drives.some(function (d) {
      var card = root.querySelector('[data-drive="' + d.id + '"]');
      return !card || card.dataset.status !== d.status;
    });
  }

  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { window.setTimeout(poll, 10000); return; }
        if (changed(data.drives)) { window.location.reload(); return; }
        data.drives.forEach(update);
        window.setTimeout(poll, 3000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 3000);
})();
