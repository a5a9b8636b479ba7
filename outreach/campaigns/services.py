"""Creating, checking and launching campaigns.

Launch materialises one Delivery row per (campaign, recipient) in bulk, appends their first events,
and defers one sending job per batch of delivery ids; the jobs are enqueued after the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Integer, String, Table, bindparam, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from contacts.audience import Audience, AudienceError, sendable_condition
from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.letters import (
    LetterCheckError,
    check_language,
    check_letter,
    copy_for,
    letter_meta,
)
from outreach.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryEvent
from outreach.campaigns.states import DeliveryState
from outreach.jobs import SEND_BATCH, defer
from outreach.letters.lint import LintReport, lint_campaign
from outreach.letters.render import CampaignLetter, LetterMeta, RenderedCopy
from outreach.supporters.cosigners import cosigners_for


class CampaignError(ValueError):
    """A campaign action that cannot be done, with a message for staff."""


class WarningsNotConfirmed(CampaignError):
    """The check of every copy found warnings that staff have not confirmed yet."""


def _checked(campaign: Campaign) -> CampaignLetter:
    try:
        return check_letter(campaign)
    except LetterCheckError as exc:
        raise CampaignError(str(exc)) from exc


def _check_audience(session: Session, audience: dict[str, Any] | Audience) -> Audience:
    """The audience, checked down to the saved lists it names."""
    try:
        spec = audience if isinstance(audience, Audience) else Audience.from_dict(audience)
        spec.matching_condition(session)
    except AudienceError as exc:
        raise CampaignError(f"audience: {exc}") from exc
    return spec


def create_campaign(
    session: Session,
    *,
    name: str,
    subject: str,
    body: str,
    audience: dict[str, Any] | Audience,
    created_by_id: int | None = None,
    mail_from: str | None = None,
    language: str = "en",
    signatories: list[dict[str, str]] | None = None,
    addressing: str = "individual",
    joint_to: Sequence[int] = (),
    joint_cc: Sequence[int] = (),
) -> Campaign:
    name = name.strip()
    if not name:
        raise CampaignError("a campaign needs a name")
    try:
        language = check_language(language)
    except LetterCheckError as exc:
        raise CampaignError(str(exc)) from exc
    campaign = Campaign(
        name=name,
        subject_template=subject,
        body_template=body,
        created_by_id=created_by_id,
        mail_from=mail_from,
        default_language=language,
        signatories=list(signatories or []),
    )
    set_addressing(campaign, addressing, joint_to, joint_cc)
    _checked(campaign)
    campaign.audience = _check_audience(session, audience).to_dict()
    session.add(campaign)
    session.flush()
    return campaign


ADDRESSING = ("individual", "joint")


def set_addressing(
    campaign: Campaign, addressing: str, joint_to: Sequence[int], joint_cc: Sequence[int]
) -> None:
    """Individual copies only, or a joint letter To `joint_to` (Cc `joint_cc`) plus individual
    copies to the rest of the audience."""
    if addressing not in ADDRESSING:
        raise CampaignError(f"addressing must be one of {', '.join(ADDRESSING)}")
    if addressing == "joint" and not joint_to:
        raise CampaignError("a joint letter needs at least one addressee")
    campaign.addressing = addressing
    campaign.joint_to = (
        list(dict.fromkeys(int(i) for i in joint_to)) if addressing == "joint" else []
    )
    campaign.joint_cc = (
        [int(i) for i in dict.fromkeys(joint_cc) if int(i) not in set(campaign.joint_to)]
        if addressing == "joint"
        else []
    )


def update_campaign(
    session: Session,
    campaign: Campaign,
    *,
    name: str,
    subject: str,
    body: str,
    audience: dict[str, Any],
    language: str | None = None,
    signatories: list[dict[str, str]] | None = None,
    addressing: str | None = None,
    joint_to: Sequence[int] = (),
    joint_cc: Sequence[int] = (),
) -> Campaign:
    """Change a draft; on CampaignError the caller rolls back (the object may be half-changed)."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError("a launched campaign's letter and audience can no longer be changed")
    if not name.strip():
        raise CampaignError("a campaign needs a name")
    campaign.name = name.strip()
    campaign.subject_template = subject
    campaign.body_template = body
    if language is not None:
        try:
            campaign.default_language = check_language(language)
        except LetterCheckError as exc:
            raise CampaignError(str(exc)) from exc
        campaign.variants = [
            v for v in campaign.variants if v.language != campaign.default_language
        ]
    if signatories is not None:
        campaign.signatories = list(signatories)
    if addressing is not None:
        set_addressing(campaign, addressing, joint_to, joint_cc)
    _checked(campaign)
    campaign.audience = _check_audience(session, audience).to_dict()
    return campaign


