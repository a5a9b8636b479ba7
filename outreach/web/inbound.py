"""POST /inbound/webhook: ESP event feeds into the inbound pipeline (outreach.tracking.webhook).

CSRF-exempt (the caller is a machine; the HMAC signature with the shared secret and a timestamp
stands in for it). Answers 404 while OUTREACH_WEBHOOK_SECRET is unset, 401 for a missing, stale or
wrong signature, 400 for a malformed body, 200 with the counts otherwise.
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue

from outreach.extensions import csrf, get_db, get_settings
from outreach.tracking.intake import store_inbound
from outreach.tracking.models import ReceivedVia
from outreach.tracking.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookError,
    parse_events,
    verify,
)

bp = Blueprint("inbound", __name__)


@bp.post("/inbound/webhook")
@csrf.exempt
def webhook() -> ResponseReturnValue:
    settings = get_settings()
    if not settings.webhook_secret:
        abort(404)
    body = request.get_data(cache=False)
    try:
        verify(
            settings.webhook_secret,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            now=time.time(),
            tolerance=settings.webhook_tolerance,
        )
        messages = parse_events(body, settings.inbound_max_bytes)
    except WebhookError as exc:
        return jsonify(error=str(exc)), exc.status
    stored = 0
    db = get_db()
    with db.transaction() as session:
        for message in messages:
            row_id = store_inbound(
                session, message.raw, via=ReceivedVia.WEBHOOK,
                envelope_to=message.envelope_to, key=message.key,
            )  # fmt: skip
            stored += row_id is not None
    return jsonify(stored=stored, duplicates=len(messages) - stored)
