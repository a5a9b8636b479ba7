"""The public form's rate limits counted in one Redis call (outreach.web.public_limits): a
setting of several limits holds each of them, and the counters are Flask-Limiter's own keys
(so a limit counted before an upgrade goes on counting)."""

from __future__ import annotations

import redis
from flask import Flask
from flask.testing import FlaskClient

from tests.supporters import configure, form_token, public_campaign, signing_data


def test_every_limit_of_a_setting_holds_and_counts_under_flask_limiters_keys(
    app: Flask, client: FlaskClient
) -> None:
    """With `2/minute;5/hour` per IP the third post within the minute is refused (429, a
    Retry-After within the minute's window); Redis holds both windows' counters under the keys
    Flask-Limiter's fixed window uses."""
    public_campaign(app)
    configure(app, sign_min_seconds=0, sign_rate_per_ip="5/hour;2/minute",
              sign_rate_per_address="", sign_burst="")  # fmt: skip
    token = form_token(client.get("/c/free-them").get_data(as_text=True))
    answers = [
        client.post("/c/free-them", data=signing_data(token, email_address=f"p{i}@example.org"))
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
    store = redis.Redis.from_url(app.config["OUTREACH"].effective_redis_url)
    try:
        prefix = "LIMITS:LIMITER/outreach-limits/127.0.0.1/sign-ip"
        assert int(store.get(f"{prefix}/2/1/minute") or 0) == 3
        # Counting stops at the first limit exceeded (the shorter window is taken first).
        assert int(store.get(f"{prefix}/5/1/hour") or 0) == 2
        assert 0 < store.ttl(f"{prefix}/5/1/hour") <= 3600
    finally:
        store.close()
