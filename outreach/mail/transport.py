"""The SMTP transport: one reused connection, outcomes classified as the state machine needs them.

`SmtpTransport.send` never raises for SMTP-level problems; it returns a SendOutcome whose kind is
`sent` (250 after DATA), `temporary` (4xx, timeout, connection trouble: retry later) or `permanent`
(5xx: never retry). The connection is kept open between messages and reopened after an error.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

OutcomeKind = Literal["sent", "temporary", "permanent"]


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

    def send(self, msg: EmailMessage, envelope_from: str, recipient: str) -> SendOutcome:
        try:
            conn = self._connection()
            refused = conn.send_message(msg, from_addr=envelope_from, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return self._outcome(code, text)
        except smtplib.SMTPResponseException as exc:
            # MAIL FROM, DATA or the end of DATA answered with an error; the connection may be dirty.
            self._reset()
            return self._outcome(exc.smtp_code, exc.smtp_error)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self.close()
            return SendOutcome("temporary", None, f"{type(exc).__name__}: {exc}")
        if refused:
            code, text = next(iter(refused.values()))
            return self._outcome(code, text)
        return SendOutcome("sent", 250, "accepted")

    @staticmethod
    def _outcome(code: int, text: bytes | str) -> SendOutcome:
        message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
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
