"""Invitations and password resets by e-mail: a real dramatiq Worker sends each mail through the
service's SMTP settings to a real aiosmtpd server, and the link in the mail that server received
sets the password (and, for an invitation, signs the new user in). Links are single-use, expire,
are stored only as hashes, and asking for a reset tells no one whether an address has an account.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from contacts.base import utcnow
from outreach.accounts.models import AccountLink, User
from outreach.audit import AuditEvent
from outreach.devmail import read_mailbox
from outreach.extensions import get_db
from tests.conftest import csrf_token_from, wait_for

LINK_RE = re.compile(r"http://127\.0\.0\.1:5000(/(?:account/invite|password/reset)/[A-Za-z0-9_-]+)")


def mails_to(app: Flask, address: str) -> list[Any]:
    return [
        m for m in read_mailbox(app.config["OUTREACH"].devmail_path) if address in m.envelope_to
    ]


def link_in_mail(app: Flask, address: str, count: int = 1) -> str:
    wait_for(lambda: len(mails_to(app, address)) >= count)
    newest = mails_to(app, address)[0]
    match = LINK_RE.search(newest.body_text)
    assert match, newest.body_text
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict[str, str], page: str | None = None) -> Any:
    token = csrf_token_from(client.get(page or url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(get_db().session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_an_invitation_mail_sets_a_password_once_and_signs_the_new_user_in(
    app: Flask, login: Callable[..., FlaskClient], worker: Any
) -> None:
    """An admin invites an address; the SMTP server receives exactly one mail for it, whose link
    shows a password form with field errors for a weak or mismatched password, then sets the
    password and signs the newcomer in with the invited role. The link then no longer works."""
    admin = login("admin")
    resp = post_form(admin, "/admin/users/invite", {"email": "Newcomer@Example.org", "role": "campaigner"},
                     page="/admin/users")  # fmt: skip
    assert resp.status_code == 302
    path = link_in_mail(app, "newcomer@example.org")
    [mail] = mails_to(app, "newcomer@example.org")
    assert mail.subject == "You are invited to Outreach"
    assert "admin@example.org invited you" in mail.body_text
    token = path.rsplit("/", 1)[1]
    with app.app_context():
        link = get_db().session.scalars(select(AccountLink)).one()
        # Only the hash is stored; the token itself is nowhere in the row.
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr(vars(link))
        assert link.sent_at is not None

    newcomer = app.test_client()
    assert "Welcome: choose your password" in newcomer.get(path).get_data(as_text=True)
    weak = post_form(newcomer, path, {"password": "short", "confirm": "short"})
    assert weak.status_code == 400
    assert "at least 12 characters" in weak.get_data(as_text=True)
    differ = post_form(newcomer, path, {"password": "a good long password", "confirm": "another"})
    assert "the two passwords differ" in differ.get_data(as_text=True)
    own = post_form(
        newcomer, path, {"password": "newcomer@example.org!", "confirm": "newcomer@example.org!"}
    )
    assert "must not contain your e-mail address" in own.get_data(as_text=True)

    done = post_form(newcomer, path, {"password": "a good long password", "confirm": "a good long password"})  # fmt: skip
    assert done.status_code == 302
    page = newcomer.get("/").get_data(as_text=True)
    assert "newcomer@example.org (campaigner)" in page
    # Single use: the same link now refuses, and says why.
    again = app.test_client().get(path)
    assert again.status_code == 410
    assert "does not work any more" in again.get_data(as_text=True)
    assert {"user.invite", "account.invite_used", "auth.sign_in"} <= set(actions(app))


def test_an_expired_or_replaced_invitation_link_does_nothing(
    app: Flask, login: Callable[..., FlaskClient], worker: Any
) -> None:
    """Inviting again voids the first link; a link past its expiry is refused as well."""
    admin = login("admin")
    post_form(admin, "/admin/users/invite", {"email": "late@example.org", "role": "viewer"},
              page="/admin/users")  # fmt: skip
    first = link_in_mail(app, "late@example.org")
    with app.app_context():
        user_id = (
            get_db().session.scalars(select(User.id).where(User.email == "late@example.org")).one()
        )
    post_form(admin, f"/admin/users/{user_id}/resend", {}, page="/admin/users")
    second = link_in_mail(app, "late@example.org", count=2)
    assert first != second
    assert app.test_client().get(first).status_code == 410
    assert app.test_client().get(second).status_code == 200
    with app.app_context(), get_db().transaction() as session:
        session.execute(update(AccountLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    resp = post_form(app.test_client(), second, {"password": "x" * 3, "confirm": "x"},
                     page="/login")  # fmt: skip
    assert resp.status_code == 410
    with app.app_context():
        user = get_db().session.get(User, user_id)
        assert user is not None
        assert user.status == "invited"


def test_a_password_reset_answers_the_same_for_any_address_and_mails_only_real_accounts(
    app: Flask, make_user: Callable[..., tuple[str, str]], worker: Any
) -> None:
    """The forgotten-password form gives the same page for an account's address and for an
    unknown one; only the account gets a mail. Its link sets a new password once: the old one
    stops working, the new one signs in."""
    email, old_password = make_user(email="staff@example.org", role="campaigner")
    client = app.test_client()
    known = post_form(client, "/password/forgot", {"email": email})
    unknown = post_form(client, "/password/forgot", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    path = link_in_mail(app, email)
    assert mails_to(app, "nobody@example.org") == []
    assert [m.subject for m in mails_to(app, email)] == ["Reset your Outreach password"]

    resp = post_form(client, path, {"password": "a brand new password", "confirm": "a brand new password"})  # fmt: skip
    assert resp.status_code == 302
    assert client.get(path).status_code == 410
    fresh = app.test_client()
    refused = post_form(fresh, "/login", {"email": email, "password": old_password})
    assert refused.status_code == 400
    accepted = post_form(fresh, "/login", {"email": email, "password": "a brand new password"})
    assert accepted.status_code == 302


def test_password_reset_requests_are_rate_limited(app: Flask) -> None:
    """Flask-Limiter (in the real Redis) refuses the sixth reset request within the hour."""
    client = app.test_client()
    codes = [
        post_form(client, "/password/forgot", {"email": f"p{i}@example.org"}).status_code
        for i in range(6)
    ]
    assert codes == [200] * 5 + [429]


def test_failed_sign_ins_are_rate_limited_and_successes_do_not_count(
    app: Flask, make_user: Callable[..., tuple[str, str]]
) -> None:
    """Ten wrong passwords from one address, then even the right one is refused (429) for now;
    signing in correctly many times in a row is never limited."""
    email, password = make_user()
    client = app.test_client()
    for _ in range(11):
        assert (
            post_form(client, "/login", {"email": email, "password": password}).status_code == 302
        )
        client.post(
            "/logout", data={"csrf_token": csrf_token_from(client.get("/").get_data(as_text=True))}
        )
    codes = [
        post_form(client, "/login", {"email": email, "password": "wrong"}, page="/password/forgot").status_code
        for _ in range(10)
    ]  # fmt: skip
    assert codes == [400] * 10
    token = csrf_token_from(client.get("/password/forgot").get_data(as_text=True))
    resp = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert resp.status_code == 429
