"""Accessibility and page-health helpers for the browser tests.

- `axe_violations`: runs the vendored axe-core (tests/vendor/axe-core/, from the npm registry) in
  the page, limited to the WCAG 2.0/2.1/2.2 level A and AA rules (and a few best-practice rules:
  landmarks, headings, the skip link), and returns what it found (every impact counts).
- `PageWatch`: records console errors, uncaught exceptions, failed requests and answers >= 400 of
  everything a page loads.
- `horizontal_overflow`: what sticks out sideways at the current viewport (390 px: a phone).
- `page_urls`: every GET page of the app, from its URL map, with the URL parameters filled from
  seeded data. An endpoint whose parameters it cannot fill is returned as missing, so that a new
  page is either visited or named ("add a sample for endpoint X"), never skipped.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import ConsoleMessage, Page, Request, Response
from playwright.sync_api import Error as PlaywrightError

AXE_DIR = Path(__file__).parent / "vendor" / "axe-core"
AXE_SOURCE = AXE_DIR / "axe.min.js"
# WCAG 2 level A and AA, in each of its versions; best practices and AAA are not asked for.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Best-practice rules run as well: a page has one main landmark, content inside landmarks, a
# level-one heading and headings in order, and a working skip link.
EXTRA_RULES = ["landmark-one-main", "region", "page-has-heading-one", "heading-order", "skip-link"]
# Rules that do not apply to one page, with why.
RULES_OFF: dict[str, dict[str, str]] = {
    # The embed is a fragment in a partner's page, under the partner's own level-one heading.
    "public.embed": {"page-has-heading-one": "framed inside a partner's page"},
}
PHONE_WIDTH = 390

# GET endpoints that are not pages a person reads: files, JSON, fragments fetched by scripts.
# Every other GET endpoint is visited; a new one is covered, or fails the test until it has a
# sample (the seeded values of tests/test_accessibility.py) or is listed here with the reason.
NOT_PAGES: dict[str, str] = {
    "static": "stylesheets and scripts",
    "health.healthz": "JSON for load balancers",
    "public.count": "JSON for the counter's script",
    "drive.progress": "JSON for progress.js",
    "directory.audience_preview": "JSON for the audience builder's live count",
    "api-docs.openapi_json": "the OpenAPI document (JSON)",
    "admin.campaign_preview_pick": "the preview picker's target: redirects to admin.campaign_preview",
    "audit.audit_csv": "a CSV download of the audit log",
    "admin.dashboard_drives": "JSON for dashboard.js",
    "checks.check_status": "JSON for check.js",
    "exports.deliveries_csv": "a CSV download",
    "exports.replies_csv": "a CSV download",
    "exports.supporters_csv": "a CSV download",
}
# The JSON API's resources (token-authenticated JSON, never pages).
NOT_PAGE_PREFIXES = ("api_audiences.", "api_campaigns.", "api_contacts.", "api_deliveries.",
                     "api_imports.", "api_letters.", "api_replies.", "api_signatures.",
                     "api_webhooks.")  # fmt: skip


@dataclass(frozen=True)
class PageUrl:
    endpoint: str
    url: str


def get_endpoints(app: Flask) -> list[tuple[str, list[str]]]:
    """Every GET page endpoint and the names of its URL parameters, by rule."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or set()):
            continue
        if rule.endpoint in NOT_PAGES or rule.endpoint.startswith(NOT_PAGE_PREFIXES):
            continue
        found.append((rule.endpoint, sorted(rule.arguments)))
    return found


def page_urls(
    app: Flask,
    values: Mapping[str, list[Any]],
    endpoint_samples: Mapping[str, list[dict[str, Any]]],
) -> tuple[list[PageUrl], list[str]]:
    """(pages to visit, endpoints that need a sample).

    An endpoint without parameters is visited as it is. One with parameters takes its samples
    from `endpoint_samples[endpoint]` if given, else from `values` by parameter name: the i-th
    URL takes the i-th value of each name (cycling), as many URLs as the longest list, so a
    campaign page is seen for each kind of campaign seeded."""
    pages: list[PageUrl] = []
    missing: list[str] = []
    with app.test_request_context():
        from flask import url_for

        for endpoint, args in get_endpoints(app):
            if endpoint in endpoint_samples:
                samples = endpoint_samples[endpoint]
            elif not args:
                samples = [{}]
            elif all(values.get(a) for a in args):
                n = max(len(values[a]) for a in args)
                cycles = {a: itertools.islice(itertools.cycle(values[a]), n) for a in args}
                samples = [
                    dict(zip(args, combo, strict=True))
                    for combo in zip(*cycles.values(), strict=False)
                ]
            else:
                lacking = [a for a in args if not values.get(a)]
                missing.append(
                    f"add a sample for endpoint {endpoint} (URL parameter {', '.join(lacking)}) "
                    "in the seeded values of tests/test_accessibility.py"
                )
                continue
            for sample in samples:
                pages.append(PageUrl(endpoint, url_for(endpoint, **sample)))
    # One URL once (two samples may name the same page).
    unique = {p.url: p for p in pages}
    return list(unique.values()), missing


