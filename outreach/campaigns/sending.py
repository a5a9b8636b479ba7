"""Sending a batch of deliveries: claim, render, send over one connection, record each outcome.

The order of steps is what makes "never twice" hold:
1. Claim: a compare-and-set moves only `queued` rows to `sending` with a lease, fixes each
   Message-ID, and commits. A second worker given the same ids claims none of them.
2. Send each message, then record its outcome in its own short transaction. A worker that dies
   between the SMTP server's 250 and that commit leaves the row `sending`; when its lease expires
   the reconciler moves it to `uncertain` for staff to decide. It is never resent silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, joinedload

from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.letters import letter_meta
from outreach.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryEvent
from outreach.campaigns.states import NON_FINAL, DeliveryState, check_transition
from outreach.db import Database
from outreach.letters.render import CampaignLetter, Joint, LetterError, LetterMeta
from outreach.mail.message import HeaderError, build_letter, new_message_id, parse_address
from outreach.mail.transport import SendOutcome, SmtpTransport

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
RETRY_BASE = timedelta(minutes=2)
S = DeliveryState


@dataclass
class BatchReport:
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, state: str) -> None:
        self.outcomes[state] = self.outcomes.get(state, 0) + 1


def record_transition(
    session: Session,
    delivery: Delivery,
    target: DeliveryState,
    *,
    actor: str,
    smtp_code: int | None = None,
    detail: str | None = None,
) -> None:
    """Move one delivery to `target` and append the event; raises TransitionError if not allowed."""
    check_transition(delivery.state, target)
    session.add(
        DeliveryEvent(
            delivery_id=delivery.id,
            from_state=delivery.state,
            to_state=target.value,
            actor=actor,
            smtp_code=smtp_code,
            detail=detail,
        )
    )
    delivery.state = target.value


def claim(
    session: Session, delivery_ids: Sequence[int], *, actor: str, sender_domain: str
) -> list[int]:
    """Compare-and-set queued → sending for these ids; returns the ids this worker now owns."""
    if not delivery_ids:
        return []
    now = utcnow()
    claimed = list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(list(delivery_ids)), Delivery.state == S.QUEUED.value)
            .values(
                state=S.SENDING.value,
                lease_expires_at=now + LEASE,
                attempts=Delivery.attempts + 1,
                updated_at=now,
            )
            .returning(Delivery.id)
        )
    )
    if not claimed:
        return []
    claimed.sort()
    session.execute(
        insert(DeliveryEvent),
        [
            {
                "delivery_id": i,
                "at": now,
                "from_state": S.QUEUED.value,
                "to_state": S.SENDING.value,
                "actor": actor,
            }
            for i in claimed
        ],
    )
    # The Message-ID is fixed before the message leaves, so that replies and bounces can find it.
    # The recipients of one joint message share its Message-ID.
    group_ids: dict[str, str] = {}
    for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(claimed))):
        if delivery.message_id is None:
            if delivery.group_key:
                delivery.message_id = group_ids.setdefault(
                    delivery.group_key, new_message_id(sender_domain)
                )
            else:
                delivery.message_id = new_message_id(sender_domain)
    return claimed


def _backoff(attempts: int) -> timedelta:
    return RETRY_BASE * (2 ** max(0, min(attempts - 1, 8)))


def record_outcome(
    session: Session, delivery: Delivery, outcome: SendOutcome, *, actor: str
) -> str:
    now = utcnow()
    delivery.last_smtp_code = outcome.code
    delivery.last_smtp_text = outcome.text[:2000]
    delivery.lease_expires_at = None
    if outcome.kind == "sent":
        record_transition(
            session, delivery, S.SENT, actor=actor, smtp_code=outcome.code, detail=outcome.text
        )
        delivery.sent_at = now
    elif outcome.kind == "permanent":
        record_transition(
            session, delivery, S.FAILED, actor=actor, smtp_code=outcome.code, detail=outcome.text
        )
    elif outcome.kind == "uncertain":
        # The server may have the letter: never resent automatically; staff decide.
        record_transition(
            session, delivery, S.UNCERTAIN, actor=actor, smtp_code=outcome.code, detail=outcome.text
        )
    else:
        record_transition(
            session, delivery, S.DEFERRED, actor=actor, smtp_code=outcome.code, detail=outcome.text
        )
        delivery.next_attempt_at = now + _backoff(delivery.attempts)
    return delivery.state


def _finish_campaign_if_done(session: Session, campaign_id: int) -> None:
    busy = session.scalar(
        select(Delivery.id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.state.in_([s.value for s in NON_FINAL] + [S.SENDING.value, S.HELD.value]),
        )
        .limit(1)
    )
    if busy is None:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status == CampaignStatus.SENDING:
            campaign.status = CampaignStatus.FINISHED.value


@dataclass(frozen=True)
class _CampaignParts:
    letter: CampaignLetter
    meta: LetterMeta
    addressees: tuple[Contact, ...]


def _contacts_in_order(session: Session, ids: Sequence[int]) -> list[Contact]:
    if not ids:
        return []
    found = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(list(ids))))}
    return [found[i] for i in ids if i in found]


def _send_joint(
    session: Session,
    deliveries: list[Delivery],
    campaign: Campaign,
    parts_for: Callable[[Session, Campaign], _CampaignParts],
    transport: SmtpTransport,
    default_from: str,
    return_path: str,
) -> dict[int, SendOutcome]:
    """One message To the addressees, Cc the copied recipients, in one SMTP transaction.

    The headers always name the whole group (every member of the joint message, whatever its
    state), while the envelope goes only to the deliveries being sent now: a Cc retried alone
    after a temporary failure gets the same message as everyone else, and nobody gets it twice."""
    members = list(
        session.scalars(
            select(Delivery)
            .options(joinedload(Delivery.contact))
            .where(Delivery.group_key == deliveries[0].group_key)
            .order_by(Delivery.id)
        )
    )
    to = [d for d in members if d.role == "to"]
    cc = [d for d in members if d.role == "cc"]
    try:
        if not to:
            raise LetterError("joint letter", "it has no addressee left to send to")
        parts = parts_for(session, campaign)
        first = to[0]
        copy = parts.letter.render(
            first.contact,
            parts.meta,
            email=first.email,
            joint=Joint(parts.addressees, message=True),
        )
        message_id = deliveries[0].message_id
        assert message_id is not None
        msg = build_letter(
            from_addr=campaign.mail_from or default_from,
            to_addr=first.email,
            to_name=first.contact.display_name,
            more_to=[(d.contact.display_name, d.email) for d in to[1:]],
            cc=[(d.contact.display_name, d.email) for d in cc],
            subject=copy.subject,
            text=copy.text,
            html=copy.html,
            language=copy.language,
            message_id=message_id,
        )
    except (LetterError, HeaderError) as exc:
        failed = SendOutcome("permanent", None, f"not sent: {exc}")
        return dict.fromkeys((d.id for d in deliveries), failed)
    by_address = transport.send_to_all(msg, return_path, [d.email for d in deliveries])
    return {d.id: by_address[d.email] for d in deliveries}


def send_batch(
    db: Database,
    delivery_ids: Sequence[int],
    transport: SmtpTransport,
    *,
    actor: str,
    default_from: str,
    return_path: str,
) -> BatchReport:
    report = BatchReport()
    sender_domain = parse_address(default_from, "From").domain
    with db.transaction() as session:
        claimed = claim(session, delivery_ids, actor=actor, sender_domain=sender_domain)
    report.claimed = len(claimed)
    if not claimed:
        return report

    # Compiled once per campaign per batch; a letter that does not compile fails its deliveries.
    letters: dict[int, _CampaignParts | LetterError] = {}
    campaigns: set[int] = set()

    def parts_for(session: Session, campaign: Campaign) -> _CampaignParts:
        if campaign.id not in letters:
            try:
                addressees = _contacts_in_order(session, campaign.joint_to)
                letters[campaign.id] = _CampaignParts(
                    CampaignLetter(campaign.letter_sources(), campaign.default_language),
                    letter_meta(campaign, default_from=default_from),
                    tuple(addressees),
                )
            except LetterError as exc:
                letters[campaign.id] = exc
        parts = letters[campaign.id]
        if isinstance(parts, LetterError):
            raise parts
        return parts

    with db.transaction() as session:
        groups: dict[str, list[int]] = {}
        singles: list[int] = []
        for delivery_id, group_key in session.execute(
            select(Delivery.id, Delivery.group_key)
            .where(Delivery.id.in_(claimed))
            .order_by(Delivery.id)
        ):
            if group_key:
                groups.setdefault(group_key, []).append(delivery_id)
            else:
                singles.append(delivery_id)

    for ids in groups.values():
        with db.transaction() as session:
            deliveries = list(
                session.scalars(
                    select(Delivery)
                    .options(joinedload(Delivery.contact), joinedload(Delivery.campaign))
                    .where(Delivery.id.in_(ids))
                    .order_by(Delivery.id)
                )
            )
            campaign = deliveries[0].campaign
            campaigns.add(campaign.id)
            outcomes = _send_joint(
                session, deliveries, campaign, parts_for, transport, default_from, return_path
            )
            for delivery in deliveries:
                report.count(record_outcome(session, delivery, outcomes[delivery.id], actor=actor))

    for delivery_id in singles:
        with db.transaction() as session:
            delivery = session.scalars(
                select(Delivery)
                .options(
                    joinedload(Delivery.contact),
                    joinedload(Delivery.campaign).selectinload(Campaign.variants),
                )
                .where(Delivery.id == delivery_id)
            ).one()
            campaign = delivery.campaign
            campaigns.add(campaign.id)
            try:
                parts = parts_for(session, campaign)
                joint = Joint(parts.addressees) if delivery.role == "copy" else Joint()
                copy = parts.letter.render(
                    delivery.contact, parts.meta, email=delivery.email, joint=joint
                )
                assert delivery.message_id is not None
                msg = build_letter(
                    from_addr=campaign.mail_from or default_from,
                    to_addr=delivery.email,
                    to_name=delivery.contact.display_name,
                    subject=copy.subject,
                    text=copy.text,
                    html=copy.html,
                    language=copy.language,
                    message_id=delivery.message_id,
                )
            except (LetterError, HeaderError) as exc:
                # A letter that cannot be built for this recipient will not build on retry either.
                outcome = SendOutcome("permanent", None, f"not sent: {exc}")
            else:
                outcome = transport.send(msg, envelope_from=return_path, recipient=delivery.email)
            state = record_outcome(session, delivery, outcome, actor=actor)
            report.count(state)
    with db.transaction() as session:
        for campaign_id in campaigns:
            _finish_campaign_if_done(session, campaign_id)
    log.info("batch of %d: %s", report.claimed, report.outcomes)
    return report
