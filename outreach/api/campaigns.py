"""/api/v1/campaigns: write a letter, check every copy, preview one, launch, steer the drive.

Each view calls the console's service (outreach.campaigns.services, .control, .letters) with the
same arguments the console passes; launch answers 409 with the warnings' digest, as the console's
check page shows it, when the check of every copy found warnings that were not confirmed.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from contacts.models import Contact
from outreach.api.auth import actor, current_user, protect
from outreach.api.pagination import get_or_404, page
from outreach.api.problems import CONFLICT, UNCONFIRMED_WARNINGS, Problem, invalid
from outreach.api.schemas import Id, PageArgs, Text, UtcDateTime, page_schema
from outreach.campaigns import approval, control, services
from outreach.campaigns.letters import LetterCheckError, format_signatories, parse_signatories
from outreach.campaigns.models import Campaign
from outreach.extensions import get_db, get_settings

blp = Blueprint("api_campaigns", __name__, description="Campaigns: letters, checks, launch, drive.")
protect(blp)
MAX_TEMPLATE = 100_000
FINDINGS_SHOWN = 200


class AudienceSpec(Schema):
    filter = Text(load_default="", validate=validate.Length(max=2000))
    contact_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=10000))


class Signatory(Schema):
    name = Text(required=True, validate=[validate.Length(1, 200), validate.Regexp(r"^[^|\r\n]+$")])
    url = Text(load_default="", validate=validate.Length(max=500))


class CampaignIn(Schema):
    name = Text(required=True, validate=validate.Length(1, 200))
    subject = Text(required=True, validate=validate.Length(max=MAX_TEMPLATE))
    body = Text(required=True, validate=validate.Length(max=MAX_TEMPLATE))
    audience = fields.Nested(AudienceSpec, required=True)
    language = Text(load_default="en", validate=validate.Length(1, 8))
    signatories = fields.List(
        fields.Nested(Signatory), load_default=list, validate=validate.Length(max=50)
    )
    addressing = Text(load_default="individual", validate=validate.OneOf(services.ADDRESSING))
    joint_to = fields.List(Id(), load_default=list, validate=validate.Length(max=50))
    joint_cc = fields.List(Id(), load_default=list, validate=validate.Length(max=200))


class CheckOut(Schema):
    digest = fields.String(allow_none=True)
    errors = fields.Integer(allow_none=True)
    warnings = fields.Integer(allow_none=True)
    checked_at = UtcDateTime(allow_none=True)


class CampaignOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True)
    language = fields.String(attribute="default_language", required=True)
    languages = fields.Method("_languages", metadata={"type": "array", "items": {"type": "string"}})
    subject = fields.String(attribute="subject_template", required=True)
    body = fields.String(attribute="body_template", required=True)
    audience = fields.Dict(required=True)
    signatories = fields.List(fields.Dict(keys=fields.String(), values=fields.String()))
    addressing = fields.String()
    joint_to = fields.List(fields.Integer())
    joint_cc = fields.List(fields.Integer())
    created_at = UtcDateTime()
    launched_at = UtcDateTime(allow_none=True)
    check = fields.Method("_check", metadata={"type": "object"})

    def _languages(self, campaign: Campaign) -> list[str]:
        return list(campaign.letter_sources())

    def _check(self, campaign: Campaign) -> dict[str, Any]:
        return CheckOut().dump(
            {
                "digest": campaign.check_digest,
                "errors": campaign.check_errors,
                "warnings": campaign.check_warnings,
                "checked_at": campaign.checked_at,
            }
        )


class Finding(Schema):
    level = fields.String(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)


class RecipientFindings(Schema):
    contact_id = fields.Integer(allow_none=True)
    display_name = fields.String(required=True)
    language = fields.String(required=True)
    findings = fields.List(fields.Nested(Finding), required=True)


class LintOut(Schema):
    summary = fields.String(required=True)
    recipients = fields.Integer(required=True)
    errors = fields.Integer(required=True)
    warnings = fields.Integer(required=True)
    digest = fields.String(
        required=True, metadata={"description": "Confirm it to launch with warnings."}
    )
    identical_share = fields.Float(required=True)
    languages = fields.Dict(keys=fields.String(), values=fields.Integer())
    campaign_findings = fields.List(fields.Nested(Finding), required=True)
    recipients_with_findings = fields.List(
        fields.Nested(RecipientFindings),
        required=True,
        metadata={"description": f"The first {FINDINGS_SHOWN}."},
    )


class PreviewArgs(Schema):
    contact_id = Id(required=True)
    language = Text(validate=validate.Length(1, 8))


class PreviewOut(Schema):
    contact_id = fields.Integer(required=True)
    language = fields.String(required=True)
    fallback = fields.Boolean(required=True)
    subject = fields.String(required=True)
    text = fields.String(required=True)
    html = fields.String(required=True)


class LaunchIn(Schema):
    confirm_warnings = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "The digest of the warnings read (from lint, or a 409)."},
    )


class LaunchOut(Schema):
    deliveries = fields.Integer(required=True)
    batches = fields.Integer(required=True)


class ControlOut(Schema):
    status = fields.String(required=True)
    letters = fields.Integer(required=True, metadata={"description": "How many letters moved."})


class ProgressOut(Schema):
    status = fields.String(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    total = fields.Integer(required=True)
    done = fields.Integer(required=True)
    percent = fields.Integer(required=True)
    remaining = fields.Integer(required=True)
    per_minute = fields.Float(required=True)
    finish_at = UtcDateTime(allow_none=True)


def _campaign(campaign_id: int) -> Campaign:
    return get_or_404(Campaign, campaign_id, "campaign")


def _refused(exc: Exception, *, conflict: bool = False) -> Problem:
    """A service's refusal: of the input (422), or of the action in the campaign's state (409)."""
    get_db().session.rollback()
    message = str(exc)
    if conflict:
        return Problem(409, message, type_=CONFLICT)
    return invalid("audience" if message.startswith("audience") else "letter", message)


def _signatories(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    # Through the console's parser, so both check a URL the same way.
    try:
        return parse_signatories(format_signatories(rows))
    except LetterCheckError as exc:
        raise invalid("signatories", str(exc)) from exc


@blp.route("/campaigns")
class Campaigns(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(CampaignOut, "CampaignPage"))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List campaigns, newest first."""
        return page(get_db().session, select(Campaign), Campaign.id, args, descending=True)

    @blp.arguments(CampaignIn)
    @blp.response(201, CampaignOut)
    def post(self, body: dict[str, Any]) -> Campaign:
        """Create a draft (the letter is checked as the console checks it)."""
        session = get_db().session
        try:
            campaign = services.create_campaign(
                session,
                name=body["name"],
                subject=body["subject"],
                body=body["body"],
                audience=body["audience"],
                created_by_id=current_user().id,
                language=body["language"],
                signatories=_signatories(body["signatories"]),
                addressing=body["addressing"],
                joint_to=body["joint_to"],
                joint_cc=body["joint_cc"],
            )
        except services.CampaignError as exc:
            raise _refused(exc) from exc
        session.commit()
        return campaign


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>")
class CampaignItem(MethodView):
    @blp.response(200, CampaignOut)
    def get(self, campaign_id: int) -> Campaign:
        """One campaign."""
        return _campaign(campaign_id)

    @blp.arguments(CampaignIn)
    @blp.response(200, CampaignOut)
    def put(self, body: dict[str, Any], campaign_id: int) -> Campaign:
        """Change a draft's letter, audience and signatories."""
        campaign = _campaign(campaign_id)
        if campaign.status != "draft":
            raise Problem(
                409, f"Only a draft can be changed; this one is {campaign.status}.", type_=CONFLICT
            )
        try:
            services.update_campaign(
                get_db().session,
                campaign,
                name=body["name"],
                subject=body["subject"],
                body=body["body"],
                audience=body["audience"],
                language=body["language"],
                signatories=_signatories(body["signatories"]),
                addressing=body["addressing"],
                joint_to=body["joint_to"],
                joint_cc=body["joint_cc"],
            )
        except services.CampaignError as exc:
            raise _refused(exc) from exc
        get_db().session.commit()
        return campaign


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/lint")
class Lint(MethodView):
    @blp.response(200, LintOut)
    def post(self, campaign_id: int) -> dict[str, Any]:
        """Render every copy in a dry run and report what is wrong (remembered for launch)."""
        session = get_db().session
        campaign = _campaign(campaign_id)
        try:
            report = services.lint(session, campaign, default_from=get_settings().mail_from)
        except services.CampaignError as exc:
            raise _refused(exc, conflict=True) from exc
        session.commit()
        return {
            "summary": report.summary(),
            "recipients": report.recipients,
            "errors": report.errors,
            "warnings": report.warnings,
            "digest": report.digest,
            "identical_share": report.identical_share,
            "languages": report.languages,
            "campaign_findings": report.campaign_findings,
            "recipients_with_findings": report.with_findings[:FINDINGS_SHOWN],
        }


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/preview")
class Preview(MethodView):
    @blp.arguments(PreviewArgs, location="query")
    @blp.response(200, PreviewOut)
    def get(self, args: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """The copy one official would receive (in `language`, or the one chosen for them)."""
        session = get_db().session
        campaign = _campaign(campaign_id)
        contact = session.get(Contact, args["contact_id"])
        if contact is None:
            raise Problem(404, f"There is no contact {args['contact_id']}.")
        try:
            copy = services.preview(
                session,
                campaign,
                contact,
                default_from=get_settings().mail_from,
                language=args.get("language"),
            )
        except services.CampaignError as exc:
            raise invalid(
                "language" if args.get("language") else "letter", str(exc), "query"
            ) from exc
        return {
            "contact_id": contact.id,
            "language": copy.language,
            "fallback": copy.fallback,
            "subject": copy.subject,
            "text": copy.text,
            "html": copy.html,
        }


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/launch")
class Launch(MethodView):
    @blp.arguments(LaunchIn)
    @blp.response(202, LaunchOut)
    def post(self, body: dict[str, Any], campaign_id: int) -> dict[str, int]:
        """Create the deliveries and queue them. With warnings, send `confirm_warnings`: the
        digest of the warnings read; without it the answer is 409 with that digest."""
        session = get_db().session
        _campaign(campaign_id)
        gate = approval.launch_gate(
            session,
            campaign_id,
            current_user(),
            threshold=get_settings().four_eyes_threshold,
            default_from=get_settings().mail_from,
        )
        if gate.blocked:  # four-eyes: a second person approves in the console
            session.commit()
            raise Problem(409, gate.message, type_=CONFLICT, title="Approval required")
        try:
            result = services.launch(
                session,
                campaign_id,
                actor=actor(),
                batch_size=get_settings().send_batch_size,
                confirm_warnings=body.get("confirm_warnings"),
                default_from=get_settings().mail_from,
            )
        except services.WarningsNotConfirmed as exc:
            session.rollback()
            # As the console sends staff to the check page: run the check (remembered, so the
            # confirmed launch does not render every copy again) and give its digest.
            report = services.lint(
                session, _campaign(campaign_id), default_from=get_settings().mail_from
            )
            session.commit()
            raise Problem(
                409,
                str(exc),
                type_=UNCONFIRMED_WARNINGS,
                title="Warnings not confirmed",
                extra={"digest": report.digest, "warnings": report.warnings},
            ) from exc
        except services.CampaignError as exc:
            raise _refused(exc, conflict=True) from exc
        session.commit()
        return {"deliveries": result.deliveries, "batches": result.batches}


def _control(campaign_id: int, action: str) -> dict[str, Any]:
    session = get_db().session
    _campaign(campaign_id)
    try:
        if action == "pause":
            n = control.pause(session, campaign_id, actor=actor())
        elif action == "resume":
            n = control.resume(
                session, campaign_id, actor=actor(), batch_size=get_settings().send_batch_size
            )
        else:
            n = control.cancel(session, campaign_id, actor=actor())
    except control.ControlError as exc:
        session.rollback()
        raise Problem(409, str(exc), type_=CONFLICT) from exc
    session.commit()
    return {"status": _campaign(campaign_id).status, "letters": n}


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/pause")
class Pause(MethodView):
    @blp.response(200, ControlOut)
    def post(self, campaign_id: int) -> dict[str, Any]:
        """Stop a sending drive: letters not yet dispatched are held."""
        return _control(campaign_id, "pause")


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/resume")
class Resume(MethodView):
    @blp.response(200, ControlOut)
    def post(self, campaign_id: int) -> dict[str, Any]:
        """Send a paused drive again."""
        return _control(campaign_id, "resume")


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/cancel")
class Cancel(MethodView):
    @blp.response(200, ControlOut)
    def post(self, campaign_id: int) -> dict[str, Any]:
        """End a drive for good: letters not yet dispatched are cancelled."""
        return _control(campaign_id, "cancel")


@blp.route("/campaigns/<int(min=1, max=2147483647):campaign_id>/progress")
class ProgressView(MethodView):
    @blp.response(200, ProgressOut)
    def get(self, campaign_id: int) -> dict[str, Any]:
        """Counts per state, rate and estimated finish."""
        campaign = _campaign(campaign_id)
        p = control.progress(get_db().session, campaign_id)
        return {
            "status": campaign.status,
            "counts": p.counts,
            "total": p.total,
            "done": p.done,
            "percent": p.percent,
            "remaining": p.remaining,
            "per_minute": p.per_minute,
            "finish_at": p.finish_at,
        }