# --- axe -----------------------------------------------------------------------------------------
_RUN_AXE = """async ([tags, extra, off]) => {
  const rules = Object.fromEntries(extra.map(id => [id, {enabled: true}]));
  for (const id of off) rules[id] = {enabled: false};
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, rules,
    resultTypes: ["violations"],
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
    count: v.nodes.length,
  }));
}"""


def axe_violations(page: Page, off: Iterable[str] = ()) -> list[dict[str, Any]]:
    """axe-core's WCAG 2 A/AA violations (and those of EXTRA_RULES) of the page as it is now (injected once per document;
    through the DevTools protocol, so the pages' Content-Security-Policy does not block it)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    result: list[dict[str, Any]] = page.evaluate(_RUN_AXE, [WCAG_TAGS, EXTRA_RULES, list(off)])
    return result


def describe_violations(violations: Iterable[dict[str, Any]]) -> list[str]:
    lines = []
    for v in violations:
        lines.append(f"  axe {v['id']} ({v['impact']}): {v['help']} [{v['count']} element(s)]")
        for node in v["nodes"]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"      {node['target']}: {summary[:300]}")
    return lines


# --- console errors and failed requests ----------------------------------------------------------
@dataclass
class PageWatch:
    """Everything that went wrong while a page loaded and ran, since the last `take()`."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> PageWatch:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"  uncaught exception: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        return self

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"  console error: {message.text}")

    def _failed(self, request: Request) -> None:
        self.problems.append(f"  request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(
                f"  HTTP {response.status}: {response.request.method} {response.url}"
            )

    def take(self) -> list[str]:
        found, self.problems = self.problems, []
        return found


# --- phones --------------------------------------------------------------------------------------
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  // The outermost elements whose right edge passes the viewport: the ones to fix.
  const wide = [], names = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1 && !wide.some(w => w.contains(el))) {
      let name = el.tagName.toLowerCase();
      if (el.id) name += "#" + el.id;
      if (el.classList.length) name += "." + [...el.classList].join(".");
      wide.push(el);
      names.push(name + " (" + Math.round(r.right) + " px)");
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, elements: names.slice(0, 5)};
}"""


def horizontal_overflow(page: Page) -> dict[str, Any] | None:
    """None if nothing makes the page scroll sideways at the current viewport, else what does."""
    result: dict[str, Any] | None = page.evaluate(_OVERFLOW)
    return result


def check_page(
    page: Page, watch: PageWatch, endpoint: str, url: str, desktop: dict[str, int]
) -> list[str]:
    """Load `url` and return every problem found: the answer's status, console errors, failed
    requests, axe's WCAG 2 A/AA violations, and sideways scrolling at 390 px."""
    problems: list[str] = []
    page.set_viewport_size(desktop)
    try:
        response = page.goto(url)
    except PlaywrightError as exc:
        return [f"  did not load ({exc.message.splitlines()[0]}); if {endpoint} is not a page, "
                "name it in NOT_PAGES of tests/a11y.py"]  # fmt: skip
    if response is None or response.status != 200:
        problems.append(f"  answered {response.status if response else 'nothing'}")
    kind = (response.headers.get("content-type", "") if response else "").split(";")[0]
    if kind != "text/html":
        return [f"  answered {kind or 'no content type'}, not a page: name {endpoint} in NOT_PAGES "
                "of tests/a11y.py with why"]  # fmt: skip
    problems += describe_violations(axe_violations(page, RULES_OFF.get(endpoint, {})))
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    overflow = horizontal_overflow(page)
    if overflow:
        problems.append(f"  scrolls sideways at {PHONE_WIDTH} px: {json.dumps(overflow)}")
    problems += watch.take()
    return problems


# --- the keyboard --------------------------------------------------------------------------------
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const label = el.getAttribute("aria-label")
    || (el.labels && el.labels.length ? el.labels[0].innerText : "")
    || (["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName) ? el.name : el.innerText);
  const style = getComputedStyle(el);
  // Date and time inputs take one Tab per part (day, month, ...): Chromium highlights the part.
  const parts = el.tagName === "INPUT" && /^(date|datetime-local|time|month|week)$/.test(el.type);
  const ring = parts || (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
    || (style.boxShadow && style.boxShadow !== "none");
  return {tag: el.tagName.toLowerCase(), id: el.id, name: (label || "").trim().replace(/\\s+/g, " "),
          visible: parts || (el.matches(":focus-visible") && ring)};
}"""


@dataclass(frozen=True)
class Focus:
    tag: str
    id: str
    name: str
    visible: bool  # the browser shows a focus ring (outline or shadow) on it


def focused(page: Page) -> Focus | None:
    found = page.evaluate(_FOCUSED)
    return Focus(**found) if found else None


def tab_to(page: Page, name: str, limit: int = 80) -> list[Focus]:
    """Press Tab until the element named `name` has the focus; every stop on the way (the tab
    order), each checked to show a visible focus ring. Fails if `name` is not reached."""
    stops: list[Focus] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if now is None:
            continue
        assert now.visible, f"no visible focus on {now} (tab order so far: {stops})"
        if not stops or stops[-1] != now:  # a date input's parts are one stop
            stops.append(now)
        if now.name == name:
            return stops
    raise AssertionError(f"Tab never reached {name!r}; the tab order: {[s.name for s in stops]}")
