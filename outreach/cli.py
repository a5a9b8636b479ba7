"""`flask --app outreach ...` commands: set-up, users, the bundled directory, campaigns."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
    from outreach.tracking.cli import inbound_group

    app.cli.add_command(inbound_group)


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
    """Load or refresh the bundled directory (MEPs, institution leaders, ministers); safe to repeat."""
    from contacts.bundled import load_bundled

    with get_db().transaction() as session:
        report = load_bundled(session, actor="cli")
    click.echo(str(report))


class _ProgressBar:
    """A click progress bar on stderr, fed by ``progress(done, total)`` callbacks; it appears only
    for long files (a total of 1,000 or more) and only once the total is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            if total is None or total < 1000:
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _column_mapping(
    session: Any, saved: str | None, items: tuple[str, ...]
) -> dict[str, str | None]:
    """A saved mapping, completed or overridden by ``--map "Header=field"`` items."""
    from contacts.models import ImportMapping

    mapping: dict[str, str | None] = {}
    if saved:
        row = session.scalar(select(ImportMapping).where(ImportMapping.name == saved))
        if row is None:
            raise click.ClickException(f"there is no saved mapping {saved!r}")
        mapping.update(row.mapping)
    for item in items:
        header, equals, field = item.rpartition("=")
        if not equals or not header.strip():
            raise click.ClickException(f'--map {item!r}: write it as "Header=field"')
        mapping[header.strip()] = field.strip() or None  # "Header=" ignores the column
    return mapping


def _echo_plan(plan: Any, show: int) -> None:
    counts = plan.counts
    click.echo(
        f"  new: {counts['created']}, changed: {counts['updated']}, "
        f"unchanged: {counts['unchanged']}, left office: {counts['left_office']}, "
        f"rejected: {counts['rejected']}"
    )
    if plan.without_email:
        click.echo(
            f"  {plan.without_email} will have no e-mail address: they cannot be written to "
            "until one is added"
        )

    def where(line: object) -> str:
        # A line number, or the name of the file in an archive (EP API).
        return f"line {line}" if isinstance(line, int) else str(line or "—")

    if plan.new:
        click.echo(f"New ({_first(show, len(plan.new))}):")
        for planned in plan.new[:show]:
            email = f" <{planned.email}>" if planned.email else ""
            click.echo(f"  {where(planned.line)}: {planned.display_name}{email}")
    if plan.changed:
        click.echo(f"Changed ({_first(show, len(plan.changed))}):")
        for planned in plan.changed[:show]:
            click.echo(f"  {where(planned.line)}: {planned.display_name} (#{planned.contact_id})")
            for change in planned.changes:
                click.echo(
                    f"      {change.field}: {change.old_text or '(empty)'} "
                    f"-> {change.new_text or '(empty)'}"
                )
    if plan.left_office:
        click.echo(f"Left office ({len(plan.left_office)}): inactive from {plan.today}")
        for planned in plan.left_office:
            click.echo(f"  {planned.display_name} (#{planned.contact_id})")
    if plan.errors:
        click.echo(f"Rejected rows ({len(plan.errors)}):")
        for error in plan.errors:
            click.echo(f"  {error}")


def _first(show: int, total: int) -> str:
    return f"first {show} of {total}" if total > show else str(total)


