"""Errors of the API as RFC 9457 problem details (application/problem+json).

Every error under /api/v1, whether a view raised `Problem`, webargs refused the input, Flask
found no route, or Flask-Limiter refused the request, leaves as one shape: `type`, `title`,
`status`, `detail`, and for invalid input `errors`, one entry per field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/v1"
# Problem types this API defines; other errors are "about:blank" (the status says it all).
TYPE_BASE = "https://outreach.invalid/problems/"
VALIDATION = TYPE_BASE + "validation"
CONFLICT = TYPE_BASE + "conflict"
SCOPE = TYPE_BASE + "insufficient-scope"
ROLE = TYPE_BASE + "role"
UNCONFIRMED_WARNINGS = TYPE_BASE + "unconfirmed-warnings"


class Problem(Exception):
    """Raised by an API view: becomes a problem-details response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        title: str | None = None,
        errors: list[dict[str, str]] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def response(self) -> Response:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        resp = Response(json.dumps(body), status=self.status, mimetype=PROBLEM_JSON)
        resp.headers.update(self.headers)
        return resp


def field_errors(messages: Any, location: str = "json", path: str = "") -> list[dict[str, str]]:
    """marshmallow's nested {field: [messages]} as a flat list of {location, field, message}."""
    out: list[dict[str, str]] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            out += field_errors(value, location, f"{path}.{key}" if path else str(key))
    elif isinstance(messages, Iterable) and not isinstance(messages, str):
        for value in messages:
            out += field_errors(value, location, path)
    else:
        out.append({"location": location, "field": path or "_schema", "message": str(messages)})
    return out


def invalid(field: str, message: str, location: str = "json") -> Problem:
    """One field's input refused by a service (a filter that does not parse, a bad template)."""
    return Problem(
        422,
        message,
        type_=VALIDATION,
        title="Invalid input",
        errors=[{"location": location, "field": field, "message": message}],
    )


def from_http_exception(exc: HTTPException) -> Problem:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, Mapping) else None
    headers = dict(data.get("headers") or {}) if isinstance(data, Mapping) else {}
    if exc.response is not None:
        headers.update(
            {k: v for k, v in exc.response.headers.items() if k.lower() in ("retry-after", "allow")}
        )
    if messages:
        # webargs: {location: {field: [messages]}}
        errors: list[dict[str, str]] = []
        for location, fields in messages.items():
            errors += field_errors(fields, location)
        return Problem(
            status,
            "The request's input is not valid: see errors.",
            type_=VALIDATION,
            title="Invalid input",
            errors=errors,
            headers=headers,
        )
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    detail = exc.description or HTTPStatus(status).phrase
    return Problem(status, str(detail), headers=headers)


def init_problems(app: Flask) -> None:
    """Error handlers: problem details under /api/v1, the app's usual pages elsewhere."""

    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if not request.path.startswith(API_PREFIX + "/"):
            return exc  # the console's and public pages' own error pages, as before
        return from_http_exception(exc).response()
