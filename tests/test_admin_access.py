"""Admin pages need a signed-in user; every POST needs a CSRF token; roles limit what staff can do."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

# Endpoints that must answer without signing in: the public campaign pages are named one by one,
# so that a new public route is a decision this test has to be told about. The ESP webhook
# authenticates each request by its HMAC signature instead (tests/test_tracking_pipeline.py checks
# the refusals).
PUBLIC_ENDPOINTS = {
    "static",
    "auth.login",
    "health.healthz",
    "public.campaign",
    "public.embed",
    "public.confirm_signature",
    "public.count",
    "inbound.webhook",
    "public.withdraw_signature",
    "mep_reply.answer",
    "unsubscribe.unsubscribe",
    # The API's OpenAPI document and its reference page (Swagger UI, its start-up script and
    # assets) hold no data. The API's resources (endpoints "api_<resource>.*") authenticate by
    # token, never by the session: tests/test_api_auth.py proves each answers 401 without one.
    "api-docs.openapi_json",
    "api_reference.page",
    "api_reference.init_js",
    "api_reference.asset",
}
TOKEN_ENDPOINT_PREFIXES = ("api_contacts.", "api_audiences.", "api_campaigns.", "api_deliveries.",
                           "api_replies.", "api_signatures.")  # fmt: skip


def _concrete_url(rule: str) -> str:
    """Fill every URL variable with a value of the right shape (ids that exist or not)."""
    return re.sub(r"<(?:int:)?[^>]+>", "1", rule)


def test_every_non_public_page_redirects_to_sign_in(app: Flask, client: FlaskClient) -> None:
    """Walking the whole URL map without a session: every route other than sign-in, health,
    static files and the public campaign pages answers with a redirect to /login, for every
    method it accepts."""
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith(TOKEN_ENDPOINT_PREFIXES):
            continue
        url = _concrete_url(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method)
            if method == "POST" and resp.status_code == 400:
                # CSRF is checked before the view: refused all the same. Try again with a token
                # would need a session; the point is that nothing was done.
                assert b"CSRF" in resp.data, (rule.rule, method)
            else:
                assert resp.status_code == 302, (rule.rule, method, resp.status_code)
                assert resp.headers["Location"].startswith("/login"), (rule.rule, method)
            checked += 1
    assert checked >= 10


def test_health_answers_without_sign_in(client: FlaskClient) -> None:
    """/healthz is public and reports the database as reachable."""
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_a_post_without_csrf_token_is_refused(
    login: Callable[..., FlaskClient], app: Flask
) -> None:
    """A signed-in admin's form POST without its CSRF token is refused with 400 and changes nothing."""
    client = login("admin")
    resp = client.post(
        "/campaigns/new",
        data={"name": "No token", "subject": "Hello", "body": "{{ salutation }}"},
    )
    assert resp.status_code == 400
    assert b"CSRF" in resp.data
    from sqlalchemy import func, select

    from outreach.campaigns.models import Campaign
    from outreach.extensions import get_db

    with app.app_context():
        assert get_db().session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_login_with_a_wrong_password_is_refused(
    client: FlaskClient, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A wrong password leaves the visitor signed out, with a message that names no account."""
    from tests.conftest import csrf_token_from

    email, _ = make_user()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login", data={"email": email, "password": "not the password", "csrf_token": token}
    )
    assert resp.status_code == 400
    assert "Unknown e-mail address or wrong password" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_sign_in_redirects_only_to_local_paths(
    client: FlaskClient, make_user: Callable[..., tuple[str, str]]
) -> None:
    """?next= pointing at another site is ignored: no open redirect after sign-in."""
    from tests.conftest import csrf_token_from

    email, password = make_user()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login?next=//evil.example/steal",
        data={"email": email, "password": password, "csrf_token": token},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"


def test_a_viewer_cannot_create_or_launch_campaigns(login: Callable[..., FlaskClient]) -> None:
    """The viewer role reads but cannot write: the campaign form answers 403."""
    client = login("viewer")
    assert client.get("/").status_code == 200
    assert client.get("/campaigns/new").status_code == 403


def test_the_dev_mailbox_is_for_admins_only(login: Callable[..., FlaskClient]) -> None:
    """A campaigner cannot read captured mail (it holds every letter's full text)."""
    client = login("campaigner")
    assert client.get("/dev/mailbox").status_code == 403


def test_session_cookie_is_httponly_and_samesite(
    login: Callable[..., FlaskClient], app: Flask
) -> None:
    """The session cookie cannot be read by scripts and is not sent on cross-site requests."""
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    client = login("admin")
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
