"""OUTREACH_PROXY_HOPS: behind N trusted proxies the per-IP signing limit keys on the client's
address from X-Forwarded-For (werkzeug's ProxyFix); with 0 the header is ignored, so a client
cannot dodge the limit by sending one."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from flask.testing import FlaskClient

from outreach import create_app
from outreach.extensions import get_db
from tests.supporters import form_token, public_campaign, signing_data


def _post(client: FlaskClient, forwarded_for: str, n: int) -> int:
    headers = {"X-Forwarded-For": forwarded_for}
    token = form_token(client.get("/c/free-them", headers=headers).get_data(as_text=True))
    data = signing_data(token, email_address=f"p{n}@example.org")
    return client.post("/c/free-them", data=data, headers=headers).status_code


@contextmanager
def _client_with_hops(app: Flask, hops: int) -> Iterator[FlaskClient]:
    """A second app on the same database and Redis, created with `proxy_hops` (ProxyFix wraps
    the app when it is created); its connections closed at the end."""
    settings = dataclasses.replace(
        app.config["OUTREACH"], proxy_hops=hops, sign_min_seconds=0,
        sign_rate_per_ip="2/hour", sign_rate_per_address="", sign_burst="",
    )  # fmt: skip
    proxied = create_app(settings)
    proxied.config["TESTING"] = True
    try:
        yield proxied.test_client()
    finally:
        with proxied.app_context():
            get_db().dispose()


def test_with_one_hop_the_limit_keys_on_the_forwarded_client(app: Flask) -> None:
    public_campaign(app)
    with _client_with_hops(app, 1) as client:
        assert [_post(client, "203.0.113.7", i) for i in range(3)] == [200, 200, 429]
        # Another client behind the same proxy has its own limit.
        assert _post(client, "198.51.100.4", 3) == 200
        # Only the last hop (the one our proxy added) counts: a forged left part changes nothing.
        assert _post(client, "10.9.9.9, 203.0.113.7", 4) == 429


def test_with_no_hops_the_forwarded_header_is_ignored(app: Flask) -> None:
    public_campaign(app)
    with _client_with_hops(app, 0) as client:
        codes = [_post(client, f"203.0.113.{i}", i) for i in range(3)]
    assert codes == [200, 200, 429]
