"""The development SMTP capture server and the reading side of its mailbox.

`make run` starts it instead of a real relay, and the test suite uses it as the real SMTP server the
engine talks to. Every message it accepts is written to a Maildir (instance/devmail by default)
together with its SMTP envelope, so the web app's /dev/mailbox page (another process) can list it.

Faults can be switched on for tests: answer a 4xx or 5xx, store the message but drop the
connection without answering, or answer DATA slowly. A fault applies to the next N messages, or to all.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import logging
import mailbox
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

log = logging.getLogger(__name__)

ENVELOPE_FROM = "X-Outreach-Envelope-From"
ENVELOPE_TO = "X-Outreach-Envelope-To"


@dataclass
class Fault:
    """What the server does instead of accepting: '451 ...', '550 ...', 'disconnect' or 'slow'."""

    action: str
    remaining: int | None = None  # None: every message until cleared
    delay: float = 0.0


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


@dataclass
class CaptureHandler:
    """aiosmtpd handler that stores each accepted message in a Maildir."""

    maildir: Path
    faults: list[Fault] = field(default_factory=list)
    accepted: int = 0

    def __post_init__(self) -> None:
        # Maildir(create=True) makes cur/new/tmp only when the folder itself is new: make them here.
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(self.maildir, create=True)
        self._lock = threading.Lock()

    def set_fault(self, action: str, count: int | None = None, delay: float = 0.0) -> None:
        with self._lock:
            self.faults = [Fault(action, count, delay)]

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = []

    def _take_fault(self) -> Fault | None:
        with self._lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.pop(0)
            return fault

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        fault = self._take_fault()
        if fault is not None and fault.action == "slow":
            await asyncio.sleep(fault.delay)
        elif fault is not None and fault.action != "disconnect":
            return fault.action
        self._store(envelope)
        if fault is not None and fault.action == "disconnect":
            # The message is stored, but the answer never reaches the sender: the worst case for
            # "exactly once", since the sender cannot know that the letter went out.
            if server.transport is not None:
                server.transport.close()
            return "421 closing"
        return "250 Message accepted for delivery"

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

    def __init__(self, maildir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = CaptureHandler(Path(maildir))
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devmail %(message)s")
    # aiosmtpd logs every connection at INFO (make run's port probe included): keep the warnings.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = CaptureServer(args.maildir, args.host, args.port).start()
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
