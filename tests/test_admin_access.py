"""Admin pages need a signed-in user; every POST needs a CSRF token; roles limit what staff can do:
a viewer changes nothing (every state-changing console endpoint answers 403), a campaigner is
refused every admin-only page, and each of these is proved by walking the whole URL map."""

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
    # The second sign-in step, the forgotten-password form and the one-time links of
    # invitations and resets: for people who are not signed in (tests/test_accounts_links.py).
    "auth.login_code",
    "auth.forgot_password",
    "auth.accept_invite",
    "auth.reset_password",
    "health.healthz",
    "public.campaign",
    "public.embed",
    "public.confirm_signature",
    "public.count",
    "inbound.webhook",
    "public.withdraw_signature",
    "mep_reply.answer",
    "unsubscribe.unsubscribe",
    # The API's OpenAPI document and its reference page hold no data. The API's resources (endpoints "api_<resource>.*") authenticate by
    # token, never by the session: tests/test_api_auth.py proves each answers 401 without one.
    "api-docs.openapi_json",
    "api_reference.page",
}
TOKEN_ENDPOINT_PREFIXES = ("api_contacts.", "api_audiences.", "api_campaigns.", "api_deliveries.",
                           "api_imports.", "api_letters.", "api_replies.", "api_signatures.",
                           "api_webhooks.")  # fmt: skip


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


# --- roles, walked over the URL map -------------------------------------------------------------
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
# What a viewer may change: their own account (password, second factor, own API tokens, which
# only read for a viewer) and their session. Named one by one, as the public pages are.
VIEWER_SELF_SERVICE = {
    "auth.logout",
    "tokens.tokens",
    "tokens.revoke",
    "account.password",
    "account.totp_start",
    "account.totp_confirm",
    "account.totp_disable",
    "account.recovery_codes",
}
# What a viewer may do beyond reading: sort replies and write notes on them (issue 8: "viewer:
# read-only, replies triage allowed").
VIEWER_TRIAGE = {"replies.set_triage", "replies.add_note"}
# Pages only admins reach: users, the audit log, webhooks, the captured mail, supporters' data.
ADMIN_ONLY = {
    "dev.mailbox",
    "dev.message",
    "webhooks.webhooks",
    "webhooks.toggle",
    "signatures.supporter_data",
}
ADMIN_ONLY_BLUEPRINTS = ("users.", "audit.")


def _console_rules(app: Flask) -> list[tuple[str, str, set[str]]]:
    rules = []
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if endpoint in PUBLIC_ENDPOINTS or endpoint.startswith(TOKEN_ENDPOINT_PREFIXES):
            continue
        if endpoint.startswith(("api", "static")):
            continue
        rules.append((endpoint, _concrete_url(rule.rule), set(rule.methods or ())))
    return rules


def test_every_state_changing_console_endpoint_refuses_a_viewer(
    login: Callable[..., FlaskClient], app: Flask
) -> None:
    """Signed in as a viewer with a valid CSRF token, every POST/PUT/PATCH/DELETE of the console
    (other than the viewer's own account) answers 403, and nothing is written: the only audit
    events are the viewer's own sign-in."""
    from sqlalchemy import select

    from outreach.audit import AuditEvent
    from outreach.extensions import get_db
    from tests.conftest import csrf_token_from

    client = login("viewer")
    token = csrf_token_from(client.get("/account/security").get_data(as_text=True))
    refused = []
    for endpoint, url, methods in _console_rules(app):
        if endpoint in VIEWER_SELF_SERVICE or endpoint in VIEWER_TRIAGE:
            continue
        for method in sorted(methods & set(STATE_CHANGING)):
            resp = client.open(url, method=method, data={"csrf_token": token})
            assert resp.status_code == 403, (endpoint, method, resp.status_code)
            refused.append(endpoint)
    assert {"admin.campaign_launch", "drive.pause", "imports.apply", "users.invite"} <= set(refused)
    assert len(refused) >= 30
    with app.app_context():
        actions = set(get_db().session.scalars(select(AuditEvent.action)))
    assert actions == {"auth.sign_in"}


def test_admin_only_pages_refuse_a_campaigner_and_no_other_page_does(
    login: Callable[..., FlaskClient], app: Flask
) -> None:
    """A campaigner gets 403 from every method of every admin-only endpoint; and walking every
    other console GET as a campaigner, none answers 403 (the list above is the whole truth)."""
    from tests.conftest import csrf_token_from

    client = login("campaigner")
    token = csrf_token_from(client.get("/account/security").get_data(as_text=True))
    admin_only_seen = set()
    for endpoint, url, methods in _console_rules(app):
        admin_only = endpoint in ADMIN_ONLY or endpoint.startswith(ADMIN_ONLY_BLUEPRINTS)
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            if not admin_only and method != "GET":
                continue
            if endpoint == "auth.logout":
                continue
            resp = client.open(url, method=method, data={"csrf_token": token})
            if admin_only:
                assert resp.status_code == 403, (endpoint, method, resp.status_code)
                admin_only_seen.add(endpoint)
            else:
                assert resp.status_code != 403, (endpoint, method)
    assert admin_only_seen >= ADMIN_ONLY
    assert {"users.users", "users.invite", "audit.audit_log", "audit.audit_csv"} <= admin_only_seen


def test_an_admin_reaches_the_admin_only_pages(login: Callable[..., FlaskClient]) -> None:
    """The same pages open for an admin."""
    client = login("admin")
    for url in ("/admin/users", "/admin/audit", "/admin/audit.csv", "/webhooks", "/dev/mailbox"):
        assert client.get(url).status_code == 200, url


def test_the_roles_table_lets_a_viewer_triage_but_not_edit() -> None:
    """The permission helpers say what each role may do; "viewer may triage" is one of them."""
    from outreach.accounts.roles import Permission, can, is_admin, may_approve, may_edit, may_triage

    assert may_triage("viewer")
    assert not may_edit("viewer")
    assert not may_approve("viewer")
    assert may_edit("campaigner")
    assert may_approve("campaigner")
    assert not is_admin("campaigner")
    assert all(can("admin", p) for p in Permission)
    assert not can("nobody", Permission.READ)


def test_a_view_declaring_triage_accepts_a_viewers_post(
    app: Flask, client: FlaskClient, make_user: Callable[..., tuple[str, str]]
) -> None:
    """The default-deny rule refuses a viewer's POST to a console view that declares nothing,
    and lets it through where the view declares `permission_required(Permission.TRIAGE)` (as
    the replies inbox will): the rule reads the declaration, not a list of names."""
    from flask import Blueprint

    from outreach.accounts.roles import Permission
    from outreach.web.access import permission_required, require_login_for
    from tests.conftest import csrf_token_from

    bp = Blueprint("triage_probe", __name__)
    require_login_for(bp)

    @bp.post("/probe/triage")
    @permission_required(Permission.TRIAGE)
    def triage() -> str:
        return "sorted"

    @bp.post("/probe/edit")
    def edit() -> str:
        return "edited"

    app.register_blueprint(bp)
    email, password = make_user(email="viewer@example.org", role="viewer")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    token = csrf_token_from(client.get("/account/security").get_data(as_text=True))
    assert (
        client.post("/probe/triage", data={"csrf_token": token}).get_data(as_text=True) == "sorted"
    )
    assert client.post("/probe/edit", data={"csrf_token": token}).status_code == 403
