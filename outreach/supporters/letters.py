"""Write to your MEPs (the mail-to-target mode): each confirmed supporter sends their own copy of
the campaign's letter to the MEPs of their country.

- Targets: the sendable MEPs whose country is the supporter's (the form's ISO code; Greece is
  `GR` there and may be `EL`, the EU's code, in the directory), members of one of the campaign's
  `supporter_committees` when it names any. The supporter may deselect some.
- The letter is the campaign's, rendered for the MEP with a `supporter` beside `recipient`
  (render.SupporterView); the part the supporter writes or edits is `{{ supporter.message }}`,
  plain text of at most `campaign.supporter_message_max` characters.
- Letters are deliveries (role `supporter`, `signature_id`), made when the signature is confirmed
  and sent by the same paced engine. A copy goes From "Supporter Name via <campaign>" with the
  service's own address (so SPF, DKIM and DMARC align on our domain) and Reply-To the supporter
  (the MEP's answer reaches them).
- Per-MEP daily cap (`campaign.supporter_daily_cap`): each letter gets a day (`send_on`); beyond
  the cap for one MEP it goes to the first later day with room, as `deferred` until that day's
  start (the reconciler queues it then). Never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from email.headerregistry import Address

from sqlalchemy import exists, func, insert, select, text
from sqlalchemy.orm import Session

from contacts.audience import sendable_condition
from contacts.base import utcnow
from contacts.countries import country_name
from contacts.models import Contact, ContactKind, Membership
from outreach.campaigns.models import (
    SUPPORTER_ROLE,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryEvent,
)
from outreach.campaigns.states import DeliveryState
from outreach.db import Database
from outreach.jobs import SEND_BATCH, defer
from outreach.letters.render import CampaignLetter, LetterError, LetterMeta, SupporterView
from outreach.mail.message import MAX_DISPLAY_NAME, parse_address
from outreach.mail.wire import LetterWriter, WireLetter
from outreach.supporters.models import Signature, SignatureState

S = DeliveryState
# The public form's ISO codes and the codes the directory may use for the same country.
_DIRECTORY_CODES = {"GR": ("GR", "EL"), "EL": ("GR", "EL"), "GB": ("GB", "UK")}
# Deferred letters of one day start this far apart, so a day's quota does not leave at once.
DAY_SPREAD = timedelta(seconds=30)
BATCH = 50


def directory_codes(iso_country: str) -> tuple[str, ...]:
    code = iso_country.strip().upper()
    return _DIRECTORY_CODES.get(code, (code,))


def targets_for(session: Session, campaign: Campaign, iso_country: str) -> list[Contact]:
    """The MEPs a supporter of this country may write to, by family name."""
    stmt = select(Contact).where(
        Contact.kind == ContactKind.MEP.value,
        Contact.country_code.in_(directory_codes(iso_country)),
        sendable_condition(),
    )
    committees = [c.strip().upper() for c in campaign.supporter_committees or [] if c.strip()]
    if committees:
        stmt = stmt.where(
            exists().where(Membership.contact_id == Contact.id, Membership.acronym.in_(committees))
        )
    return list(session.scalars(stmt.order_by(Contact.family_name, Contact.given_name, Contact.id)))


def clean_message(value: str, limit: int) -> str:
    """The supporter's words as plain text: line breaks kept (paragraphs), other control
    characters and trailing spaces out, at most two line breaks in a row. None of it is Markdown
    when printed: the letter escapes every value."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = "".join(
        ch if ch == "\n" or (ord(ch) >= 32 and ord(ch) != 127) else " " for ch in value
    )
    lines = [" ".join(line.split()) for line in cleaned.split("\n")]
    paragraphs = "\n".join(lines).strip()
    while "\n\n\n" in paragraphs:
        paragraphs = paragraphs.replace("\n\n\n", "\n\n")
    return paragraphs[:limit].strip()


def supporter_view(signature: Signature) -> SupporterView:
    message = signature.letter_message or ""
    paragraphs = tuple(p.replace("\n", " ") for p in message.split("\n\n") if p.strip())
    return SupporterView(
        name=signature.name,
        email=signature.email,
        country=country_name(signature.country) or signature.country,
        country_code=signature.country,
        organisation=signature.organisation or "",
        message=" ".join(message.split()),
        paragraphs=paragraphs,
    )


class LettersError(ValueError):
    """What a supporter chose cannot be sent (a message too long, an MEP not theirs)."""


@dataclass(frozen=True)
class LettersResult:
    queued: int = 0
    deferred: int = 0
    held: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.deferred + self.held


def accepts_letters(campaign: Campaign) -> bool:
    """Letters are written while the drive is open: launched, and not cancelled."""
    return campaign.supporter_letters and campaign.status in {
        CampaignStatus.SENDING,
        CampaignStatus.PAUSED,
        CampaignStatus.FINISHED,
    }


