"""/admin/users (admins): every staff user with role, status, last sign-in and second factor;
inviting by e-mail, changing a role, deactivating and reactivating, resending an invitation,
and clearing a lost second factor. The last active admin cannot be demoted or deactivated."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, SelectField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length

from outreach.accounts import totp
from outreach.accounts.models import Role, User
from outreach.accounts.roles import ROLE_LABELS, Permission
from outreach.accounts.services import AccountError, invite_user, set_active, set_role
from outreach.extensions import get_db, get_settings
from outreach.web.access import permission_required, require_login_for

bp = Blueprint("users", __name__, url_prefix="/admin")
require_login_for(bp)

ROLE_CHOICES = [SelectChoice(r.value, ROLE_LABELS[r.value]) for r in Role]


@bp.before_request
@permission_required(Permission.ADMIN)
def _admins_only() -> None:
    return None


class InviteForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired(), Length(max=320)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.CAMPAIGNER.value)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class ActionForm(FlaskForm):
    pass


def _user(user_id: int) -> User:
    user: User = get_db().session.get(User, user_id) or abort(404)
    return user


def _page(form: InviteForm, status: int = 200) -> ResponseReturnValue:
    session = get_db().session
    users = list(session.scalars(select(User).order_by(User.email)))
    return render_template(
        "admin/users.html",
        form=form,
        action_form=ActionForm(),
        users=users,
        role_form=RoleForm,
        invite_days=get_settings().invite_days,
    ), status


@bp.get("/users")
def users() -> ResponseReturnValue:
    return _page(InviteForm(formdata=None))


@bp.post("/users/invite")
def invite() -> ResponseReturnValue:
    form = InviteForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    session = get_db().session
    try:
        user, _link = invite_user(
            session,
            form.email.data or "",
            form.role.data or Role.CAMPAIGNER.value,
            by=current_user._get_current_object(),
            valid=timedelta(days=get_settings().invite_days),
        )
    except AccountError as exc:
        session.rollback()
        form.email.errors = [str(exc)]
        return _page(form, 400)
    session.commit()
    flash(f"Invitation on its way to {user.email} ({user.role}).", "success")
    return redirect(url_for("users.users"))


@bp.post("/users/<int:user_id>/role")
def change_role(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Role not changed: choose admin, campaigner or viewer.", "error")
        return redirect(url_for("users.users"))
    session = get_db().session
    try:
        set_role(session, user, form.role.data or "")
    except AccountError as exc:
        session.rollback()
        flash(f"Role not changed: {exc}.", "error")
        return redirect(url_for("users.users"))
    session.commit()
    flash(f"{user.email} is now {user.role}.", "success")
    return redirect(url_for("users.users"))


@bp.post("/users/<int:user_id>/active")
def change_active(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    active = request.form.get("active") == "y"
    session = get_db().session
    try:
        set_active(session, user, active)
    except AccountError as exc:
        session.rollback()
        flash(f"Not deactivated: {exc}.", "error")
        return redirect(url_for("users.users"))
    session.commit()
    flash(f"{user.email} is {'active again' if active else 'deactivated'}.", "success")
    return redirect(url_for("users.users"))


@bp.post("/users/<int:user_id>/resend")
def resend(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_db().session
    try:
        invite_user(
            session,
            user.email,
            user.role,
            by=current_user._get_current_object(),
            valid=timedelta(days=get_settings().invite_days),
        )
    except AccountError as exc:
        session.rollback()
        flash(f"Not sent: {exc}.", "error")
        return redirect(url_for("users.users"))
    session.commit()
    flash(
        f"A new invitation is on its way to {user.email}; the old link no longer works.", "success"
    )
    return redirect(url_for("users.users"))


@bp.post("/users/<int:user_id>/totp-reset")
def totp_reset(user_id: int) -> ResponseReturnValue:
    """For a user who lost their authenticator: their password alone signs them in again."""
    user = _user(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_db().session
    totp.disable(session, user)
    session.commit()
    flash(f"The second factor of {user.email} is cleared.", "success")
    return redirect(url_for("users.users"))
