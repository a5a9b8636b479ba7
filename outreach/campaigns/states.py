"""The delivery state machine: every state, every allowed transition, in one place.

    pending ─(launch)→ queued ─(claimed, lease)→ sending ─(250)→ sent ─(DSN)→ bounced
                         ↑           │ 4xx / connection error → deferred ─(due)→ queued
                         └───────────┘                          (past the deadline → failed)
    sending ─(5xx)→ failed        sent ─(reply)→ replied        bounced ─(reply)→ replied
    uncertain ─(a bounce or a reply comes back: the letter did leave)→ bounced / replied
    sending ─(lease expired)→ uncertain  (staff decide: resend → queued, or mark sent)
    queued ─(paced: domain limit, campaign pace, office hours)→ deferred, not counted as an attempt
    queued ─(three workers stopped while holding it, before sending: a poison message)→ failed
    any non-final ─(pause)→ held ─(resume)→ queued;  any non-final ─(cancel)→ cancelled

A worker takes a batch by *claiming* queued rows (a token and a lease, state unchanged), and moves
each to `sending` only when it starts that letter's SMTP transaction ("dispatch"). So `sending`
means "may be on the wire": pause and cancel catch every letter not yet dispatched, and a worker
that dies leaves at most the letters it was sending uncertain.

Code that changes a delivery's state goes through `check_transition`, and every change appends a
DeliveryEvent: the history is never overwritten.
"""

from __future__ import annotations

import enum


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    SENDING = "sending"
    DEFERRED = "deferred"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    REPLIED = "replied"
    UNCERTAIN = "uncertain"
    HELD = "held"
    CANCELLED = "cancelled"


S = DeliveryState

# States in which the letter has not reached a final outcome; pause and cancel apply to these.
NON_FINAL = frozenset({S.PENDING, S.QUEUED, S.DEFERRED, S.UNCERTAIN})

ALLOWED: dict[DeliveryState, frozenset[DeliveryState]] = {
    S.PENDING: frozenset({S.QUEUED, S.HELD, S.CANCELLED}),
    S.QUEUED: frozenset({S.SENDING, S.HELD, S.CANCELLED, S.DEFERRED, S.FAILED}),
    S.SENDING: frozenset({S.SENT, S.DEFERRED, S.FAILED, S.UNCERTAIN}),
    S.DEFERRED: frozenset({S.QUEUED, S.FAILED, S.HELD, S.CANCELLED}),
    S.SENT: frozenset({S.BOUNCED, S.REPLIED}),
    S.BOUNCED: frozenset({S.REPLIED}),
    S.REPLIED: frozenset(),
    S.FAILED: frozenset({S.QUEUED}),  # staff may resend after fixing an address
    # A bounce or a reply to an uncertain letter proves that it left: it is final from then on.
    S.UNCERTAIN: frozenset({S.QUEUED, S.SENT, S.HELD, S.CANCELLED, S.BOUNCED, S.REPLIED}),
    S.HELD: frozenset({S.QUEUED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}

FINAL = frozenset(s for s in DeliveryState if s not in NON_FINAL and s not in {S.SENDING, S.HELD})


class TransitionError(ValueError):
    """A state change that the state machine does not allow."""


def can_transition(current: str | DeliveryState, target: str | DeliveryState) -> bool:
    return DeliveryState(target) in ALLOWED[DeliveryState(current)]


def check_transition(current: str | DeliveryState, target: str | DeliveryState) -> None:
    if not can_transition(current, target):
        raise TransitionError(f"a delivery cannot go from {current} to {target}")


def sources_of(target: DeliveryState) -> list[str]:
    """Every state from which `target` may be reached (for compare-and-set updates)."""
    return sorted(s.value for s, targets in ALLOWED.items() if target in targets)
