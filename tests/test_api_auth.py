"""API tokens: hashed at rest, scoped, limited by the user's role, revocable, rate-limited; every
error of the API is an RFC 9457 problem; the console page makes and revokes tokens."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from outreach.api.models import ApiToken
from outreach.extensions import get_db
from tests.api_support import bearer, token_for
from tests.conftest import csrf_token_from

NEW_CAMPAIGN = {
    "name": "Fishermen",
    "subject": "Port Salé",
    "body": "{{ salutation }}\n\nFree the twelve fishermen.",
    "audience": {"filter": "kind:mep country:MT"},
}


def _assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_every_api_resource_answers_401_problem_without_a_token(
    app: Flask, client: FlaskClient
) -> None:
    """Walking the URL map: every /api/v1 route but the document and its reference page refuses a
    request without a token with 401, a Bearer challenge and a problem body, for every method."""
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith(
            ("api-docs.", "api_reference.")
        ):
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method, json={})
            _assert_problem(resp, 401)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            checked += 1
    assert checked >= 20


def test_the_token_is_stored_only_as_its_hash(app: Flask) -> None:
    """The row keeps the SHA-256 of the token and its prefix, never the token."""
    token = token_for(app)
    with app.app_context():
        row = get_db().session.scalars(select(ApiToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token.startswith(f"otk_{row.prefix}_")
        assert token not in repr(vars(row))


def test_a_read_token_reads_but_cannot_write(app: Flask, client: FlaskClient) -> None:
    """Scope read: GET works, POST is refused with 403 insufficient-scope and creates nothing."""
    headers = bearer(token_for(app, "admin", "read"))
    assert client.get("/api/v1/campaigns", headers=headers).status_code == 200
    body = _assert_problem(
        client.post("/api/v1/campaigns", json=NEW_CAMPAIGN, headers=headers), 403
    )
    assert body["type"].endswith("insufficient-scope")
    assert client.get("/api/v1/campaigns", headers=headers).get_json()["items"] == []


def test_a_viewers_write_token_still_cannot_write(app: Flask, client: FlaskClient) -> None:
    """Roles apply: a viewer's token of scope write is refused any change (403), and cannot read
    supporters' personal data, which the console shows to editors only."""
    headers = bearer(token_for(app, "viewer", "write"))
    assert client.get("/api/v1/contacts", headers=headers).status_code == 200
    body = _assert_problem(
        client.post("/api/v1/campaigns", json=NEW_CAMPAIGN, headers=headers), 403
    )
    assert body["type"].endswith("role")
    _assert_problem(client.get("/api/v1/campaigns/1/signatures", headers=headers), 403)


def test_a_campaigners_write_token_writes(app: Flask, client: FlaskClient) -> None:
    """A campaigner's write token creates a draft (201), recorded as created by that user."""
    from contacts.bundled import load_bundled

    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
    headers = bearer(token_for(app, "campaigner", "write"))
    resp = client.post("/api/v1/campaigns", json=NEW_CAMPAIGN, headers=headers)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "draft"


def test_a_revoked_token_and_an_inactive_user_are_refused(app: Flask, client: FlaskClient) -> None:
    """Revocation takes effect at the next request; so does deactivating the user."""
    from outreach.accounts.models import User
    from outreach.api.tokens import revoke_token

    token = token_for(app, "admin", "write")
    assert client.get("/api/v1/contacts", headers=bearer(token)).status_code == 200
    with app.app_context(), get_db().transaction() as session:
        row = session.scalars(select(ApiToken)).one()
        revoke_token(session, row.id, by=row.user)
    _assert_problem(client.get("/api/v1/contacts", headers=bearer(token)), 401)

    other = token_for(app, "campaigner", "read")
    with app.app_context(), get_db().transaction() as session:
        session.scalars(select(User).where(User.role == "campaigner")).one().active = False
    _assert_problem(client.get("/api/v1/contacts", headers=bearer(other)), 401)


def test_forged_and_malformed_tokens_are_refused(app: Flask, client: FlaskClient) -> None:
    """A token with a real prefix but another secret, a bare word, or another scheme: 401."""
    token = token_for(app)
    forged = token[: token.rindex("_") + 1] + "x" * 43
    for header in (
        f"Bearer {forged}",
        "Bearer otk_",
        "Bearer nonsense",
        f"Basic {token}",
        "Bearer",
    ):
        _assert_problem(client.get("/api/v1/contacts", headers={"Authorization": header}), 401)


def test_last_used_is_recorded(app: Flask, client: FlaskClient) -> None:
    token = token_for(app)
    with app.app_context():
        assert get_db().session.scalars(select(ApiToken)).one().last_used_at is None
    client.get("/api/v1/contacts", headers=bearer(token))
    with app.app_context():
        assert get_db().session.scalars(select(ApiToken)).one().last_used_at is not None


