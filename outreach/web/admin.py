"""The admin console: campaigns and their deliveries (the dashboard is outreach.web.dashboard,
the delivery table and a delivery's page outreach.web.deliveries)."""

from __future__ import annotations

import contextlib

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from contacts.audience import Audience, AudienceError
from contacts.base import utcnow
from contacts.models import Contact
from outreach.accounts.models import Role
from outreach.campaigns import approval, control, services
from outreach.campaigns.letters import (
    LetterCheckError,
    format_signatories,
    remove_variant,
    set_variant,
)
from outreach.campaigns.models import Campaign, CampaignStatus, Delivery
from outreach.campaigns.schedule import ScheduleError, schedule, unschedule
from outreach.campaigns.states import DeliveryState
from outreach.campaigns.testsend import send_test
from outreach.campaigns.workspace import describe_languages, typed_copy
from outreach.extensions import get_db, get_settings
from outreach.letters.render import CONTEXT_DOC, FILTERS_DOC, choose_language
from outreach.supporters import review as signatures
from outreach.supporters.models import SignatureState
from outreach.web.access import require_login_for, roles_required
from outreach.web.forms import (
    LETTER_LANGUAGES,
    CampaignForm,
    NewVariantForm,
    PublicPageForm,
    ReviewForm,
    ScheduleForm,
    TestSendForm,
    VariantForm,
    language_name,
)
from outreach.web.workspace import workspace

bp = Blueprint("admin", __name__)
require_login_for(bp)

PAGE_SIZE = 50
PICKER_SIZE = 200  # recipients offered by name in the preview picker; any other by contact id
EDITORS = (Role.ADMIN, Role.CAMPAIGNER)


def _page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


