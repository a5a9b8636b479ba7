"""The API reference at /api/v1/docs, rendered on the server from our own OpenAPI document.

The page (outreach.api.reference_doc builds its content) lists the operations by resource, with
parameters, request and response schemas, who may call each and a curl example. It is plain HTML
and CSS without any script, so it reads the same in a screen reader, on a phone, in print and
without JavaScript, and passes the accessibility check every console page passes.

It replaced Swagger UI (served from the flask-swagger-ui wheel until then): Swagger UI's own
markup fails WCAG 2 A/AA in ways no stylesheet fixes (buttons nested in its operation toggles,
unlabelled fields in its "try it out" forms, its colours' contrast), so it could not be checked
like our pages. Integrators who want to send requests from a browser load /api/v1/openapi.json
into the client they use; the page's curl examples cover the rest.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, render_template
from markupsafe import Markup, escape

from outreach.api.problems import API_PREFIX
from outreach.api.reference_doc import Reference, build

bp = Blueprint("api_reference", __name__, url_prefix=API_PREFIX)
# The page runs no script at all; its own styles are in the page.
CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_CODE = re.compile(r"`([^`]+)`")


@bp.app_template_filter("api_prose")
def api_prose(text: str) -> Markup:
    """The document's descriptions: `code` in backticks as <code>, the rest escaped."""
    escaped = str(escape(text))  # first: the backticks then wrap escaped text only
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))  # noqa: S704


def reference() -> Reference:
    """The page's content, read once per process from the generated OpenAPI document (it
    changes only with the code)."""
    cached: Reference | None = current_app.extensions.get("outreach.api_reference")
    if cached is None:
        cached = build(current_app.extensions["outreach.api"].spec.to_dict())
        current_app.extensions["outreach.api_reference"] = cached
    return cached


@bp.get("/docs")
def page() -> Response:
    resp = Response(render_template("api/reference.html", ref=reference()))
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