def _lock_targets(session: Session, campaign_id: int, contact_ids: Sequence[int]) -> None:
    """On PostgreSQL, one confirmation at a time per (campaign, MEP) while days are counted; on
    SQLite the confirmation's first write already holds the database's write lock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for contact_id in sorted(contact_ids):  # one order everywhere: no deadlock
        session.execute(
            text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": campaign_id, "b": contact_id}
        )


def _day_for(
    session: Session, campaign: Campaign, contact_id: int, today: date
) -> tuple[date, int]:
    """The first day from today with room under the cap for this MEP, and the letters already
    on it (cancelled ones free their place)."""
    if not campaign.supporter_daily_cap:
        return today, 0
    rows = session.execute(
        select(Delivery.send_on, func.count())
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.contact_id == contact_id,
            Delivery.role == SUPPORTER_ROLE,
            Delivery.send_on >= today,
            Delivery.state != S.CANCELLED.value,
        )
        .group_by(Delivery.send_on)
    )
    taken = {day: count for day, count in rows}
    day = today
    while taken.get(day, 0) >= campaign.supporter_daily_cap:
        day += timedelta(days=1)
    return day, taken.get(day, 0)


def write_letters(
    session: Session,
    campaign: Campaign,
    signature: Signature,
    contact_ids: Sequence[int],
    message: str,
    *,
    now: datetime | None = None,
) -> LettersResult:
    """Make the supporter's letters (the caller commits; they are enqueued after the commit).
    Call it once, when the signature is confirmed."""
    now = now or utcnow()
    message = message.replace("\r\n", "\n")
    if len(message) > campaign.supporter_message_max:
        raise LettersError(f"at most {campaign.supporter_message_max} characters")
    signature.letter_message = clean_message(message, campaign.supporter_message_max) or None
    if not accepts_letters(campaign) or not contact_ids:
        return LettersResult()
    allowed = {c.id: c for c in targets_for(session, campaign, signature.country)}
    chosen = [allowed[i] for i in dict.fromkeys(contact_ids) if i in allowed]
    if len(chosen) != len(set(contact_ids)):
        raise LettersError("a chosen MEP is not one of the supporter's")
    if campaign.status == CampaignStatus.FINISHED:
        # Finished means every letter written so far is out; a new supporter opens it again.
        campaign.status = CampaignStatus.SENDING.value
    paused = campaign.status == CampaignStatus.PAUSED
    _lock_targets(session, campaign.id, [c.id for c in chosen])
    today = now.astimezone(UTC).date()
    rows, details = [], []
    for contact in chosen:
        day, position = _day_for(session, campaign, contact.id, today)
        later = day > today
        state = S.HELD if paused else S.DEFERRED if later else S.QUEUED
        start = datetime.combine(day, time(0, 0), tzinfo=UTC) + DAY_SPREAD * position
        rows.append(
            {"campaign_id": campaign.id, "contact_id": contact.id, "email": contact.email or "",
             "state": state.value, "role": SUPPORTER_ROLE, "signature_id": signature.id,
             "send_on": day, "next_attempt_at": start if later else None, "attempts": 0,
             "created_at": now, "updated_at": now}
        )  # fmt: skip
        details.append(
            f"per-MEP daily cap of {campaign.supporter_daily_cap}: goes out on {day.isoformat()}"
            if later
            else "written by a supporter"
        )
    ids = list(
        session.scalars(insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True), rows)
    )
    session.execute(
        insert(DeliveryEvent),
        [
            {"delivery_id": i, "at": now, "to_state": row["state"], "actor": "supporter",
             "detail": detail}
            for i, row, detail in zip(ids, rows, details, strict=True)
        ],
    )  # fmt: skip
    queued = [i for i, row in zip(ids, rows, strict=True) if row["state"] == S.QUEUED.value]
    for start_at in range(0, len(queued), BATCH):
        defer(session, SEND_BATCH, queued[start_at : start_at + BATCH])
    states = [row["state"] for row in rows]
    return LettersResult(
        queued=states.count(S.QUEUED.value),
        deferred=states.count(S.DEFERRED.value),
        held=states.count(S.HELD.value),
    )


def build_supporter_letter(
    db: Database,
    delivery: Delivery,
    letter: CampaignLetter,
    meta: LetterMeta,
    default_from: str,
) -> WireLetter:
    """The hook of the sending engine for a supporter's letter: the copy for the MEP with the
    supporter in the context, From "Name via <campaign>" <the service's address>, Reply-To the
    supporter. Raises LetterError (the delivery fails) if the supporter withdrew or was erased
    in the meantime."""
    with db.transaction() as session:
        signature = session.get(Signature, delivery.signature_id) if delivery.signature_id else None
        if signature is None or signature.state != SignatureState.CONFIRMED:
            raise LetterError("supporter letter", "the supporter withdrew or was erased")
        supporter = supporter_view(signature)
    copy = letter.render(delivery.contact, replace(meta, supporter=supporter), email=delivery.email)
    service = parse_address(default_from, "From")
    shown = f"{supporter.name} via {delivery.campaign.name}"[:MAX_DISPLAY_NAME]
    assert delivery.message_id is not None
    # A writer per letter: the From differs for every supporter (these letters are few).
    writer = LetterWriter(str(Address(display_name=shown, addr_spec=service.addr_spec)))
    return writer.letter(
        to_addr=delivery.email,
        to_name=delivery.contact.display_name,
        subject=copy.subject,
        text=copy.text,
        html=copy.html,
        language=copy.language,
        message_id=delivery.message_id,
        reply_to=str(Address(display_name=supporter.name, addr_spec=supporter.email)),
    )
