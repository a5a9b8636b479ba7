"""The supporter's own links: withdrawing a signature (/c/<slug>/withdraw/<token>, from every mail
about it) and RFC 8058 one-click unsubscription (/unsubscribe/<token>, the URL of the
List-Unsubscribe header of supporter mail).

Both show a page with a button on GET: mail scanners open links, and neither a withdrawal nor an
unsubscription should happen because one did. Withdrawal's button carries the public form's
signed token. Unsubscription's POST carries no CSRF token on purpose: RFC 8058 has the mail
provider POST `List-Unsubscribe=One-Click` to the URL without any page, and the signed token in
the URL is what proves the request comes from the mail.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from outreach.campaigns.models import Campaign
from outreach.extensions import csrf, get_db, get_settings
from outreach.mail.identity import MessageIdentity
from outreach.supporters.models import Signature
from outreach.supporters.rights import unsubscribe as unsubscribe_service
from outreach.supporters.rights import withdraw
from outreach.supporters.tokens import WithdrawalTokens
from outreach.web.public import _campaign, _headers, bp, signature_of_link
from outreach.web.public_forms import ConfirmForm

unsubscribe_bp = Blueprint("unsubscribe", __name__)
csrf.exempt(unsubscribe_bp)
unsubscribe_bp.after_request(_headers)
ONE_CLICK = "One-Click"


@bp.route("/<slug>/withdraw/<token>", methods=["GET", "POST"])
def withdraw_signature(slug: str, token: str) -> ResponseReturnValue:
    """GET: the button; POST (with the page's signed token): the signature is withdrawn."""
    campaign = _campaign(slug)
    session = get_db().session
    signature = signature_of_link(campaign, WithdrawalTokens(get_settings().secret_key).read(token))
    if signature is None:
        return render_template("public/withdraw.html", campaign=campaign, invalid=True), 404
    form = ConfirmForm(campaign.id)
    done = False
    if request.method == "POST":
        if not form.validate():
            return render_template("public/refused.html", campaign=campaign), 400
        done = withdraw(session, signature.id)
        session.commit()
    return render_template(
        "public/withdraw.html",
        campaign=campaign,
        form=form,
        signature=signature,
        invalid=False,
        done=done or signature.state == "withdrawn",
    )


def _identity() -> MessageIdentity:
    """Made once per app (it reads the DKIM key), like the worker's."""
    identity = current_app.extensions.get("outreach.identity")
    if identity is None:
        identity = MessageIdentity.from_settings(get_settings())
        current_app.extensions["outreach.identity"] = identity
    return identity


@unsubscribe_bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """GET: a page with the button; POST `List-Unsubscribe=One-Click`: unsubscribed (RFC 8058)."""
    signature_id = _identity().supporter_for_unsubscribe(token)
    session = get_db().session
    signature = session.get(Signature, signature_id) if signature_id is not None else None
    if signature_id is None:
        abort(404)
    campaign = session.get(Campaign, signature.campaign_id) if signature is not None else None
    page = {"campaign": campaign, "language": str(get_locale() or "en"), "token": token}
    if request.method == "GET":
        return render_template("public/unsubscribe.html", done=False, **page)
    if request.form.get("List-Unsubscribe") != ONE_CLICK:
        abort(400)
    # An erased supporter's token still answers 200: there is nothing left to stop.
    if signature is not None:
        unsubscribe_service(session, signature.id)
        session.commit()
    return render_template("public/unsubscribe.html", done=True, **page)
