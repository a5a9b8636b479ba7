"""The supporters' mail actors: `signature_outbox`, the sweep of the confirmation outbox (it
claims the waiting confirmations and queues one mail job each, see outreach.supporters.outbox),
and `signature_mail`, a confirmation or reminder for one signature id.

Idempotent enough to retry: it sends only while the signature is still pending, and records when
SMTP accepted the mail. A temporary failure raises, so Dramatiq retries it with its backoff; a
permanent one (the address does not exist) is logged and dropped: the signature stays pending
and is purged with the other unconfirmed ones.
"""

from __future__ import annotations

import logging

import dramatiq
from flask import Flask
from sqlalchemy import update

from contacts.base import utcnow
from outreach.campaigns.models import Campaign
from outreach.db import Database
from outreach.jobs import SIGNATURE_MAIL
from outreach.mail.identity import MessageIdentity
from outreach.mail.transport import SmtpConfig, SmtpTransport
from outreach.settings import Settings
from outreach.supporters.mail import build_signature_mail
from outreach.supporters.models import Signature, SignatureState
from outreach.supporters.outbox import CLAIM_BATCH, OUTBOX, claim_confirmations
from outreach.supporters.tokens import ConfirmationTokens, WithdrawalTokens

log = logging.getLogger(__name__)


class TemporaryMailFailure(RuntimeError):
    """The relay refused for now: Dramatiq retries the job."""


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, dramatiq.Actor[..., None]]:
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]
    smtp = SmtpConfig.from_url(settings.effective_smtp_url, timeout=settings.smtp_timeout)
    identity = MessageIdentity.from_settings(settings)
    tokens = ConfirmationTokens(settings.secret_key)
    withdrawal = WithdrawalTokens(settings.secret_key)

    def signature_mail(signature_id: int, kind: str) -> None:
        with app.app_context(), db.transaction() as session:
            signature = session.get(Signature, signature_id)
            if signature is None or signature.state != SignatureState.PENDING:
                return  # confirmed, held, withdrawn or erased since: nothing to send
            if signature.unsubscribed_at is not None and kind == "reminder":
                return  # they asked for no more mail (List-Unsubscribe)
            campaign = session.get(Campaign, signature.campaign_id)
            if campaign is None or not campaign.slug:
                log.warning("signature %s: its campaign has no public page", signature_id)
                return
            mail = build_signature_mail(
                kind,
                signature,
                campaign,
                identity=identity,
                tokens=tokens,
                default_from=settings.mail_from,
                withdrawal=withdrawal,
            )
            address = signature.email
        # One connection per mail: confirmations come one at a time, not in batches.
        transport = SmtpTransport(smtp)
        try:
            outcome = transport.send(identity.finalize(mail.message), settings.return_path, address)
        finally:
            transport.close()
        if outcome.kind == "temporary":
            raise TemporaryMailFailure(f"{outcome.code} {outcome.text}")
        if outcome.kind != "sent":
            log.warning(
                "signature %s: %s not sent: %s %s", signature_id, kind, outcome.code, outcome.text
            )
            return
        column = "confirmation_sent_at" if kind == "confirm" else "reminder_sent_at"
        with db.transaction() as session:
            session.execute(
                update(Signature).where(Signature.id == signature_id).values({column: utcnow()})
            )

    actor = dramatiq.actor(
        broker=broker,
        actor_name=SIGNATURE_MAIL.actor_name,
        queue_name=SIGNATURE_MAIL.queue_name,
        max_retries=5,
        time_limit=2 * 60 * 1000,
    )(signature_mail)

    def signature_outbox() -> None:
        with db.transaction() as session:
            claimed = claim_confirmations(session)
        if len(claimed) == CLAIM_BATCH:
            sweep.send()  # a backlog: the next batch at once

    sweep = dramatiq.actor(
        broker=broker,
        actor_name=OUTBOX.actor_name,
        queue_name=OUTBOX.queue_name,
        max_retries=0,  # a kick or the reconciler's pass sweeps again
        time_limit=60 * 1000,
    )(signature_outbox)
    return {SIGNATURE_MAIL.actor_name: actor, OUTBOX.actor_name: sweep}
