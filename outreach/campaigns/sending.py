"""Sending a batch of deliveries: claim, render, pace, dispatch, send, record each outcome.

The order of steps is what makes "never twice, never lost" hold:
1. Claim: a compare-and-set gives this worker the batch's `queued` rows (a random token and a
   lease; `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never wait on each other), fixes
   each Message-ID, and commits. A second worker given the same ids claims none of them.
2. Per letter: render it, wait for its pace (pacing.py: the recipient domain's limit, the
   campaign's pace and office hours; a slot too far away puts the letter back as `deferred`),
   then *dispatch*: a compare-and-set moves it `queued` → `sending` only if this worker still holds
   it and its campaign is still sending (so pause and cancel catch every letter not yet on its
   way), and commits. Then the SMTP transaction. Its outcome is recorded in the transaction that
   dispatches the next letter (one short write transaction a letter), or in its own before
   anything that may wait or fail (a pace to wait for, a full relay, a letter that cannot be
   built, the end of the batch): a worker thread never has more than one letter `sending` and
   unrecorded. The statements of these steps are Core statements on one connection a batch.
3. A worker that dies before dispatch leaves the letter `queued` with an expired claim: the
   reconciler queues it again (and fails it after three such stops: a poison letter). One that dies
   between dispatch and recording leaves it `sending`; when its lease expires it becomes
   `uncertain`, for staff to decide. It is never resent silently.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import Connection, Table, Update, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session, joinedload

import outreach.api.webhooks  # outgoing webhooks of this module's events
from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.letters import letter_meta
from outreach.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryEvent
from outreach.campaigns.pacing import Pacer, Slot, office_hours_wait
from outreach.campaigns.states import NON_FINAL, DeliveryState, check_transition
from outreach.db import Database
from outreach.letters.render import CampaignLetter, Joint, LetterError, LetterMeta
from outreach.mail.dkim_signer import DkimSigningError
from outreach.mail.identity import MessageIdentity
from outreach.mail.message import HeaderError, new_message_id, parse_address
from outreach.mail.transport import SendOutcome, SmtpTransport
from outreach.mail.wire import LetterWriter, WireLetter
from outreach.supporters.cosigners import cosigners_for
from outreach.supporters.letters import build_supporter_letter

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
RETRY_BASE = timedelta(minutes=2)
S = DeliveryState
# The tables, for the Core statements of the steps that run once a letter (no ORM unit of work).
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
EVENTS: Table = DeliveryEvent.__table__  # type: ignore[assignment]
CAMPAIGNS: Table = Campaign.__table__  # type: ignore[assignment]
_INSERT_EVENT = insert(EVENTS)


@dataclass
class BatchReport:
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, state: str, n: int = 1) -> None:
        self.outcomes[state] = self.outcomes.get(state, 0) + n


def _events(
    session: Session | Connection,
    ids: Sequence[int],
    source: S,
    target: S,
    now: datetime,
    actor: str,
    **extra: object,
) -> None:
    rows = [
        {"delivery_id": i, "at": now, "from_state": source.value,
         "to_state": target.value, "actor": actor, **extra}
        for i in ids
    ]  # fmt: skip
    if len(rows) == 1:
        session.execute(_INSERT_EVENT, rows[0])
    elif rows:
        session.execute(_INSERT_EVENT, rows)


def claim(
    session: Session,
    delivery_ids: Sequence[int],
    *,
    token: str,
    sender_domain: str,
) -> list[int]:
    """Give this worker the `queued` rows among these ids that nobody holds (or whose holder's
    lease expired); returns the ids it now holds. Their state stays `queued` until dispatch."""
    if not delivery_ids:
        return []
    now = utcnow()
    free = select(Delivery.id).where(
        Delivery.id.in_(list(delivery_ids)),
        Delivery.state == S.QUEUED.value,
        or_(Delivery.claim_token.is_(None), Delivery.lease_expires_at < now),
    )
    if session.get_bind().dialect.name == "postgresql":
        # Rows another worker is claiming right now are skipped, not waited for.
        free = free.with_for_update(skip_locked=True)
    claimed = sorted(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(free.scalar_subquery()))
            .values(
                claim_token=token,
                lease_expires_at=now + LEASE,
                attempts=Delivery.attempts + 1,
                updated_at=now,
            )
            .returning(Delivery.id)
        )
    )
    # The Message-ID is fixed before the message leaves, so that replies and bounces can find it.
    # The recipients of one joint message share its Message-ID.
    group_ids: dict[str, str] = {}
    for delivery in session.scalars(
        select(Delivery).where(Delivery.id.in_(claimed), Delivery.message_id.is_(None))
    ):
        if delivery.group_key:
            delivery.message_id = group_ids.setdefault(
                delivery.group_key, new_message_id(sender_domain)
            )
        else:
            delivery.message_id = new_message_id(sender_domain)
    return claimed


def unclaim(session: Session, ids: Sequence[int], *, token: str) -> list[int]:
    """Give back letters this worker holds and has not dispatched, as they were: `queued`,
    unclaimed, the claim not counted as an attempt. The reconciler enqueues them again."""
    return list(
        session.scalars(
            update(Delivery)
            .where(
                Delivery.id.in_(list(ids)),
                Delivery.state == S.QUEUED.value,
                Delivery.claim_token == token,
            )
            .values(
                claim_token=None,
                lease_expires_at=None,
                attempts=Delivery.attempts - 1,
                updated_at=utcnow(),
            )
            .returning(Delivery.id)
        )
    )


# Built once: the statements of the steps that run once a letter (dispatch, outcome). A bound
# parameter of an UPDATE may not be named after a column.
_DISPATCH = (
    update(DELIVERIES)
    .where(
        DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
        DELIVERIES.c.state == S.QUEUED.value,
        DELIVERIES.c.claim_token == bindparam("token"),
        DELIVERIES.c.campaign_id.in_(
            select(CAMPAIGNS.c.id).where(CAMPAIGNS.c.status == CampaignStatus.SENDING.value)
        ),
    )
    .values(
        state=S.SENDING.value,
        dispatched_at=bindparam("now"),
        lease_expires_at=bindparam("lease"),
        updated_at=bindparam("now"),
    )
    .returning(DELIVERIES.c.id)
)


def dispatch(
    session: Session | Connection, ids: Sequence[int], *, token: str, actor: str
) -> list[int]:
    """queued → sending for the rows this worker still holds whose campaign is still sending:
    from here on the letter may be on the wire. Returns the ids that may be sent."""
    now = utcnow()
    params = {"ids": list(ids), "token": token, "now": now, "lease": now + LEASE}
    moved = sorted(session.scalars(_DISPATCH, params))
    _events(session, moved, S.QUEUED, S.SENDING, now, actor)
    return moved


def _give_back(
    session: Session,
    ids: Sequence[int],
    *,
    token: str,
    target: S,
    actor: str,
    detail: str,
    **values: object,
) -> list[int]:
    """Letters this worker holds but has not dispatched: from `queued` to `target`, unclaimed."""
    now = utcnow()
    moved = sorted(
        session.scalars(
            update(Delivery)
            .where(
                Delivery.id.in_(list(ids)),
                Delivery.state == S.QUEUED.value,
                Delivery.claim_token == token,
            )
            .values(
                state=target.value,
                claim_token=None,
                lease_expires_at=None,
                updated_at=now,
                **values,
            )
            .returning(Delivery.id)
        )
    )
    _events(session, moved, S.QUEUED, target, now, actor, detail=detail)
    return moved


def release(
    session: Session, ids: Sequence[int], *, token: str, until: datetime, actor: str, detail: str
) -> list[int]:
    """Put letters back as `deferred` until `until` (their pace): not an attempt, and due again
    for the reconciler at that time."""
    return _give_back(
        session,
        ids,
        token=token,
        target=S.DEFERRED,
        actor=actor,
        detail=detail,
        next_attempt_at=until,
        attempts=Delivery.attempts - 1,
    )


def _fail_undispatched(
    session: Session, ids: Sequence[int], *, token: str, actor: str, detail: str
) -> list[int]:
    """A letter that cannot be built for its recipient will not build on retry either."""
    return _give_back(
        session,
        ids,
        token=token,
        target=S.FAILED,
        actor=actor,
        detail=detail,
        last_smtp_text=detail[:2000],
    )


def _backoff(attempts: int) -> timedelta:
    return RETRY_BASE * (2 ** max(0, min(attempts - 1, 8)))


def _outcome_statement(**values: object) -> Update:
    return (
        update(DELIVERIES)
        .where(DELIVERIES.c.id == bindparam("delivery"), DELIVERIES.c.state == S.SENDING.value)
        .values(
            state=bindparam("target"),
            last_smtp_code=bindparam("code"),
            last_smtp_text=bindparam("text"),
            lease_expires_at=None,
            claim_token=None,
            updated_at=bindparam("now"),
            **values,
        )
    )


_OUTCOME = {
    S.SENT: _outcome_statement(sent_at=bindparam("now")),
    S.DEFERRED: _outcome_statement(next_attempt_at=bindparam("next")),
    S.FAILED: _outcome_statement(),
    S.UNCERTAIN: _outcome_statement(),
}


def record_outcome(
    session: Session | Connection,
    delivery_id: int,
    attempts: int,
    outcome: SendOutcome,
    *,
    actor: str,
) -> str:
    """The outcome of one dispatched letter: its state, SMTP reply and event (statements built
    once: this runs once a letter)."""
    now = utcnow()
    target = {
        "sent": S.SENT,
        "permanent": S.FAILED,
        # The server may have the letter: never resent automatically; staff decide.
        "uncertain": S.UNCERTAIN,
    }.get(outcome.kind, S.DEFERRED)
    check_transition(S.SENDING, target)
    params: dict[str, object] = {
        "delivery": delivery_id,
        "target": target.value,
        "code": outcome.code,
        "text": outcome.text[:2000],
        "now": now,
    }
    if target == S.DEFERRED:
        params["next"] = now + _backoff(attempts)
    session.execute(_OUTCOME[target], params)
    _events(
        session, [delivery_id], S.SENDING, target, now, actor,
        smtp_code=outcome.code, detail=outcome.text,
    )  # fmt: skip
    outreach.api.webhooks.emit(session, f"delivery.{target.value}", {"delivery_id": delivery_id})
    return target.value


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
            outreach.api.webhooks.emit(session, "campaign.finished", {"campaign_id": campaign_id})


@dataclass(frozen=True)
class _CampaignParts:
    letter: CampaignLetter
    meta: LetterMeta
    writer: LetterWriter  # the campaign's From, prepared once
    addressees: tuple[Contact, ...]
    letters: int  # the campaign's deliveries, for its pace
    pace_hours: int | None
    office_hours: bool


def _contacts_in_order(session: Session, ids: Sequence[int]) -> list[Contact]:
    if not ids:
        return []
    found = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(list(ids))))}
    return [found[i] for i in ids if i in found]


@dataclass
class _Unit:
    """What goes out in one SMTP transaction: one letter, or one joint message to its group."""

    deliveries: list[Delivery]
    campaign: Campaign
    message: bytes | None = None

    @property
    def ids(self) -> list[int]:
        return [d.id for d in self.deliveries]


def _build_joint(
    session: Session, unit: _Unit, parts: _CampaignParts, reply_to: str | None
) -> WireLetter:
    """One message To the addressees, Cc the copied recipients.

    The headers always name the whole group (every member of the joint message, whatever its
    state), while the envelope goes only to the deliveries being sent now: a Cc retried alone
    after a temporary failure gets the same message as everyone else, and nobody gets it twice."""
    members = list(
        session.scalars(
            select(Delivery)
            .options(joinedload(Delivery.contact))
            .where(Delivery.group_key == unit.deliveries[0].group_key)
            .order_by(Delivery.id)
        )
    )
    to = [d for d in members if d.role == "to"]
    cc = [d for d in members if d.role == "cc"]
    if not to:
        raise LetterError("joint letter", "it has no addressee left to send to")
    first = to[0]
    copy = parts.letter.render(
        first.contact, parts.meta, email=first.email, joint=Joint(parts.addressees, message=True)
    )
    message_id = unit.deliveries[0].message_id
    assert message_id is not None
    return parts.writer.letter(
        to_addr=first.email,
        to_name=first.contact.display_name,
        more_to=[(d.contact.display_name, d.email) for d in to[1:]],
        cc=[(d.contact.display_name, d.email) for d in cc],
        subject=copy.subject,
        text=copy.text,
        html=copy.html,
        language=copy.language,
        message_id=message_id,
        reply_to=reply_to,
    )


def _build_single(delivery: Delivery, parts: _CampaignParts, reply_to: str | None) -> WireLetter:
    joint = Joint(parts.addressees) if delivery.role == "copy" else Joint()
    copy = parts.letter.render(delivery.contact, parts.meta, email=delivery.email, joint=joint)
    assert delivery.message_id is not None
    return parts.writer.letter(
        to_addr=delivery.email,
        to_name=delivery.contact.display_name,
        subject=copy.subject,
        text=copy.text,
        html=copy.html,
        language=copy.language,
        message_id=delivery.message_id,
        reply_to=reply_to,
        in_reply_to=delivery.in_reply_to,  # a follow-up: in its letter's thread
    )


def _pace(pacer: Pacer, unit: _Unit, parts: _CampaignParts) -> tuple[Slot, str]:
    """The slot of this unit: office hours, then the campaign's pace, then each domain's limit."""
    if parts.office_hours:
        country = unit.deliveries[0].contact.country_code
        wait = office_hours_wait(country, utcnow())
        if wait > 0:
            return Slot(False, wait), f"paced: office hours in {country or 'Brussels'}"
    if parts.pace_hours:
        slot = pacer.reserve_campaign(unit.campaign.id, parts.pace_hours, parts.letters)
        if not slot.reserved:
            return slot, f"paced: the drive is spread over {parts.pace_hours} h"
    domains = {d.email.rpartition("@")[2].lower() for d in unit.deliveries}
    slot = pacer.reserve_domains(domains)
    return slot, "" if slot.reserved else f"paced: the limit of {', '.join(sorted(domains))}"


def send_batch(
    db: Database,
    delivery_ids: Sequence[int],
    transport: SmtpTransport,
    *,
    actor: str,
    default_from: str,
    return_path: str,
    pacer: Pacer | None = None,
    relay_hold: float = 120.0,
    identity: MessageIdentity | None = None,
) -> BatchReport:
    """Send the letters of one job (see the module's docstring for the steps). With an
    `identity`, each message's Return-Path and Reply-To carry its delivery's signed token (the
    first addressee's, for a joint message) and the message is DKIM-signed when configured."""
    report = BatchReport()
    token = uuid.uuid4().hex
    sender_domain = parse_address(default_from, "From").domain
    with db.transaction() as session:
        claimed = claim(session, delivery_ids, token=token, sender_domain=sender_domain)
    report.claimed = len(claimed)
    if not claimed:
        return report

    # Compiled once per campaign per batch; a letter that does not compile fails its deliveries.
    letters: dict[int, _CampaignParts | LetterError | HeaderError] = {}
    campaigns: set[int] = set()

    def parts_for(session: Session | None, campaign: Campaign) -> _CampaignParts:
        """The campaign's compiled letter (made when the batch is read, with a session)."""
        if campaign.id not in letters:
            assert session is not None
            try:
                count = session.scalar(
                    select(func.count()).where(Delivery.campaign_id == campaign.id)
                )
                letters[campaign.id] = _CampaignParts(
                    CampaignLetter(campaign.letter_sources(), campaign.default_language),
                    # The co-signers as they are when the batch is read (supporters keep
                    # signing during a drive: later batches name more of them).
                    letter_meta(
                        campaign,
                        default_from=default_from,
                        cosigners=cosigners_for(session, campaign),
                    ),
                    LetterWriter(campaign.mail_from or default_from),
                    tuple(_contacts_in_order(session, campaign.joint_to)),
                    letters=int(count or 0),
                    pace_hours=campaign.pace_hours,
                    office_hours=campaign.office_hours,
                )
            except (LetterError, HeaderError) as exc:
                letters[campaign.id] = exc
        parts = letters[campaign.id]
        if isinstance(parts, LetterError | HeaderError):
            raise parts
        return parts

    # Every claimed letter with its official and campaign, read once for the batch.
    with db.transaction() as session:
        loaded = {
            d.id: d
            for d in session.scalars(
                select(Delivery)
                .options(
                    joinedload(Delivery.contact),
                    joinedload(Delivery.campaign).selectinload(Campaign.variants),
                )
                .where(Delivery.id.in_(claimed))
                .order_by(Delivery.id)
            ).unique()
        }
        for campaign in {d.campaign for d in loaded.values()}:
            with contextlib.suppress(LetterError, HeaderError):  # its letters fail below
                parts_for(session, campaign)
        session.expunge_all()  # read below, outside this transaction
    units: dict[str, list[int]] = {}
    for delivery in loaded.values():
        units.setdefault(delivery.group_key or f"#{delivery.id}", []).append(delivery.id)

    released: list[int] = []  # paced back this batch, for spreading their next attempts
    pending = list(units.values())
    # The letters of the unit sent last, with their outcomes, until they are recorded.
    unrecorded: list[tuple[Delivery, SendOutcome]] = []

    def record(conn: Connection) -> list[str]:
        return [
            record_outcome(conn, delivery.id, delivery.attempts, outcome, actor=actor)
            for delivery, outcome in unrecorded
        ]

    def recorded(states: list[str]) -> None:
        for state in states:
            report.count(state)
        unrecorded.clear()

    with db.engine.connect() as connection:

        def record_alone() -> None:
            """The last outcome in its own transaction, before anything that may wait or fail."""
            if unrecorded:
                with connection.begin():
                    states = record(connection)
                recorded(states)

        try:
            while pending:
                ids = pending.pop(0)
                deliveries = [loaded[i] for i in ids]
                unit = _Unit(deliveries, deliveries[0].campaign)
                campaigns.add(unit.campaign.id)
                # Bounces and replies to a joint message are found by its first delivery (the
                # others share its Message-ID and group).
                marker = deliveries[0].id
                reply_to = identity.reply_to_for(marker) if identity else None
                envelope_from = identity.return_path_for(marker) if identity else return_path
                try:
                    parts = parts_for(None, unit.campaign)
                    if deliveries[0].group_key:
                        with db.transaction() as session:
                            message = _build_joint(session, unit, parts, reply_to)
                            session.expunge_all()
                    elif deliveries[0].role == "supporter":
                        # A supporter's own letter: their words, From "Name via <campaign>",
                        # Reply-To them (outreach.supporters.letters).
                        message = build_supporter_letter(
                            db, deliveries[0], parts.letter, parts.meta, default_from
                        )
                    else:
                        message = _build_single(deliveries[0], parts, reply_to)
                    unit.message = identity.finalize(message) if identity else message.data
                except (LetterError, HeaderError, DkimSigningError) as exc:
                    record_alone()
                    with db.transaction() as session:
                        failed = _fail_undispatched(
                            session, ids, token=token, actor=actor, detail=f"not sent: {exc}"
                        )
                    report.count(S.FAILED.value, len(failed))
                    continue

                place = None
                if pacer is not None:
                    # Pace first, then a place at the relay, both before dispatch: without
                    # Redis the limits cannot be kept, and the letters must still be `queued`
                    # (never `sending`, which would make them uncertain) when the batch gives up.
                    try:
                        slot, why = _pace(pacer, unit, parts)
                        if slot.reserved:
                            if slot.wait > 0:
                                record_alone()
                                time.sleep(slot.wait)
                            place = pacer.try_acquire_relay(relay_hold)
                            if place is None:  # the relay is full: wait for a place
                                record_alone()
                                place = pacer.acquire_relay(relay_hold)
                    except RedisError as exc:
                        log.warning("pacing unavailable (%s): batch given back unsent", exc)
                        record_alone()
                        with db.transaction() as session:
                            freed = unclaim(
                                session,
                                [i for unit_ids in [ids, *pending] for i in unit_ids],
                                token=token,
                            )
                        report.count("given back", len(freed))
                        break
                    if not slot.reserved:
                        # Spread what this batch puts back, so that it does not all come back
                        # at once.
                        until = utcnow() + timedelta(seconds=slot.wait + len(released) * 0.5)
                        record_alone()
                        with db.transaction() as session:
                            moved = release(
                                session, ids, token=token, until=until, actor=actor, detail=why
                            )
                        released += moved
                        report.count("paced", len(moved))
                        continue

                try:
                    # The last letter's outcome and this letter's dispatch: one transaction.
                    with connection.begin():
                        states = record(connection)
                        sendable = dispatch(connection, ids, token=token, actor=actor)
                    recorded(states)
                    if not sendable:  # paused, cancelled, or taken over after an expired claim
                        continue
                    recipients = [d.email for d in unit.deliveries if d.id in sendable]
                    assert unit.message is not None
                    if len(recipients) == 1:
                        outcomes = {
                            recipients[0]: transport.send(
                                unit.message, envelope_from, recipients[0]
                            )
                        }
                    else:
                        outcomes = transport.send_to_all(unit.message, envelope_from, recipients)
                finally:
                    if place is not None and pacer is not None:
                        pacer.release_relay(place)
                unrecorded.extend(
                    (d, outcomes[d.email]) for d in unit.deliveries if d.id in sendable
                )
        finally:
            record_alone()

    with db.transaction() as session:
        for campaign_id in campaigns:
            _finish_campaign_if_done(session, campaign_id)
    log.info("batch of %d: %s", report.claimed, report.outcomes)
    return report
