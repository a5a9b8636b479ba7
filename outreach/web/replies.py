"""The replies inbox and follow-ups (staff), and the supporters' "did your MEP reply?" answer page.

Staff pages (sign-in required): /replies (filters: replies, auto-replies, bounces, unmatched,
everything; per campaign; per triage state), /replies/<id> (the message, its text with the quote
folded, beside the letter it answers; triage, notes, and for unmatched mail the search and hand
assignment), /campaigns/<id>/replies (who replied, by group and country; follow-ups; supporters'
answers), /followups/<id>. Every signed-in role may triage and write notes; only admins and
campaigners assign mail or write and schedule follow-ups.

Public: /mep-reply/<token> (a page with one button; its POST records the answer). The token is
signed, so the POST needs no CSRF token (it comes from the mail, like unsubscription).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import func, select

from outreach.accounts.models import Role, User
from outreach.accounts.roles import Permission, may_approve
from outreach.campaigns.approval import ApprovalError
from outreach.campaigns.letters import LetterCheckError, copy_for
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import csrf, get_db, get_settings
from outreach.followups import followup as followups
from outreach.followups import four_eyes
from outreach.followups.mep_question import (
    ANSWER_LABELS,
    AnswerTokens,
    answers_for_campaign,
    question_view,
    record_answer,
)
from outreach.letters.render import LetterError
from outreach.tracking import inbox
from outreach.web.access import permission_required, require_login_for, roles_required
from outreach.web.public import _headers as public_headers

bp = Blueprint("replies", __name__)
require_login_for(bp)
answer_bp = Blueprint("mep_reply", __name__)
csrf.exempt(answer_bp)
answer_bp.after_request(public_headers)

PAGE_SIZE = 50
EDITORS = (Role.ADMIN, Role.CAMPAIGNER)


def _actor() -> str:
    return str(current_user.email)


def _message(message_id: int) -> inbox.MessageView:
    view = inbox.message_view(get_db().session, message_id)
    if view is None:
        abort(404)
    return view


def _back(message_id: int) -> ResponseReturnValue:
    return redirect(url_for("replies.message", message_id=message_id))


@bp.get("/replies")
def inbox_page() -> ResponseReturnValue:
    session = get_db().session
    filter_ = request.args.get("filter", "replied")
    campaign_id = request.args.get("campaign", type=int)
    triage = request.args.get("triage") or None
    page = max(1, request.args.get("page", 1, type=int) or 1)
    try:
        query = inbox.inbox_query(filter_=filter_, campaign_id=campaign_id, triage=triage)
    except inbox.InboxError as exc:
        abort(400, str(exc))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    messages = list(session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    delivery_ids = {m.delivery_id for m in messages if m.delivery_id}
    deliveries = (
        {d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids)))}
        if delivery_ids
        else {}
    )
    return render_template(
        "replies/inbox.html",
        messages=messages,
        deliveries=deliveries,
        filters=inbox.FILTERS,
        counts=inbox.filter_counts(session, campaign_id),
        filter_=filter_,
        triage=triage,
        triage_labels=inbox.TRIAGE_LABELS,
        campaign=session.get(Campaign, campaign_id) if campaign_id else None,
        campaigns=inbox.campaigns_with_mail(session),
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
    )


@bp.get("/replies/<int:message_id>")
def message(message_id: int) -> ResponseReturnValue:
    session = get_db().session
    view = _message(message_id)
    inbox.mark_read(session, view.message, actor=_actor())
    session.commit()
    letter = letter_error = None
    if view.delivery is not None:
        try:
            letter = copy_for(
                view.delivery.campaign, view.delivery.contact,
                default_from=get_settings().mail_from, email=view.delivery.email,
            )  # fmt: skip
        except (LetterCheckError, LetterError) as exc:
            letter_error = str(exc)
    query = request.args.get("q", "").strip()
    candidates = inbox.search_deliveries(session, query) if query and view.delivery is None else []
    return render_template(
        "replies/message.html",
        view=view,
        m=view.message,
        letter=letter,
        letter_error=letter_error,
        triage_labels=inbox.TRIAGE_LABELS,
        query=query,
        candidates=candidates,
        editor=current_user.role in {r.value for r in EDITORS},
    )


@bp.post("/replies/<int:message_id>/triage")
@permission_required(Permission.TRIAGE)
def set_triage(message_id: int) -> ResponseReturnValue:
    session = get_db().session
    view = _message(message_id)
    try:
        inbox.set_triage(session, view.message, request.form.get("state", ""), actor=_actor())
    except inbox.InboxError as exc:
        session.rollback()
        flash(str(exc), "error")
        return _back(message_id)
    session.commit()
    flash(f"Marked {inbox.TRIAGE_LABELS[view.message.triage]}.", "success")
    return _back(message_id)


@bp.post("/replies/<int:message_id>/notes")
@permission_required(Permission.TRIAGE)
def add_note(message_id: int) -> ResponseReturnValue:
    session = get_db().session
    view = _message(message_id)
    try:
        inbox.add_note(session, view.message, request.form.get("body", ""), author=_actor())
    except inbox.InboxError as exc:
        session.rollback()
        flash(str(exc), "error")
        return _back(message_id)
    session.commit()
    flash("Note added.", "success")
    return _back(message_id)


@bp.post("/replies/<int:message_id>/assign")
@roles_required(*EDITORS)
def assign(message_id: int) -> ResponseReturnValue:
    session = get_db().session
    view = _message(message_id)
    delivery = session.get(Delivery, request.form.get("delivery_id", type=int) or 0)
    if delivery is None:
        flash("Choose the letter this message answers.", "error")
        return _back(message_id)
    try:
        done = inbox.assign(
            session, view.message, delivery, actor=_actor(), settings=get_settings()
        )
    except inbox.InboxError as exc:
        session.rollback()
        flash(str(exc), "error")
        return _back(message_id)
    session.commit()
    flash(done.capitalize() + ".", "success")
    return _back(message_id)


@bp.get("/campaigns/<int:campaign_id>/replies")
def campaign_replies(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    parent = session.get(Campaign, campaign.parent_id) if campaign.parent_id else None
    answer_counts, answers = answers_for_campaign(session, campaign_id)
    return render_template(
        "replies/campaign.html",
        campaign=campaign,
        parent=parent,
        repliers=inbox.who_replied(session, campaign_id, limit=inbox.REPLIERS_SHOWN),
        replied=inbox.replied_count(session, campaign_id),
        counts=inbox.filter_counts(session, campaign_id),
        filters=inbox.FILTERS,
        followups=followups.followups_of(session, campaign_id),
        default_subject=followups.default_subject(campaign),
        min_days=get_settings().followup_min_days,
        answer_counts=answer_counts,
        answers=answers,
        answer_labels=ANSWER_LABELS,
        editor=current_user.role in {r.value for r in EDITORS},
    )


@bp.post("/campaigns/<int:campaign_id>/followups")
@roles_required(*EDITORS)
def create_followup(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    try:
        created = followups.create_followup(
            session,
            campaign_id,
            subject=request.form.get("subject", ""),
            body=request.form.get("body", ""),
            days=request.form.get("days", type=int) or 0,
            min_days=get_settings().followup_min_days,
            created_by_id=current_user.id,
        )
    except followups.FollowupError as exc:
        session.rollback()
        flash(f"No follow-up written: {exc}", "error")
        return redirect(url_for("replies.campaign_replies", campaign_id=campaign_id))
    session.commit()
    flash("Follow-up written: check it, then schedule it.", "success")
    return redirect(url_for("replies.followup", followup_id=created.id))


@bp.get("/followups/<int:followup_id>")
def followup(followup_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, followup_id)
    if campaign is None or campaign.parent_id is None:
        abort(404)
    parent = session.get(Campaign, campaign.parent_id)
    view = four_eyes.approval_view(session, campaign)
    row = view.request
    user: User = current_user._get_current_object()
    return render_template(
        "replies/followup.html",
        followup=campaign,
        parent=parent,
        eligible=followups.eligible_count(session, campaign),
        reach=followups.reach(session, campaign),
        due=followups.due_at(session, campaign),
        editor=current_user.role in {r.value for r in EDITORS},
        threshold=get_settings().four_eyes_threshold,
        approval=view,
        can_approve=bool(
            row is not None
            and view.state == "pending"
            and may_approve(user)
            and row.requested_by_id != user.id
        ),
        can_withdraw=bool(row is not None and may_approve(user)),
    )


def _followup_or_404(followup_id: int) -> Campaign:
    campaign = get_db().session.get(Campaign, followup_id)
    if campaign is None or campaign.parent_id is None:
        abort(404)
    return campaign


@bp.post("/followups/<int:followup_id>/schedule")
@roles_required(*EDITORS)
def schedule_followup(followup_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = _followup_or_404(followup_id)
    # Four-eyes (outreach.followups.four_eyes): a big follow-up waits for a second person.
    gate = four_eyes.schedule_gate(
        session,
        campaign,
        current_user._get_current_object(),
        threshold=get_settings().four_eyes_threshold,
    )
    if gate.blocked:
        session.commit()  # the request for approval
        flash(gate.message, "info")
        return redirect(url_for("replies.followup", followup_id=followup_id))
    try:
        followups.schedule(session, campaign)
    except followups.FollowupError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash("Scheduled: it goes out once its day has come.", "success")
    return redirect(url_for("replies.followup", followup_id=followup_id))


@bp.post("/followups/<int:followup_id>/approval/approve")
@permission_required(Permission.APPROVE)
def approve_followup(followup_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = _followup_or_404(followup_id)
    try:
        row = four_eyes.approve(
            session,
            campaign,
            current_user._get_current_object(),
            seen_fingerprint=request.form.get("fingerprint", ""),
        )
    except ApprovalError as exc:
        session.rollback()
        flash(f"Not approved: {exc}.", "error")
    else:
        session.commit()
        flash(
            f"Approved: the follow-up of up to {row.recipients} letters can be scheduled (by "
            "anyone with the Schedule button).",
            "success",
        )
    return redirect(url_for("replies.followup", followup_id=followup_id))


@bp.post("/followups/<int:followup_id>/approval/withdraw")
@permission_required(Permission.APPROVE)
def withdraw_followup_approval(followup_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = _followup_or_404(followup_id)
    try:
        four_eyes.withdraw(session, campaign, current_user._get_current_object())
    except ApprovalError as exc:
        session.rollback()
        flash(f"Nothing withdrawn: {exc}.", "error")
    else:
        session.commit()
        flash("The request for approval is withdrawn.", "success")
    return redirect(url_for("replies.followup", followup_id=followup_id))


# --- public: the supporter's answer -------------------------------------------------------------
@answer_bp.route("/mep-reply/<token>", methods=["GET", "POST"])
def answer(token: str) -> ResponseReturnValue:
    """GET: the answer and one button (mail scanners open links); POST: recorded."""
    read = AnswerTokens(get_settings().secret_key).read(token)
    if read is None:
        abort(404)
    question_id, given = read
    session = get_db().session
    view = question_view(session, question_id)
    if view is None:
        abort(404)
    done = request.method == "POST"
    if done:
        record_answer(session, view.question, given)
        session.commit()
    return render_template(
        "replies/mep_answer.html", view=view, answer=given, label=ANSWER_LABELS[given], done=done,
        campaign=view.campaign, language=str(get_locale() or "en"),
    )  # fmt: skip
