"""The development SMTP capture server and the reading side of its mailbox.

`make run` starts it instead of a real relay, and the test suite uses it as the real SMTP server the
engine talks to. Every message it accepts is written to a Maildir (instance/devmail by default)
together with its SMTP envelope, so the web app's /dev/mailbox page (another process) can list it.

Faults can be switched on for tests: answer a 4xx or 5xx, store the message but drop the
connection without answering, answer DATA slowly, or store the message and stall before answering.
A fault applies to the next N messages or to all, to an evenly spread share of them, or only to
recipients matching a pattern (refused at RCPT TO, as a server refuses an unknown user). The server
notes every answer it gives in `answers`, so that a test can count the attempts that reached it,
not only the messages it stored.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import logging
import mailbox
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

log = logging.getLogger(__name__)

ENVELOPE_FROM = "X-Outreach-Envelope-From"
ENVELOPE_TO = "X-Outreach-Envelope-To"


@dataclass
class Fault:
    """What the server does instead of accepting, and to which transactions.

    `actions`: SMTP replies ('451 4.3.0 Try again later', '550 5.1.1 No such user'), given in turn
    when there are several, or 'disconnect' (store the message, then drop the connection without
    answering), 'slow' (wait `delay` seconds, then store and answer) or 'stall' (store, then wait
    `delay` seconds before answering). A 421 reply closes the connection after it, as RFC 5321
    says a server answering 421 does.
    `remaining`: how many more transactions it hits; None: every one until cleared.
    `share`: the fraction of the transactions it sees that it hits, spread evenly and always the
    same ones (0.3 hits the 4th, 7th, 10th, 14th, ...), so that a test's numbers repeat.
    `recipients`: only addresses matching this pattern (re.search). A reply is then given at RCPT
    TO, to each matching address, as a server refuses an unknown user; the other actions act on
    the messages addressed to a matching recipient.
    """

    actions: tuple[str, ...]
    remaining: int | None = None
    delay: float = 0.0
    share: Fraction = Fraction(1)
    recipients: re.Pattern[str] | None = None
    seen: int = 0
    hits: int = 0

    @property
    def action(self) -> str:
        return self.actions[0]

    @property
    def at_rcpt(self) -> bool:
        return self.recipients is not None and self.action not in {"disconnect", "slow", "stall"}

    def applies_to(self, recipients: Sequence[str]) -> bool:
        pattern = self.recipients
        return pattern is None or any(pattern.search(r) for r in recipients)

    def take(self) -> str | None:
        """Count one transaction this fault sees; the action if it hits it, else None."""
        self.seen += 1
        if int(self.seen * self.share) == int((self.seen - 1) * self.share):
            return None
        action = self.actions[self.hits % len(self.actions)]
        self.hits += 1
        if self.remaining is not None:
            self.remaining -= 1
        return action


@dataclass(frozen=True)
class Answer:
    """One answer the server gave: to a refused RCPT TO, or to a message after DATA."""

    stage: str  # "RCPT" or "DATA"
    recipients: tuple[str, ...]
    # The SMTP reply; "disconnect" when the server dropped the connection instead, "stall" when
    # the sender hung up while the server kept it waiting.
    reply: str
    stored: bool
    at: float

    @property
    def code(self) -> int | None:
        head = self.reply[:3]
        return int(head) if head.isdigit() else None


@dataclass
class CapturedMessage:
    key: str
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage
    received_at: float

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def body_text(self) -> str:
        part = self.message.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        return str(text).replace("\r\n", "\n")


class InboundRoute(Protocol):
    """Where mail to the service's own addresses goes instead of the Maildir: the inbound
    pipeline (outreach.tracking.intake.Intake), so that `make run` closes the loop."""

    def accepts(self, recipient: str) -> bool: ...

    def deliver(
        self, raw: bytes, envelope_from: str | None, recipients: Sequence[str], via: Any
    ) -> int | None: ...


@dataclass
class CaptureHandler:
    """aiosmtpd handler that stores each accepted message in a Maildir; messages to the
    service's own bounce and reply addresses go to `inbound` when one is set."""

    maildir: Path
    faults: list[Fault] = field(default_factory=list)
    inbound: InboundRoute | None = None
    accepted: int = 0
    # The latest answers: a test's record of every attempt (the Maildir keeps the messages).
    answers: deque[Answer] = field(default_factory=lambda: deque(maxlen=20_000))

    def __post_init__(self) -> None:
        # Maildir(create=True) makes cur/new/tmp only when the folder itself is new: make them here.
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(self.maildir, create=True)
        self._lock = threading.Lock()

    @staticmethod
    def _fault(
        action: str | Sequence[str],
        count: int | None,
        delay: float,
        share: float,
        recipients: str | None,
    ) -> Fault:
        actions = (action,) if isinstance(action, str) else tuple(action)
        if not actions:
            raise ValueError("a fault needs an action")
        fraction = Fraction(str(share))
        if not 0 < fraction <= 1:
            raise ValueError(f"a fault's share must be in (0, 1], not {share}")
        pattern = re.compile(recipients) if recipients is not None else None
        return Fault(actions, count, delay, fraction, pattern)

    def set_fault(
        self,
        action: str | Sequence[str],
        count: int | None = None,
        delay: float = 0.0,
        *,
        share: float = 1.0,
        recipients: str | None = None,
    ) -> None:
        """Replace every fault with this one (see `Fault` for what each argument means)."""
        fault = self._fault(action, count, delay, share, recipients)
        with self._lock:
            self.faults = [fault]

    def add_fault(
        self,
        action: str | Sequence[str],
        count: int | None = None,
        delay: float = 0.0,
        *,
        share: float = 1.0,
        recipients: str | None = None,
    ) -> None:
        """Add a fault after the others; a transaction takes the first fault that hits it."""
        fault = self._fault(action, count, delay, share, recipients)
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = []

    def _take_fault(
        self, recipients: Sequence[str], *, at_rcpt: bool = False
    ) -> tuple[str, float] | None:
        """(action, delay) of the first fault that hits this message (or this RCPT TO)."""
        with self._lock:
            for fault in list(self.faults):
                if fault.at_rcpt != at_rcpt or not fault.applies_to(recipients):
                    continue
                action = fault.take()
                if fault.remaining is not None and fault.remaining <= 0:
                    self.faults.remove(fault)
                if action is not None:
                    return action, fault.delay
            return None

    def _note(self, stage: str, recipients: Sequence[str], reply: str, *, stored: bool) -> None:
        with self._lock:
            self.answers.append(Answer(stage, tuple(recipients), reply, stored, time.time()))

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        fault = self._take_fault([address], at_rcpt=True)
        if fault is not None:
            refusal = fault[0]
            self._note("RCPT", [address], refusal, stored=False)
            self._close_after_421(server, refusal)
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        recipients = list(envelope.rcpt_tos)
        action, delay = self._take_fault(recipients) or (None, 0.0)
        if action == "slow":  # answer late (after the sender may have given up)
            await asyncio.sleep(delay)
        elif action == "stall":
            return await self._stall(envelope, recipients, delay)
        elif action is not None and action != "disconnect":
            self._note("DATA", recipients, action, stored=False)
            self._close_after_421(server, action)
            return action
        inbound = self.inbound
        ours = [r for r in recipients if inbound is not None and inbound.accepts(r)]
        if inbound is not None and ours:
            try:
                await self._deliver_inbound(inbound, envelope, ours)
            except Exception:
                log.exception("the inbound pipeline did not take a message")
                return "451 4.3.0 Could not store the message; try again later"
            if len(ours) == len(recipients):
                self._note("DATA", recipients, "250 Message accepted for delivery", stored=True)
                return "250 Message accepted for delivery"
        self._store(envelope)
        if action == "disconnect":
            # The message is stored, but the answer never reaches the sender: the worst case for
            # "exactly once", since the sender cannot know that the letter went out.
            self._note("DATA", recipients, "disconnect", stored=True)
            if server.transport is not None:
                server.transport.close()
            return "421 closing"
        reply = "250 Message accepted for delivery"
        self._note("DATA", recipients, reply, stored=True)
        return reply

    @staticmethod
    async def _deliver_inbound(
        inbound: InboundRoute, envelope: Envelope, recipients: list[str]
    ) -> None:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        from outreach.tracking.models import ReceivedVia

        # The database write runs off the event loop: other SMTP sessions go on meanwhile.
        await asyncio.get_running_loop().run_in_executor(
            None, inbound.deliver, content, envelope.mail_from, recipients, ReceivedVia.DEV
        )

    async def _stall(self, envelope: Envelope, recipients: list[str], delay: float) -> str:
        """Store the message, then say nothing for `delay` seconds: a sender that gives up first
        cannot know that the letter is already here."""
        self._store(envelope)
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:  # the sender hung up (aiosmtpd cancels the handler)
            self._note("DATA", recipients, "stall", stored=True)
            raise
        reply = "250 Message accepted for delivery"
        self._note("DATA", recipients, reply, stored=True)
        return reply

    @staticmethod
    def _close_after_421(server: SMTPServer, reply: str) -> None:
        # 421: the server closes the channel once the reply is written (aiosmtpd writes it before
        # this callback runs; close() flushes what is buffered).
        if reply.startswith("421") and server.transport is not None:
            asyncio.get_running_loop().call_soon(server.transport.close)

    def _store(self, envelope: Envelope) -> None:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        header = (
            f"{ENVELOPE_FROM}: {envelope.mail_from}\r\n"
            f"{ENVELOPE_TO}: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        with self._lock:
            self._box.add(header + content)
            self.accepted += 1
        log.info("captured a message for %s", ", ".join(envelope.rcpt_tos))


class CaptureServer:
    """A running capture server on a local port, in a thread of this process."""

    def __init__(
        self,
        maildir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        inbound: InboundRoute | None = None,
    ) -> None:
        self.handler = CaptureHandler(Path(maildir), inbound=inbound)
        self.controller = Controller(
            self.handler, hostname=host, port=port or _free_port(host), decode_data=False
        )

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def url(self) -> str:
        return f"smtp://{self.controller.hostname}:{self.port}"

    def start(self) -> CaptureServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def read_mailbox(maildir: Path) -> list[CapturedMessage]:
    """Every captured message, newest first."""
    if not Path(maildir).exists():
        return []
    box = mailbox.Maildir(maildir, create=False)
    out: list[CapturedMessage] = []
    for key in box.iterkeys():
        try:
            raw = box.get_bytes(key)
            info_time = box.get_message(key).get_date()
        except (KeyError, FileNotFoundError):
            continue  # removed meanwhile
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(
            CapturedMessage(
                key=key,
                envelope_from=str(msg.get(ENVELOPE_FROM, "")),
                envelope_to=[
                    a.strip() for a in str(msg.get(ENVELOPE_TO, "")).split(",") if a.strip()
                ],
                message=msg,
                received_at=info_time,
            )
        )
    out.sort(key=lambda m: (m.received_at, m.key), reverse=True)
    return out


def read_message(maildir: Path, key: str) -> CapturedMessage | None:
    for message in read_mailbox(maildir):
        if message.key == key:
            return message
    return None


def main(argv: list[str] | None = None) -> None:
    """`python -m outreach.devmail --port 8025 --maildir instance/devmail`: run until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Outreach development SMTP capture server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, default=Path("instance/devmail"))
    parser.add_argument(
        "--inbound",
        action="store_true",
        help="deliver mail to the service's own bounce and reply addresses into the inbound "
        "pipeline (database and worker from the OUTREACH_* settings), as `make run` does",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devmail %(message)s")
    # aiosmtpd logs every connection at INFO (make run's port probe included): keep the warnings.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # With --inbound the app is built here, and Alembic announces each of its plugins at INFO.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    route: InboundRoute | None = None
    if args.inbound:
        from outreach.tracking.intake import intake_for_app

        route = intake_for_app()
    server = CaptureServer(args.maildir, args.host, args.port, inbound=route).start()
    log.info("capturing mail on %s into %s", server.url, args.maildir)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
