"""The mails of account links: an invitation and a password reset, from
templates/emails/account_{invite,reset}/{subject,body}.txt (rendered in an app context: the
worker opens one). The link is `<base_url>/account/invite/<token>` or
`<base_url>/password/reset/<token>`."""

from __future__ import annotations

from email.message import EmailMessage

from flask import render_template

from outreach.accounts.models import AccountLink, LinkPurpose, User
from outreach.mail.message import build_letter, new_message_id, parse_address

PATHS = {LinkPurpose.INVITE.value: "/account/invite/", LinkPurpose.RESET.value: "/password/reset/"}
FOLDERS = {LinkPurpose.INVITE.value: "account_invite", LinkPurpose.RESET.value: "account_reset"}


def link_url(base_url: str, purpose: str, token: str) -> str:
    return base_url.rstrip("/") + PATHS[purpose] + token


def build_account_mail(
    link: AccountLink, user: User, token: str, *, base_url: str, mail_from: str, inviter: str
) -> EmailMessage:
    context = {
        "user": user,
        "url": link_url(base_url, link.purpose, token),
        "expires": link.expires_at.strftime("%Y-%m-%d %H:%M"),
        "inviter": inviter or "An administrator",
        "organisation": parse_address(mail_from, "From").display_name or "your organisation",
    }
    folder = FOLDERS[link.purpose]
    subject = render_template(f"emails/{folder}/subject.txt", **context)
    text = render_template(f"emails/{folder}/body.txt", **context)
    return build_letter(
        from_addr=mail_from,
        to_addr=user.email,
        to_name="",
        subject=" ".join(subject.split()),
        text=text.strip() + "\n",
        message_id=new_message_id(parse_address(mail_from, "From").domain),
        language="en",
    )
