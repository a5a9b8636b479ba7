"""Polling an IMAP mailbox into the inbound pipeline (the `Mailbox` edge for IMAP).

One poll: log in, select the folder, list the messages not yet handled (without the keyword
`$OutreachStored` with IMAP_AFTER=flag; every message of the folder with IMAP_AFTER=move), and
for each, oldest first:

1. *claim* it in Redis: SET NX on `outreach:imap:<account>:<folder>:<UIDVALIDITY>:<UID>`, kept
   for a day. Several pollers at once (every worker process polls) each list the same UIDs, but
   only one wins a message: the others skip it without fetching it;
2. fetch it with BODY.PEEK[] (a person reading the same mailbox still sees it unread);
3. store it raw first (`store_inbound`, one committed transaction): the processing job runs after
   the commit, and a message stored before (a redelivery, or a poller that died between 3 and 4
   and whose claim expired) is a no-op there;
4. flag it, or move it to IMAP_MOVE_TO (MOVE where the server has it, else COPY, flag \\Deleted
   UID EXPUNGE). Only after the commit: a crash in between leaves the message in the
   folder, fetched again by a later poll and found already stored.

Nothing is lost: a message is marked only once its row is committed. Nothing is processed
twice: the claim keeps two pollers from fetching the same message, and the raw-first unique key
keeps a refetch from storing it twice.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import redis
from imapclient import IMAPClient

from outreach.db import Database
from outreach.jobs import Job
from outreach.settings import Settings
from outreach.tracking.intake import store_inbound
from outreach.tracking.models import ReceivedVia

log = logging.getLogger(__name__)

# The periodic poll's job (workers/imap.py): its own queue next to the inbound processing.
POLL_IMAP: Final = Job("poll_imap", "inbound")
STORED_KEYWORD: Final = "$OutreachStored"
CLAIM_SECONDS: Final = 24 * 3600
POLL_LOCK_KEY: Final = "outreach:imap-poll-lock"


class ImapError(RuntimeError):
    """The mailbox cannot be polled (not configured, refused login, no such folder)."""


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    security: str = "ssl"
    folder: str = "INBOX"
    after: str = "flag"
    move_to: str = "Outreach-Stored"
    batch: int = 200
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapConfig:
        if not settings.imap_host:
            raise ImapError("IMAP polling is not configured (OUTREACH_IMAP_HOST is empty)")
        return cls(
            host=settings.imap_host,
            port=settings.imap_port,
            user=settings.imap_user,
            password=settings.imap_password,
            security=settings.imap_security,
            folder=settings.imap_folder,
            after=settings.imap_after,
            move_to=settings.imap_move_to,
            batch=max(1, settings.imap_batch),
        )

    @property
    def account(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass
class PollReport:
    listed: int = 0  # messages found not yet handled
    fetched: int = 0  # claimed by this poller and fetched
    stored: int = 0  # new rows (the others were stored before: redeliveries or refetches)
    skipped: int = 0  # claimed by another poller
    marked: int = 0  # flagged or moved
    fetched_uids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.listed} listed, {self.fetched} fetched, {self.stored} stored, "
            f"{self.skipped} taken by another poller, {self.marked} marked"
        )


def connect(config: ImapConfig) -> IMAPClient:
    """A logged-in client; ImapError with the server's words when it refuses."""
    try:
        client = IMAPClient(
            config.host,
            port=config.port,
            ssl=config.security == "ssl",
            ssl_context=ssl.create_default_context() if config.security == "ssl" else None,
            timeout=config.timeout,
        )
        if config.security == "starttls":
            client.starttls(ssl.create_default_context())
        client.login(config.user, config.password)
    except (OSError, IMAPClient.Error) as exc:
        raise ImapError(f"IMAP {config.account}: {exc}") from exc
    return client


def claim_key(config: ImapConfig, uidvalidity: int, uid: int) -> str:
    return f"outreach:imap:{config.account}:{config.folder}:{uidvalidity}:{uid}"


def poll(
    db: Database,
    config: ImapConfig,
    redis_client: redis.Redis,
    *,
    client: IMAPClient | None = None,
    progress: Callable[[PollReport], None] | None = None,
) -> PollReport:
    """Fetch, store and mark the folder's new messages (see the module's docstring)."""
    own = client is None
    imap = connect(config) if client is None else client
    report = PollReport()
    try:
        if config.after == "move" and not imap.folder_exists(config.move_to):
            try:
                imap.create_folder(config.move_to)
            except IMAPClient.Error:
                if not imap.folder_exists(config.move_to):  # created by another poller: fine
                    raise
        try:
            selected = imap.select_folder(config.folder)
        except IMAPClient.Error as exc:
            raise ImapError(f"IMAP {config.account}: cannot select {config.folder}: {exc}") from exc
        uidvalidity = int(selected[b"UIDVALIDITY"])
        criteria: list[Any] = ["NOT", "DELETED"]
        if config.after == "flag":
            criteria += ["NOT", "KEYWORD", STORED_KEYWORD]
        uids = sorted(imap.search(criteria))[: config.batch]
        report.listed = len(uids)
        can_move = imap.has_capability("MOVE")
        for uid in uids:
            if not redis_client.set(
                claim_key(config, uidvalidity, uid), "1", nx=True, ex=CLAIM_SECONDS
            ):
                report.skipped += 1
                continue
            fetched = imap.fetch([uid], ["BODY.PEEK[]"])
            raw = fetched.get(uid, {}).get(b"BODY[]")
            if raw is None:  # expunged since it was listed (moved by a person, or a poller)
                continue
            report.fetched += 1
            report.fetched_uids.append(uid)
            with db.transaction() as session:
                row_id = store_inbound(session, bytes(raw), via=ReceivedVia.IMAP)
            report.stored += row_id is not None
            _mark(imap, config, uid, can_move)
            report.marked += 1
            if progress is not None:
                progress(report)
    finally:
        if own:
            try:
                imap.logout()
            except (OSError, IMAPClient.Error):
                log.debug("IMAP logout failed", exc_info=True)
    log.info("IMAP %s/%s: %s", config.account, config.folder, report)
    return report


def _mark(imap: IMAPClient, config: ImapConfig, uid: int, can_move: bool) -> None:
    if config.after == "flag":
        imap.add_flags([uid], [STORED_KEYWORD], silent=True)
    elif can_move:
        imap.move([uid], config.move_to)
    else:
        imap.copy([uid], config.move_to)
        imap.add_flags([uid], [b"\\Deleted"], silent=True)
        imap.expunge([uid])  # UID EXPUNGE (UIDPLUS): only this message, not others marked deleted
