"""/account/security: the signed-in user's own password and second factor (TOTP enrolment with a
QR code drawn on the server, confirmation with a first code, recovery codes, turning it off).
Every role may use it; the API tokens page is outreach.web.tokens."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from outreach.accounts import totp
from outreach.accounts.models import User
from outreach.accounts.passwords import verify_password
from outreach.accounts.roles import is_admin
from outreach.accounts.services import AccountError, PasswordError, change_password
from outreach.audit import record, user_actor
from outreach.extensions import get_db, get_settings
from outreach.web.access import require_login_for

bp = Blueprint("account", __name__)
require_login_for(bp)


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1000)])
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=1000)],
        description="At least 12 characters; a few words you will remember are best.",
    )
    confirm = PasswordField("The same password again", validators=[DataRequired()])


class CodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app", validators=[DataRequired(), Length(max=40)]
    )


class DisableForm(FlaskForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1000)])
    code = StringField(
        "A code from your app, or a recovery code", validators=[DataRequired(), Length(max=40)]
    )


class StartForm(FlaskForm):
    pass


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


def _audit(action: str, summary: str) -> None:
    user = _user()
    record(
        get_db().session,
        actor=user_actor(user),
        actor_id=user.id,
        action=action,
        object_type="user",
        object_id=user.id,
        summary=summary,
    )


def _page(status: int = 200, **forms: FlaskForm) -> ResponseReturnValue:
    user = _user()
    enrolling = bool(user.totp_secret) and not user.totp_enabled
    key = get_settings().secret_key
    context = {
        "password_form": forms.get("password_form") or PasswordForm(formdata=None),
        "code_form": forms.get("code_form") or CodeForm(formdata=None),
        "disable_form": forms.get("disable_form") or DisableForm(formdata=None),
        "start_form": StartForm(),
        "enrolling": enrolling,
        "qr": totp.qr_svg(totp.provisioning_uri(user, key=key)) if enrolling else "",
        "secret": totp.enrolment_secret(user, key=key) if enrolling else "",
        "codes_left": totp.recovery_codes_left(get_db().session, user) if user.totp_enabled else 0,
        "required": get_settings().require_admin_2fa and is_admin(user),
    }
    return render_template("account/security.html", **context), status


@bp.get("/account/security")
def security() -> ResponseReturnValue:
    return _page()


@bp.post("/account/password")
def password() -> ResponseReturnValue:
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(400, password_form=form)
    if form.password.data != form.confirm.data:
        form.confirm.errors = ["the two passwords differ"]
        return _page(400, password_form=form)
    session = get_db().session
    try:
        change_password(session, _user(), form.current.data or "", form.password.data or "")
    except PasswordError as exc:
        session.rollback()
        form.password.errors = list(exc.problems)
        return _page(400, password_form=form)
    except AccountError as exc:
        session.rollback()
        form.current.errors = [str(exc)]
        return _page(400, password_form=form)
    _audit("account.password", "Changed their password")
    session.commit()
    flash("Your password is changed.", "success")
    return redirect(url_for("account.security"))


@bp.post("/account/totp/start")
def totp_start() -> ResponseReturnValue:
    """A new secret (not yet in force): the page shows its QR code and asks for a first code."""
    if not StartForm().validate_on_submit():
        return _page(400)
    session = get_db().session
    try:
        totp.begin_enrolment(_user(), key=get_settings().secret_key)
    except totp.TotpError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.security"))
    session.commit()
    return redirect(url_for("account.security") + "#enrol")


@bp.post("/account/totp/confirm")
def totp_confirm() -> ResponseReturnValue:
    form = CodeForm()
    if not form.validate_on_submit():
        return _page(400, code_form=form)
    session = get_db().session
    try:
        codes = totp.confirm_enrolment(
            session, _user(), form.code.data or "", key=get_settings().secret_key
        )
    except totp.TotpError as exc:
        session.commit()  # keep the step of a code that was used, if any
        form.code.errors = [str(exc)]
        return _page(400, code_form=form)
    _audit("account.totp_on", "Turned the second factor on")
    session.commit()
    return render_template("account/recovery_codes.html", codes=codes)


@bp.post("/account/totp/recovery-codes")
def recovery_codes() -> ResponseReturnValue:
    """New recovery codes (the old ones stop working), against a current code."""
    form = CodeForm()
    user = _user()
    session = get_db().session
    if not user.totp_enabled:
        return redirect(url_for("account.security"))
    if not form.validate_on_submit() or not totp.verify_code(
        user, form.code.data or "", key=get_settings().secret_key
    ):
        session.commit()
        form.code.errors = ["that code is not right, or was used already"]
        return _page(400, code_form=form)
    codes = totp.new_recovery_codes(session, user)
    _audit("account.recovery_codes", "Made new recovery codes")
    session.commit()
    return render_template("account/recovery_codes.html", codes=codes)


@bp.post("/account/totp/disable")
def totp_disable() -> ResponseReturnValue:
    form = DisableForm()
    user = _user()
    session = get_db().session
    if get_settings().require_admin_2fa and is_admin(user):
        flash("Admins must keep a second factor here.", "error")
        return redirect(url_for("account.security"))
    if not form.validate_on_submit():
        return _page(400, disable_form=form)
    code = form.code.data or ""
    if not verify_password(user.password_hash, form.password.data or ""):
        form.password.errors = ["the password is wrong"]
        return _page(400, disable_form=form)
    key = get_settings().secret_key
    if not (totp.verify_code(user, code, key=key) or totp.use_recovery_code(session, user, code)):
        session.commit()
        form.code.errors = ["that code is not right, or was used already"]
        return _page(400, disable_form=form)
    totp.disable(session, user)
    _audit("account.totp_off", "Turned the second factor off")
    session.commit()
    flash("The second factor is off: your password alone signs you in.", "success")
    return redirect(url_for("account.security"))
