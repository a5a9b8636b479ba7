"""`flask inbound …`: run the SMTP/LMTP endpoint, store a message from a file or a pipe, and
retry a message that failed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from outreach.extensions import get_db
from outreach.jobs import PROCESS_INBOUND, defer
from outreach.tracking.intake import intake_for_app, store_inbound
from outreach.tracking.models import ReceivedVia
from outreach.tracking.process import reprocess


@click.group("inbound", cls=AppGroup)
def inbound_group() -> None:
    """Inbound mail: bounces, replies, auto-replies."""


@inbound_group.command("serve")
@click.option("--host", default=None, help="Default: OUTREACH_INBOUND_HOST.")
@click.option("--port", type=int, default=None, help="Default: OUTREACH_INBOUND_PORT.")
@click.option("--lmtp", is_flag=True, help="Speak LMTP (for a Postfix or Dovecot LMTP transport).")
def inbound_serve(host: str | None, port: int | None, lmtp: bool) -> None:
    """Receive mail for the service's bounce and reply addresses until Ctrl-C."""
    from outreach.tracking.endpoint import make_controller

    settings = current_app.config["OUTREACH"]
    controller = make_controller(
        intake_for_app(current_app._get_current_object()),  # type: ignore[attr-defined]
        host or settings.inbound_host,
        port or settings.inbound_port,
        lmtp=lmtp,
    )
    controller.start()
    click.echo(f"inbound {'LMTP' if lmtp else 'SMTP'} on {controller.hostname}:{controller.port}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@inbound_group.command("store")
@click.argument("file", type=click.Path(allow_dash=True, path_type=Path))
@click.option("--sender", default=None, help="The envelope sender, if known.")
@click.option("--recipient", "recipients", multiple=True, help="An envelope recipient (repeat).")
def inbound_store(file: Path, sender: str | None, recipients: tuple[str, ...]) -> None:
    """Store one raw message (FILE, or - for standard input: a pipe transport) and queue it."""
    raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    with get_db().transaction() as session:
        row_id = store_inbound(
            session, raw, via=ReceivedVia.SMTP, envelope_from=sender, envelope_to=recipients
        )
    click.echo(f"stored as inbound message {row_id}" if row_id else "already stored: ignored")


@inbound_group.command("reprocess")
@click.argument("message_id", type=int)
def inbound_reprocess(message_id: int) -> None:
    """Process a failed or unmatched message again (after fixing the cause)."""
    with get_db().transaction() as session:
        if not reprocess(session, message_id):
            raise click.ClickException(f"inbound message {message_id} is not failed or unmatched")
        defer(session, PROCESS_INBOUND, message_id)
    click.echo(f"inbound message {message_id} queued again")


@inbound_group.command("imap")
@click.option(
    "--once", is_flag=True, help="Poll once and exit (else every OUTREACH_IMAP_INTERVAL s)."
)
def inbound_imap(once: bool) -> None:
    """Fetch new mail from the IMAP mailbox (OUTREACH_IMAP_*) into the inbound pipeline."""
    import redis

    from outreach.tracking.imap import ImapConfig, ImapError, poll

    settings = current_app.config["OUTREACH"]
    try:
        config = ImapConfig.from_settings(settings)
    except ImapError as exc:
        raise click.ClickException(str(exc)) from exc
    client = redis.Redis.from_url(settings.effective_redis_url)
    try:
        while True:
            try:
                report = poll(
                    get_db(),
                    config,
                    client,
                    progress=lambda r: (
                        click.echo(f"  {r.fetched} fetched ...") if r.fetched % 100 == 0 else None
                    ),
                )
            except ImapError as exc:
                if once:
                    raise click.ClickException(str(exc)) from exc
                click.echo(f"error: {exc}", err=True)
            else:
                click.echo(f"IMAP {config.account}/{config.folder}: {report}")
            if once:
                return
            time.sleep(max(1, settings.imap_interval))
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