@contacts_group.command("import")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "format_",
    metavar="FORMAT",
    help="ep_xml, ep_api, csv or xlsx (default: from the file name, else its content).",
)
@click.option("--mapping", "mapping_name", metavar="NAME", help="Use a saved column mapping.")
@click.option(
    "--map",
    "map_items",
    multiple=True,
    metavar='"HEADER=FIELD"',
    help="Read a CSV/XLSX column as a field (repeatable; an empty field ignores the column).",
)
@click.option("--save-mapping", metavar="NAME", help="Save the column mapping used (with --apply).")
@click.option("--apply", "apply_", is_flag=True, help="Apply the import (default: a dry run).")
@click.option("--show", default=20, show_default=True, help="How many new and changed to list.")
def contacts_import(
    file: Path,
    format_: str | None,
    mapping_name: str | None,
    map_items: tuple[str, ...],
    save_mapping: str | None,
    apply_: bool,
    show: int,
) -> None:
    """Import officials from FILE: a dry run that prints what would change, unless --apply.

    With --apply the whole file is applied in one transaction: every row that is not rejected,
    or nothing at all. A file that cannot be read changes nothing.
    """
    from contacts.importers import parse_file
    from contacts.importing import apply_plan, plan_import
    from contacts.models import ImportMapping
    from contacts.records import ImportFileError

    with get_db().transaction() as session:
        mapping = _column_mapping(session, mapping_name, map_items)
        try:
            with _ProgressBar("Reading") as progress:
                parsed = parse_file(
                    file, format=format_, mapping=mapping or None, progress=progress
                )
        except ImportFileError as exc:
            raise click.ClickException(str(exc)) from exc
        with _ProgressBar("Comparing") as progress:
            plan = plan_import(session, parsed, progress=progress)

        name = parsed.filename or file.name
        if not apply_:
            click.echo(f"Dry run of {name} ({parsed.source_kind}): nothing was changed.")
            _echo_plan(plan, show)
            hint = " (and --save-mapping is only saved then)" if save_mapping else ""
            click.echo(f"Run again with --apply to import{hint}.")
            return
        click.echo(f"Import of {name} ({parsed.source_kind}):")
        _echo_plan(plan, show)
        run = apply_plan(session, plan, actor="cli")
        if save_mapping:
            # Every column of the file, ignored ones as None, so the saved mapping ignores them too.
            used = (
                {header: parsed.mapping.get(header) for header in parsed.headers}
                if parsed.headers
                else mapping
            )
            row = session.scalar(select(ImportMapping).where(ImportMapping.name == save_mapping))
            if row is None:
                row = ImportMapping(name=save_mapping)
                session.add(row)
            row.mapping = dict(used)
        run_id, counts = run.id, dict(run.counts)
    click.echo(
        f"Applied: import run #{run_id}: {counts['created']} created, {counts['updated']} "
        f"updated, {counts['unchanged']} unchanged, {counts['left_office']} left office, "
        f"{counts['rejected']} rejected"
    )
    if save_mapping:
        click.echo(f"Saved the column mapping as {save_mapping!r}.")


@contacts_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def contacts_export(file: Path) -> None:
    """Write the whole directory to FILE as CSV (the columns `contacts import` reads back).

    Cells that a spreadsheet would run as a formula (=, +, -, @) are written with a leading '.
    """
    from contacts.export import write_contacts_csv

    with get_db().transaction() as session, file.open("w", encoding="utf-8-sig", newline="") as out:
        count = write_contacts_csv(session, out)
    click.echo(f"Exported {count} contacts to {file}")


@click.group("campaigns", cls=AppGroup)
def campaigns_group() -> None:
    """Campaigns."""


@campaigns_group.command("lint")
@click.argument("campaign_id", type=int)
@click.option(
    "--show", default=30, show_default=True, help="How many recipients' findings to print."
)
def campaigns_lint(campaign_id: int, show: int) -> None:
    """Render every copy of a draft campaign and print what is wrong (nothing is sent)."""
    from outreach.campaigns.models import Campaign
    from outreach.campaigns.services import CampaignError, lint

    try:
        with get_db().transaction() as session:  # the check is remembered for the launch
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise click.ClickException(f"there is no campaign {campaign_id}")
            report = lint(session, campaign, default_from=get_settings().mail_from)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{campaign.name}: {report.summary()}")
    for finding in report.campaign_findings:
        click.echo(f"  {finding.level}: {finding.message}")
    for item in report.with_findings[:show]:
        for finding in item.findings:
            click.echo(
                f"  {item.display_name} ({item.language}): {finding.level}: {finding.message}"
            )
    if len(report.with_findings) > show:
        click.echo(f"  … and {len(report.with_findings) - show} more recipients with findings")
    if report.errors:
        raise click.ClickException(f"{report.errors} error(s): the campaign cannot be launched")
    if report.warnings and campaign.status == "draft":
        click.echo(
            "To launch despite the warnings: "
            f"flask campaigns launch {campaign_id} --confirm {report.digest}"
        )


@campaigns_group.command("launch")
@click.argument("campaign_id", type=int)
@click.option("--confirm", "confirm", metavar="DIGEST", help="Confirm the warnings `lint` printed.")
def campaigns_launch(campaign_id: int, confirm: str | None) -> None:
    """Create the deliveries of a draft campaign and queue them for the workers."""
    from outreach.campaigns.services import CampaignError, launch

    try:
        with get_db().transaction() as session:
            result = launch(
                session,
                campaign_id,
                actor="cli",
                batch_size=get_settings().send_batch_size,
                confirm_warnings=confirm,
                default_from=get_settings().mail_from,
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