def test_the_session_cookie_does_not_authenticate_and_no_csrf_is_asked(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Signed in to the console but without a token: 401 (the cookie is no credential here).
    With a token, a POST needs no CSRF token (the API is exempt: a cross-site page cannot make
    the browser send the Authorization header)."""
    from contacts.bundled import load_bundled

    client = login("admin")
    _assert_problem(client.get("/api/v1/contacts"), 401)
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
    resp = client.post("/api/v1/campaigns", json=NEW_CAMPAIGN, headers=bearer(token_for(app)))
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_tokens_are_rate_limited_each_on_its_own(app: Flask, client: FlaskClient) -> None:
    """OUTREACH_API_RATE counts requests per token in Redis: past it, 429 as a problem with
    Retry-After; another token still has its own budget."""
    app.config["OUTREACH"] = app.config["OUTREACH"].__class__(
        **{**vars(app.config["OUTREACH"]), "api_rate": "3/minute"}
    )
    first, second = (
        bearer(token_for(app, "admin", "read")),
        bearer(token_for(app, "campaigner", "read")),
    )
    for _ in range(3):
        assert client.get("/api/v1/contacts", headers=first).status_code == 200
    refused = client.get("/api/v1/contacts", headers=first)
    body = _assert_problem(refused, 429)
    assert body["title"] == "Too Many Requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/contacts", headers=second).status_code == 200


def test_invalid_input_is_a_problem_with_field_errors(app: Flask, client: FlaskClient) -> None:
    """Schema errors and a service's refusal both answer 422 with errors naming the field."""
    headers = bearer(token_for(app))
    body = _assert_problem(client.post("/api/v1/campaigns", json={"name": 3}, headers=headers), 422)
    fields = {(e["location"], e["field"]) for e in body["errors"]}
    assert {("json", "name"), ("json", "subject"), ("json", "audience")} <= fields
    body = _assert_problem(client.get("/api/v1/contacts?filter=body:(", headers=headers), 422)
    assert body["errors"][0]["field"] == "filter"
    body = _assert_problem(client.get("/api/v1/contacts?limit=0", headers=headers), 422)
    assert body["errors"][0] == {
        "location": "query",
        "field": "limit",
        "message": body["errors"][0]["message"],
    }
    _assert_problem(client.get("/api/v1/campaigns/99", headers=headers), 404)
    _assert_problem(client.delete("/api/v1/campaigns", headers=headers), 405)
    _assert_problem(client.get("/api/v1/nowhere", headers=headers), 404)


def test_the_console_page_makes_shows_once_and_revokes_tokens(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """A campaigner creates a write token (shown once), sees it listed without its secret, uses
    it, revokes it; an admin sees everyone's tokens and may revoke them, a campaigner not others'."""
    client = login("campaigner")
    page = client.get("/account/tokens").get_data(as_text=True)
    resp = client.post(
        "/account/tokens",
        data={"name": "CRM sync", "scope": "write", "csrf_token": csrf_token_from(page)},
    )
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    token = html.split('<code id="new-token">')[1].split("</code>")[0]
    assert token.startswith("otk_")
    again = client.get("/account/tokens").get_data(as_text=True)
    assert token not in again
    assert "CRM sync" in again
    assert client.get("/api/v1/contacts", headers=bearer(token)).status_code == 200

    admin_token = token_for(app, "admin", "read", email="boss@example.org")
    with app.app_context():
        admins = (
            get_db().session.scalars(select(ApiToken).where(ApiToken.name == "admin read")).one()
        )
    refused = client.post(
        f"/account/tokens/{admins.id}/revoke", data={"csrf_token": csrf_token_from(again)}
    )
    assert refused.status_code == 404
    assert client.get("/api/v1/contacts", headers=bearer(admin_token)).status_code == 200

    with app.app_context():
        mine = get_db().session.scalars(select(ApiToken).where(ApiToken.name == "CRM sync")).one()
    resp = client.post(
        f"/account/tokens/{mine.id}/revoke", data={"csrf_token": csrf_token_from(again)}
    )
    assert resp.status_code == 302
    assert client.get("/api/v1/contacts", headers=bearer(token)).status_code == 401
    assert "revoked" in client.get("/account/tokens").get_data(as_text=True)


def test_an_admin_revokes_anyones_token(app: Flask, login: Callable[..., FlaskClient]) -> None:
    other = token_for(app, "campaigner", "write", email="crm@example.org")
    client = login("admin")
    page = client.get("/account/tokens").get_data(as_text=True)
    assert "crm@example.org" in page
    with app.app_context():
        row = get_db().session.scalars(select(ApiToken)).one()
    resp = client.post(
        f"/account/tokens/{row.id}/revoke", data={"csrf_token": csrf_token_from(page)}
    )
    assert resp.status_code == 302
    assert client.get("/api/v1/contacts", headers=bearer(other)).status_code == 401


def test_the_document_and_reference_page_are_served_without_a_cdn(client: FlaskClient) -> None:
    """openapi.json is OpenAPI 3.1 with every resource; the reference page is rendered by this
    server, loads nothing from another origin and runs no script (its CSP allows none)."""
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    assert {"/api/v1/contacts", "/api/v1/campaigns/{campaign_id}/launch",
            "/api/v1/campaigns/{campaign_id}/signatures.csv"} <= set(doc["paths"])  # fmt: skip
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'src="http' not in html
    assert 'href="http' not in html
    assert "<script" not in html
    csp = page.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none';")
    assert "script-src" not in csp
