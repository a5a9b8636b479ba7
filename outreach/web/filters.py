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


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["timestamp"] = _timestamp
    app.jinja_env.filters["dt"] = _datetime
    app.jinja_env.filters["country_name"] = country_name
