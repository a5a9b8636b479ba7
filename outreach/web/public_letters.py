"""The write-to-your-MEPs part of the confirmation page: the MEPs of the supporter's country, all
ticked (they may untick some), and the part of the letter they may edit, prefilled with the
campaign's suggested text. Pressing the button confirms the signature and makes their letters
(outreach.supporters.letters.write_letters); nothing is made before."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from contacts.models import Contact
from outreach.campaigns.models import Campaign
from outreach.supporters.letters import accepts_letters, targets_for
from outreach.supporters.models import Signature, SignatureState


@dataclass
class LetterChoice:
    targets: list[Contact]
    message: str
    max: int
    chosen: set[int] = field(default_factory=set)
    error: str = ""


def letter_choice(
    session: Session, campaign: Campaign, signature: Signature
) -> LetterChoice | None:
    """What the page offers, or None when the campaign takes no letters (or they were made)."""
    if not accepts_letters(campaign) or signature.state != SignatureState.PENDING:
        return None
    targets = targets_for(session, campaign, signature.country)
    if not targets:
        return None
    return LetterChoice(
        targets=targets,
        message=signature.letter_message or campaign.supporter_message or "",
        max=campaign.supporter_message_max,
        chosen={c.id for c in targets},
    )


def read_choice(choice: LetterChoice, form: MultiDict[str, str]) -> bool:
    """Read the ticked MEPs and the text from the posted form; False (with an error) if the text
    is too long."""
    choice.chosen = {int(v) for v in form.getlist("mep") if v.isdigit()}
    choice.message = form.get("message", "").replace("\r\n", "\n")
    if len(choice.message) > choice.max:
        choice.error = _("Your text is too long: at most %(n)s characters.", n=choice.max)
        return False
    return True
