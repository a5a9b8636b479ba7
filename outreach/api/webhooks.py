"""Outgoing webhooks: events recorded as rows, POSTed signed to each subscriber, retried.

`emit(session_or_connection, event, data)` is what the rest of the code calls where an event
happens (a letter sent, bounced or replied to, a signature confirmed, a campaign finished). For
every active subscription to that event it inserts one `WebhookDelivery` (unique per subscription
and event key, so an origin that runs twice sends nothing twice) in the caller's transaction. Given
an ORM session it also defers the `deliver_webhook` job, enqueued after the commit; given a Core
connection (the sending engine records outcomes so) the row waits for the reconciler's pass
(`sweep`), at most one interval later. The database is the truth, as for letters.

`prepare`, `send` and `record` make one attempt (the worker's `deliver_webhook` actor): POST the
stored body with `Outreach-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the
secret>`. After `rotate_secret`, the header carries one `v1=` per secret still valid (the new one
first, then the old one until its grace period ends), so a receiver that checks any `v1` against
its secret keeps verifying while it switches. `resend` gives a failed delivery a new round of
attempts.
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
from datetime import UTC, datetime, timedelta
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


MAX_GRACE = timedelta(days=7)


def check_url(url: str) -> str:
    url = url.strip()
    if (
        not url.startswith(("https://", "http://"))
        or len(url) > 2000
        or any(c.isspace() for c in url)
    ):
        raise SubscriptionError("the URL must be one http:// or https:// address")
    return url


def check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise SubscriptionError(f"choose events among {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in events]


def subscribe(
    session: Session, *, url: str, events: list[str], description: str = "", created_by: str = ""
) -> WebhookSubscription:
    row = WebhookSubscription(
        url=check_url(url),
        events=check_events(events),
        secret=new_secret(),
        description=" ".join(description.split())[:200] or None,
        created_by=created_by[:320] or None,
    )
    session.add(row)
    session.flush()
    return row


def update_subscription(
    row: WebhookSubscription,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> WebhookSubscription:
    """Change what was given; checked as at subscribe. Deliveries already made keep their URL's
    answer; pending ones go to the new URL."""
    if url is not None:
        row.url = check_url(url)
    if events is not None:
        row.events = check_events(events)
    if description is not None:
        row.description = " ".join(description.split())[:200] or None
    if active is not None:
        row.active = active
    return row


def rotate_secret(row: WebhookSubscription, *, grace: timedelta) -> WebhookSubscription:
    """A new secret signs from now on; the current one signs too until `grace` has passed (0: it
    stops at once). A second rotation within the grace period ends the first one's."""
    if grace < timedelta(0) or grace > MAX_GRACE:
        raise SubscriptionError(f"the grace period is between 0 and {MAX_GRACE.days} days")
    if grace:
        row.previous_secret, row.previous_secret_until = row.secret, utcnow() + grace
    else:
        row.previous_secret, row.previous_secret_until = None, None
    row.secret = new_secret()
    return row


def _aware(value: datetime) -> datetime:
    # SQLite hands back stored UTC values naive.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def signing_secrets(row: WebhookSubscription, now: datetime | None = None) -> tuple[str, ...]:
    """The secrets that sign a POST now: the current one, and the previous one in its grace."""
    now = now or utcnow()
    until = row.previous_secret_until
    if row.previous_secret and until is not None and _aware(until) > now:
        return (row.secret, row.previous_secret)
    return (row.secret,)


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: str | tuple[str, ...], body: bytes, timestamp: int) -> str:
    """`t=<timestamp>,v1=<mac>[,v1=<mac with the previous secret>]`."""
    keys = (secrets,) if isinstance(secrets, str) else secrets
    return ",".join([f"t={timestamp}", *(f"v1={_mac(k, body, timestamp)}" for k in keys)])


def verify(
    secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (and the tests do): one of the header's `v1` signatures is the body's
    with this secret, and the timestamp is recent."""
    pairs = [p.strip().split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in pairs if k == "t"]
    try:
        timestamp = int(stamps[0])
    except (IndexError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = _mac(secret, body, timestamp)
    # Every candidate compared, in constant time each, whichever matches.
    return any([hmac.compare_digest(expected, v) for k, v in pairs if k == "v1"])


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
        try:
            return exc.code, exc.read(MAX_RESPONSE_KEPT).decode("utf-8", "replace")
        finally:
            exc.close()  # the error holds the response's connection open
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:MAX_RESPONSE_KEPT]


@dataclass(frozen=True)
class Outgoing:
    """One attempt to make: where, and what (signed when it is sent)."""

    delivery_id: int
    url: str
    secrets: tuple[str, ...]  # the current secret first; the previous one in its grace period
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
        signing_secrets(subscription),
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
                outgoing.secrets, outgoing.body, int(time.time())
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


class ResendError(ValueError):
    pass


def resend(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """A failed delivery gets a new round of attempts (the same body and event id, so a receiver
    that did get it deduplicates), handed to the worker after the caller's commit."""
    if delivery.state != WebhookState.FAILED.value:
        raise ResendError(f"only a failed delivery is sent again; this one is {delivery.state}")
    subscription = session.get(WebhookSubscription, delivery.subscription_id)
    if subscription is None or not subscription.active:
        raise ResendError("its subscription is turned off: turn it on first")
    delivery.state = WebhookState.PENDING.value
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    defer(session, DELIVER_WEBHOOK, delivery.id)
    return delivery


def recent(session: Session, limit: int = 100) -> list[WebhookDelivery]:
    return list(
        session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit))
    )
