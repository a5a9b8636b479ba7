"""/api/v1/replies: inbound mail that people wrote in answer to a letter (kind `reply`)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from outreach.api.auth import protect
from outreach.api.pagination import page
from outreach.api.problems import Problem
from outreach.api.schemas import Id, PageArgs, UtcDateTime, page_schema
from outreach.campaigns.models import Delivery
from outreach.extensions import get_db
from outreach.tracking.models import InboundKind, InboundMessage

blp = Blueprint("api_replies", __name__, description="Replies from officials.")
protect(blp)


class ReplyOut(Schema):
    id = fields.Integer(required=True)
    received_at = UtcDateTime(required=True)
    state = fields.String(required=True)
    from_address = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    delivery_id = fields.Integer(allow_none=True)
    matched_by = fields.String(allow_none=True)
    reply_text = fields.String(allow_none=True, metadata={"description": "What the person wrote."})
    quoted_text = fields.String(
        allow_none=True, metadata={"description": "The letter they quoted."}
    )


class ReplyArgs(PageArgs):
    campaign_id = Id()
    delivery_id = Id()


def _replies() -> Any:
    return select(InboundMessage).where(InboundMessage.kind == InboundKind.REPLY.value)


@blp.route("/replies")
class Replies(MethodView):
    @blp.arguments(ReplyArgs, location="query")
    @blp.response(200, page_schema(ReplyOut, "ReplyPage"))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List replies, newest first; by campaign or letter."""
        stmt = _replies()
        if args.get("delivery_id") is not None:
            stmt = stmt.where(InboundMessage.delivery_id == args["delivery_id"])
        if args.get("campaign_id") is not None:
            stmt = stmt.where(
                InboundMessage.delivery_id.in_(
                    select(Delivery.id).where(Delivery.campaign_id == args["campaign_id"])
                )
            )
        return page(get_db().session, stmt, InboundMessage.id, args, descending=True)


@blp.route("/replies/<int(min=1, max=2147483647):reply_id>")
class ReplyItem(MethodView):
    @blp.response(200, ReplyOut)
    def get(self, reply_id: int) -> InboundMessage:
        """One reply."""
        reply = get_db().session.scalar(_replies().where(InboundMessage.id == reply_id))
        if reply is None:
            raise Problem(404, f"There is no reply {reply_id}.")
        return reply
