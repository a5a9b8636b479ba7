"""The audit log of the console: one central recorder, and the admins' page to read it.

**Recording.** `init_audit(app)` adds an `after_request` hook: every successful (status below
400) state-changing request (not GET/HEAD/OPTIONS) whose unit of work committed a change is
recorded once, with who (the signed-in user, or the API token's user), the endpoint as an
`action`, the object from the view's arguments, and a short human summary from `DESCRIPTIONS`
(a registry per endpoint; an endpoint not in it gets a generic one: method and path, which hold
ids only). A request that changed nothing (a refused launch rolled back, a form with errors)
records nothing. Views and services that know more record explicitly instead (`explicit=True`
here): sign-in and failed sign-in, account changes, erasure, four-eyes approvals. Where counts
matter (an import, a launch) the registry's `detail` reads them back from the database.

Nothing of a supporter goes in: summaries carry ids, roles, campaign numbers and counts.

**Reading.** /admin/audit (admins): newest first, 50 a page, filtered by actor, action, object
and date range; /admin/audit.csv exports the same selection (formula cells neutralised).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import Select, event, func, select
from sqlalchemy.orm import ORMExecuteState, Session

from contacts.export import neutralise
from outreach.accounts.models import User
from outreach.accounts.roles import Permission
from outreach.audit import AuditEvent, record, user_actor
from outreach.extensions import get_db
from outreach.web.access import permission_required, require_login_for

log = logging.getLogger(__name__)

bp = Blueprint("audit", __name__, url_prefix="/admin")
require_login_for(bp)
PAGE_SIZE = 50
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PENDING = "outreach.audit.pending"
_CHANGED = "outreach.audit.changed"

Detail = Callable[[Session, dict[str, Any], Response], "str | None"]


@dataclass(frozen=True)
class Described:
    """How one endpoint's successful request is recorded. `summary` is formatted with the view
    arguments and `id` (the object's id); `detail` may add counts, or return None to record
    nothing (the request did not do what the endpoint is named for)."""

    action: str
    summary: str
    object_type: str | None = None
    object_arg: str | None = None  # the view argument naming the object
    object_from_location: str | None = None  # else: a regex on the redirect's Location
    detail: Detail | None = None
    explicit: bool = False  # the view or its service records itself
    always: bool = False  # record even if no database row changed (files, exports)


def _launch_detail(session: Session, args: dict[str, Any], _resp: Response) -> str | None:
    from outreach.campaigns.models import Campaign, CampaignStatus, Delivery

    campaign = session.get(Campaign, args.get("campaign_id"))
    if campaign is None or campaign.status == CampaignStatus.DRAFT:
        return None  # refused, or waiting for a second person's approval (recorded there)
    n = session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id)
    )
    return f"{n} letters queued"


def _followup_scheduled(session: Session, args: dict[str, Any], _resp: Response) -> str | None:
    from outreach.campaigns.models import Campaign

    followup = session.get(Campaign, args.get("followup_id"))
    if followup is None or followup.followup_scheduled_at is None:
        return None  # waiting for a second person's approval (recorded there), or refused
    return f"after {followup.followup_days} days"


def _import_detail(session: Session, args: dict[str, Any], resp: Response) -> str | None:
    from contacts.models import ImportRun

    match = re.search(r"/imports/(\d+)", resp.location or "")
    run = session.get(ImportRun, int(match.group(1))) if match else None
    if run is None:
        return None
    counts = run.counts or {}
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def _form_value(name: str, allowed: set[str]) -> Detail:
    def detail(_s: Session, _a: dict[str, Any], _r: Response) -> str | None:
        value = request.form.get(name, "")
        return f"{name}: {value}" if value in allowed else ""

    return detail


def _role_detail(session: Session, args: dict[str, Any], _resp: Response) -> str | None:
    user = session.get(User, args.get("user_id"))
    return f"role: {user.role}, status: {user.status}" if user else ""


def _supporter_data(_s: Session, _a: dict[str, Any], _r: Response) -> str | None:
    action = request.form.get("action", "")
    # An erasure records itself (outreach.supporters.rights.erase); an export changes nothing
    # but hands out personal data: recorded here, without the address.
    return f"format: {action}" if action in {"json", "csv"} else None


D = Described
DESCRIPTIONS: dict[str, Described] = {
    # campaigns
    "admin.campaign_new": D("campaign.create", "Created campaign {id}", "campaign", None,
                            r"/campaigns/(\d+)"),
    "admin.campaign_edit": D("campaign.edit", "Edited campaign {id}", "campaign", "campaign_id"),
    "admin.variant_new": D("campaign.language_add", "Added a language version to campaign {id}",
                           "campaign", "campaign_id"),
    "admin.variant_edit": D("campaign.language_edit",
                            "Edited the {language} version of campaign {id}", "campaign",
                            "campaign_id"),
    "admin.variant_remove": D("campaign.language_remove",
                              "Removed the {language} version of campaign {id}", "campaign",
                              "campaign_id"),
    "admin.campaign_launch": D("campaign.launch", "Launched campaign {id}", "campaign",
                               "campaign_id", detail=_launch_detail),
    "admin.resolve_uncertain": D("campaign.resolve_uncertain",
                                 "Decided on uncertain letters of campaign {id}", "campaign",
                                 "campaign_id",
                                 detail=_form_value("action", {"resend", "mark_sent"})),
    "replies.create_followup": D("followup.create", "Wrote a follow-up of campaign {id}",
                                 "campaign", "campaign_id"),
    "replies.schedule_followup": D("followup.schedule", "Scheduled follow-up {id}", "campaign",
                                   "followup_id", detail=_followup_scheduled),
    # four-eyes of follow-ups: outreach.campaigns.approval records the request and the answer
    "replies.approve_followup": D("campaign.approve", "", explicit=True),
    "replies.withdraw_followup_approval": D("campaign.approval_withdraw", "", explicit=True),
    "drive.pause": D("campaign.pause", "Paused campaign {id}", "campaign", "campaign_id"),
    "drive.resume": D("campaign.resume", "Resumed campaign {id}", "campaign", "campaign_id"),
    "drive.cancel": D("campaign.cancel", "Cancelled campaign {id}", "campaign", "campaign_id"),
    "signatures.public_page": D("campaign.public_page",
                                "Changed the public page of campaign {id}", "campaign",
                                "campaign_id"),
    "signatures.review": D("signature.review", "Reviewed signature {id} held for review",
                           "signature", "signature_id",
                           detail=_form_value("action", {"approve", "reject"})),
    "signatures.supporter_data": D("supporter.export", "Exported a supporter's data",
                                   detail=_supporter_data, always=True),
    # directory
    "directory.contact_new": D("contact.create", "Added contact {id}", "contact", None,
                               r"/contacts/(\d+)"),
    "directory.contact_edit": D("contact.edit", "Edited contact {id}", "contact", "contact_id"),
    "directory.audience_new": D("audience.create", "Saved a new audience", "audience"),
    "directory.audience_edit": D("audience.edit", "Edited audience {id}", "audience",
                                 "audience_id"),
    "imports.upload": D("import.upload", "Uploaded a file to import"),
    "imports.review": D("import.mapping", "Saved an import column mapping"),
    "imports.apply": D("import.apply", "Imported contacts (import run {id})", "import_run", None,
                       r"/imports/(\d+)", detail=_import_detail),
    "imports.discard": D("import.discard", "Discarded an uploaded import file", always=True),
    # API tokens and webhooks
    "tokens.tokens": D("token.create", "Created an API token", "api_token"),
    "tokens.revoke": D("token.revoke", "Revoked API token {id}", "api_token", "token_id"),
    "webhooks.webhooks": D("webhook.create", "Subscribed a webhook", "webhook"),
    "webhooks.toggle": D("webhook.toggle", "Turned webhook {id} on or off", "webhook",
                         "subscription_id"),
    # users
    "users.invite": D("user.invite", "Invited a user", "user"),
    "users.change_role": D("user.role", "Changed the role of user {id}", "user", "user_id",
                           detail=_role_detail),
    "users.change_active": D("user.active", "Deactivated or reactivated user {id}", "user",
                             "user_id", detail=_role_detail),
    "users.resend": D("user.invite_again", "Sent user {id} a new invitation", "user", "user_id"),
    "users.totp_reset": D("user.totp_reset", "Cleared the second factor of user {id}", "user",
                          "user_id"),
    # the JSON API (the summary is prefixed "API: "; the actor is the token's user)
    "api_campaigns.Launch": D("campaign.launch", "Launched campaign {id}", "campaign",
                              "campaign_id", detail=_launch_detail),
    "api_campaigns.Pause": D("campaign.pause", "Paused campaign {id}", "campaign", "campaign_id"),
    "api_campaigns.Resume": D("campaign.resume", "Resumed campaign {id}", "campaign",
                              "campaign_id"),
    "api_campaigns.Cancel": D("campaign.cancel", "Cancelled campaign {id}", "campaign",
                              "campaign_id"),
    "api_campaigns.CampaignItem": D("campaign.edit", "Edited campaign {id}", "campaign",
                                    "campaign_id"),
    # Remembering the check of every copy changes nothing staff made: not recorded.
    "api_campaigns.Lint": D("campaign.check", "", detail=lambda _s, _a, _r: None),
}  # fmt: skip
# Blueprints whose views record for themselves, and those outside the console and the API.
EXPLICIT_BLUEPRINTS = frozenset({"auth", "account", "approval"})
NOT_AUDITED = frozenset({"public", "health", "inbound", "unsubscribe", "static"})


def describe(endpoint: str) -> Described:
    """The registry's entry, or a generic one from the endpoint's name."""
    found = DESCRIPTIONS.get(endpoint)
    if found is not None:
        return found
    blueprint = endpoint.partition(".")[0]
    if blueprint in EXPLICIT_BLUEPRINTS:
        return Described(endpoint, "", explicit=True)
    return Described(endpoint[:40], "{method} {path}")


# --- what a request committed --------------------------------------------------------------------
@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _ctx: Any) -> None:
    session.info[_PENDING] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_PENDING] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_PENDING, False):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)


def _acting_user() -> User | None:
    api_user = g.get("api_user")
    if api_user is not None:
        user: User = api_user
        return user
    if current_user and current_user.is_authenticated:
        signed_in: User = current_user._get_current_object()
        return signed_in
    return None


def _record_request(response: Response) -> Response:
    endpoint = request.endpoint
    if (
        request.method in READ_METHODS
        or endpoint is None
        or response.status_code >= 400
        or request.blueprint in NOT_AUDITED
        or "db_session" not in g
    ):
        return response
    entry = describe(endpoint)
    if entry.explicit:
        return response
    session: Session = g.db_session
    if not entry.always and not session.info.get(_CHANGED):
        return response
    try:
        args = dict(request.view_args or {})
        object_id: Any = args.get(entry.object_arg) if entry.object_arg else None
        if entry.object_from_location:
            match = re.search(entry.object_from_location, response.location or "")
            object_id = match.group(1) if match else None
        if object_id is None and not entry.object_arg and not entry.object_from_location:
            object_id = next((v for k, v in args.items() if k.endswith("_id")), None)
        session.rollback()  # anything the view left uncommitted is not ours to commit
        detail = entry.detail(session, args, response) if entry.detail else ""
        if detail is None:
            return response
        object_type = entry.object_type
        if object_type is None and object_id is not None:
            object_type = next((k[:-3] for k in args if k.endswith("_id")), None)
        user = _acting_user()
        summary = entry.summary.format(
            id=object_id if object_id is not None else "?",
            method=request.method,
            path=request.path,
            **{k: v for k, v in args.items() if k not in {"id", "method", "path"}},
        )
        if request.blueprint and request.blueprint.startswith("api"):
            summary = f"API: {summary}"
        record(
            session,
            actor=user_actor(user) if user else "anonymous",
            actor_id=user.id if user else None,
            action=entry.action,
            object_type=object_type,
            object_id=object_id,
            summary=summary,
            detail=detail,
        )
        session.commit()
    except Exception:  # the change is committed: never fail the answer for its record
        log.exception("could not record %s %s in the audit log", request.method, request.path)
        session.rollback()
    return response


def init_audit(app: Flask) -> None:
    app.after_request(_record_request)


# --- the admins' page ----------------------------------------------------------------------------
@bp.before_request
@permission_required(Permission.ADMIN)
def _admins_only() -> None:
    return None


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _filtered() -> tuple[Select[Any], dict[str, Any]]:
    stmt = select(AuditEvent)
    actor = request.args.get("actor", type=int)
    action = (request.args.get("action") or "").strip()
    object_type = (request.args.get("object_type") or "").strip()
    object_id = (request.args.get("object_id") or "").strip()
    since, until = _date("since"), _date("until")
    if actor:
        stmt = stmt.where(AuditEvent.actor_id == actor)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if since:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(since, time(), tzinfo=UTC))
    if until:
        end = datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC)
        stmt = stmt.where(AuditEvent.at < end)
    chosen = {
        "actor": actor or "",
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return stmt, chosen


@bp.get("/audit")
def audit_log() -> ResponseReturnValue:
    session = get_db().session
    stmt, chosen = _filtered()
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = max(1, request.args.get("page", 1, type=int) or 1)
    events = list(
        session.scalars(
            stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return render_template(
        "admin/audit.html",
        events=events,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        chosen=chosen,
        users=list(session.scalars(select(User).order_by(User.email))),
        actions=list(session.scalars(select(AuditEvent.action).distinct().order_by("action"))),
        object_types=[
            t
            for t in session.scalars(
                select(AuditEvent.object_type).distinct().order_by("object_type")
            )
            if t
        ],
    )


CSV_COLUMNS = ("at", "actor", "action", "object_type", "object_id", "summary", "detail")


@bp.get("/audit.csv")
def audit_csv() -> ResponseReturnValue:
    session = get_db().session
    stmt, _chosen = _filtered()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for event_row in session.scalars(
            stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).execution_options(
                yield_per=500
            )
        ):
            writer.writerow(
                [
                    event_row.at.isoformat(),
                    *(neutralise(getattr(event_row, c)) for c in CSV_COLUMNS[1:]),
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return Response(
        list(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit-log.csv"},
    )
