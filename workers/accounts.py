"""The account mail actor: the invitation or password reset of one account link id.

The token is made here, when the mail is sent, and only its hash is stored: the queue carries the
link's id, never a usable link. A retry after a temporary SMTP failure makes a new token (the
previous mail never left). A link already sent, used, replaced or expired is not sent again.
"""

from __future__ import annotations

import logging

import dramatiq
from flask import Flask
from sqlalchemy import update

from contacts.base import utcnow
from outreach.accounts.mail import build_account_mail
from outreach.accounts.models import AccountLink, User
from outreach.accounts.services import ACCOUNT_MAIL, new_token
from outreach.db import Database
from outreach.mail.identity import MessageIdentity
from outreach.mail.transport import SmtpConfig, SmtpTransport
from outreach.settings import Settings

log = logging.getLogger(__name__)


class TemporaryMailFailure(RuntimeError):
    """The relay refused for now: Dramatiq retries the job."""


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, dramatiq.Actor[..., None]]:
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]
    smtp = SmtpConfig.from_url(settings.effective_smtp_url, timeout=settings.smtp_timeout)
    identity = MessageIdentity.from_settings(settings)

    def account_mail(link_id: int) -> None:
        with app.app_context(), db.transaction() as session:
            link = session.get(AccountLink, link_id)
            if link is None or link.sent_at or link.used_at or link.voided_at:
                return
            if (
                link.expires_at.replace(tzinfo=link.expires_at.tzinfo or utcnow().tzinfo)
                <= utcnow()
            ):
                return
            user = session.get(User, link.user_id)
            if user is None or not user.active:
                return
            inviter = session.get(User, link.created_by_id) if link.created_by_id else None
            token, digest = new_token()
            link.token_hash = digest
            message = build_account_mail(
                link,
                user,
                token,
                base_url=settings.base_url,
                mail_from=settings.mail_from,
                inviter=inviter.email if inviter else "",
            )
            address = user.email
        # The hash is committed before the mail leaves: a link in a mail always works.
        transport = SmtpTransport(smtp)
        try:
            outcome = transport.send(identity.finalize(message), settings.return_path, address)
        finally:
            transport.close()
        if outcome.kind == "temporary":
            raise TemporaryMailFailure(f"{outcome.code} {outcome.text}")
        if outcome.kind != "sent":
            log.warning("account link %s not sent: %s %s", link_id, outcome.code, outcome.text)
            return
        with db.transaction() as session:
            session.execute(
                update(AccountLink).where(AccountLink.id == link_id).values(sent_at=utcnow())
            )

    actor = dramatiq.actor(
        broker=broker,
        actor_name=ACCOUNT_MAIL.actor_name,
        queue_name=ACCOUNT_MAIL.queue_name,
        max_retries=5,
        time_limit=2 * 60 * 1000,
    )(account_mail)
    return {ACCOUNT_MAIL.actor_name: actor}
