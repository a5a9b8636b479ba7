"""Jinja filters for page templates."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask

from contacts.countries import country_name


def _datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return (
        value.strftime("%Y-%m-%d %H:%M:%S UTC")
        if value.tzinfo
        else value.strftime("%Y-%m-%d %H:%M:%S")
    )


def _timestamp(value: float | None) -> str:
    """Seconds since the epoch (a Maildir delivery time) as a UTC date and time."""
    if not value:
        return "—"
    return _datetime(datetime.fromtimestamp(value, UTC))


def who(actor: str | None) -> str:
    """Who made a change, as staff read it: the recorded actor is for machines ("user:3 a@b.org",
    "worker:<pid>:<thread>", "inbound:<message id>"); pages show the person, the worker process
    or the message (the raw value stays in the page's title attribute)."""
    if not actor:
        return "—"
    kind, _, rest = actor.partition(":")
    if kind == "user" and " " in rest:
        return rest.split(" ", 1)[1]
    if kind == "worker" and rest:
        return f"worker (process {rest.split(':', 1)[0]})"
    if kind == "inbound" and rest.isdigit():
        return f"inbound message {rest}"
    return actor


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["who"] = who
    app.jinja_env.filters["timestamp"] = _timestamp
    app.jinja_env.filters["dt"] = _datetime
    app.jinja_env.filters["country_name"] = country_name
