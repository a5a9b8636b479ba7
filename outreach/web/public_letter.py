"""The letter as the public page shows it, and the privacy notice a supporter consents to.

The page shows the letter as it will be sent, without what belongs to one recipient: rendered for
a recipient without a name (the greeting becomes the language's neutral one, "Dear Sir or
Madam,"), or, for a joint letter, as the joint message to its addressees (that is the letter).
Co-signers are shown on the page itself, so the letter is rendered without them. The language is
the page's when the letter exists in it, else the letter's own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from typing import NamedTuple

from flask_babel import gettext as _
from markupsafe import Markup

from contacts.models import Contact
from outreach.campaigns.letters import LetterCheckError, _joint_for, campaign_letter, letter_meta
from outreach.campaigns.models import Campaign
from outreach.extensions import get_settings
from outreach.letters.formatting import html_fragment
from outreach.letters.render import Joint, LetterError, SupporterView


class PublicLetter(NamedTuple):
    language: str
    subject: str
    html: Markup  # sanitised by the letter formatter (nh3): only the tags Markdown makes
    error: bool = False


def _nobody() -> Contact:
    return Contact(
        kind="other", display_name="", salutation_overrides={}, address_line_overrides={}
    )


# The page's letter is the same for every visitor of a campaign in one language on one day: kept
# per process, keyed on everything it is rendered from, so that a signature (which shows the page
# again) does not compile and render the letter each time. Joint letters read their addressees
# from the directory and are not kept.
_KEPT: dict[str, PublicLetter] = {}
_KEPT_MAX = 256


def _key(campaign: Campaign, page_language: str) -> str:
    parts = [
        campaign.id, campaign.name, campaign.letter_sources(), campaign.default_language,
        campaign.signatories, campaign.mail_from, get_settings().mail_from,
        campaign.supporter_letters, campaign.supporter_message, page_language,
        date.today().isoformat(),  # noqa: DTZ011 - the letter's {{ today }}, as rendered
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def public_letter(campaign: Campaign, page_language: str) -> PublicLetter:
    if campaign.addressing == "joint":
        return _render(campaign, page_language)
    key = _key(campaign, page_language)
    kept = _KEPT.get(key)
    if kept is None:
        if len(_KEPT) >= _KEPT_MAX:
            _KEPT.clear()
        kept = _KEPT[key] = _render(campaign, page_language)
    return kept


def _render(campaign: Campaign, page_language: str) -> PublicLetter:
    try:
        letter = campaign_letter(campaign)
        language = page_language if page_language in letter.variants else campaign.default_language
        meta = letter_meta(campaign, default_from=get_settings().mail_from)
        if campaign.supporter_letters:
            # Each supporter's copy: shown with "Your name" and the suggested text they may edit.
            suggested = campaign.supporter_message or ""
            meta = replace(
                meta,
                supporter=SupporterView(
                    name=_("Your name"),
                    message=" ".join(suggested.split()),
                    paragraphs=tuple(p for p in suggested.split("\n\n") if p.strip()),
                ),
            )
        joint = _joint_for(campaign, _nobody())
        if joint.addressees:
            recipient, joint = joint.addressees[0], Joint(joint.addressees, message=True)
        else:
            recipient = _nobody()
        copy = letter.render(recipient, meta, language=language, joint=joint)
    except (LetterCheckError, LetterError):
        # The console refuses such a letter; the page must not fail if one slipped through.
        return PublicLetter(campaign.default_language, campaign.name, Markup(""), error=True)
    return PublicLetter(copy.language, copy.subject, Markup(html_fragment(copy.markdown)))  # noqa: S704


def privacy_notice_text(campaign: Campaign) -> str:
    """The campaign's own notice, or the default one in the page's language."""
    if campaign.privacy_notice and campaign.privacy_notice.strip():
        return campaign.privacy_notice.strip()
    return _(
        "The organisers of “%(campaign)s” store your name, e-mail address, country and, if you "
        "give them, your organisation and comment, to count your signature and, if you agree, "
        "to show your name among the co-signers of the letter. Your e-mail address is never "
        "published. You receive a message to confirm your signature; an unconfirmed signature "
        "is deleted after 30 days. You will only receive news about the campaign if you ask for "
        "it. You may withdraw your signature, and ask for a copy of your data or its erasure, "
        "at any time by writing to the organisers.",
        campaign=campaign.name,
    )
