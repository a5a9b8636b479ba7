// The letter editor's live preview (templates/admin/_editor_preview.html): as staff type the
// subject or the letter, or choose another recipient or language, the form is posted (debounced)
// to the preview endpoint, which answers the chosen recipient's copy, or the error that stops it,
// as an HTML fragment rendered on the server. Nothing is saved. Without JavaScript the panel's
// "Preview" button posts the same form and the page comes back with the same fragment.
(function () {
  var panel = document.querySelector("[data-live-preview]");
  if (!panel || !window.fetch || !window.FormData) return;
  var form = panel.closest("form");
  var target = document.getElementById("live-preview");
  var status = document.getElementById("live-preview-status");
  var url = panel.getAttribute("data-live-preview");
  var timer = null, inFlight = null, sequence = 0;
  if (!form || !target) return;

  function refresh() {
    var mine = ++sequence;
    if (inFlight && inFlight.abort) inFlight.abort();
    inFlight = window.AbortController ? new AbortController() : null;
    target.setAttribute("aria-busy", "true");
    fetch(url, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
      signal: inFlight ? inFlight.signal : undefined
    })
      .then(function (r) { return r.text().then(function (html) { return { ok: r.ok, status: r.status, html: html }; }); })
      .then(function (res) {
        if (mine !== sequence) return;  // a later keystroke's answer wins
        target.removeAttribute("aria-busy");
        if (res.ok) {
          target.innerHTML = res.html;
          var failed = target.querySelector("[data-state=error]");
          if (status) status.textContent = failed ? "The letter cannot be rendered yet: see the error below." : "Preview updated.";
        } else if (status) {
          status.textContent = "The preview could not be updated (" + res.status + ").";
        }
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") return;
        target.removeAttribute("aria-busy");
        if (status) status.textContent = "The preview could not be updated; the \u201cPreview\u201d button still works.";
      });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 400);
  }

  ["subject", "body", "language"].forEach(function (name) {
    var field = form.elements[name];
    if (field && field.addEventListener) field.addEventListener("input", later);
    if (field && field.tagName === "SELECT") field.addEventListener("change", later);
  });
  var picker = form.elements["preview_contact"];
  if (picker) picker.addEventListener("change", refresh);
  // The "Preview" button asks for the same fragment in place instead of reloading the page.
  var button = panel.querySelector("button[name=preview]");
  if (button) button.addEventListener("click", function (event) { event.preventDefault(); refresh(); });
})();
