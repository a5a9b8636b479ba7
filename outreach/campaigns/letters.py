"""A campaign's letter: its language variants, signatories, the checks at save time, and the
copy each recipient gets (used by the preview, the test send, lint, launch and the workers)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from contacts.models import Contact
from outreach.campaigns.models import Campaign, LetterVariant
from outreach.letters.render import (
    CampaignLetter,
    CosignersView,
    Joint,
    LetterError,
    LetterMeta,
    RenderedCopy,
    SenderView,
    SupporterView,
    sample_supporter,
    signatory_views,
)
from outreach.mail.message import HeaderError, parse_address
from outreach.supporters.cosigners import cosigners_for

_LANGUAGE = re.compile(r"^[a-z]{2}(?:-[A-Z]{2})?$")
_URL = re.compile(r"^https?://\S+$")


class LetterCheckError(ValueError):
    """The letter cannot be saved or sent; the message names the part and line."""


def check_language(code: str) -> str:
    code = code.strip()
    if not _LANGUAGE.match(code):
        raise LetterCheckError(f"{code!r} is not a language code such as en, fr or pt-BR")
    return code


def parse_signatories(text: str) -> list[dict[str, str]]:
    """One organisation per line: "Name" or "Name | https://url"."""
    rows: list[dict[str, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, _, url = (part.strip() for part in line.partition("|"))
        if not name:
            raise LetterCheckError(f"signatories, line {n}: a signatory needs a name")
        if url and not _URL.match(url):
            raise LetterCheckError(f"signatories, line {n}: {url!r} is not an http(s) address")
        rows.append({"name": name, "url": url})
    return rows


def format_signatories(rows: Sequence[Mapping[str, str]]) -> str:
    return "\n".join(f"{r['name']} | {r['url']}" if r.get("url") else r["name"] for r in rows)


def letter_meta(
    campaign: Campaign, *, default_from: str = "", cosigners: CosignersView | None = None
) -> LetterMeta:
    sender_text = campaign.mail_from or default_from
    sender = SenderView("", "")
    if sender_text:
        try:
            address = parse_address(sender_text, "From")
            sender = SenderView(address.display_name, address.addr_spec)
        except HeaderError:
            sender = SenderView("", sender_text)
    return LetterMeta(
        campaign_name=campaign.name,
        sender=sender,
        signatories=signatory_views(campaign.signatories),
        cosigners=cosigners or CosignersView(),
        # Each supporter's own copy gets them at sending; the check and preview a sample one.
        supporter=sample_supporter() if campaign.supporter_letters else SupporterView(),
    )


def compile_sources(
    sources: Mapping[str, tuple[str, str]], default_language: str
) -> CampaignLetter:
    try:
        return CampaignLetter(sources, default_language)
    except LetterError as exc:
        raise LetterCheckError(str(exc)) from exc


def campaign_letter(campaign: Campaign) -> CampaignLetter:
    return compile_sources(campaign.letter_sources(), campaign.default_language)


def check_letter(campaign: Campaign) -> CampaignLetter:
    """Compile every language and render each once for a complete sample recipient."""
    letter = campaign_letter(campaign)
    try:
        letter.check_with_sample(letter_meta(campaign, default_from="sender@example.org"))
    except LetterError as exc:
        raise LetterCheckError(str(exc)) from exc
    return letter


def _joint_for(campaign: Campaign, contact: Contact) -> Joint:
    if campaign.addressing != "joint" or not campaign.joint_to:
        return Joint()
    session = object_session(campaign)
    if session is None:
        return Joint()
    found = {
        c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(campaign.joint_to)))
    }
    addressees = tuple(found[i] for i in campaign.joint_to if i in found)
    if not addressees:
        return Joint()
    in_message = contact.id in set(campaign.joint_to) | set(campaign.joint_cc)
    return Joint(addressees, message=in_message)


def copy_for(
    campaign: Campaign,
    contact: Contact,
    *,
    default_from: str = "",
    language: str | None = None,
    letter: CampaignLetter | None = None,
    email: str | None = None,
) -> RenderedCopy:
    """The copy this contact gets (or would get in `language`). In a joint campaign, an
    addressee or a copied recipient gets the joint message, everyone else a copy of it."""
    letter = letter or campaign_letter(campaign)
    if language is not None and language not in letter.variants:
        raise LetterCheckError(f"the letter has no {language!r} version")
    joint = _joint_for(campaign, contact)
    try:
        return letter.render(
            joint.addressees[0] if joint.message else contact,
            letter_meta(campaign, default_from=default_from, cosigners=_cosigners(campaign)),
            email=email,
            language=language,
            joint=joint,
        )
    except LetterError as exc:
        raise LetterCheckError(str(exc)) from exc


def _cosigners(campaign: Campaign) -> CosignersView:
    """The confirmed co-signers as the letter shows them now (none without a session)."""
    session = object_session(campaign)
    return cosigners_for(session, campaign) if session is not None else CosignersView()


def _require_draft(campaign: Campaign) -> None:
    if campaign.status != "draft":
        raise LetterCheckError("a launched campaign's letter can no longer be changed")


def set_variant(
    session: Session, campaign: Campaign, language: str, subject: str, body: str
) -> LetterVariant:
    """Add or replace the letter in one more language (checked before anything changes)."""
    _require_draft(campaign)
    language = check_language(language)
    if language == campaign.default_language:
        raise LetterCheckError(
            f"{language} is the campaign's default language: edit the letter itself"
        )
    sources = dict(campaign.letter_sources())
    sources[language] = (subject, body)
    try:
        compile_sources(sources, campaign.default_language).check_with_sample(letter_meta(campaign))
    except LetterError as exc:
        raise LetterCheckError(str(exc)) from exc
    variant = next((v for v in campaign.variants if v.language == language), None)
    if variant is None:
        variant = LetterVariant(language=language, subject_template=subject, body_template=body)
        campaign.variants.append(variant)
    else:
        variant.subject_template, variant.body_template = subject, body
    session.flush()
    return variant


def remove_variant(session: Session, campaign: Campaign, language: str) -> None:
    _require_draft(campaign)
    campaign.variants = [v for v in campaign.variants if v.language != language]
    session.flush()
