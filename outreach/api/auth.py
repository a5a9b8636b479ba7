"""Bearer-token authentication, scopes, roles and the per-token rate limit of /api/v1.

Every resource blueprint calls `protect(bp)`. A request needs `Authorization: Bearer <token>` of an
active token of an active user (401 otherwise). A request that is not a GET needs a token of scope
`write` *and* a user whose role may change things (admin or campaigner): a viewer's write token
still only reads. The session cookie is never consulted, so the routes are CSRF-exempt.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, g, request

from outreach.accounts.models import Role, User
from outreach.api.models import ApiToken, Scope
from outreach.api.problems import ROLE, SCOPE, Problem
from outreach.api.tokens import authenticate
from outreach.extensions import csrf, get_db, get_settings, limiter

EDITORS = frozenset({Role.ADMIN.value, Role.CAMPAIGNER.value})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="outreach"'}


def _presented() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def rate_key() -> str:
    """The limiter's key: a hash of the presented token (each token has its own budget; the
    limiter runs before authentication, so it cannot use the row), else the client address."""
    token = _presented()
    if token:
        return "api-token:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]
    return "api-ip:" + (request.remote_addr or "unknown")


def _authenticate() -> None:
    token = _presented()
    if not token:
        raise Problem(401, "Send an API token: Authorization: Bearer <token>.", headers=CHALLENGE)
    session = get_db().session
    row = authenticate(session, token)
    if row is None:
        session.rollback()
        raise Problem(
            401, "This token is unknown, revoked, or its user is inactive.", headers=CHALLENGE
        )
    if session.dirty:
        session.commit()  # last_used_at, at most once a minute
    g.api_token = row
    g.api_user = row.user
    if request.method not in READ_METHODS:
        if row.scope != Scope.WRITE.value:
            raise Problem(
                403, "This token has the read scope; this request needs write.", type_=SCOPE
            )
        if row.user.role not in EDITORS:
            raise Problem(403, f"A {row.user.role}'s token cannot change anything.", type_=ROLE)


def current_token() -> ApiToken:
    token: ApiToken = g.api_token
    return token


def current_user() -> User:
    user: User = g.api_user
    return user


def require_editor() -> None:
    """For reads that the console shows to editors only (supporters' personal data)."""
    if current_user().role not in EDITORS:
        raise Problem(403, f"A {current_user().role} cannot read this.", type_=ROLE)


def require_admin() -> None:
    """For what the console shows to admins only (webhook subscriptions and their secrets)."""
    if current_user().role != Role.ADMIN.value:
        raise Problem(
            403,
            f"Only an admin can do this; this token's user is a {current_user().role}.",
            type_=ROLE,
        )


def actor() -> str:
    """Who did it, in delivery events and history: the user, through which token."""
    user = current_user()
    return f"user:{user.id} {user.email} (api token {current_token().prefix})"[:100]


def _limits() -> str:
    return get_settings().api_rate or "1000000/second"


def protect(bp: Blueprint) -> Any:
    """Token authentication, CSRF exemption and the per-token limit for every view of `bp`."""
    csrf.exempt(bp)
    bp.before_request(_authenticate)
    limiter.limit(
        _limits,
        key_func=rate_key,
        scope="api",
        exempt_when=lambda: not get_settings().api_rate.strip(),
    )(bp)
    return bp
