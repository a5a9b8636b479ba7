"""Supporters' data rights: withdrawal and unsubscription (the supporter's own links), export and
erasure (staff, on a GDPR request), and the retention purge of unconfirmed signatures.

- withdraw: the signature leaves the count and the co-signers' names for every later copy, and
  the supporter's letters not yet on their way are cancelled (one event each). A letter already
  `sending` or `uncertain` may be with the relay and is left as it is.
- unsubscribe (RFC 8058 one-click, or the page): no more reminders or updates; the signature
  still counts, since unsubscribing from mail is not withdrawing a name.
- export: everything held about one address, across campaigns (JSON, or CSV with formulas
  neutralised).
- erase: every signature of one address deleted after its unsent letters are cancelled; sent
  letters stay (what reached which MEP) with no link to the supporter (`signature_id` becomes
  NULL through its foreign key), and an audit event records the erasure by counts only.
- purge: unconfirmed signatures (pending, held, rejected) older than the retention period.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, joinedload

from contacts.base import utcnow
from contacts.export import neutralise
from outreach.audit import record
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.campaigns.states import DeliveryState
from outreach.supporters.models import PrivacyNotice, Signature, SignatureState
from outreach.tracking.models import InboundMessage

S = DeliveryState
# Letters not yet on their way: cancelling them is safe (dispatch is a compare-and-set on queued).
UNSENT = (S.PENDING, S.QUEUED, S.DEFERRED, S.HELD)
UNCONFIRMED = (SignatureState.PENDING, SignatureState.HELD, SignatureState.REJECTED)


def cancel_letters(
    session: Session, signature_ids: Sequence[int], *, actor: str, detail: str
) -> list[int]:
    """Cancel the supporters' letters that have not left yet; returns their ids."""
    if not signature_ids:
        return []
    now = utcnow()
    moved: list[tuple[int, str]] = []
    for source in UNSENT:
        ids = session.scalars(
            update(Delivery)
            .where(Delivery.signature_id.in_(list(signature_ids)), Delivery.state == source.value)
            .values(
                state=S.CANCELLED.value, claim_token=None, lease_expires_at=None, updated_at=now
            )
            .returning(Delivery.id)
        )
        moved += [(i, source.value) for i in ids]
    if moved:
        session.execute(
            insert(DeliveryEvent),
            [
                {"delivery_id": i, "at": now, "from_state": source, "to_state": S.CANCELLED.value,
                 "actor": actor, "detail": detail}
                for i, source in moved
            ],
        )  # fmt: skip
    return sorted(i for i, _ in moved)


def withdraw(session: Session, signature_id: int, *, now: datetime | None = None) -> bool:
    """Withdraw a signature (compare-and-set; True if it was withdrawn now or before)."""
    now = now or utcnow()
    changed = session.scalar(
        update(Signature)
        .where(
            Signature.id == signature_id,
            Signature.state.in_(
                [SignatureState.PENDING, SignatureState.CONFIRMED, SignatureState.HELD]
            ),
        )
        .values(state=SignatureState.WITHDRAWN.value, withdrawn_at=now, updated_at=now)
        .returning(Signature.id)
    )
    if changed is not None:
        cancel_letters(session, [signature_id], actor="supporter", detail="the supporter withdrew")
    state = session.scalar(select(Signature.state).where(Signature.id == signature_id))
    return state == SignatureState.WITHDRAWN


def unsubscribe(session: Session, signature_id: int, *, now: datetime | None = None) -> bool:
    """Stop reminders and updates to this supporter; False if there is no such signature."""
    now = now or utcnow()
    session.execute(
        update(Signature)
        .where(Signature.id == signature_id, Signature.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now, updates_opt_in=False, updated_at=now)
    )
    return session.get(Signature, signature_id) is not None


# --- export ---------------------------------------------------------------------------------------
SIGNATURE_FIELDS = (
    "name", "email", "country", "organisation", "comment", "language", "consent",
    "privacy_notice_sha256", "updates_opt_in", "named", "state", "ip_hash", "created_at",
    "updated_at", "confirmed_at", "confirmation_requested_at", "confirmation_sent_at",
    "reminder_sent_at", "reviewed_by", "letter_message", "withdrawn_at", "unsubscribed_at",
)  # fmt: skip


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _signatures_of(session: Session, email: str) -> list[Signature]:
    return list(
        session.scalars(
            select(Signature).where(Signature.email == email.strip().lower()).order_by(Signature.id)
        )
    )


def _mail_from(session: Session, email: str, signature_ids: Sequence[int]) -> Any:
    """The condition for inbound mail held about a supporter: matched to one of their signatures
    (mail to their unsubscribe address), or from their address and matched to no letter to an
    official (a letter's reply stays with the campaign's record of that letter)."""
    return or_(
        InboundMessage.supporter_id.in_(signature_ids),
        (func.lower(InboundMessage.from_address) == email.strip().lower())
        & InboundMessage.delivery_id.is_(None),
    )


