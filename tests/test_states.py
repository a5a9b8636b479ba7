"""The delivery state machine allows exactly the transitions of DESIGN.md."""

from __future__ import annotations

import pytest

from outreach.campaigns.states import (
    ALLOWED,
    DeliveryState,
    TransitionError,
    check_transition,
    sources_of,
)

S = DeliveryState


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.PENDING, S.QUEUED),
        (S.QUEUED, S.SENDING),
        (S.SENDING, S.SENT),
        (S.SENDING, S.DEFERRED),
        (S.DEFERRED, S.QUEUED),
        (S.DEFERRED, S.FAILED),
        (S.SENDING, S.FAILED),
        (S.SENT, S.BOUNCED),
        (S.SENT, S.REPLIED),
        (S.SENDING, S.UNCERTAIN),
        (S.UNCERTAIN, S.QUEUED),
        (S.UNCERTAIN, S.SENT),
        (S.QUEUED, S.HELD),
        (S.HELD, S.QUEUED),
        (S.QUEUED, S.CANCELLED),
        (S.BOUNCED, S.REPLIED),
        (S.UNCERTAIN, S.BOUNCED),
        (S.UNCERTAIN, S.REPLIED),
    ],
)
def test_designed_transitions_are_allowed(source: DeliveryState, target: DeliveryState) -> None:
    """Each arrow of the design's diagram is an allowed transition."""
    check_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.SENT, S.QUEUED),
        (S.SENT, S.SENDING),
        (S.SENDING, S.QUEUED),
        (S.REPLIED, S.SENT),
        (S.CANCELLED, S.QUEUED),
        (S.PENDING, S.SENT),
        (S.SENDING, S.CANCELLED),
        (S.SENDING, S.HELD),
        (S.REPLIED, S.BOUNCED),
        (S.BOUNCED, S.SENT),
        (S.FAILED, S.BOUNCED),
        (S.DEFERRED, S.REPLIED),
        (S.QUEUED, S.BOUNCED),
    ],
)
def test_transitions_that_could_send_twice_or_rewrite_history_are_refused(
    source: DeliveryState, target: DeliveryState
) -> None:
    """A sent letter is never queued again, a letter on the wire cannot be cancelled or held, and
    final outcomes stay final."""
    with pytest.raises(TransitionError, match=f"from {source} to {target}"):
        check_transition(source, target)


def test_every_state_has_an_entry_and_claiming_starts_only_from_queued() -> None:
    """The table covers every state, and only `queued` leads to `sending` (the claim's CAS)."""
    assert set(ALLOWED) == set(DeliveryState)
    assert sources_of(S.SENDING) == ["queued"]


def test_only_a_letter_that_left_can_bounce_or_be_answered() -> None:
    """A bounce or a reply is only accepted for a letter that left (sent) or may have left
    (uncertain: what comes back proves it did); a reply also follows a bounce (a colleague's
    answer after one address of a joint letter bounced)."""
    assert sources_of(S.BOUNCED) == ["sent", "uncertain"]
    assert sources_of(S.REPLIED) == ["bounced", "sent", "uncertain"]
