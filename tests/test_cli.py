"""The `flask --app outreach` commands that `make run` and operators rely on."""

from __future__ import annotations

import re

from flask import Flask

from contacts.models import Contact
from outreach.accounts.models import User
from outreach.accounts.services import authenticate
from outreach.campaigns.models import Delivery
from outreach.extensions import get_db
from tests.conftest import count_rows, draft_campaign


def test_setup_on_first_run_loads_the_directory_and_prints_a_working_admin_password(
    app: Flask,
) -> None:
    """First run: the bundled directory is loaded and an admin is created whose printed password
    signs in. Second run: nothing new, and no password is printed again."""
    runner = app.test_cli_runner()
    first = runner.invoke(args=["setup"])
    assert first.exit_code == 0, first.output
    match = re.search(r"e-mail:\s+(\S+)\s+password:\s+(\S+)", first.output)
    assert match, first.output
    email, password = match.groups()
    assert count_rows(app, Contact) == 748
    with app.app_context():
        user = authenticate(get_db().session, email, password)
        assert user is not None
        assert user.role == "admin"

    second = runner.invoke(args=["setup"])
    assert second.exit_code == 0, second.output
    assert "password" not in second.output
    assert count_rows(app, Contact) == 748
    assert count_rows(app, User) == 1


def test_users_create_refuses_a_duplicate_and_a_short_password(app: Flask) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(
        args=[
            "users",
            "create",
            "Campaigns@Example.org",
            "--role",
            "campaigner",
            "--password",
            "fourteen chars",
        ]
    )
    assert ok.exit_code == 0, ok.output
    dup = runner.invoke(args=["users", "create", "campaigns@example.org", "--password", "b" * 14])
    assert dup.exit_code != 0
    assert "already exists" in dup.output
    short = runner.invoke(args=["users", "create", "other@example.org", "--password", "short"])
    assert short.exit_code != 0
    assert "at least 12 characters" in short.output
    assert count_rows(app, User) == 1


def test_campaign_launch_from_the_command_line_creates_the_deliveries(app: Flask) -> None:
    """`flask campaigns lint ID` checks every copy; `launch` refuses until its warnings are
    confirmed with the digest lint printed, then creates the deliveries; an unknown id is an
    error."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["contacts", "load-bundled"]).exit_code == 0
    # The same text for all six: lint warns that the copies are identical.
    campaign_id = draft_campaign(
        app, {"countries": ["MT"]}, body="Dear colleague,\n\nPlease act.", load_directory=False
    )
    refused = runner.invoke(args=["campaigns", "launch", str(campaign_id)])
    assert refused.exit_code != 0
    assert "warning(s): read them and confirm them" in refused.output
    assert count_rows(app, Delivery) == 0
    checked = runner.invoke(args=["campaigns", "lint", str(campaign_id)])
    assert checked.exit_code == 0, checked.output
    assert "6 copies checked, 0 errors, 1 warning" in checked.output
    assert "100% of the copies are identical to another copy" in checked.output
    digest = re.search(r"--confirm (\w+)", checked.output)
    assert digest, checked.output
    result = runner.invoke(
        args=["campaigns", "launch", str(campaign_id), "--confirm", digest.group(1)]
    )
    assert result.exit_code == 0, result.output
    assert "Launched: 6 deliveries in 1 batches" in result.output
    assert count_rows(app, Delivery) == 6
    missing = runner.invoke(args=["campaigns", "launch", "9999"])
    assert missing.exit_code != 0
    assert "there is no campaign 9999" in missing.output
