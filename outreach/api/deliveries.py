"""/api/v1/deliveries: every letter of every campaign, its state and its event history."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from outreach.api.auth import protect
from outreach.api.pagination import get_or_404, page
from outreach.api.schemas import Id, PageArgs, Text, UtcDateTime, page_schema
from outreach.campaigns.models import Delivery, DeliveryEvent
from outreach.campaigns.states import DeliveryState
from outreach.extensions import get_db

blp = Blueprint("api_deliveries", __name__, description="Letters and their history.")
protect(blp)


class DeliveryOut(Schema):
    id = fields.Integer(required=True)
    campaign_id = fields.Integer(required=True)
    contact_id = fields.Integer(required=True)
    email = fields.String(required=True)
    state = fields.String(required=True)
    role = fields.String(required=True)
    attempts = fields.Integer(required=True)
    last_smtp_code = fields.Integer(allow_none=True)
    last_smtp_text = fields.String(allow_none=True)
    sent_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class EventOut(Schema):
    id = fields.Integer(required=True)
    at = UtcDateTime(required=True)
    from_state = fields.String(allow_none=True)
    to_state = fields.String(required=True)
    actor = fields.String(required=True)
    smtp_code = fields.Integer(allow_none=True)
    detail = fields.String(allow_none=True)


class DeliveryArgs(PageArgs):
    campaign_id = Id()
    contact_id = Id()
    state = Text(validate=validate.OneOf([s.value for s in DeliveryState]))


@blp.route("/deliveries")
class Deliveries(MethodView):
    @blp.arguments(DeliveryArgs, location="query")
    @blp.response(200, page_schema(DeliveryOut, "DeliveryPage"))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List letters, by campaign, contact and state."""
        stmt = select(Delivery)
        for name in ("campaign_id", "contact_id", "state"):
            if args.get(name) is not None:
                stmt = stmt.where(getattr(Delivery, name) == args[name])
        return page(get_db().session, stmt, Delivery.id, args)


def _delivery(delivery_id: int) -> Delivery:
    return get_or_404(Delivery, delivery_id, "delivery")


@blp.route("/deliveries/<int(min=1, max=2147483647):delivery_id>")
class DeliveryItem(MethodView):
    @blp.response(200, DeliveryOut)
    def get(self, delivery_id: int) -> Delivery:
        """One letter."""
        return _delivery(delivery_id)


@blp.route("/deliveries/<int(min=1, max=2147483647):delivery_id>/events")
class DeliveryEvents(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(EventOut, "DeliveryEventPage"))
    def get(self, args: dict[str, Any], delivery_id: int) -> dict[str, Any]:
        """One letter's history, oldest first (append-only)."""
        _delivery(delivery_id)
        stmt = select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id)
        return page(get_db().session, stmt, DeliveryEvent.id, args)