# --- campaigns -----------------------------------------------------------------------------------
@bp.app_template_filter("language_name")
def _language_name_filter(code: str) -> str:
    return language_name(code)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def campaign_new() -> ResponseReturnValue:
    form = CampaignForm()
    if form.validate_on_submit():
        session = get_db().session
        try:
            campaign = services.create_campaign(
                session,
                name=form.name.data or "",
                subject=form.subject.data or "",
                body=form.body.data or "",
                audience=form.audience_dict(),
                created_by_id=current_user.id,
                language=form.language.data or "en",
                signatories=form.signatory_rows(),
                **form.addressing_values(),  # type: ignore[arg-type]
            )
        except services.CampaignError as exc:
            form.form_errors.append(str(exc))
        else:
            control.set_sending_options(campaign, **form.sending_options())
            session.commit()
            flash(f"Campaign “{campaign.name}” saved as a draft.", "success")
            return redirect(url_for("admin.campaign_detail", campaign_id=campaign.id))
    return _campaign_form(form, None)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def campaign_edit(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    form = CampaignForm()
    form.offer_language(campaign.default_language)
    if request.method == "GET":
        form.name.data = campaign.name
        form.subject.data = campaign.subject_template
        form.language.data = campaign.default_language
        form.body.data = campaign.body_template
        form.signatories.data = format_signatories(campaign.signatories)
        form.fill_audience(campaign.audience)
        form.fill_addressing(campaign.addressing, campaign.joint_to, campaign.joint_cc)
        form.fill_sending_options(campaign.pace_hours, campaign.office_hours, campaign.deadline)
    elif request.form.get("preview"):
        # "Preview" without JavaScript: the copy as typed, nothing saved.
        return _campaign_form(form, campaign)
    elif form.validate_on_submit():
        language = form.language.data or campaign.default_language
        replaced = language != campaign.default_language and any(
            v.language == language for v in campaign.variants
        )
        try:
            services.update_campaign(
                session,
                campaign,
                name=form.name.data or "",
                subject=form.subject.data or "",
                body=form.body.data or "",
                audience=form.audience_dict(),
                language=language,
                signatories=form.signatory_rows(),
                **form.addressing_values(),  # type: ignore[arg-type]
            )
        except services.CampaignError as exc:
            session.rollback()
            form.form_errors.append(str(exc))
        else:
            control.set_sending_options(campaign, **form.sending_options())
            session.commit()
            flash("Campaign saved.", "success")
            if replaced:
                flash(
                    f"The {language_name(language)} version was removed: the letter itself is "
                    f"now in {language_name(language)}.",
                    "info",
                )
            return redirect(url_for("admin.campaign_detail", campaign_id=campaign.id))
    return _campaign_form(form, campaign)


def _campaign_form(form: CampaignForm, campaign: Campaign | None) -> ResponseReturnValue:
    status = 400 if form.errors or form.form_errors else 200
    extra: dict[str, object] = {}
    if campaign is not None:
        session = get_db().session
        extra = _live_preview(
            session,
            campaign,
            subject=form.subject.data or "",
            body=form.body.data or "",
            language=form.language.data or campaign.default_language,
            as_default=True,
        )
        extra["ws"] = workspace(session, campaign, "letter")
    return render_template(
        "admin/campaign_form.html",
        form=form,
        campaign=campaign,
        context_doc=CONTEXT_DOC,
        filters_doc=FILTERS_DOC,
        domain_rates=get_settings().domain_rates,
        **extra,
    ), status


def _live_preview(
    session: Session,
    campaign: Campaign,
    *,
    subject: str,
    body: str,
    language: str,
    as_default: bool,
) -> dict[str, object]:
    """The editor's preview: the chosen recipient's copy of the letter as typed (nothing saved),
    or the error that stops it, for templates/admin/_live_preview.html."""
    recipients: list[tuple[int, str]] = []
    with contextlib.suppress(AudienceError):
        recipients = _recipient_choices(session, Audience.from_dict(campaign.audience))
    chosen = request.values.get("preview_contact", type=int)
    contact = session.get(Contact, chosen) if chosen else None
    if contact is None and recipients:
        contact = session.get(Contact, recipients[0][0])
    out: dict[str, object] = {
        "recipients": recipients,
        "preview_contact": contact,
        "preview_language": language,
        "preview_as_default": as_default,
        "mail_from": campaign.mail_from or get_settings().mail_from,
        "preview": None,
        "preview_error": None,
    }
    if contact is None:
        out["preview_error"] = "The audience is empty: no one to preview the letter for."
        return out
    try:
        out["preview"] = typed_copy(
            campaign,
            contact,
            subject=subject,
            body=body,
            language=language,
            as_default=as_default,
            default_from=get_settings().mail_from,
        )
    except LetterCheckError as exc:
        out["preview_error"] = str(exc)
    return out


@bp.post("/campaigns/<int:campaign_id>/letter-preview")
def campaign_letter_preview(campaign_id: int) -> ResponseReturnValue:
    """The editor's live preview (static/workspace.js posts the form as staff type): an HTML
    fragment with the chosen recipient's copy, or the error inline. Both are answers to the
    question asked, so both are 200 (the fragment's data-state says which): a 4xx would be
    logged as a failed request in the browser's console at every half-typed placeholder."""
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    as_default = request.form.get("preview_part") == "letter"
    language = (
        request.form.get("language")
        or request.form.get("preview_language")
        or campaign.default_language
    )
    context = _live_preview(
        session,
        campaign,
        subject=request.form.get("subject", "")[:1000],
        body=request.form.get("body", "")[:100_000],
        language=language.strip()[:8],
        as_default=as_default,
    )
    return render_template("admin/_live_preview.html", campaign=campaign, **context)


def _recipient_choices(session: Session, audience: Audience) -> list[tuple[int, str]]:
    """The first recipients of the audience by name, for the preview and test-send pickers."""
    stmt = (
        audience.query(session)
        .with_only_columns(Contact.id, Contact.display_name, Contact.country_code)
        .order_by(None)
        .order_by(Contact.display_name, Contact.id)
        .limit(PICKER_SIZE)
    )
    return [
        (cid, f"{name} ({country})" if country else name)
        for cid, name, country in session.execute(stmt)
    ]


@bp.get("/campaigns/<int:campaign_id>")
def campaign_detail(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    audience = Audience.from_dict(campaign.audience)
    draft = campaign.status == CampaignStatus.DRAFT
    recipients: list[tuple[int, str]] = []
    audience_count, exclusions, sample, audience_error = 0, None, None, None
    try:
        # Who the audience reaches now matters only before the launch: a launched campaign's
        # page shows its deliveries (and skips three queries over the whole directory).
        if draft:
            audience_count = audience.count(session)
            exclusions = audience.exclusions(session)
            sample = session.scalars(audience.query(session).limit(1)).first()
            recipients = _recipient_choices(session, audience)
    except AudienceError as exc:
        audience_error = str(exc)
    state = request.args.get("state") or ""
    stmt = select(Delivery).where(Delivery.campaign_id == campaign.id)
    if state:
        stmt = stmt.where(Delivery.state == state)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = _page()
    deliveries = list(
        session.scalars(
            stmt.options(selectinload(Delivery.contact))
            .order_by(Delivery.id)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    counts = services.state_counts(session, [campaign.id])[campaign.id]
    drive = None if draft else control.progress(session, campaign.id)
    preview_error = audience_error
    preview = None
    if sample is not None and draft:
        try:
            preview = services.preview(
                session, campaign, sample, default_from=get_settings().mail_from
            )
        except services.CampaignError as exc:
            preview_error = str(exc)
    public_form = PublicPageForm(
        formdata=None,
        slug=campaign.slug,
        signing_open=campaign.signing_open,
        signature_goal=campaign.signature_goal,
        cosigner_display=campaign.cosigner_display,
        privacy_notice=campaign.privacy_notice,
        supporter_letters=campaign.supporter_letters,
        supporter_committees=", ".join(campaign.supporter_committees or []),
        supporter_daily_cap=campaign.supporter_daily_cap,
        supporter_message=campaign.supporter_message,
        supporter_message_max=campaign.supporter_message_max,
    )
    signature_state = request.args.get("signatures") or ""
    return render_template(
        "admin/campaign.html",
        public_form=public_form,
        review_form=ReviewForm(),
        signature_counts=signatures.state_counts(session, campaign.id),
        signature_list=signatures.signatures(session, campaign.id, state=signature_state),
        signature_state=signature_state,
        signature_states=[s.value for s in SignatureState],
        campaign=campaign,
        audience=audience,
        audience_count=audience_count,
        exclusions=exclusions,
        counts=counts,
        drive=drive,
        ws=workspace(session, campaign, "progress" if not draft else ""),
        deliveries=deliveries,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        state=state,
        states=[s.value for s in DeliveryState],
        languages=list(campaign.letter_sources()),
        preview=preview,
        preview_contact=sample,
        preview_error=preview_error,
        recipients=recipients,
        picker_size=PICKER_SIZE,
        mail_from=campaign.mail_from or get_settings().mail_from,
    )


@bp.get("/campaigns/<int:campaign_id>/preview")
def campaign_preview_pick(campaign_id: int) -> ResponseReturnValue:
    """The picker of the campaign page: a typed contact id wins over the list's choice."""
    contact_id = request.args.get("contact_id", type=int) or request.args.get("contact", type=int)
    if not contact_id:
        flash("Choose a recipient, or type a contact id, to preview the letter.", "error")
        return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))
    return redirect(
        url_for("admin.campaign_preview", campaign_id=campaign_id, contact_id=contact_id)
    )


@bp.get("/campaigns/<int:campaign_id>/preview/<int:contact_id>")
def campaign_preview(campaign_id: int, contact_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    contact = session.get(Contact, contact_id) or abort(404)
    language = request.args.get("lang") or None
    languages = list(campaign.letter_sources())
    # The variant this official gets when the letter is sent (the preview may show another).
    own_language, own_fallback = choose_language(
        contact.languages or (), languages, campaign.default_language
    )
    try:
        in_audience = (
            session.scalar(
                Audience.from_dict(campaign.audience)
                .query(session)
                .with_only_columns(Contact.id)
                .where(Contact.id == contact.id)
            )
            is not None
        )
    except AudienceError:
        in_audience = False
    context = {
        "campaign": campaign,
        "contact": contact,
        "languages": languages,
        "own_language": own_language,
        "own_fallback": own_fallback,
        "in_audience": in_audience,
        "mail_from": campaign.mail_from or get_settings().mail_from,
        "ws": workspace(session, campaign, "test"),
    }
    try:
        copy = services.preview(
            session, campaign, contact, default_from=get_settings().mail_from, language=language
        )
    except services.CampaignError as exc:
        return render_template("admin/preview.html", error=str(exc), **context), 422
    return render_template("admin/preview.html", copy=copy, asked=language, **context)


@bp.post("/campaigns/<int:campaign_id>/test-send")
@roles_required(*EDITORS)
def campaign_test_send(campaign_id: int) -> ResponseReturnValue:
    """Send one recipient's copy to the signed-in staff member (never to the official)."""
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    form = TestSendForm()
    back = url_for("admin.campaign_detail", campaign_id=campaign.id)
    if not form.validate_on_submit():
        flash(f"Test not sent: {_first_error(form)}", "error")
        return redirect(back)
    contact: Contact | None
    if form.contact_id.data is not None:
        contact = session.get(Contact, form.contact_id.data)
        if contact is None:
            flash(f"Test not sent: there is no contact {form.contact_id.data}.", "error")
            return redirect(back)
    else:
        try:
            audience = Audience.from_dict(campaign.audience)
            contact = session.scalars(audience.query(session).limit(1)).first()
        except AudienceError as exc:
            flash(f"Test not sent: audience: {exc}", "error")
            return redirect(back)
        if contact is None:
            flash(
                "Test not sent: the audience is empty; choose a contact to render it for.", "error"
            )
            return redirect(back)
    language = form.lang.data or None
    if form.back.data == "preview":
        back = url_for(
            "admin.campaign_preview", campaign_id=campaign.id, contact_id=contact.id, lang=language
        )
    settings = get_settings()
    outcome = send_test(
        campaign,
        contact,
        staff_address=current_user.email,
        smtp_url=settings.effective_smtp_url,
        smtp_timeout=settings.smtp_timeout,
        default_from=settings.mail_from,
        return_path=settings.return_path,
        language=language,
    )
    if outcome.kind == "sent":
        campaign.test_sent_at = utcnow()
        session.commit()
        flash(f"Test sent to {current_user.email}: the copy for {contact.display_name}.", "success")
    else:
        code = f"{outcome.code} " if outcome.code else ""
        flash(f"Test not sent ({outcome.kind}): {code}{outcome.text}", "error")
    return redirect(back)


def _first_error(form: FlaskForm) -> str:
    for name, errors in form.errors.items():
        if errors:
            return f"{name}: {errors[0]}"
    return "the form is not valid"


# --- language variants ---------------------------------------------------------------------------
def _draft(campaign_id: int) -> Campaign:
    """The campaign, if its letter can still be changed; else back to its page with why."""
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    if campaign.status != CampaignStatus.DRAFT:
        flash("A launched campaign's letter can no longer be changed.", "error")
        abort(redirect(url_for("admin.campaign_detail", campaign_id=campaign.id)))
    return campaign


def _show_letter_error(form: VariantForm, message: str) -> None:
    """Put a refusal of set_variant on the field it is about ("body (de), line 3: ...")."""
    for part in ("subject", "body"):
        if message.startswith(part):
            getattr(form, part).errors.append(message)
            return
    if isinstance(form, NewVariantForm):
        form.language.errors.append(message)
    else:
        form.form_errors.append(message)


def _variant_form(
    form: VariantForm, campaign: Campaign, language: str | None
) -> ResponseReturnValue:
    status = 400 if form.errors or form.form_errors else 200
    session = get_db().session
    typed = language or (form.language.data if isinstance(form, NewVariantForm) else None)
    extra = _live_preview(
        session,
        campaign,
        subject=form.subject.data or "",
        body=form.body.data or "",
        language=(typed or "").strip() or "",
        as_default=False,
    )
    if not typed:
        extra["preview"] = None
        extra["preview_error"] = "Type the language's code to preview this version."
    return render_template(
        "admin/variant_form.html",
        form=form,
        campaign=campaign,
        language=language,
        suggestions=[c for c in LETTER_LANGUAGES if c not in campaign.letter_sources()],
        context_doc=CONTEXT_DOC,
        filters_doc=FILTERS_DOC,
        ws=workspace(session, campaign, "letter"),
        **extra,
    ), status


@bp.route("/campaigns/<int:campaign_id>/languages/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def variant_new(campaign_id: int) -> ResponseReturnValue:
    campaign = _draft(campaign_id)
    form = NewVariantForm()
    if request.method == "GET":
        # Start from the letter in the default language: translators replace it paragraph by
        # paragraph, and the placeholders are already there.
        form.subject.data = campaign.subject_template
        form.body.data = campaign.body_template
    elif request.form.get("preview"):
        return _variant_form(form, campaign, None)
    elif form.validate_on_submit():
        language = form.language.data or ""
        if language in campaign.letter_sources() and language != campaign.default_language:
            form.language.errors.append(
                f"the letter already has a {language_name(language)} version: edit that one"
            )
        else:
            return _save_variant(form, campaign, language)
    return _variant_form(form, campaign, None)


@bp.route("/campaigns/<int:campaign_id>/languages/<language>", methods=["GET", "POST"])
@roles_required(*EDITORS)
def variant_edit(campaign_id: int, language: str) -> ResponseReturnValue:
    campaign = _draft(campaign_id)
    variant = next((v for v in campaign.variants if v.language == language), None) or abort(404)
    form = VariantForm()
    if request.method == "GET":
        form.subject.data = variant.subject_template
        form.body.data = variant.body_template
    elif request.form.get("preview"):
        return _variant_form(form, campaign, language)
    elif form.validate_on_submit():
        return _save_variant(form, campaign, language)
    return _variant_form(form, campaign, language)


def _save_variant(form: VariantForm, campaign: Campaign, language: str) -> ResponseReturnValue:
    session = get_db().session
    try:
        set_variant(session, campaign, language, form.subject.data or "", form.body.data or "")
    except LetterCheckError as exc:
        session.rollback()
        _show_letter_error(form, str(exc))
        editing = None if isinstance(form, NewVariantForm) else language
        return _variant_form(form, campaign, editing)
    session.commit()
    flash(f"The {language_name(language)} version is saved.", "success")
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign.id) + "#languages")


@bp.post("/campaigns/<int:campaign_id>/languages/<language>/remove")
@roles_required(*EDITORS)
def variant_remove(campaign_id: int, language: str) -> ResponseReturnValue:
    campaign = _draft(campaign_id)
    if not any(v.language == language for v in campaign.variants):
        abort(404)
    session = get_db().session
    remove_variant(session, campaign, language)
    session.commit()
    flash(f"The {language_name(language)} version was removed.", "success")
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign.id) + "#languages")


