"""IMAP polling against a real IMAP server (Debian's Dovecot, started unprivileged by the test):
what is in the mailbox reaches the inbound pipeline once, and is marked once stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from imapclient import IMAPClient
from sqlalchemy import func, select

from outreach.campaigns.models import Delivery
from outreach.extensions import get_db
from outreach.tracking.imap import STORED_KEYWORD, ImapConfig, PollReport, claim_key, poll
from outreach.tracking.models import InboundMessage
from tests.conftest import draft_campaign, launch_campaign, wait_for
from tests.faults import add_officials, app_using
from tests.imap_server import ImapServer, dovecot


@pytest.fixture(scope="module")
def imap_server() -> Iterator[ImapServer]:
    with dovecot() as server:
        yield server


@pytest.fixture
def mailbox(imap_server: ImapServer) -> Iterator[IMAPClient]:
    """The test's own client on the server, with an empty INBOX and no other folder."""
    client = IMAPClient(imap_server.host, port=imap_server.port, ssl=False)
    client.login(imap_server.user, imap_server.password)
    for _flags, _delim, name in client.list_folders():
        if name != "INBOX":
            client.delete_folder(name)
    client.select_folder("INBOX")
    uids = client.search(["ALL"])
    if uids:
        client.delete_messages(uids)
        client.expunge()
    try:
        yield client
    finally:
        client.logout()


def config_for(server: ImapServer, **more: object) -> ImapConfig:
    values: dict[str, object] = {
        "host": server.host, "port": server.port, "user": server.user,
        "password": server.password, "security": "none",
    }  # fmt: skip
    values.update(more)
    return ImapConfig(**values)  # type: ignore[arg-type]


def message(number: int, *, in_reply_to: str = "", sender: str = "someone@example.net") -> bytes:
    thread = f"In-Reply-To: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        f"From: <{sender}>\r\nTo: <letters@example.org>\r\nSubject: Re: Human rights {number}\r\n"
        f"Message-ID: <imap-{number}@parliament.example>\r\n{thread}"
        "Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\n"
        f"Thank you for your letter ({number}). I will raise it in committee.\r\n"
    ).encode()


def inbound_rows(app: Flask) -> list[InboundMessage]:
    with app.app_context(), get_db().transaction() as session:
        rows = list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        session.expunge_all()
        return rows


def test_a_reply_in_the_mailbox_is_stored_processed_and_flagged(
    app: Flask, imap_server: ImapServer, mailbox: IMAPClient, worker: object
) -> None:
    """`flask inbound imap --once` fetches a reply to a sent letter from the real IMAP server,
    stores it (via imap), the worker matches it by In-Reply-To so the letter becomes replied, and
    the message is flagged $OutreachStored but left unread; a second poll fetches nothing."""
    officials = add_officials(app, 2, "parliament.example")
    campaign_id = draft_campaign(app, {"contact_ids": officials}, load_directory=False)
    launch_campaign(app, campaign_id)
    with app.app_context():
        db = get_db()

        def sent() -> bool:
            with db.transaction() as s:
                return s.scalar(select(func.count()).where(Delivery.state == "sent")) == 2

        wait_for(sent)
        with db.transaction() as s:
            first = s.scalars(select(Delivery).order_by(Delivery.id)).first()
            assert first is not None
            assert first.message_id
            target, target_email, target_mid = first.id, first.email, first.message_id
    mailbox.append("INBOX", message(1, in_reply_to=target_mid, sender=target_email))

    with app_using(
        app, imap_host=imap_server.host, imap_port=imap_server.port, imap_user=imap_server.user,
        imap_password=imap_server.password, imap_security="none",
    ) as polling:  # fmt: skip
        first_run = polling.test_cli_runner().invoke(args=["inbound", "imap", "--once"])
        assert first_run.exit_code == 0, first_run.output
        assert "1 fetched, 1 stored" in first_run.output
        second_run = polling.test_cli_runner().invoke(args=["inbound", "imap", "--once"])
        assert "0 listed, 0 fetched" in second_run.output, second_run.output

    with app.app_context():

        def processed() -> bool:
            with get_db().transaction() as s:
                return s.scalar(select(Delivery.state).where(Delivery.id == target)) == "replied"

        wait_for(processed)
    rows = inbound_rows(app)
    assert [(r.via, r.kind, r.delivery_id, r.matched_by) for r in rows] == [
        ("imap", "reply", target, "in-reply-to")
    ]
    mailbox.select_folder("INBOX")
    flags = mailbox.get_flags(mailbox.search(["ALL"]))
    assert [set(f) for f in flags.values()] == [{STORED_KEYWORD.encode()}]  # flagged, still unread


