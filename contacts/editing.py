"""Staff edits of one contact: validated field by field, recorded in the contact's history.

`apply_edit` checks every field first and raises ContactEditError with one message per field, so
the form can show them all at once; only a fully valid edit changes anything. Each changed field
becomes a ContactChange row (who, when, old, new), next to the changes made by imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from contacts.countries import normalise_country_code
from contacts.models import (
    Contact,
    ContactChange,
    ContactEmail,
    ContactKind,
    ContactTag,
    EmailStatus,
)

_LANGUAGE = re.compile(r"^[a-z]{2}$")
_TAG = re.compile(r"^[\w][\w .:/-]{0,63}$", re.UNICODE)
EDITABLE = (
    "kind", "honorific", "given_name", "family_name", "display_name", "gender", "country_code",
    "languages", "organisation", "position", "political_group_short", "national_party", "email",
    "email_status", "active", "term_end", "do_not_contact", "do_not_contact_reason", "needs_review",
    "review_reason", "notes", "salutation_overrides", "address_line_overrides",
)  # fmt: skip


class ContactEditError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
class ContactEdit:
    """The form's values, as text where the form has text."""

    kind: str = ContactKind.OTHER.value
    honorific: str = ""
    given_name: str = ""
    family_name: str = ""
    display_name: str = ""
    gender: str = ""
    country: str = ""
    languages: str = ""
    organisation: str = ""
    position: str = ""
    political_group_short: str = ""
    national_party: str = ""
    email: str = ""
    email_status: str = EmailStatus.OK.value
    alternate_emails: str = ""  # one per line: "address" or "address bouncing"
    tags: str = ""
    active: bool = True
    term_end: date | None = None
    do_not_contact: bool = False
    do_not_contact_reason: str = ""
    needs_review: bool = False
    review_reason: str = ""
    notes: str = ""
    salutation_overrides: str = ""  # one per line: "fr: Madame la Présidente,"
    address_line_overrides: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, contact: Contact) -> ContactEdit:
        """The edit that leaves `contact` as it is (to fill the form)."""
        return cls(
            kind=contact.kind,
            honorific=contact.honorific or "",
            given_name=contact.given_name,
            family_name=contact.family_name,
            display_name=contact.display_name,
            gender=contact.gender or "",
            country=contact.country_code or "",
            languages=", ".join(contact.languages),
            organisation=contact.organisation or "",
            position=contact.position or "",
            political_group_short=contact.political_group_short or "",
            national_party=contact.national_party or "",
            email=contact.email or "",
            email_status=contact.email_status,
            alternate_emails="\n".join(
                e.address if e.status == EmailStatus.OK else f"{e.address} {e.status}"
                for e in contact.alternate_emails
            ),
            tags=", ".join(contact.tags),
            active=contact.active,
            term_end=contact.term_end,
            do_not_contact=contact.do_not_contact,
            do_not_contact_reason=contact.do_not_contact_reason or "",
            needs_review=contact.needs_review,
            review_reason=contact.review_reason or "",
            notes=contact.notes or "",
            salutation_overrides=_format_overrides(contact.salutation_overrides),
            address_line_overrides=_format_overrides(contact.address_line_overrides),
        )


def _format_overrides(overrides: dict[str, str]) -> str:
    return "\n".join(f"{lang}: {text}" for lang, text in sorted(overrides.items()))


def _address(value: str) -> str:
    return validate_email(value, check_deliverability=False).normalized


