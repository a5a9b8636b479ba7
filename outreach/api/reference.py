"""The API reference page at /api/v1/docs: Swagger UI rendering /api/v1/openapi.json.

Swagger UI's files come from the flask-swagger-ui wheel (a pinned copy of swagger-ui-dist, read
from the installed package): nothing is loaded from a CDN, and the page's own start-up script is
a file too, so the Content-Security-Policy needs no inline script.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, abort, render_template, send_from_directory

from outreach.api.problems import API_PREFIX

bp = Blueprint("api_reference", __name__, url_prefix=API_PREFIX)
ASSETS = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
SERVED = {
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
}
# Swagger UI sets style attributes from its scripts, hence 'unsafe-inline' for styles only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
INIT_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def _secured(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.get("/docs")
def page() -> Response:
    return _secured(Response(render_template("api/reference.html")))


@bp.get("/docs/init.js")
def init_js() -> Response:
    return _secured(Response(INIT_JS, mimetype="text/javascript"))


@bp.get("/docs/assets/<name>")
def asset(name: str) -> Response:
    if name not in SERVED:
        abort(404)
    resp = send_from_directory(ASSETS, name, max_age=86400)
    return _secured(resp)
