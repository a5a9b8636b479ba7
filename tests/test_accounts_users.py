"""The admins' users page: every user with role, status, last sign-in and second factor; role
changes, deactivation and reactivation; and the rule that the last active admin cannot be
demoted or deactivated (no one could manage users any more)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from outreach.accounts.models import User
from outreach.extensions import get_db
from tests.conftest import csrf_token_from


def user_id(app: Flask, email: str) -> int:
    with app.app_context():
        return get_db().session.scalars(select(User.id).where(User.email == email)).one()


def post(client: FlaskClient, url: str, data: dict[str, str]) -> object:
    token = csrf_token_from(client.get("/admin/users").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def sign_in(app: Flask, email: str, password: str = "correct horse battery") -> int:
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    return resp.status_code


def test_the_users_page_lists_role_status_last_sign_in_and_second_factor(
    app: Flask, login: Callable[..., FlaskClient], make_user: Callable[..., tuple[str, str]]
) -> None:
    """Each row shows the user's role (selected in its form), status, last sign-in, 2FA."""
    make_user(email="quiet@example.org", role="viewer")
    client = login("admin")
    html = client.get("/admin/users").get_data(as_text=True)
    admin_row = html.split('id="user-')[1:]
    rows = {r.split("<td>", 1)[1].split("<", 1)[0].strip(): r for r in admin_row}
    assert "never" in rows["quiet@example.org"]
    assert ">active<" in rows["quiet@example.org"]
    assert 'selected value="viewer"' in rows["quiet@example.org"]
    assert "never" not in rows["admin@example.org"]  # signed in just now
    assert "<td>off</td>" in rows["admin@example.org"]


def test_the_last_admin_cannot_demote_or_deactivate_themself(
    app: Flask, login: Callable[..., FlaskClient], make_user: Callable[..., tuple[str, str]]
) -> None:
    """Alone, the admin's demotion and deactivation are refused with a reason; with a second
    active admin both go through."""
    client = login("admin")
    me = user_id(app, "admin@example.org")
    resp = post(client, f"/admin/users/{me}/role", {"role": "viewer"})
    assert resp.status_code == 302  # type: ignore[attr-defined]
    assert "last active admin" in client.get("/admin/users").get_data(as_text=True)
    post(client, f"/admin/users/{me}/active", {"active": ""})
    with app.app_context():
        user = get_db().session.get(User, me)
        assert user is not None
        assert user.role == "admin"
        assert user.active
    make_user(email="second@example.org", role="admin")
    post(client, f"/admin/users/{me}/role", {"role": "campaigner"})
    with app.app_context():
        user = get_db().session.get(User, me)
        assert user is not None
        assert user.role == "campaigner"


def test_a_deactivated_user_is_signed_out_and_cannot_sign_in_until_reactivated(
    app: Flask, login: Callable[..., FlaskClient], make_user: Callable[..., tuple[str, str]]
) -> None:
    """Deactivation ends the user's open session at once and refuses their password."""
    email, _ = make_user(email="leaver@example.org", role="campaigner")
    leaver = app.test_client()
    token = csrf_token_from(leaver.get("/login").get_data(as_text=True))
    leaver.post(
        "/login", data={"email": email, "password": "correct horse battery", "csrf_token": token}
    )
    assert leaver.get("/").status_code == 200
    admin = login("admin")
    uid = user_id(app, email)
    post(admin, f"/admin/users/{uid}/active", {"active": ""})
    assert leaver.get("/").status_code == 302  # the session no longer counts
    assert sign_in(app, email) == 400
    assert "deactivated" in admin.get("/admin/users").get_data(as_text=True)
    post(admin, f"/admin/users/{uid}/active", {"active": "y"})
    assert sign_in(app, email) == 302


def test_inviting_an_existing_address_is_a_field_error(
    login: Callable[..., FlaskClient],
) -> None:
    """The invitation form names the problem on its address field (400), and sends nothing."""
    client = login("admin")
    resp = post(client, "/admin/users/invite", {"email": "admin@example.org", "role": "viewer"})
    assert resp.status_code == 400  # type: ignore[attr-defined]
    assert "already exists" in resp.get_data(as_text=True)  # type: ignore[attr-defined]
