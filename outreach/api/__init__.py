"""The JSON API under /api/v1: token-authenticated resources over the same services as the console.

Built with flask-smorest (marshmallow schemas, apispec): the OpenAPI 3.1 document is generated
from the views' schemas and served at /api/v1/openapi.json, the reference page at /api/v1/docs
(outreach.api.reference). Errors are RFC 9457 problem details (outreach.api.problems); tokens,
scopes, roles and the rate limit are in outreach.api.auth. Each resource is one small module.
"""

from __future__ import annotations

import http
from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from outreach.api import schemas
from outreach.api.problems import API_PREFIX, PROBLEM_JSON, init_problems

API_VERSION = "1.0.0"


class OutreachApi(Api):
    """flask-smorest's Api, with problem details as the documented error body, and without its
    app-wide HTTPException handler (which would answer JSON on the console's pages too)."""

    ERROR_SCHEMA = schemas.Problem

    def _register_error_handlers(self) -> None:
        init_problems(self._app)

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error, as problem details", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def init_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="Outreach API",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Everything the console does, for a CRM or a script. Authenticate with a "
                    "personal API token (console: Account → API tokens) as "
                    "`Authorization: Bearer otk_…`. Errors are RFC 9457 problem details."
                )
            },
            "servers": [{"url": "/"}],
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    )
    api = OutreachApi(app)
    from outreach.api import (
        audiences,
        campaigns,
        contacts,
        deliveries,
        imports,
        letters,
        replies,
        signatures,
        webhook_resources,
    )

    for module in (
        contacts,
        imports,
        audiences,
        campaigns,
        letters,
        deliveries,
        replies,
        signatures,
        webhook_resources,
    ):
        api.register_blueprint(module.blp, url_prefix=API_PREFIX)
    # The document itself is public (it holds no data): no token needed to read it.
    from outreach.api.reference import bp as reference_bp

    app.register_blueprint(reference_bp)
    app.extensions["outreach.api"] = api
