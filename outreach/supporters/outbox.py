"""The outbox of confirmation mails is the signature row itself.

A confirmation is asked for by setting `confirmation_requested_at` and clearing
`confirmation_claimed_at` (in the signing transaction: nothing to lose if Redis is down then).
A worker's sweep (`claim_confirmations`, the `signature_outbox` actor) claims waiting rows with
a compare-and-set on `confirmation_claimed_at IS NULL` and defers one `signature_mail` job for
each: two sweeps at once (two workers) never claim the same row, so each request is mailed once.
The sweep runs when kicked, and in every reconciler pass, which also gives back to the outbox a
claim whose job was lost (outreach.supporters.sweep).

A kick is a message to the `signature_outbox` actor. The public form kicks through `Kicker`, at
most twice per window per process (one at once, one at the window's end for what came after it),
instead of enqueueing a job for every signature; other callers defer one kick after their commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, event, select, update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.jobs import SIGNATURE_MAIL, Job, defer
from outreach.supporters.models import Signature, SignatureState

log = logging.getLogger(__name__)

# The sweep: claim waiting confirmations and defer their mail jobs; args none.
OUTBOX = Job("signature_outbox", "supporters")
CLAIM_BATCH = 500
# A process kicks at most once at the start of a window and once at its end.
KICK_WINDOW = 0.2


def waiting() -> ColumnElement[bool]:
    """A pending signature whose confirmation mail is asked for and not claimed yet (the terms
    of the partial index ix_signatures_outbox, so that the sweep reads only these rows)."""
    return and_(
        Signature.confirmation_requested_at.is_not(None),
        Signature.confirmation_claimed_at.is_(None),
        Signature.state == SignatureState.PENDING.value,
    )


def claim_confirmations(
    session: Session, *, now: datetime | None = None, limit: int = CLAIM_BATCH
) -> list[int]:
    """Claim up to `limit` waiting confirmations and defer their mail jobs (sent after the
    caller commits). The claim is a compare-and-set: a row another sweep claimed first (or
    claims meanwhile: PostgreSQL re-checks the condition on the locked row) is not returned."""
    now = now or utcnow()
    due = select(Signature.id).where(waiting()).order_by(Signature.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Two sweeps at once take different rows instead of waiting for each other.
        due = due.with_for_update(skip_locked=True)
    claimed = list(
        session.scalars(
            update(Signature)
            .where(Signature.id.in_(due.scalar_subquery()), waiting())
            .values(confirmation_claimed_at=now)
            .returning(Signature.id)
            .execution_options(synchronize_session=False)
        )
    )
    for signature_id in claimed:
        defer(session, SIGNATURE_MAIL, signature_id, "confirm")
    return claimed


def kick_after_commit(session: Session, kicker: Callable[[], None] | None = None) -> None:
    """Have the outbox swept once the session commits: by the caller's `kicker` (the public
    form's, which coalesces), else by one `signature_outbox` job deferred after commit."""
    if kicker is None:
        defer(session, OUTBOX)
        return
    event.listen(session, "after_commit", lambda _session: kicker(), once=True)


class Kicker:
    """Coalesces kicks of one process: the first in a window of KICK_WINDOW seconds is sent at
    once, one more is sent to run at the window's end (it sweeps whatever was committed during
    the window), the others are dropped. Every signature committed before a kick call is swept
    by a kick that runs after it. `send(delay_ms)` enqueues the message; if it fails the row
    waits for the reconciler's pass."""

    def __init__(self, send: Callable[[int], None], window: float = KICK_WINDOW) -> None:
        self._send = send
        self._window = window
        self._lock = threading.Lock()
        self._window_end = 0.0
        self._trailing = False

    def __call__(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now >= self._window_end:
                self._window_end, self._trailing, delay = now + self._window, False, 0
            elif not self._trailing:
                self._trailing, delay = True, int((self._window_end - now) * 1000) + 1
            else:
                return
        try:
            self._send(delay)
        except Exception:
            log.exception("could not kick the confirmation outbox; the reconciler will sweep it")