def export_data(session: Session, email: str) -> dict[str, Any]:
    """Everything held about one address: each signature with its campaign, the privacy notice
    it agreed to (the text), and its letters to MEPs; the mail received from them."""
    rows = []
    signatures = _signatures_of(session, email)
    for sig in signatures:
        campaign = session.get(Campaign, sig.campaign_id)
        notice = session.get(PrivacyNotice, sig.privacy_notice_sha256)
        letters = session.scalars(
            select(Delivery)
            .options(joinedload(Delivery.contact))
            .where(Delivery.signature_id == sig.id)
            .order_by(Delivery.id)
        )
        rows.append(
            {
                "campaign": {"id": sig.campaign_id, "name": campaign.name if campaign else ""},
                **{name: _plain(getattr(sig, name)) for name in SIGNATURE_FIELDS},
                "privacy_notice": notice.text if notice else "",
                "letters": [
                    {"to": d.contact.display_name, "address": d.email, "state": d.state,
                     "send_on": d.send_on.isoformat() if d.send_on else None,
                     "sent_at": _plain(d.sent_at), "message_id": d.message_id}
                    for d in letters
                ],
            }
        )  # fmt: skip
    mail = session.scalars(
        select(InboundMessage)
        .where(_mail_from(session, email, [sig.id for sig in signatures]))
        .order_by(InboundMessage.id)
    )
    received = [
        {"received_at": _plain(m.received_at), "from": m.from_address, "subject": m.subject,
         "kind": m.kind, "text": m.reply_text}
        for m in mail
    ]  # fmt: skip
    return {
        "email": email.strip().lower(),
        "exported_at": utcnow().isoformat(),
        "signatures": rows,
        "mail_received": received,
    }


def export_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def export_csv(data: dict[str, Any]) -> str:
    """One row per signature; its letters in one cell. Every cell neutralised (no formulas)."""
    columns = ["campaign", *SIGNATURE_FIELDS, "privacy_notice", "letters"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in data["signatures"]:
        letters = "; ".join(
            f"{letter['to']} <{letter['address']}> {letter['state']}" for letter in row["letters"]
        )
        cells = {**row, "campaign": row["campaign"]["name"], "letters": letters}
        writer.writerow([neutralise("" if cells[c] is None else cells[c]) for c in columns])
    return out.getvalue()


# --- erasure and retention ----------------------------------------------------------------------
@dataclass(frozen=True)
class Erasure:
    signatures: int
    letters_kept: int
    letters_cancelled: int
    mail_deleted: int = 0


def erase(session: Session, email: str, *, actor: str) -> Erasure:
    """Delete every signature of this address and the mail received from it (the caller
    commits). Sent letters stay, without the supporter; the audit event says what was done by
    counts and ids of deleted rows only."""
    signatures = _signatures_of(session, email)
    ids = [s.id for s in signatures]
    mail = sorted(  # DELETE … RETURNING gives no order
        session.scalars(
            delete(InboundMessage)
            .where(_mail_from(session, email, ids))
            .returning(InboundMessage.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not ids:
        if mail:
            record(session, actor=actor, action="supporter erased",
                   detail=f"inbound messages {', '.join(map(str, mail))} deleted")  # fmt: skip
        return Erasure(0, 0, 0, len(mail))
    cancelled = cancel_letters(
        session, ids, actor="staff", detail="the supporter's data was erased"
    )
    kept = len(list(session.scalars(select(Delivery.id).where(Delivery.signature_id.in_(ids)))))
    # Said explicitly, though the foreign key (ON DELETE SET NULL) would do it: the deliveries
    # keep no link to the supporter.
    session.execute(
        update(Delivery).where(Delivery.signature_id.in_(ids)).values(signature_id=None)
    )
    session.execute(delete(Signature).where(Signature.id.in_(ids)))
    session.expunge_all()
    result = Erasure(len(ids), kept, len(cancelled), len(mail))
    received = f"; inbound messages {', '.join(map(str, mail))} deleted" if mail else ""
    record(
        session,
        actor=actor,
        action="supporter erased",
        detail=f"signatures {', '.join(map(str, ids))} deleted; {result.letters_kept} letter(s) "
        f"kept without the supporter, {result.letters_cancelled} unsent cancelled{received}",
    )
    return result


def purge_unconfirmed(session: Session, *, days: int, now: datetime | None = None) -> int:
    """Delete unconfirmed signatures older than `days` (0: never); returns how many."""
    if days <= 0:
        return 0
    now = now or utcnow()
    gone = session.scalars(
        delete(Signature)
        .where(
            Signature.state.in_([s.value for s in UNCONFIRMED]),
            Signature.created_at < now - timedelta(days=days),
        )
        .returning(Signature.id)
    )
    return len(list(gone))
