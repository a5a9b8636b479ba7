"""ESP event feeds: a signed JSON webhook whose events enter the same pipeline as mail.

Request (POST /inbound/webhook, JSON):

    X-Outreach-Timestamp: 1764403200                   (Unix seconds)
    X-Outreach-Signature: sha256=<hex HMAC-SHA256(OUTREACH_WEBHOOK_SECRET, "<timestamp>.<body>")>
    {"events": [{"id": "evt-1", "type": "bounce", "recipient": "mep@example.eu",
                 "bounce_type": "hard", "status": "5.1.1", "smtp_code": 550,
                 "diagnostic": "user unknown", "message_id": "<…>", "return_path": "bounces+b12.…@…"},
                {"id": "evt-2", "type": "inbound", "raw": "<base64 of the whole message>"}]}

Types: `bounce` (a failure; `bounce_type` hard or soft), `delay`, `complaint`, `inbound` (a reply
or any mail the ESP received for us, whole). A bounce, delay or complaint becomes a small RFC 3464
report (or ARF for a complaint) built from the event, so one classifier and one matcher serve
every path: the VERP `return_path` or the `message_id` names the delivery, as in a real bounce.

Replay protection: the signature covers the timestamp, a timestamp older (or newer) than
OUTREACH_WEBHOOK_TOLERANCE seconds is refused, and an event is stored under `webhook:<id>`, so
the same event sent again within the window is a duplicate and does nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Final

SIGNATURE_HEADER: Final = "X-Outreach-Signature"
TIMESTAMP_HEADER: Final = "X-Outreach-Timestamp"
MAX_EVENTS: Final = 1000
_SAFE = re.compile(r"[\x00-\x1f\x7f]")


class WebhookError(ValueError):
    """A request refused, with the HTTP status to answer and a message for the sender."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float,
    tolerance: int,
) -> None:
    if not timestamp or not signature:
        raise WebhookError(401, f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookError(401, f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs(now - sent_at) > tolerance:
        raise WebhookError(401, "timestamp outside the accepted window (replayed or clock skew)")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise WebhookError(401, "bad signature")


@dataclass(frozen=True)
class WebhookMessage:
    key: str
    raw: bytes
    envelope_to: list[str]


def parse_events(body: bytes, max_bytes: int) -> list[WebhookMessage]:
    """The messages to store for a verified request; WebhookError(400) on a malformed one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError(400, "the body is not JSON") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list) or not events:
        raise WebhookError(400, 'expected {"events": [ … ]} with at least one event')
    if len(events) > MAX_EVENTS:
        raise WebhookError(400, f"at most {MAX_EVENTS} events per request")
    return [_message(i, event, max_bytes) for i, event in enumerate(events)]


def _message(index: int, event: Any, max_bytes: int) -> WebhookMessage:
    if not isinstance(event, dict):
        raise WebhookError(400, f"event {index} is not an object")
    kind = event.get("type")
    event_id = _text(event.get("id"), 200)
    key = "webhook:" + (
        event_id or hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
    )
    return_path = _text(event.get("return_path"), 320)
    targets = [return_path] if return_path else []
    if kind == "inbound":
        try:
            raw = base64.b64decode(str(event.get("raw", "")), validate=True)
        except (binascii.Error, ValueError):
            raise WebhookError(400, f"event {index}: raw must be base64") from None
        if not raw or len(raw) > max_bytes:
            raise WebhookError(400, f"event {index}: raw is empty or too big")
        recipients = event.get("recipients") or targets
        if not isinstance(recipients, list):
            raise WebhookError(400, f"event {index}: recipients must be a list")
        return WebhookMessage(key, raw, [_text(r, 320) for r in recipients if _text(r, 320)])
    if kind not in {"bounce", "delay", "complaint"}:
        raise WebhookError(400, f"event {index}: type must be bounce, delay, complaint or inbound")
    recipient = _text(event.get("recipient"), 320)
    if not recipient:
        raise WebhookError(400, f"event {index}: recipient is required")
    return WebhookMessage(key, _report(kind, event, recipient, return_path, key), targets)


def _text(value: Any, limit: int) -> str:
    """A header-safe string: no control characters (no CR or LF), at most `limit` long."""
    return _SAFE.sub(" ", str(value)).strip()[:limit] if value is not None else ""


def _report(kind: str, event: dict[str, Any], recipient: str, return_path: str, key: str) -> bytes:
    diagnostic = _text(event.get("diagnostic"), 1000)
    message_id = _text(event.get("message_id"), 250)
    code = _text(event.get("smtp_code"), 3)
    status = _text(event.get("status"), 12)
    if kind == "delay":
        action, status = "delayed", status or "4.0.0"
    else:
        hard = str(event.get("bounce_type", "")).lower() == "hard"
        action, status = "failed", status or ("5.1.1" if hard else "5.0.0")
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    head = [
        "From: Mail Delivery System <MAILER-DAEMON@webhook.invalid>",
        f"To: <{return_path}>" if return_path else "To: undisclosed-recipients:;",
        f"Message-ID: <{digest}@webhook.invalid>",
        "MIME-Version: 1.0",
    ]
    returned = f"Message-ID: {message_id}\n" if message_id else "\n"
    if kind == "complaint":
        head += [
            "Subject: Complaint report",
            'Content-Type: multipart/report; report-type=feedback-report; boundary="r"',
        ]
        parts = [
            f"Content-Type: text/plain; charset=utf-8\n\nA complaint about a message to {recipient}.\n",
            f"Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\nOriginal-Rcpt-To: {recipient}\n",
            f"Content-Type: text/rfc822-headers\n\n{returned}",
        ]
    else:
        subject = (
            "Delivery Status Notification (Delay)"
            if kind == "delay"
            else "Delivery Status Notification (Failure)"
        )
        head += [
            f"Subject: {subject}",
            'Content-Type: multipart/report; report-type=delivery-status; boundary="r"',
        ]
        diagnostic_line = (
            f"Diagnostic-Code: smtp; {code} {diagnostic}".rstrip() if (code or diagnostic) else ""
        )
        parts = [
            f"Content-Type: text/plain; charset=utf-8\n\nReported by an ESP webhook for {recipient}.\n",
            "Content-Type: message/delivery-status\n\nReporting-MTA: dns; webhook.invalid\n\n"
            f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n{diagnostic_line}\n",
            f"Content-Type: text/rfc822-headers\n\n{returned}",
        ]
    body = "".join(f"--r\n{part}\n" for part in parts) + "--r--\n"
    return ("\n".join(head) + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")
