"""The SMTP transport: one reused connection, outcomes classified as the state machine needs them.

`SmtpTransport.send` never raises for SMTP-level problems; it returns a SendOutcome whose kind is
`sent` (250 after DATA), `temporary` (4xx, timeout, connection trouble before the message was
handed over, or a relay that refuses us: retry later), `permanent` (5xx to this recipient or this
message: never retry) or `uncertain` (the connection broke after the message was transmitted: the
server may have it). The connection is kept open between messages and reopened after an error.

A message is given as an EmailMessage or as the exact bytes to send (a DKIM-signed message must
reach the server byte for byte as it was signed: see `MessageIdentity.finalize`).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from outreach.mail.message import message_bytes

OutcomeKind = Literal["sent", "temporary", "permanent", "uncertain"]


@dataclass(frozen=True)
class SendOutcome:
    kind: OutcomeKind
    code: int | None
    text: str


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    use_ssl: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> SmtpConfig:
        """smtp://[user:pass@]host[:port][?starttls=true] or smtps://host[:465]."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"}:
            raise ValueError(f"OUTREACH_SMTP_URL must start with smtp:// or smtps://, not {url!r}")
        if not parts.hostname:
            raise ValueError(f"OUTREACH_SMTP_URL has no host: {url!r}")
        query = parse_qs(parts.query)
        use_ssl = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if use_ssl else 25),
            use_ssl=use_ssl,
            starttls=query.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"},
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _dot_stuffed(msg: EmailMessage | bytes) -> bytes:
    """The message as DATA bytes: CRLF line ends, leading dots doubled, the final dot line.

    Bytes are sent as given except for line ends: a bare LF or CR becomes CRLF, as SMTP requires
    (RFC 5321, 2.3.8). Message bytes from `message_bytes` or `LetterWriter` have CRLF already
    (found by counting, without a copy), so a DKIM signature over them stays valid (and relaxed
    body canonicalisation treats line ends alike anyway)."""
    raw = message_bytes(msg) if isinstance(msg, EmailMessage) else msg
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:
        raw = _BARE_EOL.sub(b"\r\n", raw)
    # Every line starts at the start or after a CRLF: a dot there is doubled.
    data = raw.replace(b"\n.", b"\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


_BARE_EOL = re.compile(rb"\r\n|\r|\n")


class SmtpTransport:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._conn: smtplib.SMTP | None = None
        self.connections_opened = 0

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        conn: smtplib.SMTP
        if cfg.use_ssl:
            conn = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout, context=ssl.create_default_context()
            )
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.starttls:
                conn.starttls(context=ssl.create_default_context())
        if cfg.username:
            conn.login(cfg.username, cfg.password or "")
        self.connections_opened += 1
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def send(self, msg: EmailMessage | bytes, envelope_from: str, recipient: str) -> SendOutcome:
        """Send one message to one recipient (see `send_to_all`)."""
        return self.send_to_all(msg, envelope_from, [recipient])[recipient]

    def send_to_all(
        self, msg: EmailMessage | bytes, envelope_from: str, recipients: list[str]
    ) -> dict[str, SendOutcome]:
        """Send one message to several recipients in one SMTP transaction (a joint letter), step
        by step, so that every failure is classified by how far the conversation got: before
        DATA's 354 nothing was handed over and a retry is safe; after it, a lost connection
        leaves the outcome unknown (`uncertain`). A recipient refused at RCPT TO gets that
        answer; the others get the answer to the message. `msg` is a message or its exact
        bytes (CRLF line ends; see `_dot_stuffed`)."""
        data = _dot_stuffed(msg)

        def everyone(outcome: SendOutcome) -> dict[str, SendOutcome]:
            return dict.fromkeys(recipients, outcome)

        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                conn = self._connection()
            except smtplib.SMTPResponseException as exc:
                # The relay refused us (greeting, STARTTLS or AUTH): a configuration or relay
                # problem, not this recipient's. Retry later; never fail the letter for it.
                self.close()
                return everyone(
                    SendOutcome("temporary", exc.smtp_code, f"relay: {_text(exc.smtp_error)}")
                )
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                self.close()
                return everyone(
                    SendOutcome("temporary", None, f"relay: {type(exc).__name__}: {exc}")
                )
            outcomes: dict[str, SendOutcome] = {}
            try:
                conn.ehlo_or_helo_if_needed()
                code, reply = conn.mail(envelope_from)
                if code != 250:
                    # Our envelope sender was refused: the relay's policy, the same for everyone.
                    self._reset()
                    return everyone(
                        SendOutcome("temporary", code, f"MAIL FROM refused: {_text(reply)}")
                    )
                for recipient in recipients:
                    code, reply = conn.rcpt(recipient)
                    if code not in (250, 251):
                        outcomes[recipient] = self._outcome(code, reply)
                accepted = [r for r in recipients if r not in outcomes]
                if not accepted:
                    self._reset()
                    return outcomes
                code, reply = conn.docmd("DATA")
                if code != 354:
                    self._reset()
                    outcomes.update(dict.fromkeys(accepted, self._outcome(code, reply)))
                    return outcomes
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                self.close()
                if reused and attempt == 1:
                    continue  # a kept-open connection the server had closed: reconnect once
                return everyone(SendOutcome("temporary", None, f"{type(exc).__name__}: {exc}"))
            try:
                conn.send(data)
                code, reply = conn.getreply()
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                # The message may have been accepted; only the answer was lost.
                self.close()
                lost = SendOutcome(
                    "uncertain", None, f"no answer after DATA: {type(exc).__name__}: {exc}"
                )
                outcomes.update(dict.fromkeys(accepted, lost))
                return outcomes
            outcomes.update(dict.fromkeys(accepted, self._outcome(code, reply)))
            return outcomes
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _outcome(code: int, text: bytes | str) -> SendOutcome:
        message = _text(text)
        if 200 <= code < 300:
            return SendOutcome("sent", code, message)
        if 500 <= code < 600:
            return SendOutcome("permanent", code, message)
        return SendOutcome("temporary", code, message)

    def _reset(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()
