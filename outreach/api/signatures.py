"""/api/v1/campaigns/{id}/signatures: supporters' signatures, added through the public form's
double opt-in (outreach.supporters.signing.sign: pending until the supporter clicks the link in
the confirmation mail), listed, and exported as CSV with formula cells neutralised.

Supporters' personal data: as in the console, only admins and campaigners read it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Response
from flask.views import MethodView
from flask_babel import force_locale
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from contacts.export import neutralise
from outreach.api.auth import current_token, protect, require_editor
from outreach.api.pagination import get_or_404, page
from outreach.api.problems import CONFLICT, Problem, invalid
from outreach.api.schemas import PageArgs, Text, UtcDateTime, page_schema
from outreach.campaigns.models import Campaign
from outreach.extensions import PUBLIC_LANGUAGES, get_db, get_settings
from outreach.supporters.models import Signature, SignatureState
from outreach.supporters.signing import (
    MAX_COMMENT,
    MAX_NAME,
    MAX_ORGANISATION,
    SignatureInput,
    ip_hash,
    sign,
)
from outreach.web.public_forms import country_choices
from outreach.web.public_letter import privacy_notice_text

blp = Blueprint("api_signatures", __name__, description="Supporters' signatures.")
protect(blp)
CSV_COLUMNS = (
    "id", "name", "email", "country", "organisation", "comment", "state", "named",
    "updates_opt_in", "language", "created_at", "confirmed_at",
)  # fmt: skip


class SignatureOut(Schema):
    id = fields.Integer(required=True)
    campaign_id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    country = fields.String(required=True)
    organisation = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    language = fields.String(required=True)
    named = fields.Boolean(required=True)
    updates_opt_in = fields.Boolean(required=True)
    state = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    confirmed_at = UtcDateTime(allow_none=True)


class SignatureIn(Schema):
    name = Text(required=True, validate=validate.Length(1, MAX_NAME))
    email = Text(required=True, validate=validate.Length(1, 320))
    country = Text(required=True, validate=validate.Length(2, 2), metadata={"example": "FR"})
    organisation = Text(load_default="", validate=validate.Length(max=MAX_ORGANISATION))
    comment = Text(load_default="", validate=validate.Length(max=MAX_COMMENT))
    named = fields.Boolean(load_default=False)
    updates_opt_in = fields.Boolean(load_default=False)
    language = Text(load_default="en", validate=validate.OneOf(PUBLIC_LANGUAGES))
    consent = fields.Boolean(
        required=True,
        metadata={"description": "The supporter agreed to the campaign's privacy notice."},
    )


class SignResultOut(Schema):
    outcome = fields.String(
        required=True,
        metadata={"description": "new (confirmation mail queued), held (for review) or again"},
    )
    signature_id = fields.Integer(required=True)
    mail_queued = fields.Boolean(required=True)


class SignatureArgs(PageArgs):
    state = Text(validate=validate.OneOf([s.value for s in SignatureState]))


def _campaign(campaign_id: int) -> Campaign:
    return get_or_404(Campaign, campaign_id, "campaign")


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/signatures")
class Signatures(MethodView):
    @blp.arguments(SignatureArgs, location="query")
    @blp.response(200, page_schema(SignatureOut, "SignaturePage"))
    def get(self, args: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """List a campaign's signatures, newest first."""
        require_editor()
        _campaign(campaign_id)
        stmt = select(Signature).where(Signature.campaign_id == campaign_id)
        if args.get("state"):
            stmt = stmt.where(Signature.state == args["state"])
        return page(get_db().session, stmt, Signature.id, args, descending=True)

    @blp.arguments(SignatureIn)
    @blp.response(202, SignResultOut)
    def post(self, body: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """Add a supporter's signature: pending until they confirm it from the mail they get."""
        campaign = _campaign(campaign_id)
        if not campaign.signing_open:
            raise Problem(409, "Signing is not open for this campaign.", type_=CONFLICT)
        if not body["consent"]:
            raise invalid(
                "consent", "A signature needs the supporter's consent to the privacy notice."
            )
        settings = get_settings()
        try:
            checked = validate_email(
                body["email"], check_deliverability=settings.check_deliverability
            )
        except EmailNotValidError as exc:
            raise invalid("email", f"Not a valid e-mail address: {exc}") from exc
        country = body["country"].upper()
        if country not in dict(country_choices("en")):
            raise invalid("country", "Not a country code (ISO 3166, e.g. FR).")
        with force_locale(body["language"]):
            notice = privacy_notice_text(campaign)
        session = get_db().session
        result = sign(
            session,
            campaign,
            SignatureInput(
                name=body["name"],
                email=checked.normalized.lower(),
                country=country,
                organisation=body["organisation"],
                comment=body["comment"],
                updates_opt_in=body["updates_opt_in"],
                named=body["named"],
                language=body["language"],
                privacy_notice=str(notice),
            ),
            # The token stands in for the IP address: a CRM sends many supporters from one
            # host, each of whom still confirms by mail; the per-token rate limit bounds a flood.
            source=ip_hash(settings.secret_key, f"api-token:{current_token().prefix}"),
            burst=None,
        )
        session.commit()
        return {
            "outcome": result.outcome,
            "signature_id": result.signature_id,
            "mail_queued": result.mail_queued,
        }


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/signatures.csv")
class SignatureExport(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "Every signature of the campaign as CSV (UTF-8 with BOM); a cell "
                "that a spreadsheet would run as a formula starts with '.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self, campaign_id: int) -> Response:
        """Export a campaign's signatures as CSV."""
        require_editor()
        _campaign(campaign_id)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        rows = get_db().session.scalars(
            select(Signature).where(Signature.campaign_id == campaign_id).order_by(Signature.id)
        )
        for signature in rows:
            writer.writerow([neutralise(getattr(signature, c)) for c in CSV_COLUMNS])
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="signatures-{campaign_id}.csv"'},
        )
