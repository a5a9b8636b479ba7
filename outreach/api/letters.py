"""/api/v1/campaigns/{id}/languages and /test-send: a campaign's letter in more languages, and
test copies, through the services the console's pages call (outreach.campaigns.letters
set_variant / remove_variant, outreach.campaigns.testsend.send_test).

A language version is checked as the console checks it before anything changes (it compiles,
renders for a sample recipient, refuses injection payloads); only a draft's letter changes. A test
send renders one recipient's copy (the first of the audience by default) and sends it, marked
"[TEST] " with an X-Outreach-Test header, to the given address (the token's user by default),
never to the official; it is limited to TEST_SEND_RATE per user.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from contacts.audience import Audience, AudienceError
from contacts.models import Contact
from outreach.api.auth import current_user, protect
from outreach.api.pagination import get_or_404
from outreach.api.problems import CONFLICT, Problem, invalid
from outreach.api.schemas import Id, Text
from outreach.campaigns.letters import LetterCheckError, remove_variant, set_variant
from outreach.campaigns.models import Campaign, LetterVariant
from outreach.campaigns.testsend import send_test
from outreach.extensions import get_db, get_settings, limiter
from outreach.mail.message import HeaderError, parse_address

blp = Blueprint(
    "api_letters",
    __name__,
    description="A campaign's letter in more languages, and test sends of one recipient's copy.",
)
protect(blp)
MAX_TEMPLATE = 100_000
# Each test is a real message through the relay: a few a minute is what a person checking a
# letter needs, and bounds what a leaked token can send.
TEST_SEND_RATE = "5/minute;100/day"
LANGUAGE = r"^[a-z]{2}(?:-[A-Z]{2})?$"


class LanguageOut(Schema):
    language = fields.String(required=True)
    default = fields.Boolean(
        required=True, metadata={"description": "The campaign's own letter (edit the campaign)."}
    )
    subject = fields.String(required=True)
    body = fields.String(required=True)


class LanguageList(Schema):
    items = fields.List(fields.Nested(LanguageOut), required=True)


class LanguageIn(Schema):
    subject = Text(required=True, validate=validate.Length(max=MAX_TEMPLATE))
    body = Text(required=True, validate=validate.Length(max=MAX_TEMPLATE))


class NewLanguageIn(LanguageIn):
    language = Text(
        required=True,
        validate=validate.Regexp(LANGUAGE),
        metadata={"example": "fr", "description": "en, fr, pt-BR..."},
    )


class TestSendIn(Schema):
    contact_id = Id(
        load_default=None,
        metadata={"description": "Whose copy (default: the first recipient of the audience)."},
    )
    language = Text(
        load_default=None,
        validate=validate.Regexp(LANGUAGE),
        metadata={"description": "Which version (default: the one this recipient gets)."},
    )
    to = Text(
        load_default=None,
        validate=validate.Length(3, 320),
        metadata={"description": "Where to send it (default: the token's user)."},
    )


class TestSendOut(Schema):
    outcome = fields.String(required=True, metadata={"enum": ["sent"]})
    to = fields.String(required=True)
    contact_id = fields.Integer(required=True)
    display_name = fields.String(required=True)
    code = fields.Integer(allow_none=True, metadata={"description": "The relay's SMTP code."})
    text = fields.String(required=True)


def _campaign(campaign_id: int) -> Campaign:
    return get_or_404(Campaign, campaign_id, "campaign")


def _out(campaign: Campaign, language: str) -> dict[str, Any]:
    subject, body = campaign.letter_sources()[language]
    return {
        "language": language,
        "default": language == campaign.default_language,
        "subject": subject,
        "body": body,
    }


def _variant(campaign: Campaign, language: str) -> LetterVariant:
    variant = next((v for v in campaign.variants if v.language == language), None)
    if variant is None:
        raise Problem(404, f"Campaign {campaign.id} has no {language!r} version.")
    return variant


def _draft(campaign: Campaign) -> None:
    if campaign.status != "draft":
        raise Problem(
            409,
            f"Only a draft's letter can be changed; this campaign is {campaign.status}.",
            type_=CONFLICT,
        )


def _save(campaign: Campaign, language: str, body: dict[str, Any]) -> dict[str, Any]:
    session = get_db().session
    _draft(campaign)
    try:
        set_variant(session, campaign, language, body["subject"], body["body"])
    except LetterCheckError as exc:
        session.rollback()
        message = str(exc)
        field = next((p for p in ("subject", "body") if message.startswith(p)), "language")
        raise invalid(field, message) from exc
    session.commit()
    return _out(campaign, language)


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/languages")
class Languages(MethodView):
    @blp.response(200, LanguageList)
    def get(self, campaign_id: int) -> dict[str, Any]:
        """The letter in each language, the campaign's default first."""
        campaign = _campaign(campaign_id)
        return {"items": [_out(campaign, lang) for lang in campaign.letter_sources()]}

    @blp.arguments(NewLanguageIn)
    @blp.response(201, LanguageOut)
    def post(self, body: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """Add the letter in one more language (a draft's; checked before it is saved)."""
        campaign = _campaign(campaign_id)
        language = body["language"]
        if language in campaign.letter_sources():
            _draft(campaign)
            raise Problem(
                409,
                f"The letter already has a {language!r} version: change it with PUT.",
                type_=CONFLICT,
            )
        return _save(campaign, language, body)


@blp.route(
    "/campaigns/<int(min=1, max=2147483647):campaign_id>/languages/<string(maxlength=8):language>"
)
class LanguageItem(MethodView):
    @blp.response(200, LanguageOut)
    def get(self, campaign_id: int, language: str) -> dict[str, Any]:
        """The letter in one language."""
        campaign = _campaign(campaign_id)
        if language not in campaign.letter_sources():
            raise Problem(404, f"Campaign {campaign.id} has no {language!r} version.")
        return _out(campaign, language)

    @blp.arguments(LanguageIn)
    @blp.response(200, LanguageOut)
    def put(self, body: dict[str, Any], campaign_id: int, language: str) -> dict[str, Any]:
        """Change the letter in one more language (the default one is the campaign's: PUT it)."""
        campaign = _campaign(campaign_id)
        _variant(campaign, language)
        return _save(campaign, language, body)

    @blp.response(204)
    def delete(self, campaign_id: int, language: str) -> Response:
        """Remove a language version: its readers get the default language."""
        campaign = _campaign(campaign_id)
        _variant(campaign, language)
        _draft(campaign)
        session = get_db().session
        remove_variant(session, campaign, language)
        session.commit()
        return Response(status=204)


def _test_send_key() -> str:
    return f"api-test-send:{current_user().id}"


def _recipient(campaign: Campaign, contact_id: int | None) -> Contact:
    session = get_db().session
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise invalid("contact_id", f"There is no contact {contact_id}.")
        return contact
    try:
        first = session.scalars(Audience.from_dict(campaign.audience).query(session).limit(1))
        contact = first.first()
    except AudienceError as exc:
        raise invalid("contact_id", f"The audience cannot be read: {exc}") from exc
    if contact is None:
        raise invalid(
            "contact_id", "The audience is empty: choose a contact to render the copy for."
        )
    return contact


def _address(to: str | None) -> str:
    address = to or current_user().email
    try:
        return parse_address(address, "To").addr_spec
    except HeaderError as exc:
        raise invalid("to", f"Not one e-mail address: {exc}") from exc


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/test-send")
class TestSend(MethodView):
    # Flask-Limiter on the view: per user, whichever token; 429 as problem details.
    decorators = [limiter.limit(TEST_SEND_RATE, key_func=_test_send_key, scope="api-test-send")]

    @blp.arguments(TestSendIn)
    @blp.response(200, TestSendOut)
    def post(self, body: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """Send one recipient's copy, as the console's "send a test" does, to `to` (default: the
        token's user), never to the official. A copy that cannot be rendered or an address the
        relay refuses is 422, a relay that cannot be reached 502."""
        campaign = _campaign(campaign_id)
        contact = _recipient(campaign, body["contact_id"])
        to = _address(body["to"])
        language = body["language"]
        if language is not None and language not in campaign.letter_sources():
            raise invalid("language", f"The letter has no {language!r} version.")
        settings = get_settings()
        outcome = send_test(
            campaign,
            contact,
            staff_address=to,
            smtp_url=settings.effective_smtp_url,
            smtp_timeout=settings.smtp_timeout,
            default_from=settings.mail_from,
            return_path=settings.return_path,
            language=language,
        )
        code = f"{outcome.code} " if outcome.code else ""
        if outcome.kind == "permanent":
            field = "letter" if outcome.code is None else "to"
            raise invalid(field, f"Not sent: {code}{outcome.text}")
        if outcome.kind != "sent":
            raise Problem(502, f"The relay did not take the test: {code}{outcome.text}")
        return {
            "outcome": "sent",
            "to": to,
            "contact_id": contact.id,
            "display_name": contact.display_name,
            "code": outcome.code,
            "text": outcome.text,
        }
