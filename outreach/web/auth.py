"""Signing staff in and out, and what every console request passes first.

Sign-in is two steps when the user has a second factor: the password, then a TOTP or recovery
code (the user is signed in only after both). Invitations and password resets arrive as one-time
links (/account/invite/<token>, /password/reset/<token>); asking for a reset answers the same
whether or not the address has an account. Failed attempts are rate-limited per IP address.

`init_console_guard(app)` adds one check before every request of the console:
- the session's age: idle longer than OUTREACH_SESSION_IDLE_MINUTES, or signed in longer ago than
  OUTREACH_SESSION_MAX_HOURS, signs the user out; they sign in again and come back to the page;
- OUTREACH_REQUIRE_ADMIN_2FA: an admin without a second factor is sent to enrol first;
- default deny: a state-changing request (not GET/HEAD/OPTIONS) to a console view needs the
  `edit` permission unless the view declares another (outreach.web.access.permission_required),
  so a viewer is refused (403) by every view that forgot to say so.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from contacts.base import utcnow
from outreach.accounts import totp
from outreach.accounts.models import LinkPurpose, User
from outreach.accounts.roles import Permission, can, is_admin
from outreach.accounts.services import (
    AccountError,
    PasswordError,
    check_password,
    request_reset,
    use_link,
    user_by_email,
    valid_link,
)
from outreach.audit import record, user_actor
from outreach.extensions import get_db, get_settings, limiter
from outreach.web.forms import LoginForm

bp = Blueprint("auth", __name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Blueprints outside the console: their own rules (public pages, token-authenticated API).
NOT_CONSOLE = frozenset({"public", "health", "inbound", "unsubscribe"})
# Pages a user may reach while they must still enrol a second factor, or change as a viewer:
# their own account (password, second factor, API tokens), and signing out.
SELF_SERVICE = frozenset(
    {
        "auth.logout",
        "account.security",
        "account.password",
        "account.totp_start",
        "account.totp_confirm",
        "account.totp_disable",
        "account.recovery_codes",
        "tokens.tokens",
        "tokens.revoke",
    }
)
# The user's own sign-in and account pages: no role needed to use them.
OWN_ACCOUNT = frozenset({"auth", "account"})
# Requests a page makes by itself (polling): they do not keep an idle session alive.
PASSIVE_ENDPOINTS = frozenset({"drive.progress"})
PENDING_2FA = "pending_2fa"
SECOND_STEP_SECONDS = 300


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("admin.dashboard")


def _limit(setting: str) -> str:
    return str(getattr(get_settings(), setting)) or "1000000/second"


def _failed(response: Any) -> bool:
    return bool(response.status_code == 400)


def _start_session(user: User) -> None:
    """Sign `user` in: a new session (no fixation), with its clock started."""
    session.clear()
    login_user(user)
    now = time.time()
    session["auth_at"] = now
    session["seen_at"] = now
    user.last_login_at = utcnow()
    record(
        get_db().session,
        actor=user_actor(user),
        actor_id=user.id,
        action="auth.sign_in",
        object_type="user",
        object_id=user.id,
        summary=f"Signed in ({'password and second factor' if user.totp_enabled else 'password'})",
    )


def _failed_sign_in(user: User | None, why: str) -> None:
    """A failed attempt, recorded without what was typed (it may be a password)."""
    db_session = get_db().session
    db_session.rollback()
    record(
        db_session,
        actor=user_actor(user) if user else "anonymous",
        actor_id=user.id if user else None,
        action="auth.sign_in_failed",
        object_type="user" if user else None,
        object_id=user.id if user else None,
        summary=f"Failed sign-in: {why}",
    )
    db_session.commit()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: _limit("login_rate"),
    deduct_when=_failed,
    exempt_when=lambda: not get_settings().login_rate.strip(),
)
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        db_session = get_db().session
        email = form.email.data or ""
        user = check_password(db_session, email, form.password.data or "")
        if user is None:
            known = user_by_email(db_session, email)
            _failed_sign_in(known, "wrong password" if known else "unknown address")
            form.password.errors.append("Unknown e-mail address or wrong password.")
        elif user.totp_enabled:
            db_session.commit()  # a rehashed password
            session[PENDING_2FA] = {
                "user_id": user.id,
                "at": time.time(),
                "next": _safe_next(request.args.get("next")),
            }
            return redirect(url_for("auth.login_code"))
        else:
            _start_session(user)
            db_session.commit()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), (200 if not form.errors else 400)


class CodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired(), Length(max=40)],
    )


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(
    lambda: _limit("login_rate"),
    deduct_when=_failed,
    exempt_when=lambda: not get_settings().login_rate.strip(),
)
def login_code() -> ResponseReturnValue:
    """The second step: the password was right; a TOTP or recovery code finishes sign-in."""
    pending = session.get(PENDING_2FA)
    if not pending or time.time() - float(pending.get("at", 0)) > SECOND_STEP_SECONDS:
        session.pop(PENDING_2FA, None)
        flash("Sign in again: the second step waited too long.", "info")
        return redirect(url_for("auth.login"))
    db_session = get_db().session
    user = db_session.get(User, int(pending["user_id"]))
    if user is None or not user.active or not user.totp_enabled:
        session.pop(PENDING_2FA, None)
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        code = form.code.data or ""
        used_recovery = False
        ok = totp.verify_code(user, code, key=get_settings().secret_key)
        if not ok:
            ok = used_recovery = totp.use_recovery_code(db_session, user, code)
        if ok:
            target = pending.get("next") or url_for("admin.dashboard")
            _start_session(user)
            db_session.commit()
            if used_recovery:
                left = totp.recovery_codes_left(db_session, user)
                flash(
                    f"You signed in with a recovery code; {left} left. Make new ones on your "
                    "security page if you are running out.",
                    "info",
                )
            return redirect(_safe_next(target))
        _failed_sign_in(user, "wrong second-factor code")
        form.code.errors.append("That code is not right, or was used already.")
    return render_template("auth/code.html", form=form), (200 if not form.errors else 400)


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


# --- password reset and invitations --------------------------------------------------------------
class ForgotForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=1000)],
        description="At least 12 characters; a few words you will remember are best.",
    )
    confirm = PasswordField("The same password again", validators=[DataRequired()])

    def password_value(self) -> str | None:
        """The password if both fields agree; else an error on the second field."""
        if (self.password.data or "") != (self.confirm.data or ""):
            self.confirm.errors = [*self.confirm.errors, "the two passwords differ"]
            return None
        return self.password.data or ""


def _reset_address_key() -> str:
    return "reset-address:" + (request.form.get("email") or "").strip().lower()[:320]


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(
    lambda: _limit("reset_rate"),
    methods=["POST"],
    exempt_when=lambda: not get_settings().reset_rate.strip(),
)
@limiter.limit(
    lambda: _limit("reset_rate"),
    methods=["POST"],
    key_func=_reset_address_key,
    exempt_when=lambda: not get_settings().reset_rate.strip(),
)
def forgot_password() -> ResponseReturnValue:
    form = ForgotForm()
    if form.validate_on_submit():
        db_session = get_db().session
        request_reset(
            db_session, form.email.data or "", valid=timedelta(hours=get_settings().reset_hours)
        )
        db_session.commit()
        # The same answer whether or not the address has an account.
        return render_template("auth/forgot_sent.html")
    return render_template("auth/forgot.html", form=form), (200 if not form.errors else 400)


def _set_password(token: str, purpose: LinkPurpose) -> ResponseReturnValue:
    db_session = get_db().session
    link = valid_link(db_session, token, purpose)
    template = "auth/set_password.html"
    if link is None:
        return render_template(template, form=None, purpose=purpose.value), 410
    user = db_session.get(User, link.user_id)
    assert user is not None
    form = SetPasswordForm()
    if form.validate_on_submit():
        password = form.password_value()
        if password is not None:
            try:
                use_link(db_session, token, purpose, password)
            except PasswordError as exc:
                db_session.rollback()
                form.password.errors = list(exc.problems)
            except AccountError as exc:
                db_session.rollback()
                form.form_errors.append(str(exc))
            else:
                record(
                    db_session,
                    actor=user_actor(user),
                    actor_id=user.id,
                    action=f"account.{purpose.value}_used",
                    object_type="user",
                    object_id=user.id,
                    summary="Accepted the invitation and set a password"
                    if purpose == LinkPurpose.INVITE
                    else "Set a new password through a reset link",
                )
                if user.totp_enabled:
                    # A reset link never bypasses the second factor: sign in with both.
                    db_session.commit()
                    logout_user()
                    flash("Your password is changed: sign in with it and your code.", "success")
                    return redirect(url_for("auth.login"))
                _start_session(user)
                db_session.commit()
                flash("Your password is set; you are signed in.", "success")
                return redirect(url_for("admin.dashboard"))
    status = 400 if form.errors or form.form_errors else 200
    return render_template(template, form=form, purpose=purpose.value, email=user.email), status


@bp.route("/account/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str) -> ResponseReturnValue:
    return _set_password(token, LinkPurpose.INVITE)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    return _set_password(token, LinkPurpose.RESET)


# --- the guard before every console request ------------------------------------------------------
def _is_console(endpoint: str, blueprint: str | None) -> bool:
    if endpoint == "static" or blueprint is None:
        return False
    return blueprint not in NOT_CONSOLE and not blueprint.startswith("api")


def _is_passive() -> bool:
    return request.endpoint in PASSIVE_ENDPOINTS or request.headers.get("Sec-Fetch-Dest") == "empty"


def _expired(now: float) -> bool:
    settings = get_settings()
    auth_at, seen_at = session.get("auth_at"), session.get("seen_at")
    if not isinstance(auth_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return True
    if now - auth_at > settings.session_max_hours * 3600:
        return True
    idle = settings.session_idle_minutes * 60
    return bool(idle) and now - seen_at > idle


def _back_after_sign_in() -> str:
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path:
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return url_for("admin.dashboard")


def _guard() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    if endpoint is None or not _is_console(endpoint, request.blueprint):
        return None
    if not current_user.is_authenticated:
        return None  # the blueprint's own sign-in check answers
    now = time.time()
    if _expired(now):
        back = _back_after_sign_in()
        logout_user()
        session.clear()
        if _is_passive():
            return jsonify(error="the session expired: sign in again"), 401
        flash("Your session expired: sign in again to go on.", "info")
        return redirect(url_for("auth.login", next=back))
    if not _is_passive():
        session["seen_at"] = now
    user: User = current_user._get_current_object()
    if (
        get_settings().require_admin_2fa
        and is_admin(user)
        and not user.totp_enabled
        and endpoint not in SELF_SERVICE
    ):
        flash("Admins must use a second factor here: set it up to go on.", "info")
        return redirect(url_for("account.security"))
    if (
        request.method not in READ_METHODS
        and endpoint not in SELF_SERVICE
        and request.blueprint not in OWN_ACCOUNT
    ):
        view = current_app.view_functions.get(endpoint)
        needed = getattr(view, "required_permission", Permission.EDIT)
        if not can(user, needed):
            abort(403)
    return None


def init_console_guard(app: Flask) -> None:
    app.before_request(_guard)
