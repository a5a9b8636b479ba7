"""Outgoing webhooks: events recorded as rows, POSTed signed to each subscriber, retried.

`emit(session_or_connection, event, data)` is what the rest of the code calls where an event
happens (a letter sent, bounced or replied to, a signature confirmed, a campaign finished). For
every active subscription to that event it inserts one `WebhookDelivery` (unique per subscription
and event key, so an origin that runs twice sends nothing twice) in the caller's transaction. Given
an ORM session it also defers the `deliver_webhook` job, enqueued after the commit; given a Core
connection (the sending engine records outcomes so) the row waits for the reconciler's pass
(`sweep`), at most one interval later. The database is the truth, as for letters.

`prepare`, `send` and `record` make one attempt (the worker's `deliver_webhook` actor): POST the stored body with
`Outreach-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
A 2xx marks it delivered; anything else records the status and schedules the next attempt with
exponential backoff (OUTREACH_HOOK_BACKOFF, doubling, at most 6 h) until OUTREACH_HOOK_ATTEMPTS,
then failed. Delivery is at least once: receivers deduplicate by `Outreach-Webhook-Id`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.api.models import WebhookDelivery, WebhookState, WebhookSubscription
from outreach.jobs import DELIVER_WEBHOOK, defer

EVENTS = (
    "delivery.sent",
    "delivery.bounced",
    "delivery.replied",
    "signature.confirmed",
    "campaign.finished",
)
MAX_BACKOFF = timedelta(hours=6)
# A row handed to the queue and not attempted within this long lost its job (Redis restarted).
LOST_AFTER = timedelta(minutes=5)
TIMEOUT = 10.0
MAX_RESPONSE_KEPT = 500
USER_AGENT = "Outreach-Webhooks/1"


class SubscriptionError(ValueError):
    pass


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def subscribe(
    session: Session, *, url: str, events: list[str], description: str = "", created_by: str = ""
) -> WebhookSubscription:
    url = url.strip()
    if (
        not url.startswith(("https://", "http://"))
        or len(url) > 2000
        or any(c.isspace() for c in url)
    ):
        raise SubscriptionError("the URL must be one http:// or https:// address")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise SubscriptionError(f"choose events among {', '.join(EVENTS)}")
    row = WebhookSubscription(
        url=url,
        events=[e for e in EVENTS if e in events],
        secret=new_secret(),
        description=" ".join(description.split())[:200] or None,
        created_by=created_by[:320] or None,
    )
    session.add(row)
    session.flush()
    return row


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (and the tests do): the signature matches and is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = signature_header(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _insert(bind: Session | Connection) -> Any:
    dialect = bind.get_bind().dialect.name if isinstance(bind, Session) else bind.dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(WebhookDelivery.__table__)


def _subject(event: str, data: dict[str, Any]) -> str:
    noun = event.split(".", 1)[0]
    return str(data.get(f"{noun}_id", ""))


def emit(bind: Session | Connection, event: str, data: dict[str, Any]) -> int:
    """Record `event` for its subscribers (see the module docstring); returns how many. Events
    that are not in EVENTS (a letter deferred, say) are ignored, so callers may pass any state."""
    if event not in EVENTS:
        return 0
    subscriptions = [
        sub_id
        for sub_id, events in bind.execute(
            select(WebhookSubscription.id, WebhookSubscription.events).where(
                WebhookSubscription.active.is_(True)
            )
        )
        if event in (events or [])
    ]
    if not subscriptions:
        return 0
    now = utcnow()
    payload = {"id": str(uuid.uuid4()), "event": event, "created_at": now.isoformat(), "data": data}
    body = json.dumps(payload, sort_keys=True, default=str)
    queued = isinstance(bind, Session)
    made = []
    for sub_id in subscriptions:
        new_id = bind.execute(
            _insert(bind)
            .values(
                subscription_id=sub_id,
                event=event,
                key=f"{event}:{_subject(event, data)}"[:100],
                body=body,
                state=WebhookState.PENDING.value,
                attempts=0,
                next_attempt_at=now if queued else None,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["subscription_id", "key"])
            .returning(WebhookDelivery.id)
        ).scalar()
        if new_id is not None:
            made.append(new_id)
    if isinstance(bind, Session):
        for delivery_id in made:
            defer(bind, DELIVER_WEBHOOK, delivery_id)
    return len(made)


def signature_confirmed(session: Session, signature_id: int) -> None:
    """signature.confirmed, if the signature is confirmed now (confirming twice sends once)."""
    from outreach.supporters.models import Signature, SignatureState

    row = session.execute(
        select(Signature.campaign_id, Signature.state).where(Signature.id == signature_id)
    ).first()
    if row is not None and row.state == SignatureState.CONFIRMED.value:
        emit(
            session,
            "signature.confirmed",
            {"signature_id": signature_id, "campaign_id": row.campaign_id},
        )


def emit_finished(session: Session, campaign_ids: list[int]) -> None:
    for campaign_id in campaign_ids:
        emit(session, "campaign.finished", {"campaign_id": campaign_id})


def backoff(attempts: int, base: float) -> timedelta:
    return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    retry_in: timedelta | None  # when to try again; None: delivered or given up


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """One POST; (status or None, a short text for staff). Redirects are not followed."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (http(s) only, checked at subscribe)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            return response.status, response.read(MAX_RESPONSE_KEPT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(MAX_RESPONSE_KEPT).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:MAX_RESPONSE_KEPT]


