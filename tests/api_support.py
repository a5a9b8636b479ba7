"""Helpers of the API tests: a user with a token, as the console would make them."""

from __future__ import annotations

from flask import Flask

from outreach.accounts.models import User
from outreach.accounts.services import create_user
from outreach.api.tokens import create_token
from outreach.extensions import get_db


def token_for(app: Flask, role: str = "admin", scope: str = "write", email: str = "") -> str:
    """A new user of `role` (unless one with that address exists) and a token of `scope`."""
    email = email or f"{role}-{scope}@example.org"
    with app.app_context(), get_db().transaction() as session:
        user = session.query(User).filter_by(email=email).one_or_none()
        if user is None:
            user = create_user(session, email, "correct horse battery", role)
        _row, token = create_token(session, user, name=f"{role} {scope}", scope=scope)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