def preview(
    session: Session,
    campaign: Campaign,
    contact: Contact,
    *,
    default_from: str = "",
    language: str | None = None,
) -> RenderedCopy:
    """The copy this contact would receive (in `language`, or the one chosen for them)."""
    try:
        return copy_for(campaign, contact, default_from=default_from, language=language)
    except LetterCheckError as exc:
        raise CampaignError(str(exc)) from exc


@dataclass(frozen=True)
class LaunchResult:
    deliveries: int
    batches: int


class Member(NamedTuple):
    """A recipient as launch needs them: the row's id, address and last change."""

    id: int
    email: str
    updated_at: datetime


@dataclass(frozen=True)
class Recipients:
    """Who a campaign writes to: a joint letter's addressees and copied recipients (empty for a
    mail merge), and everyone who gets an individual copy (as objects for the check of every
    copy, as rows for launch)."""

    addressees: list[Contact]
    cc: list[Contact]
    copies: Sequence[Contact | Member]


def _sendable_in_order(session: Session, ids: Sequence[int], what: str) -> list[Contact]:
    found = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(list(ids))))}
    out = []
    for contact_id in ids:
        contact = found.get(contact_id)
        if contact is None:
            raise CampaignError(f"{what}: there is no contact {contact_id}")
        if not contact.sendable:
            raise CampaignError(
                f"{what}: {contact.display_name} cannot be written to (no valid address, inactive, "
                "do not contact or waiting for review)"
            )
        out.append(contact)
    return out


def _recipients(session: Session, campaign: Campaign, *, as_rows: bool = False) -> Recipients:
    """The campaign's recipients; with `as_rows`, the individual copies' recipients as plain
    rows (a fifth of the time of objects for 100,000 of them)."""
    addressees: list[Contact] = []
    cc: list[Contact] = []
    if campaign.addressing == "joint":
        if not campaign.joint_to:
            raise CampaignError("a joint letter needs at least one addressee")
        addressees = _sendable_in_order(session, campaign.joint_to, "addressees")
        cc = _sendable_in_order(
            session, [i for i in campaign.joint_cc if i not in set(campaign.joint_to)], "copied"
        )
    audience = _check_audience(session, campaign.audience)
    in_message = {c.id for c in (*addressees, *cc)}
    copies: Sequence[Contact | Member]
    try:
        if as_rows:
            rows = session.execute(
                select(Contact.id, Contact.email, Contact.updated_at)
                .where(audience.matching_condition(session), sendable_condition())
                .order_by(Contact.id)
            )
            copies = [
                Member(i, email or "", changed) for i, email, changed in rows if i not in in_message
            ]
        else:
            copies = [c for c in audience.contacts(session) if c.id not in in_message]
    except AudienceError as exc:
        raise CampaignError(f"audience: {exc}") from exc
    if not copies and not addressees:
        raise CampaignError(
            f"the audience ({audience.describe()}) has no one who can be written to; nothing was launched"
        )
    return Recipients(addressees, cc, copies)


# Part of every check's fingerprint: change it when outreach.letters.lint changes what it
# reports, so that checks stored before are not trusted by a launch after the upgrade.
CHECK_VERSION = "1"


def check_fingerprint(campaign: Campaign, meta: LetterMeta, plan: Recipients) -> str:
    """What a check of every copy depended on, as one hash: the letter in every language, the
    sender, signatories and addressing, and each recipient's id, address and last change (every
    change to a contact goes through the ORM or Core, which set `updated_at`)."""
    hasher = hashlib.sha256()
    hasher.update(
        json.dumps(
            [
                CHECK_VERSION,
                campaign.letter_sources(),
                campaign.default_language,
                campaign.addressing,
                repr(meta),
            ],
            sort_keys=True,
            default=str,
        ).encode()
    )

    def members(label: str, people: Iterable[Contact | Member]) -> None:
        hasher.update(label.encode())
        for person in people:
            hasher.update(f"{person.id}|{person.email}|{person.updated_at.isoformat()};".encode())

    members("to", plan.addressees)
    members("cc", plan.cc)
    members("copies", plan.copies)
    return hasher.hexdigest()