@bp.post("/campaigns/<int:campaign_id>/launch")
@roles_required(*EDITORS)
def campaign_launch(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    # The check page sends the digest of the report it showed, and "confirm" once staff ticked
    # that they read its warnings; the launch goes only if the letter still gives that report.
    confirmed = request.form.get("lint_digest") if request.form.get("confirm") else None
    # Four-eyes (outreach.campaigns.approval): a big launch waits for a second person.
    gate = approval.launch_gate(
        session,
        campaign_id,
        current_user._get_current_object(),
        threshold=get_settings().four_eyes_threshold,
        default_from=get_settings().mail_from,
    )
    if gate.blocked:
        session.commit()
        flash(gate.message, "info")
        return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))
    try:
        result = services.launch(
            session,
            campaign_id,
            actor=f"user:{current_user.id} {current_user.email}",
            batch_size=get_settings().send_batch_size,
            confirm_warnings=confirmed,
            default_from=get_settings().mail_from,
        )
    except services.WarningsNotConfirmed as exc:
        session.rollback()
        flash(f"Not launched yet: {exc}", "error")
        return redirect(url_for("checks.campaign_check", campaign_id=campaign_id))
    except services.CampaignError as exc:
        session.rollback()
        flash(f"Not launched: {exc}", "error")
    else:
        session.commit()
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and campaign.supporter_letters:
            flash("Launched: each supporter's letters go out when they confirm.", "success")
        else:
            flash(f"Launched: {result.deliveries} letters queued for sending.", "success")
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))


