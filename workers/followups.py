"""The "did your MEP reply?" mail actor: one supporter's question mail per job.

Sends only the questions not yet asked (so a retried job after a lost record may send the mail
again, never a different one), and records when SMTP accepted it. A temporary failure raises,
so Dramatiq retries with its backoff; a permanent one is logged and the rows stay unasked.
Follow-up letters need no actor of their own: they are deliveries, sent by `send_batch`.
"""

from __future__ import annotations

import logging

import dramatiq
from flask import Flask

from outreach.db import Database
from outreach.followups.mep_question import (
    MEP_REPLY_MAIL,
    AnswerTokens,
    build_question_mail,
    mark_asked,
)
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
    tokens = AnswerTokens(settings.secret_key)

    def mep_reply_mail(signature_id: int) -> None:
        with app.app_context(), db.transaction() as session:
            mail = build_question_mail(
                session, signature_id, identity=identity, tokens=tokens,
                default_from=settings.mail_from,
            )  # fmt: skip
        if mail is None:
            return  # asked already, or no longer to be asked
        transport = SmtpTransport(smtp)
        try:
            outcome = transport.send(
                identity.finalize(mail.message), settings.return_path, mail.address
            )
        finally:
            transport.close()
        if outcome.kind == "temporary":
            raise TemporaryMailFailure(f"{outcome.code} {outcome.text}")
        if outcome.kind != "sent":
            log.warning("signature %s: MEP reply question not sent: %s %s",
                        signature_id, outcome.code, outcome.text)  # fmt: skip
            return
        with db.transaction() as session:
            mark_asked(session, mail.question_ids)

    actor = dramatiq.actor(
        broker=broker,
        actor_name=MEP_REPLY_MAIL.actor_name,
        queue_name=MEP_REPLY_MAIL.queue_name,
        max_retries=5,
        time_limit=2 * 60 * 1000,
    )(mep_reply_mail)
    return {MEP_REPLY_MAIL.actor_name: actor}
