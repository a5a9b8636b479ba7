// Progressive enhancement of the public counter: refresh it every 20 seconds while the page is
// visible. The page works without it.
(function () {
  "use strict";
  var box = document.querySelector("[data-count-url]");
  if (!box || !window.fetch) { return; }
  var number = box.querySelector("[data-count]");
  var bar = box.querySelector("[data-progress]");
  var format = new Intl.NumberFormat(document.documentElement.lang || "en");
  function refresh() {
    if (document.hidden) { return; }
    fetch(box.getAttribute("data-count-url"), { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        number.textContent = format.format(data.confirmed);
        if (bar) { bar.value = Math.min(data.confirmed, bar.max); }
      })
      .catch(function () { /* keep the number shown */ });
  }
  setInterval(refresh, 20000);
})();
