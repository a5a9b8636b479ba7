"""/dev/mailbox: the messages the development capture server received (admins only)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from outreach.accounts.models import Role
from outreach.devmail import read_mailbox, read_message
from outreach.extensions import get_settings
from outreach.web.access import require_login_for, roles_required

bp = Blueprint("dev", __name__, url_prefix="/dev")
require_login_for(bp)


@bp.get("/mailbox")
@roles_required(Role.ADMIN)
def mailbox() -> ResponseReturnValue:
    settings = get_settings()
    messages = read_mailbox(settings.devmail_path)
    return render_template(
        "dev/mailbox.html",
        messages=messages,
        embedded=settings.uses_embedded_smtp,
        path=settings.devmail_path,
    )


@bp.get("/mailbox/<key>")
@roles_required(Role.ADMIN)
def message(key: str) -> ResponseReturnValue:
    if "/" in key or key.startswith("."):
        abort(404)
    captured = read_message(get_settings().devmail_path, key) or abort(404)
    return render_template("dev/message.html", m=captured, raw=captured.message.as_string())
