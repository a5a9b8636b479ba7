"""Helpers of the supporters tests: a campaign with a public page, settings for one test, the
form's token read from a page, and the confirmation link read from a captured mail."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from flask import Flask

from outreach.extensions import get_db

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
LINK_RE = re.compile(r"(https?://\S+/confirm/\S+)")


def public_campaign(app: Flask, slug: str = "free-them", **public: Any) -> int:
    """A draft campaign whose public page is at /c/<slug>, signing open; its id."""
    from outreach.campaigns import services

    with app.app_context(), get_db().transaction() as session:
        campaign = services.create_campaign(
            session,
            name="Free the fishermen",
            subject="Release the twelve fishermen",
            body="{{ salutation }}\n\nWe ask you to act **now**.\n\n"
            "{{ cosigners.count }} people co-sign: {{ cosigners.names|join(', ') }}",
            audience={},
            signatories=[{"name": "Coast Rights", "url": "https://coast.example.org"}],
        )
        campaign.slug = slug
        campaign.signing_open = public.get("signing_open", True)
        campaign.signature_goal = public.get("signature_goal", 100)
        campaign.cosigner_display = public.get("cosigner_display", "both")
        return campaign.id


def configure(app: Flask, **overrides: Any) -> None:
    """Change settings for this test's app (the public views read them at each request)."""
    app.config["OUTREACH"] = dataclasses.replace(app.config["OUTREACH"], **overrides)


def form_token(html: str) -> str:
    match = TOKEN_RE.search(html)
    assert match, "the page has no form token"
    return match.group(1)


def signing_data(token: str, email_address: str = "ana@example.org", **more: str) -> dict[str, str]:
    data = {
        "csrf_token": token,
        "name": "Ana Example",
        "email": email_address,
        "country": "BE",
        "consent": "y",
        "named": "y",
    }
    data.update(more)
    return data


def confirmation_link(text: str) -> str:
    """The confirmation URL in a captured message's text."""
    match = LINK_RE.search(text)
    assert match, "the mail has no confirmation link"
    return match.group(1)
