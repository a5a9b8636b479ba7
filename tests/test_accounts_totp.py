"""The optional second factor: enrolment with a QR code drawn on the server, confirmation with a
first code, sign-in in two steps, replay refused, single-use recovery codes, and the setting that
makes admins enrol before anything else."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from outreach.accounts.models import RecoveryCode, User
from outreach.extensions import get_db
from tests.conftest import csrf_token_from


def post(
    client: FlaskClient, url: str, data: dict[str, str], page: str = "/account/security"
) -> object:
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def enrol(client: FlaskClient) -> tuple[pyotp.TOTP, list[str]]:
    """Start, read the key from the page, confirm with the app's code; the recovery codes."""
    post(client, "/account/totp/start", {})
    page = client.get("/account/security").get_data(as_text=True)
    assert "<svg" in page
    assert "TOTP enrolment" in page
    assert "cdn" not in page.lower()
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert secret
    app_totp = pyotp.TOTP(secret.group(1))
    wrong = post(
        client,
        "/account/totp/confirm",
        {"code": "000000" if app_totp.now() != "000000" else "111111"},
    )
    assert wrong.status_code == 400  # type: ignore[attr-defined]
    done = post(client, "/account/totp/confirm", {"code": app_totp.now()})
    html = done.get_data(as_text=True)  # type: ignore[attr-defined]
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", html)
    assert len(codes) == 10
    return app_totp, codes


def sign_in(app: Flask, email: str, password: str) -> tuple[FlaskClient, object]:
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    return client, resp


