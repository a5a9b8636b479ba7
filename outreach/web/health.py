"""/healthz: the database answers (used by compose health checks and `make run`)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from outreach.extensions import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    try:
        get_db().session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not healthy"; say which
        return jsonify(status="error", database=type(exc).__name__), 503
    return jsonify(status="ok")