@bp.get("/campaigns/<int:campaign_id>/launch")
def campaign_launch_page(campaign_id: int) -> ResponseReturnValue:
    """The launch confirmation: how many letters, in which languages, the estimated finish, and
    the choice of launching now or at a later time (or the schedule set, to cancel)."""
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    ws = workspace(session, campaign, "launch")
    form = ScheduleForm(formdata=None)
    return render_template(
        "admin/campaign_launch.html",
        campaign=campaign,
        ws=ws,
        form=form,
        languages=describe_languages(ws.plan.languages) if ws.plan else [],
    )


@bp.post("/campaigns/<int:campaign_id>/schedule")
@roles_required(*EDITORS)
def campaign_schedule(campaign_id: int) -> ResponseReturnValue:
    """Launch the draft at a later time (outreach.campaigns.schedule); the maintenance sweep
    launches it then through the same launch service, with the same checks."""
    session = get_db().session
    form = ScheduleForm()
    back = url_for("admin.campaign_launch_page", campaign_id=campaign_id)
    if not form.validate_on_submit() or form.at.data is None:
        flash(f"Not scheduled: {_first_error(form)}", "error")
        return redirect(back)
    # Four-eyes as for launching now: a big drive is approved before it is scheduled (and the
    # sweep checks the approval still matches the letter when the moment comes).
    gate = approval.launch_gate(
        session,
        campaign_id,
        current_user._get_current_object(),
        threshold=get_settings().four_eyes_threshold,
        default_from=get_settings().mail_from,
    )
    if gate.blocked:
        session.commit()
        flash(f"Not scheduled. {gate.message.replace('launch again', 'schedule it')}", "info")
        return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))
    try:
        campaign = schedule(
            session,
            campaign_id,
            form.at.data,
            actor=f"user:{current_user.id} {current_user.email}",
            confirm_warnings=form.lint_digest.data if form.confirm.data else None,
        )
    except services.CampaignError as exc:
        session.rollback()
        flash(f"Not scheduled: {exc}", "error")
        return redirect(back)
    session.commit()
    flash(
        f"Scheduled: the drive will be launched on {campaign.scheduled_at:%d %b %Y at %H:%M} UTC.",
        "success",
    )
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id) + "#launch")


