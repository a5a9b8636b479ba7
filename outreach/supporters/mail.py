"""The confirmation and reminder e-mails to a supporter, in the language they signed in.

Rendered from templates/emails/<name>/{subject,body}.txt with Flask-Babel's catalogues (so it
needs the app context: the worker opens one), then built by `build_supporter_mail`, which adds
List-Unsubscribe. The link is `<base_url>/c/<slug>/confirm/<token>`; every mail also carries
the withdrawal link `<base_url>/c/<slug>/withdraw/<token>`, valid as long as the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from flask import render_template
from flask_babel import force_locale

from outreach.campaigns.models import Campaign
from outreach.mail.identity import MessageIdentity
from outreach.mail.message import build_supporter_mail, new_message_id, parse_address
from outreach.supporters.models import Signature
from outreach.supporters.tokens import ConfirmationTokens, WithdrawalTokens

KINDS = {"confirm": "signature_confirm", "reminder": "signature_reminder"}


@dataclass(frozen=True)
class SupporterMail:
    message: EmailMessage
    confirm_url: str


def confirmation_url(base_url: str, campaign: Campaign, token: str) -> str:
    return f"{base_url.rstrip('/')}/c/{campaign.slug}/confirm/{token}"


def withdrawal_url(
    base_url: str, campaign: Campaign, tokens: WithdrawalTokens, signature: Signature
) -> str:
    """The supporter's link to take their name back (and cancel their unsent letters)."""
    token = tokens.make(signature.id, signature.email)
    return f"{base_url.rstrip('/')}/c/{campaign.slug}/withdraw/{token}"


def build_signature_mail(
    kind: str,
    signature: Signature,
    campaign: Campaign,
    *,
    identity: MessageIdentity,
    tokens: ConfirmationTokens,
    default_from: str,
    withdrawal: WithdrawalTokens,
) -> SupporterMail:
    url = confirmation_url(identity.base_url, campaign, tokens.make(signature.id, signature.email))
    context = {
        "signature": signature,
        "campaign": campaign,
        "confirm_url": url,
        "withdraw_url": withdrawal_url(identity.base_url, campaign, withdrawal, signature),
    }
    folder = KINDS[kind]
    with force_locale(signature.language):
        subject = render_template(f"emails/{folder}/subject.txt", **context)
        text = render_template(f"emails/{folder}/body.txt", **context)
    sender = campaign.mail_from or default_from
    message = build_supporter_mail(
        from_addr=sender,
        to_addr=signature.email,
        to_name=signature.name,
        subject=" ".join(subject.split()),
        text=text.strip() + "\n",
        message_id=new_message_id(parse_address(sender, "From").domain),
        unsubscribe=identity.unsubscribe_for(signature.id),
        language=signature.language,
    )
    return SupporterMail(message, url)
