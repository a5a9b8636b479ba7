"""`flask --app outreach ...` commands: set-up, users, the bundled directory, campaigns."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import func, select

from contacts.models import Contact
from outreach.accounts.models import Role
from outreach.accounts.services import AccountError, create_user, generate_password, user_count
from outreach.extensions import get_db, get_settings
from outreach.settings import describe_settings


def register_cli(app: Flask) -> None:
    app.cli.add_command(setup_command)
    app.cli.add_command(users)
    app.cli.add_command(contacts_group)
    app.cli.add_command(campaigns_group)
    app.cli.add_command(settings_command)


@click.command("setup")
@with_appcontext
@click.option(
    "--no-directory", is_flag=True, help="Do not load the bundled directory of officials."
)
def setup_command(no_directory: bool) -> None:
    """Apply migrations; on first run load the bundled directory and create the first admin."""
    upgrade()
    db = get_db()
    settings = get_settings()
    with db.transaction() as session:
        if not no_directory and not session.scalar(select(func.count()).select_from(Contact)):
            from contacts.bundled import load_bundled

            report = load_bundled(session)
            click.echo(f"Loaded the bundled directory of officials: {report}")
        if user_count(session) == 0:
            password = generate_password()
            create_user(session, settings.admin_email, password, Role.ADMIN.value)
            click.echo("")
            click.echo("  First admin account created — note the password, it is shown only once:")
            click.echo(f"    e-mail:   {settings.admin_email}")
            click.echo(f"    password: {password}")
            click.echo("")


@click.group("users", cls=AppGroup)
def users() -> None:
    """Manage staff accounts."""


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.CAMPAIGNER.value,
    show_default=True,
)
@click.option("--password", help="Leave out to generate one (printed once).")
def users_create(email: str, role: str, password: str | None) -> None:
    """Create a user who can sign in to the admin console."""
    generated = password is None
    password = password or generate_password()
    try:
        with get_db().transaction() as session:
            user = create_user(session, email, password, role)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {role} {user.email}" + (f" with password {password}" if generated else ""))


@click.group("contacts", cls=AppGroup)
def contacts_group() -> None:
    """The directory of officials."""


@contacts_group.command("load-bundled")
def contacts_load_bundled() -> None:
    """Load or refresh the bundled directory (MEPs, institution leaders); safe to repeat."""
    from contacts.bundled import load_bundled

    with get_db().transaction() as session:
        report = load_bundled(session)
    click.echo(str(report))


@click.group("campaigns", cls=AppGroup)
def campaigns_group() -> None:
    """Campaigns."""


@campaigns_group.command("launch")
@click.argument("campaign_id", type=int)
def campaigns_launch(campaign_id: int) -> None:
    """Create the deliveries of a draft campaign and queue them for the workers."""
    from outreach.campaigns.services import CampaignError, launch

    try:
        with get_db().transaction() as session:
            result = launch(
                session, campaign_id, actor="cli", batch_size=get_settings().send_batch_size
            )
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Launched: {result.deliveries} deliveries in {result.batches} batches")


@click.command("settings")
@with_appcontext
def settings_command() -> None:
    """Print every OUTREACH_* variable with its default and meaning."""
    for name, default, meaning in describe_settings():
        click.echo(f"{name}\n    default: {default or '(none)'}\n    {meaning}")