@bp.post("/campaigns/<int:campaign_id>/unschedule")
@roles_required(*EDITORS)
def campaign_unschedule(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    try:
        unschedule(session, campaign_id)
    except ScheduleError as exc:
        session.rollback()
        flash(f"Not done: {exc}.", "error")
    else:
        session.commit()
        flash("No longer scheduled: the campaign stays a draft.", "success")
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id) + "#launch")


@bp.post("/campaigns/<int:campaign_id>/uncertain")
@roles_required(*EDITORS)
def resolve_uncertain(campaign_id: int) -> ResponseReturnValue:
    """Staff's decision on letters that may or may not have gone out: resend or mark sent."""
    from outreach.campaigns.reconcile import ResolveError
    from outreach.campaigns.reconcile import resolve_uncertain as resolve

    session = get_db().session
    wanted = [int(i) for i in request.form.getlist("delivery_id") if i.isdigit()]
    ids = list(
        session.scalars(
            select(Delivery.id).where(Delivery.campaign_id == campaign_id, Delivery.id.in_(wanted))
        )
    )
    if request.form.get("all") == "y":
        ids = list(
            session.scalars(
                select(Delivery.id).where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.state == DeliveryState.UNCERTAIN.value,
                )
            )
        )
    try:
        changed = resolve(
            session,
            ids,
            action=request.form.get("action", ""),
            actor=f"user:{current_user.id} {current_user.email}",
            batch_size=get_settings().send_batch_size,
        )
    except ResolveError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))
    session.commit()
    verb = "queued to be sent again" if request.form.get("action") == "resend" else "marked sent"
    flash(f"{changed} letter{'s' if changed != 1 else ''} {verb}.", "success")
    target = request.form.get("next") or url_for("admin.campaign_detail", campaign_id=campaign_id)
    return redirect(target if target.startswith("/") and not target.startswith("//") else "/")
