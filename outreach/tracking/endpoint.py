"""The inbound SMTP/LMTP endpoint an MTA forwards bounces and replies to (aiosmtpd).

It accepts only the service's own addresses (the bounce and reply bases, with or without a
token; anything else is refused at RCPT with 550), stores each message through the intake
(raw first, one row per Message-ID) and answers 250 once the row is committed, so the MTA keeps
the message and retries on a 451 if the database is unavailable. Processing happens in the
worker. Run it with `flask --app outreach inbound serve [--lmtp]`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from outreach.tracking.intake import Intake
from outreach.tracking.models import ReceivedVia

log = logging.getLogger(__name__)


class InboundHandler:
    def __init__(self, intake: Intake, via: ReceivedVia) -> None:
        self.intake = intake
        self.via = via

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.intake.accepts(address):
            return "550 5.1.1 Not a mailbox of this service"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        if len(content) > self.intake.max_bytes:
            return "552 5.3.4 Message too big for this service"
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, self.intake.deliver, content, envelope.mail_from, envelope.rcpt_tos, self.via
            )
        except Exception:
            log.exception("could not store an inbound message; the sender will retry")
            return "451 4.3.0 Could not store the message; try again later"
        return "250 2.0.0 Stored"


class _LmtpController(Controller):
    def factory(self) -> LMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)


def make_controller(intake: Intake, host: str, port: int, *, lmtp: bool = False) -> Controller:
    """A controller (start()/stop()) serving the endpoint in a thread of this process."""
    handler = InboundHandler(intake, ReceivedVia.LMTP if lmtp else ReceivedVia.SMTP)
    kwargs: dict[str, Any] = {
        "hostname": host,
        "port": port,
        "decode_data": False,
        "data_size_limit": intake.max_bytes,
    }
    if lmtp:
        return _LmtpController(handler, **kwargs)
    return Controller(handler, **kwargs)