def _parse_overrides(text: str, name: str, errors: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        lang, sep, value = line.partition(":")
        lang = lang.strip().lower()
        if not sep or not _LANGUAGE.match(lang) or not value.strip():
            errors[name] = f'line {n}: write "language: text", e.g. "fr: Madame la Présidente,"'
            break
        out[lang] = value.strip()
    return out


def validate(edit: ContactEdit) -> dict[str, Any]:
    """The new field values, or ContactEditError listing every field that is wrong."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    kinds = {k.value for k in ContactKind}
    if edit.kind not in kinds:
        errors["kind"] = f"choose one of {', '.join(sorted(kinds))}"
    values["kind"] = edit.kind
    for name in ("given_name", "family_name"):
        values[name] = getattr(edit, name).strip()
    display = edit.display_name.strip() or f"{values['given_name']} {values['family_name']}".strip()
    if not display:
        errors["display_name"] = "a contact needs a name"
    values["display_name"] = display
    for name in (
        "honorific", "organisation", "position", "political_group_short", "national_party",
        "do_not_contact_reason", "review_reason", "notes",
    ):  # fmt: skip
        text = getattr(edit, name).strip()
        if "\r" in text or ("\n" in text and name not in {"notes", "review_reason"}):
            errors[name] = "must be one line"
        values[name] = text or None
    gender = edit.gender.strip().upper()
    if gender and gender not in {"MALE", "FEMALE"}:
        errors["gender"] = "leave empty, or MALE or FEMALE"
    values["gender"] = gender or None
    country = edit.country.strip()
    code = normalise_country_code(country) if country else None
    if country and code is None:
        errors["country"] = f"unknown country {country!r}: use a member state's ISO code, e.g. FR"
    values["country_code"] = code
    languages = [p.strip().lower() for p in re.split(r"[,\s]+", edit.languages) if p.strip()]
    bad = [lang for lang in languages if not _LANGUAGE.match(lang)]
    if bad:
        errors["languages"] = f"use two-letter codes such as fr, de: {', '.join(bad)}"
    values["languages"] = list(dict.fromkeys(languages))
    email = edit.email.strip()
    if email:
        try:
            email = _address(email)
        except EmailNotValidError as exc:
            errors["email"] = str(exc)
    values["email"] = email or None
    statuses = {s.value for s in EmailStatus}
    if edit.email_status not in statuses:
        errors["email_status"] = f"choose one of {', '.join(sorted(statuses))}"
    values["email_status"] = edit.email_status
    alternates: list[tuple[str, str]] = []
    for n, line in enumerate(edit.alternate_emails.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        status = parts[1].lower() if len(parts) > 1 else EmailStatus.OK.value
        try:
            address = _address(parts[0])
        except EmailNotValidError as exc:
            errors["alternate_emails"] = f"line {n}: {exc}"
            break
        if status not in statuses or len(parts) > 2:
            errors["alternate_emails"] = f'line {n}: write "address" or "address bouncing"'
            break
        if address.lower() != (email or "").lower():
            alternates.append((address, status))
    values["alternates"] = list(dict(alternates).items())
    tags = [t.strip() for t in edit.tags.split(",") if t.strip()]
    bad_tags = [t for t in tags if not _TAG.match(t)]
    if bad_tags:
        errors["tags"] = f"tags are words of up to 64 letters, digits, - or _: {bad_tags[0]!r}"
    values["tags"] = sorted({t.lower() for t in tags})
    values["active"] = bool(edit.active)
    values["term_end"] = edit.term_end
    values["do_not_contact"] = bool(edit.do_not_contact)
    if values["do_not_contact"] and not values["do_not_contact_reason"]:
        errors["do_not_contact_reason"] = "say why this official must not be written to"
    values["needs_review"] = bool(edit.needs_review)
    values["salutation_overrides"] = _parse_overrides(
        edit.salutation_overrides, "salutation_overrides", errors
    )
    values["address_line_overrides"] = _parse_overrides(
        edit.address_line_overrides, "address_line_overrides", errors
    )
    if errors:
        raise ContactEditError(errors)
    return values


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in sorted(value.items()))
    return str(value)


def _sync_alternates(contact: Contact, wanted: list[tuple[str, str]]) -> None:
    """Update rows in place (the address is unique per contact): change status, drop, add."""
    status = dict(wanted)
    kept = []
    for row in contact.alternate_emails:
        if row.address in status:
            row.status = status.pop(row.address)
            kept.append(row)
    contact.alternate_emails = kept + [ContactEmail(address=a, status=s) for a, s in status.items()]


def apply_edit(
    session: Session, contact: Contact | None, edit: ContactEdit, *, actor: str
) -> Contact:
    """Create (contact=None) or update a contact from a validated edit; the caller commits."""
    values = validate(edit)
    created = contact is None
    if contact is None:
        contact = Contact(display_name=values["display_name"], source="entered by staff")
        session.add(contact)
        session.flush()
    changes: list[tuple[str, Any, Any]] = []
    for name in EDITABLE:
        old, new = getattr(contact, name), values[name]
        if old != new:
            changes.append((name, old, new))
            setattr(contact, name, new)
    old_alternates = [(e.address, e.status) for e in contact.alternate_emails]
    if old_alternates != values["alternates"]:
        changes.append(("alternate_emails", old_alternates, values["alternates"]))
        _sync_alternates(contact, values["alternates"])
    if contact.tags != values["tags"]:
        changes.append(("tags", contact.tags, values["tags"]))
        keep = set(values["tags"])
        contact.tag_rows = [t for t in contact.tag_rows if t.tag in keep]
        have = {t.tag for t in contact.tag_rows}
        contact.tag_rows.extend(ContactTag(tag=t) for t in values["tags"] if t not in have)
    if created:
        session.add(ContactChange(contact_id=contact.id, actor=actor, field="created"))
    else:
        for name, old, new in changes:
            session.add(
                ContactChange(
                    contact_id=contact.id,
                    actor=actor,
                    field=name,
                    old_value=_text(old),
                    new_value=_text(new),
                )
            )
    session.flush()
    return contact
