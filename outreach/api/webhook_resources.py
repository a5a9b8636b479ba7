"""/api/v1/webhooks: outgoing webhook subscriptions (admins only, as in the console): list,
create, change the URL, events or description, turn on or off, delete; their deliveries with
status; resending a failed delivery; rotating the signing secret with a grace period in which the
old and the new secret both sign (outreach.api.webhooks)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from outreach.api.auth import actor, protect, require_admin
from outreach.api.models import WebhookDelivery, WebhookState, WebhookSubscription
from outreach.api.pagination import get_or_404, page
from outreach.api.problems import CONFLICT, Problem, invalid
from outreach.api.schemas import PageArgs, Text, UtcDateTime, page_schema
from outreach.api.webhooks import (
    EVENTS,
    MAX_GRACE,
    ResendError,
    SubscriptionError,
    resend,
    rotate_secret,
    subscribe,
    update_subscription,
)
from outreach.extensions import get_db

blp = Blueprint(
    "api_webhooks",
    __name__,
    description=(
        "Outgoing webhooks (admins). Each event is POSTed as JSON with `Outreach-Event`, "
        "`Outreach-Webhook-Id` and `Outreach-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "
        '"<t>.<body>">`; during a secret rotation\'s grace period the header has a second `v1` '
        "made with the previous secret: accept the request if any `v1` matches."
    ),
)
protect(blp)
blp.before_request(require_admin)
PATH = "/webhooks/<int(min=1, max=2147483647):subscription_id>"
STATES = [s.value for s in WebhookState]


class WebhookSubscriptionOut(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    secret = fields.String(required=True, metadata={"description": "Signs every POST (whsec_…)."})
    previous_secret_until = UtcDateTime(
        allow_none=True,
        metadata={"description": "Until when the secret before the last rotation still signs."},
    )
    created_by = fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)


Event = fields.String(validate=validate.OneOf(EVENTS))


class WebhookSubscriptionIn(Schema):
    url = Text(required=True, validate=validate.Length(1, 2000), metadata={"format": "uri"})
    events = fields.List(Event, required=True, validate=validate.Length(1, len(EVENTS)))
    description = Text(load_default="", validate=validate.Length(max=200))


class WebhookSubscriptionPatch(Schema):
    url = Text(validate=validate.Length(1, 2000), metadata={"format": "uri"})
    events = fields.List(Event, validate=validate.Length(1, len(EVENTS)))
    description = Text(validate=validate.Length(max=200))
    active = fields.Boolean()


class WebhookRotateIn(Schema):
    grace_hours = fields.Float(
        load_default=24.0,
        validate=validate.Range(0, MAX_GRACE.total_seconds() / 3600),
        metadata={"description": "How long the current secret still signs too (0: not at all)."},
    )


class WebhookDeliveryArgs(PageArgs):
    state = fields.String(load_default=None, validate=validate.OneOf(STATES))


class WebhookDeliveryOut(Schema):
    id = fields.Integer(required=True)
    subscription_id = fields.Integer(required=True)
    event = fields.String(required=True)
    event_id = fields.Method("_event_id", metadata={"type": "string"})
    state = fields.String(required=True, metadata={"enum": STATES})
    attempts = fields.Integer(required=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)
    delivered_at = UtcDateTime(allow_none=True)

    def _event_id(self, delivery: WebhookDelivery) -> str:
        return str(json.loads(delivery.body).get("id", ""))


def _subscription(subscription_id: int) -> WebhookSubscription:
    return get_or_404(WebhookSubscription, subscription_id, "webhook subscription")


def _refused(exc: SubscriptionError, field: str) -> Problem:
    get_db().session.rollback()
    return invalid(field, str(exc))


@blp.route("/webhooks")
class Subscriptions(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(WebhookSubscriptionOut, "WebhookPage"))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List webhook subscriptions."""
        return page(get_db().session, select(WebhookSubscription), WebhookSubscription.id, args)

    @blp.arguments(WebhookSubscriptionIn)
    @blp.response(201, WebhookSubscriptionOut)
    def post(self, body: dict[str, Any]) -> WebhookSubscription:
        """Subscribe a URL to events; the answer holds the signing secret."""
        session = get_db().session
        try:
            row = subscribe(
                session,
                url=body["url"],
                events=body["events"],
                description=body["description"],
                created_by=actor(),
            )
        except SubscriptionError as exc:
            raise _refused(exc, "url") from exc
        session.commit()
        return row


@blp.route(PATH)
class SubscriptionItem(MethodView):
    @blp.response(200, WebhookSubscriptionOut)
    def get(self, subscription_id: int) -> WebhookSubscription:
        """One subscription."""
        return _subscription(subscription_id)

    @blp.arguments(WebhookSubscriptionPatch)
    @blp.response(200, WebhookSubscriptionOut)
    def patch(self, body: dict[str, Any], subscription_id: int) -> WebhookSubscription:
        """Change the URL, the events or the description, or turn it off (`active`)."""
        session = get_db().session
        row = _subscription(subscription_id)
        try:
            update_subscription(row, **body)
        except SubscriptionError as exc:
            raise _refused(exc, "url" if "URL" in str(exc) else "events") from exc
        session.commit()
        return row

    @blp.response(204)
    def delete(self, subscription_id: int) -> Response:
        """Delete a subscription and its deliveries' history."""
        session = get_db().session
        session.delete(_subscription(subscription_id))
        session.commit()
        return Response(status=204)


@blp.route(PATH + "/rotate-secret")
class RotateSecret(MethodView):
    @blp.arguments(WebhookRotateIn)
    @blp.response(200, WebhookSubscriptionOut)
    def post(self, body: dict[str, Any], subscription_id: int) -> WebhookSubscription:
        """A new signing secret (in the answer). For `grace_hours` the old one signs too: each
        POST's header then has two `v1` values, the new secret's first."""
        session = get_db().session
        row = _subscription(subscription_id)
        try:
            rotate_secret(row, grace=timedelta(hours=body["grace_hours"]))
        except SubscriptionError as exc:
            raise _refused(exc, "grace_hours") from exc
        session.commit()
        return row


@blp.route(PATH + "/deliveries")
class Deliveries(MethodView):
    @blp.arguments(WebhookDeliveryArgs, location="query")
    @blp.response(200, page_schema(WebhookDeliveryOut, "WebhookDeliveryPage"))
    def get(self, args: dict[str, Any], subscription_id: int) -> dict[str, Any]:
        """This subscription's deliveries, newest first, with status, attempts and last answer."""
        _subscription(subscription_id)
        stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        if args["state"]:
            stmt = stmt.where(WebhookDelivery.state == args["state"])
        return page(get_db().session, stmt, WebhookDelivery.id, args, descending=True)


@blp.route(PATH + "/deliveries/<int(min=1, max=2147483647):webhook_delivery_id>/resend")
class Resend(MethodView):
    @blp.response(202, WebhookDeliveryOut)
    def post(self, subscription_id: int, webhook_delivery_id: int) -> WebhookDelivery:
        """Send a failed delivery again: a new round of attempts by the worker, the same body and
        `Outreach-Webhook-Id`, signed with the secrets valid now."""
        session = get_db().session
        delivery = get_or_404(WebhookDelivery, webhook_delivery_id, "webhook delivery")
        if delivery.subscription_id != subscription_id:
            raise Problem(
                404,
                f"Webhook subscription {subscription_id} has no delivery {webhook_delivery_id}.",
            )
        try:
            resend(session, delivery)
        except ResendError as exc:
            session.rollback()
            raise Problem(409, f"Not sent again: {exc}.", type_=CONFLICT) from exc
        session.commit()
        return delivery
