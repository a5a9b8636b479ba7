"""/api/v1/audiences: saved audiences (a filter plus hand-picked contacts) and their counts."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from contacts.audience import Audience, AudienceError, SavedAudienceError, save_audience
from contacts.models import SavedAudience
from outreach.api.auth import protect
from outreach.api.pagination import get_or_404, page
from outreach.api.problems import invalid
from outreach.api.schemas import Id, PageArgs, Text, UtcDateTime, page_schema
from outreach.extensions import get_db

blp = Blueprint("api_audiences", __name__, description="Saved audiences.")
protect(blp)


class AudienceOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    filter = fields.String(required=True)
    contact_ids = fields.List(fields.Integer(), required=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AudienceIn(Schema):
    name = Text(required=True, validate=validate.Length(1, 120))
    filter = Text(load_default="", validate=validate.Length(max=2000))
    contact_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=10000))


class CountOut(Schema):
    count = fields.Integer(required=True, metadata={"description": "Who a letter would go to."})
    excluded = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Who matches but cannot be written to, by reason."},
    )


class CountArgs(Schema):
    filter = Text(load_default="", validate=validate.Length(max=2000))


def _count(audience: Audience) -> dict[str, Any]:
    session = get_db().session
    try:
        exclusions = audience.exclusions(session)
        return {
            "count": audience.count(session),
            "excluded": {k: v for k, v in vars(exclusions).items() if v},
        }
    except AudienceError as exc:
        raise invalid("filter", str(exc), "query") from exc


@blp.route("/audiences")
class Audiences(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(AudienceOut, "AudiencePage"))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List saved audiences."""
        return page(get_db().session, select(SavedAudience), SavedAudience.id, args)

    @blp.arguments(AudienceIn)
    @blp.response(201, AudienceOut)
    def post(self, body: dict[str, Any]) -> SavedAudience:
        """Save an audience (the filter must evaluate; names are unique whatever their case)."""
        session = get_db().session
        try:
            saved = save_audience(
                session,
                None,
                name=body["name"],
                filter_text=body["filter"],
                contact_ids=body["contact_ids"],
            )
        except SavedAudienceError as exc:
            session.rollback()
            raise invalid(exc.field, str(exc)) from exc
        session.commit()
        return saved


@blp.route("/audiences/count")
class AudienceCount(MethodView):
    @blp.arguments(CountArgs, location="query")
    @blp.response(200, CountOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Count who a filter would write to, and who it leaves out and why."""
        return _count(Audience(filter=args["filter"].strip()))


def _saved(audience_id: int) -> SavedAudience:
    return get_or_404(SavedAudience, audience_id, "saved audience")


@blp.route("/audiences/<int(min=1, max=2147483647):audience_id>")
class AudienceItem(MethodView):
    @blp.response(200, AudienceOut)
    def get(self, audience_id: int) -> SavedAudience:
        """One saved audience."""
        return _saved(audience_id)


@blp.route("/audiences/<int(min=1, max=2147483647):audience_id>/count")
class SavedCount(MethodView):
    @blp.response(200, CountOut)
    def get(self, audience_id: int) -> dict[str, Any]:
        """Count a saved audience as it is now."""
        saved = _saved(audience_id)
        return _count(Audience(filter=saved.filter, contact_ids=saved.contact_ids))