def test_two_pollers_at_once_fetch_each_message_once(
    app: Flask, imap_server: ImapServer, mailbox: IMAPClient, redis_url: str
) -> None:
    """Two pollers started together on the same mailbox (each its own IMAP connection, one
    Redis): every one of 60 messages is fetched by exactly one of them, stored once, and moved
    to the processed folder; the INBOX is left empty."""
    count = 60
    for number in range(count):
        mailbox.append("INBOX", message(number))
    config = config_for(imap_server, after="move", move_to="Outreach-Stored")
    start = threading.Barrier(2)
    reports: list[PollReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            with app.app_context():
                start.wait()
                reports.append(poll(get_db(), config, client))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    fetched = [uid for report in reports for uid in report.fetched_uids]
    assert sorted(fetched) == sorted(set(fetched))
    assert len(fetched) == count
    assert sum(r.stored for r in reports) == count
    rows = inbound_rows(app)
    assert len(rows) == count
    assert {r.via for r in rows} == {"imap"}
    assert len({r.message_key for r in rows}) == count
    mailbox.select_folder("INBOX")
    assert mailbox.search(["ALL"]) == []
    mailbox.select_folder("Outreach-Stored")
    assert len(mailbox.search(["ALL"])) == count


def test_a_message_stored_before_its_mark_is_not_stored_again(
    app: Flask, imap_server: ImapServer, mailbox: IMAPClient, redis_url: str
) -> None:
    """When a poller died after storing a message but before flagging it (its claim expired),
    the next poll fetches it again, finds it already stored (raw-first unique Message-ID), and
    only flags it: one row."""
    mailbox.append("INBOX", message(7))
    config = config_for(imap_server)
    client = redis.Redis.from_url(redis_url)
    try:
        with app.app_context():
            from outreach.tracking.intake import store_inbound

            with get_db().transaction() as session:
                store_inbound(session, message(7), via="imap")  # the poller that died
            report = poll(get_db(), config, client)
    finally:
        client.close()
    assert (report.fetched, report.stored, report.marked) == (1, 0, 1)
    assert len(inbound_rows(app)) == 1
    mailbox.select_folder("INBOX")
    assert mailbox.search(["NOT", "KEYWORD", STORED_KEYWORD]) == []


def test_a_message_claimed_by_another_poller_is_neither_fetched_nor_marked(
    app: Flask, imap_server: ImapServer, mailbox: IMAPClient, redis_url: str
) -> None:
    """While another poller holds the claim on a message (its Redis key), a poll lists it but
    skips it: not fetched, not stored, left unflagged for the claim holder."""
    mailbox.append("INBOX", message(1))
    mailbox.append("INBOX", message(2))
    selected = mailbox.select_folder("INBOX")
    first_uid = sorted(mailbox.search(["ALL"]))[0]
    config = config_for(imap_server)
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(claim_key(config, int(selected[b"UIDVALIDITY"]), first_uid), "other")
        with app.app_context():
            report = poll(get_db(), config, client)
    finally:
        client.close()
    assert (report.listed, report.skipped, report.fetched, report.stored) == (2, 1, 1, 1)
    assert first_uid not in report.fetched_uids
    assert [r.message_key for r in inbound_rows(app)] == ["<imap-2@parliament.example>"]
    mailbox.select_folder("INBOX")
    assert mailbox.search(["NOT", "KEYWORD", STORED_KEYWORD]) == [first_uid]
