"""Which delivery (or supporter) an inbound message is about.

Signed addresses first: a bounce comes back to the VERP Return-Path `bounces+b<id>.<mac>@…` of its
letter, a reply goes to its Reply-To `replies+r<id>.<mac>@…`, an unsubscription to `+u<id>.<mac>`.
Their MACs are checked (MessageIdentity); an address on one of our bases whose token does not
verify is a forgery or was altered on the way: it is ignored, logged and noted on the row, never
trusted. Then the Message-IDs: those of the returned letter in a bounce (or a complaint), the
In-Reply-To and References of a reply, against deliveries.message_id.

A joint message is one SMTP transaction with one Return-Path and one Reply-To for all its
recipients, and one Message-ID: the delivery is then chosen within the group by the failed
address (a bounce) or the sender's address (a reply).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import Message

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns.models import Delivery
from outreach.mail.identity import MessageIdentity
from outreach.mail.verp import DELIMITER, SignedAddress
from outreach.tracking.parse import addresses

log = logging.getLogger(__name__)

ADDRESS_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")


@dataclass
class Match:
    delivery: Delivery | None = None
    matched_by: str | None = None
    supporter_id: int | None = None
    notes: list[str] = field(default_factory=list)


def recipient_addresses(msg: Message, envelope_to: Sequence[str]) -> list[str]:
    """Where the message was sent: the envelope first (what the MTA was told), then headers
    (what IMAP and webhooks give us)."""
    found = addresses(list(envelope_to))
    for name in ADDRESS_HEADERS:
        values = msg.get_all(name) or []
        for addr in addresses([str(v) for v in values]):
            if addr not in found:
                found.append(addr)
    return found[:50]


class Matcher:
    def __init__(self, session: Session, identity: MessageIdentity) -> None:
        self.session = session
        self.identity = identity

    # --- signed addresses ---------------------------------------------------------------------
    def _signed(
        self,
        recipients: Sequence[str],
        base: SignedAddress | None,
        verify: Callable[[str], int | None],
    ) -> tuple[int | None, list[str]]:
        """The id of the first address on `base` whose token verifies, and the forged ones."""
        if base is None:
            return None, []
        forged: list[str] = []
        for addr in recipients:
            local, _, domain = addr.rpartition("@")
            head, delimiter, token = local.partition(DELIMITER)
            if head.lower() != base.username.lower() or domain.lower() != base.domain.lower():
                continue
            if not delimiter or token[:1].lower() != base.signer.kind:
                continue
            row_id = verify(addr)
            if row_id is not None:
                return row_id, forged
            forged.append(addr)
        return None, forged

    def _note_forged(self, match: Match, forged: list[str], what: str) -> None:
        for addr in forged:
            log.warning(
                "inbound %s to %s: the token does not verify (forged or altered); ignored",
                what,
                addr,
            )
            match.notes.append(f"forged or altered {what} token ignored: {addr}")

    def unsubscribe(self, recipients: Sequence[str], match: Match) -> None:
        supporter, forged = self._signed(
            recipients, self.identity.unsubscribe_mailbox, self.identity.supporter_for_unsubscribe
        )
        self._note_forged(match, forged, "unsubscribe")
        match.supporter_id = supporter

    # --- bounces and complaints -----------------------------------------------------------------
    def bounce(
        self, recipients: Sequence[str], returned_ids: Sequence[str], failed: Sequence[str]
    ) -> Match:
        match = Match()
        delivery_id, forged = self._signed(
            recipients, self.identity.bounces, self.identity.delivery_for_bounce
        )
        self._note_forged(match, forged, "bounce")
        if delivery_id is not None:
            delivery = self.session.get(Delivery, delivery_id)
            if delivery is not None:
                match.delivery, match.matched_by = self._in_group(delivery, failed), "verp"
                return match
            match.notes.append(f"VERP names delivery {delivery_id}, which no longer exists")
        candidates = self._by_message_ids(returned_ids)
        if candidates:
            match.delivery = _pick(candidates, failed)
            match.matched_by = "returned-message-id"
        return match

    # --- replies and auto-replies -----------------------------------------------------------------
    def reply(self, recipients: Sequence[str], thread_ids: Sequence[str], sender: str) -> Match:
        match = Match()
        delivery_id, forged = self._signed(
            recipients, self.identity.replies, self.identity.delivery_for_reply
        )
        self._note_forged(match, forged, "reply")
        if delivery_id is not None:
            delivery = self.session.get(Delivery, delivery_id)
            if delivery is not None:
                match.delivery, match.matched_by = self._in_group(delivery, [sender]), "reply-token"
                return match
        candidates = self._by_message_ids(thread_ids)
        if candidates:
            match.delivery, match.matched_by = _pick(candidates, [sender]), "in-reply-to"
        return match

    # --- helpers ----------------------------------------------------------------------------------
    def _by_message_ids(self, ids: Sequence[str]) -> list[Delivery]:
        ids = [i for i in ids if len(i) <= 255][:50]
        if not ids:
            return []
        return list(
            self.session.scalars(
                select(Delivery).where(Delivery.message_id.in_(ids)).order_by(Delivery.id)
            )
        )

    def _in_group(self, delivery: Delivery, addresses_: Sequence[str]) -> Delivery:
        """The member of the delivery's joint message with one of these addresses, else it."""
        if delivery.group_key is None:
            return delivery
        group = list(
            self.session.scalars(
                select(Delivery)
                .where(Delivery.group_key == delivery.group_key)
                .order_by(Delivery.id)
            )
        )
        return _pick(group, addresses_, default=delivery)


def _pick(
    candidates: list[Delivery], addresses_: Sequence[str], default: Delivery | None = None
) -> Delivery:
    wanted = {a.lower() for a in addresses_ if a}
    for delivery in candidates:
        if delivery.email.lower() in wanted:
            return delivery
    if default is not None:
        return default
    # No address to tell them apart: the first addressee ("to") of a joint message, else the first.
    for delivery in candidates:
        if delivery.role == "to":
            return delivery
    return candidates[0]