def lint(
    session: Session,
    campaign: Campaign,
    *,
    default_from: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> LintReport:
    """Render every copy the campaign would send and report what is wrong. The outcome is
    remembered on a draft (its fingerprint, digest and counts) for launch; the caller commits.
    `progress(done, total)` is called as the copies are checked (the check page's worker)."""
    letter = _checked(campaign)
    plan = _recipients(session, campaign)
    meta = letter_meta(
        campaign, default_from=default_from, cosigners=cosigners_for(session, campaign)
    )
    copies = cast(list[Contact], plan.copies)
    report = lint_campaign(
        letter,
        meta,
        copies if progress is None else _counted(copies, progress),
        joint_addressees=plan.addressees,
    )
    if campaign.status == CampaignStatus.DRAFT:
        campaign.check_fingerprint = check_fingerprint(campaign, meta, plan)
        campaign.check_digest = report.digest
        campaign.check_errors = report.errors
        campaign.check_warnings = report.warnings
        campaign.checked_at = utcnow()
    return report


def _counted(copies: list[Contact], progress: Callable[[int, int], None]) -> Iterator[Contact]:
    total = len(copies)
    for done, contact in enumerate(copies):
        progress(done, total)
        yield contact
    progress(total, total)


@dataclass(frozen=True)
class _Verdict:
    digest: str
    warnings: int


def _check_for_launch(
    session: Session, campaign: Campaign, meta: LetterMeta, plan: Recipients
) -> _Verdict:
    """The verdict of the check of every copy: the stored one when nothing it read has changed
    since and it found no errors, else a new check here (refusing a launch with errors)."""
    if (
        campaign.check_fingerprint is not None
        and campaign.check_digest is not None
        and campaign.check_errors == 0
        and campaign.check_fingerprint == check_fingerprint(campaign, meta, plan)
    ):
        return _Verdict(campaign.check_digest, campaign.check_warnings or 0)
    letter = _checked(campaign)
    full = _recipients(session, campaign)
    report = lint_campaign(
        letter, meta, cast(list[Contact], full.copies), joint_addressees=full.addressees
    )
    if report.errors:
        first = next(
            (
                f"{r.display_name}: {f.message}"
                for r in report.with_findings
                for f in r.findings
                if f.level == "error"
            ),
            "",
        )
        raise CampaignError(
            f"the check of every copy found {report.errors} error(s), e.g. {first}; nothing was launched"
        )
    return _Verdict(report.digest, report.warnings)


def launch(
    session: Session,
    campaign_id: int,
    *,
    actor: str,
    batch_size: int,
    confirm_warnings: str | None = None,
    default_from: str = "",
) -> LaunchResult:
    """Create the deliveries of a draft campaign and defer their sending; the caller commits.

    Every copy must have passed the check of every copy (outreach.letters.lint): the one staff
    ran (`lint`) if nothing it read has changed since, else it runs here. A launch with errors is
    refused before a single delivery exists, and one with warnings needs `confirm_warnings`
    equal to the digest of the report staff read.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"there is no campaign {campaign_id}")
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError(f"campaign {campaign.name!r} has already been launched")
    _checked(campaign)
    if campaign.supporter_letters:
        # Write to your MEPs: launching opens the drive; each supporter's letters are made when
        # their signature is confirmed (outreach.supporters.letters), none now.
        campaign.status = CampaignStatus.SENDING.value
        campaign.launched_at = utcnow()
        return LaunchResult(deliveries=0, batches=0)
    plan = _recipients(session, campaign, as_rows=True)
    verdict = _check_for_launch(
        session,
        campaign,
        letter_meta(
            campaign, default_from=default_from, cosigners=cosigners_for(session, campaign)
        ),
        plan,
    )
    if verdict.warnings and confirm_warnings != verdict.digest:
        raise WarningsNotConfirmed(
            f"the check of every copy found {verdict.warnings} warning(s): read them and confirm "
            "them to launch; nothing was launched"
        )

    now = utcnow()
    group = f"joint-{campaign.id}" if plan.addressees else None
    rows = (
        [(c.id, c.email or "", "to", group) for c in plan.addressees]
        + [(c.id, c.email or "", "cc", group) for c in plan.cc]
        + [(c.id, c.email or "", "copy" if plan.addressees else "individual", None)
           for c in plan.copies]
    )  # fmt: skip
    _insert_deliveries(session, campaign.id, rows, now)
    _insert_first_events(session, campaign.id, now, actor)
    made = session.execute(
        select(Delivery.id, Delivery.group_key)
        .where(Delivery.campaign_id == campaign.id)
        .order_by(Delivery.id)
    ).all()
    # The joint message's deliveries travel in one job of their own (one SMTP transaction).
    grouped = [delivery_id for delivery_id, key in made if key]
    if grouped:
        defer(session, SEND_BATCH, grouped)
    singles = [delivery_id for delivery_id, key in made if not key]
    batches = [singles[i : i + batch_size] for i in range(0, len(singles), batch_size)]
    for batch in batches:
        defer(session, SEND_BATCH, batch)
    campaign.status = CampaignStatus.SENDING.value
    campaign.launched_at = now
    return LaunchResult(
        deliveries=len(singles) + len(grouped), batches=len(batches) + (1 if grouped else 0)
    )


def _insert_deliveries(
    session: Session, campaign_id: int, rows: list[tuple[int, str, str, str | None]], now: datetime
) -> None:
    """One queued delivery per (contact, role, group key), in bulk, with the address as it is now.

    On PostgreSQL the rows travel as four arrays in one INSERT ... SELECT FROM unnest(...): a
    single statement, as fast as COPY here. Elsewhere one executemany of the table's INSERT.
    (The ORM's bulk insert, used before, sent one statement per row through psycopg's pipeline:
    for 100,000 deliveries on PostgreSQL, rows, events and ids took about 5 s, now about 3 s
    (bench/launch_bench.py). Multi-row VALUES ... RETURNING, 1,000 rows and 9,000 named
    parameters a statement, were slower still: psycopg converts each such long query anew.)"""
    if session.get_bind().dialect.name == "postgresql":
        source = (
            func.unnest(
                bindparam("contact_ids", [i for i, _, _, _ in rows], type_=ARRAY(Integer)),
                bindparam("emails", [email for _, email, _, _ in rows], type_=ARRAY(String)),
                bindparam("roles", [role for _, _, role, _ in rows], type_=ARRAY(String)),
                bindparam("group_keys", [key for _, _, _, key in rows], type_=ARRAY(String)),
            )
            .table_valued("contact_id", "email", "role", "group_key")
            .render_derived()
        )
        session.execute(
            insert(Delivery).from_select(
                ["campaign_id", "contact_id", "email", "state", "role", "group_key", "attempts",
                 "created_at", "updated_at"],
                select(
                    literal(campaign_id),
                    source.c.contact_id,
                    source.c.email,
                    literal(DeliveryState.QUEUED.value),
                    source.c.role,
                    source.c.group_key,
                    literal(0),
                    literal(now),
                    literal(now),
                ),
            )
        )  # fmt: skip
        return
    session.execute(
        insert(cast(Table, Delivery.__table__)),
        [
            {
                "campaign_id": campaign_id,
                "contact_id": contact_id,
                "email": email,
                "state": DeliveryState.QUEUED.value,
                "role": role,
                "group_key": group_key,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for contact_id, email, role, group_key in rows
        ],
    )


def _insert_first_events(session: Session, campaign_id: int, now: datetime, actor: str) -> None:
    """The `launched` event of every new delivery, in one INSERT ... SELECT on the database."""
    session.execute(
        insert(DeliveryEvent).from_select(
            ["delivery_id", "at", "to_state", "actor", "detail"],
            select(
                Delivery.id,
                literal(now),
                literal(DeliveryState.QUEUED.value),
                literal(actor),
                literal("launched"),
            ).where(Delivery.campaign_id == campaign_id),
        )
    )


def state_counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{campaign id: {state: count}} for the given campaigns, in one query."""
    counts: dict[int, dict[str, int]] = {cid: {} for cid in campaign_ids}
    if not campaign_ids:
        return counts
    rows = session.execute(
        select(Delivery.campaign_id, Delivery.state, func.count())
        .where(Delivery.campaign_id.in_(campaign_ids))
        .group_by(Delivery.campaign_id, Delivery.state)
    )
    for campaign_id, state, count in rows:
        counts[campaign_id][state] = count
    return counts