@dataclass(frozen=True)
class Outgoing:
    """One attempt to make: where, and what (signed when it is sent)."""

    delivery_id: int
    url: str
    secret: str
    event: str
    event_id: str
    body: bytes


def prepare(session: Session, delivery_id: int) -> Outgoing | None:
    """The attempt a pending delivery needs, or None (delivered, failed, or its subscription
    turned off: then it fails here). Read in its own transaction: the POST happens outside any."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.state != WebhookState.PENDING.value:
        return None
    subscription = session.get(WebhookSubscription, delivery.subscription_id)
    if subscription is None or not subscription.active:
        delivery.state = WebhookState.FAILED.value
        delivery.last_error = "the subscription was turned off"
        return None
    return Outgoing(
        delivery.id,
        subscription.url,
        subscription.secret,
        delivery.event,
        json.loads(delivery.body)["id"],
        delivery.body.encode(),
    )


def send(outgoing: Outgoing) -> tuple[int | None, str]:
    return post(
        outgoing.url,
        outgoing.body,
        {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Outreach-Event": outgoing.event,
            "Outreach-Webhook-Id": outgoing.event_id,
            "Outreach-Signature": signature_header(
                outgoing.secret, outgoing.body, int(time.time())
            ),
        },
    )


def record(
    session: Session,
    delivery_id: int,
    status: int | None,
    text: str,
    *,
    base_backoff: float,
    max_attempts: int,
) -> Attempt:
    """The outcome of one attempt; the caller commits, then re-sends the job after `retry_in`."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.state != WebhookState.PENDING.value:
        return Attempt(False, None)
    now = utcnow()
    delivery.attempts += 1
    delivery.last_status = status
    if status is not None and 200 <= status < 300:
        delivery.state = WebhookState.DELIVERED.value
        delivery.delivered_at = now
        delivery.last_error = None
        return Attempt(True, None)
    delivery.last_error = (text or f"HTTP {status}")[:MAX_RESPONSE_KEPT]
    if delivery.attempts >= max_attempts:
        delivery.state = WebhookState.FAILED.value
        return Attempt(False, None)
    wait = backoff(delivery.attempts, base_backoff)
    delivery.next_attempt_at = now + wait
    return Attempt(False, wait)


def sweep(session: Session, *, now: datetime | None = None) -> list[int]:
    """Pending deliveries that no job carries: emitted where none could be deferred, or whose
    job was lost. Deferred again here (by the reconciler's pass); returns their ids."""
    now = now or utcnow()
    ids = list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.state == WebhookState.PENDING.value,
                or_(
                    WebhookDelivery.next_attempt_at.is_(None),
                    WebhookDelivery.next_attempt_at < now - LOST_AFTER,
                ),
            )
            .order_by(WebhookDelivery.id)
            .limit(1000)
        )
    )
    for delivery_id in ids:
        session.execute(
            WebhookDelivery.__table__.update()  # type: ignore[attr-defined]
            .where(WebhookDelivery.id == delivery_id)
            .values(next_attempt_at=now)
        )
        defer(session, DELIVER_WEBHOOK, delivery_id)
    return ids


def recent(session: Session, limit: int = 100) -> list[WebhookDelivery]:
    return list(
        session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit))
    )
