// The check page while a worker checks every copy: polls the check's state every second and a
// half, moves the progress bar and its line in place, and reloads the page once when the check is
// done (or failed) to show its report. Without JavaScript, reloading the page shows the same.
(function () {
  var box = document.getElementById("check-progress");
  if (!box) return;
  var bar = box.querySelector("progress");
  var line = document.getElementById("check-progress-line");

  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { window.setTimeout(poll, 5000); return; }
        if (p.state === "done" || p.state === "failed") { window.location.reload(); return; }
        if (p.state === "running") {
          bar.max = p.total;
          bar.value = p.done;
          line.textContent = p.done + " of " + p.total + " copies checked (" + p.percent + "%).";
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
