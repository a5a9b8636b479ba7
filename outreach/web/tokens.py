"""/account/tokens: each user's API tokens (create, see when last used, revoke); admins also see
and may revoke everyone's. A new token is shown once, on the page that answers its creation."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length

from outreach.accounts.models import Role
from outreach.api.models import Scope
from outreach.api.tokens import (
    MAX_NAME,
    TokenError,
    all_tokens,
    create_token,
    revoke_token,
    tokens_of,
)
from outreach.extensions import get_db
from outreach.web.access import require_login_for

bp = Blueprint("tokens", __name__)
require_login_for(bp)


class TokenForm(FlaskForm):
    name = StringField("What is it for", validators=[DataRequired(), Length(max=MAX_NAME)])
    scope = SelectField(
        "Scope",
        choices=[
            SelectChoice(Scope.READ.value, "read: GET requests only"),
            SelectChoice(Scope.WRITE.value, "write: everything your role allows"),
        ],
        default=Scope.READ.value,
    )


class RevokeForm(FlaskForm):
    pass


def _page(form: TokenForm, new_token: str | None = None) -> str:
    session = get_db().session
    everyone = all_tokens(session) if current_user.role == Role.ADMIN.value else []
    return render_template(
        "account/tokens.html",
        form=form,
        revoke_form=RevokeForm(),
        tokens=tokens_of(session, current_user),
        everyone=[t for t in everyone if t.user_id != current_user.id],
        new_token=new_token,
    )


@bp.route("/account/tokens", methods=["GET", "POST"])
def tokens() -> ResponseReturnValue:
    form = TokenForm()
    if form.validate_on_submit():
        session = get_db().session
        try:
            _row, token = create_token(
                session, current_user, name=form.name.data or "", scope=form.scope.data or ""
            )
        except TokenError as exc:
            session.rollback()
            form.name.errors = [str(exc)]
            return _page(form), 400
        session.commit()
        # Shown once, in this answer to the POST: only its hash is kept.
        return _page(TokenForm(formdata=None), new_token=token)
    return _page(form), 400 if form.errors else 200


@bp.post("/account/tokens/<int:token_id>/revoke")
def revoke(token_id: int) -> ResponseReturnValue:
    if not RevokeForm().validate_on_submit():
        abort(400)
    session = get_db().session
    try:
        row = revoke_token(session, token_id, by=current_user)
    except TokenError:
        abort(404)
    session.commit()
    flash(f"The token “{row.name}” ({row.prefix}) is revoked.", "success")
    return redirect(url_for("tokens.tokens"))