def test_enrolment_then_sign_in_asks_for_a_fresh_code(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """After enrolment the password alone no longer signs in: the second step wants a code;
    the code used to enrol (already used) is refused, the next one is accepted."""
    client = login("campaigner")
    app_totp, codes = enrol(client)
    with app.app_context():
        stored = list(get_db().session.scalars(select(RecoveryCode.code_hash)))
        assert len(stored) == 10
        assert not set(stored) & {c.replace("-", "") for c in codes}
    used = app_totp.now()

    second, resp = sign_in(app, "campaigner@example.org", "correct horse battery")
    assert resp.headers["Location"] == "/login/code"  # type: ignore[attr-defined]
    assert second.get("/").status_code == 302  # not signed in yet
    replay = post(second, "/login/code", {"code": used}, page="/login/code")
    assert replay.status_code == 400  # type: ignore[attr-defined]
    ok = post(second, "/login/code", {"code": app_totp.at(time.time() + 30)}, page="/login/code")
    assert ok.status_code == 302  # type: ignore[attr-defined]
    assert "campaigner@example.org" in second.get("/").get_data(as_text=True)


def test_a_recovery_code_signs_in_once(app: Flask, login: Callable[..., FlaskClient]) -> None:
    """Each recovery code works once; the page says how many are left."""
    client = login("viewer")
    _app_totp, codes = enrol(client)
    first, _ = sign_in(app, "viewer@example.org", "correct horse battery")
    ok = post(first, "/login/code", {"code": codes[0].upper()}, page="/login/code")
    assert ok.status_code == 302  # type: ignore[attr-defined]
    assert "9 left" in first.get("/").get_data(as_text=True)
    again, _ = sign_in(app, "viewer@example.org", "correct horse battery")
    assert post(again, "/login/code", {"code": codes[0]}, page="/login/code").status_code == 400  # type: ignore[attr-defined]


def test_admins_can_be_required_to_enrol_first(
    app: Flask, login: Callable[..., FlaskClient], make_user: Callable[..., tuple[str, str]]
) -> None:
    """With OUTREACH_REQUIRE_ADMIN_2FA an admin without a second factor is sent to enrol from
    every page, cannot turn it off afterwards; a campaigner is not concerned."""
    app.config["OUTREACH"] = dataclasses.replace(app.config["OUTREACH"], require_admin_2fa=True)
    admin = login("admin")
    resp = admin.get("/campaigns/new")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/account/security"
    assert "Admins must use a second factor" in admin.get("/account/security").get_data(
        as_text=True
    )
    app_totp, _codes = enrol(admin)
    assert admin.get("/campaigns/new").status_code == 200
    refused = post(
        admin,
        "/account/totp/disable",
        {"password": "correct horse battery", "code": app_totp.at(time.time() + 30)},
    )
    assert refused.status_code == 302  # type: ignore[attr-defined]
    with app.app_context():
        user = get_db().session.scalars(select(User).where(User.role == "admin")).one()
        assert user.totp_enabled
    email, password = make_user(email="camp@example.org", role="campaigner")
    campaigner, _ = sign_in(app, email, password)
    assert campaigner.get("/campaigns/new").status_code == 200


def test_the_second_factor_can_be_turned_off_with_password_and_code(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Turning it off needs the password and a current code; then the password alone signs in."""
    client = login("campaigner")
    app_totp, _codes = enrol(client)
    bad = post(
        client,
        "/account/totp/disable",
        {"password": "wrong password!!", "code": app_totp.at(time.time() + 30)},
    )
    assert "the password is wrong" in bad.get_data(as_text=True)  # type: ignore[attr-defined]
    ok = post(
        client,
        "/account/totp/disable",
        {"password": "correct horse battery", "code": app_totp.at(time.time() + 30)},
    )
    assert ok.status_code == 302  # type: ignore[attr-defined]
    _client, resp = sign_in(app, "campaigner@example.org", "correct horse battery")
    assert resp.headers["Location"] == "/"  # type: ignore[attr-defined]


def _stored_secret(app: Flask, email: str) -> str:
    with app.app_context():
        user = get_db().session.scalars(select(User).where(User.email == email)).one()
        assert user.totp_secret is not None
        return user.totp_secret


def test_the_secret_is_stored_encrypted_and_sign_in_still_works(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The database holds a Fernet token, not the secret shown at enrolment (nor its bytes in any
    encoding a dump would show); decrypted with the app's key it is that secret, and a code from
    the app signs in through the second step."""
    import base64

    from outreach.accounts.totp import unseal

    client = login("campaigner")
    app_totp, _codes = enrol(client)
    stored = _stored_secret(app, "campaigner@example.org")
    assert app_totp.secret not in stored
    assert base64.b32decode(app_totp.secret).hex() not in stored.lower()
    assert stored.startswith("gAAAAA")  # a Fernet token (version byte 0x80, then a timestamp)
    assert unseal(stored, app.config["OUTREACH"].secret_key) == app_totp.secret
    assert unseal(stored, "some other key") is None

    second, resp = sign_in(app, "campaigner@example.org", "correct horse battery")
    assert resp.headers["Location"] == "/login/code"  # type: ignore[attr-defined]
    ok = post(second, "/login/code", {"code": app_totp.at(time.time() + 30)}, page="/login/code")
    assert ok.status_code == 302  # type: ignore[attr-defined]
    assert "campaigner@example.org" in second.get("/").get_data(as_text=True)


def test_a_new_secret_key_voids_codes_but_not_recovery_codes(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """After OUTREACH_SECRET_KEY changes, the stored secret no longer decrypts: the app's codes
    are refused (no error page), and a recovery code (a hash, not encrypted) still signs in, as
    docs/operations.md tells users to do before enrolling again."""
    client = login("campaigner")
    app_totp, codes = enrol(client)
    app.config["OUTREACH"] = dataclasses.replace(app.config["OUTREACH"], secret_key="k" * 64)
    app.secret_key = "k" * 64
    second, resp = sign_in(app, "campaigner@example.org", "correct horse battery")
    assert resp.headers["Location"] == "/login/code"  # type: ignore[attr-defined]
    code = app_totp.at(time.time() + 30)
    assert post(second, "/login/code", {"code": code}, page="/login/code").status_code == 400  # type: ignore[attr-defined]
    ok = post(second, "/login/code", {"code": codes[0]}, page="/login/code")
    assert ok.status_code == 302  # type: ignore[attr-defined]
