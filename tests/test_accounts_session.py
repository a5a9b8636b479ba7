"""Session timeout: idle longer than OUTREACH_SESSION_IDLE_MINUTES or signed in longer ago than
OUTREACH_SESSION_MAX_HOURS, the user is signed out and, after signing in again, lands on the page
they were on. Pages polling by themselves do not keep a session alive.

The session's clock is moved back in the signed cookie (as time passing would), never waited for.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient

from tests.conftest import csrf_token_from


def age(client: FlaskClient, *, idle: float = 0, since_sign_in: float = 0) -> None:
    with client.session_transaction() as s:
        s["seen_at"] -= idle
        s["auth_at"] -= since_sign_in


def test_an_idle_session_ends_and_sign_in_returns_to_the_page(
    login: Callable[..., FlaskClient],
) -> None:
    """31 idle minutes: the next page asks to sign in, and signing in goes back to it."""
    client = login("campaigner")
    assert client.get("/contacts?page=2").status_code == 200
    age(client, idle=31 * 60)
    resp = client.get("/contacts?page=2")
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/contacts?page=2"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Your session expired" in page
    back = client.post(
        resp.headers["Location"],
        data={
            "email": "campaigner@example.org",
            "password": "correct horse battery",
            "csrf_token": csrf_token_from(page),
        },
    )
    assert back.headers["Location"] == "/contacts?page=2"


def test_activity_keeps_a_session_alive_until_its_absolute_lifetime(
    login: Callable[..., FlaskClient],
) -> None:
    """29 idle minutes are fine, and each page restarts the idle clock; 12 hours after signing
    in the session ends however active it was."""
    client = login("viewer")
    for _ in range(3):
        age(client, idle=29 * 60)
        assert client.get("/").status_code == 200
    age(client, since_sign_in=12 * 3600 + 1)
    assert client.get("/").headers["Location"].startswith("/login?next=/")


def test_polling_does_not_count_as_activity(login: Callable[..., FlaskClient]) -> None:
    """A request a page makes by itself (fetch: Sec-Fetch-Dest empty) leaves the idle clock
    where it was, and once expired it gets a 401 rather than the sign-in page."""
    client = login("admin")
    age(client, idle=20 * 60)
    with client.session_transaction() as s:
        before = s["seen_at"]
    client.get("/contacts", headers={"Sec-Fetch-Dest": "empty"})
    with client.session_transaction() as s:
        assert s["seen_at"] == before
    age(client, idle=11 * 60)
    assert client.get("/contacts", headers={"Sec-Fetch-Dest": "empty"}).status_code == 401


def test_a_form_posted_after_expiry_changes_nothing_and_returns_to_its_page(
    login: Callable[..., FlaskClient],
) -> None:
    """The POST of an expired session is not carried out; sign-in leads back to the page the
    form was on (its Referer)."""
    client = login("campaigner")
    token = csrf_token_from(client.get("/campaigns/new").get_data(as_text=True))
    age(client, idle=3600)
    resp = client.post(
        "/campaigns/new",
        data={"name": "Late", "subject": "S", "body": "B", "csrf_token": token},
        headers={"Referer": "http://localhost/campaigns/new"},
    )
    assert resp.status_code == 302
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["next"] == ["/campaigns/new"]
    assert "Late" not in client.get("/login").get_data(as_text=True)
