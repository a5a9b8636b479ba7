"""The public campaign pages: /c/<slug> (the letter, its signatories, the counter and the
signing form), /c/<slug>/embed (the same for a partner's iframe), the confirmation link, and
/c/<slug>/count.json for the counter's progressive enhancement. No sign-in, no cookie needed.

Protections: the form's signed token (CSRF and minimum fill time, see public_forms), a honeypot,
rate limits per IP and per address in Redis (public_limits), a 16 kB body limit, and the burst
rule of outreach.supporters.signing. Names and comments are plain text, escaped by Jinja.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import dramatiq
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import load_only
from werkzeug.wrappers import Response

from outreach.campaigns.models import Campaign
from outreach.extensions import PUBLIC_LANGUAGES, csrf, get_db, get_settings
from outreach.settings import burst_limit
from outreach.supporters.cosigners import named_cosigners
from outreach.supporters.letters import LettersError, accepts_letters, write_letters
from outreach.supporters.models import CosignerDisplay, Signature
from outreach.supporters.outbox import OUTBOX, Kicker
from outreach.supporters.signing import (
    SignatureInput,
    confirm_pending,
    confirmed_count,
    ip_hash,
    sign,
)
from outreach.supporters.tokens import ConfirmationTokens
from outreach.web.public_forms import ConfirmForm, SignForm, aria, read_good_post
from outreach.web.public_letter import privacy_notice_text, public_letter
from outreach.web.public_letters import letter_choice, read_choice
from outreach.web.public_limits import Limit, check, parsed

bp = Blueprint("public", __name__, url_prefix="/c")
# The form carries its own signed token (public_forms.SignedFormCSRF): no session cookie exists
# in a partner's iframe for Flask-WTF's token to be checked against.
csrf.exempt(bp)

NAMES_SHOWN = 100
THANKS_SECONDS = 5.0
THANKS_PAGES_KEPT = 256
# How long a process signs with the campaign it read (see _signing_campaign).
CAMPAIGN_SECONDS = 2.0
CAMPAIGNS_KEPT = 256
SIGNING_CAMPAIGNS = "outreach.signing_campaigns"  # the store of `_kept` for them
NOTICES = "outreach.signing_notices"  # the privacy notices of those campaigns
T = TypeVar("T")
_SIGNING_COLUMNS = (
    Campaign.id,
    Campaign.slug,
    Campaign.name,
    Campaign.signing_open,
    Campaign.privacy_notice,
    Campaign.updated_at,
)
# Built once: a statement object is compiled once and its cache key kept (one built per
# request, options and all, cost a tenth of a signature).
_BY_SLUG = select(Campaign).where(Campaign.slug == bindparam("slug"))
_BY_SLUG_LIGHT = _BY_SLUG.options(load_only(*_SIGNING_COLUMNS))

_PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)


@bp.after_request
def _headers(response: Response) -> Response:
    # Only the embed may be framed (by any site: partners put it in their pages); every other
    # public page refuses frames (clickjacking a signature).
    embed = request.endpoint == "public.embed"
    ancestors = "*" if embed else "'none'"
    response.headers["Content-Security-Policy"] = f"{_PAGE_CSP}; frame-ancestors {ancestors}"
    if not embed:
        response.headers["X-Frame-Options"] = "DENY"
    # The confirmation link's token must not leak to another site through Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.context_processor
def _page_language() -> dict[str, Any]:
    return {"language": str(get_locale() or "en"), "lang_args": _lang_args(), "aria": aria}


def _campaign(slug: str, *, light: bool = False) -> Campaign:
    """The campaign of a public URL. `light`: only the columns a signature needs (a post whose
    answer is a cached page reads no letter); the rest load on refresh."""
    query = _BY_SLUG_LIGHT if light else _BY_SLUG
    campaign = get_db().session.scalar(query, {"slug": slug})
    if campaign is None:
        abort(404)
    return campaign


def _client_ip() -> str:
    # Behind a proxy, OUTREACH_PROXY_HOPS makes ProxyFix put the client's address here (see
    # docs/operations.md); without it this is the proxy's, and every visitor shares one limit.
    return request.remote_addr or "unknown"


def _address_key() -> str:
    return "sign-address:" + (request.form.get("email") or "").strip().lower()


def _limited(view: Any) -> Any:
    """The two limits of a post to the form (an empty setting turns one off), both counted in
    one Redis round trip (outreach.web.public_limits)."""

    @functools.wraps(view)
    def limited(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if request.method == "POST":
            settings = get_settings()
            wanted = []
            if settings.sign_rate_per_ip.strip():
                ip = _client_ip()
                wanted += [Limit(item, ip, "sign-ip") for item in parsed(settings.sign_rate_per_ip)]
            if settings.sign_rate_per_address.strip():
                address = _address_key()
                items = parsed(settings.sign_rate_per_address)
                wanted += [Limit(item, address, "sign-address") for item in items]
            check(wanted)
        return cast(ResponseReturnValue, view(*args, **kwargs))

    return limited


def _lang_args() -> dict[str, str]:
    lang = request.args.get("lang", "")
    return {"lang": lang} if lang in PUBLIC_LANGUAGES else {}


def _page(campaign: Campaign, form: SignForm | None, *, embed: bool, **extra: Any) -> str:
    session = get_db().session
    if sa_inspect(campaign).unloaded:
        session.refresh(campaign)  # read light (see _campaign): the page needs every column
    language = str(get_locale() or "en")
    show_names = campaign.cosigner_display in {CosignerDisplay.NAMES, CosignerDisplay.BOTH}
    return render_template(
        "public/embed.html" if embed else "public/campaign.html",
        campaign=campaign,
        form=form,
        letter=public_letter(campaign, language),
        notice=privacy_notice_text(campaign),
        count=confirmed_count(session, campaign.id),
        names=named_cosigners(session, campaign.id, NAMES_SHOWN) if show_names else [],
        endpoint="public.embed" if embed else "public.campaign",
        writes_to_meps=accepts_letters(campaign),
        letters_sent=request.args.get("letters", type=int) or 0,
        **extra,
    )


def _kept(name: str, key: Any, seconds: float, most: int, make: Callable[[], T]) -> T:
    """`make()`'s value kept by this process for `seconds` under `key` in the store `name` (at
    most `most` keys: past that the store starts again empty)."""
    store: dict[Any, tuple[float, T]] = current_app.extensions.setdefault(name, {})
    now = time.monotonic()
    hit = store.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = make()
    if len(store) >= most:
        store.clear()
    store[key] = (now + seconds, value)
    return value


def _signing_campaign(slug: str) -> Campaign:
    """The campaign a post signs: read light (the columns a signature needs), detached from the
    session and kept for CAMPAIGN_SECONDS in this process, so that a post reads no campaign.
    Writes do not trust it: the insert itself checks that signing is open (a closed campaign
    stores nothing at once); what it may show stale for CAMPAIGN_SECONDS is the notice text and
    whether the form is offered. Pages are rendered from a fresh read (`_campaign`)."""

    def read() -> Campaign:
        campaign = _campaign(slug, light=True)
        get_db().session.expunge(campaign)
        return campaign

    return _kept(SIGNING_CAMPAIGNS, slug, CAMPAIGN_SECONDS, CAMPAIGNS_KEPT, read)


def _kicker() -> Kicker:
    """This process's kicker of the confirmation outbox (outreach.supporters.outbox)."""
    kicker: Kicker | None = current_app.extensions.get("outreach.outbox_kicker")
    if kicker is None:
        broker = current_app.extensions["outreach.broker"]

        def send(delay_ms: int) -> None:
            message: dramatiq.Message[Any] = dramatiq.Message(
                queue_name=OUTBOX.queue_name,
                actor_name=OUTBOX.actor_name,
                args=(),
                kwargs={},
                options={},
            )
            broker.enqueue(message, delay=delay_ms or None)

        kicker = current_app.extensions["outreach.outbox_kicker"] = Kicker(send)
    return kicker


def _thanks_page(slug: str, signing: Campaign, *, embed: bool, thanks: str) -> str:
    """The page after a post (the letter, the counter, the names, the thanks), rendered at most
    once per THANKS_SECONDS for each campaign version, language, kind and query: it holds nothing
    of the supporter's, and rendering it for every signature cost more than the signing itself.
    Its counter may be a few seconds old; the campaign page and count.json are not."""
    key = (signing.id, signing.updated_at, str(get_locale()), embed, thanks, request.query_string)
    return _kept(
        "outreach.thanks_pages", key, THANKS_SECONDS, THANKS_PAGES_KEPT,
        lambda: _page(_campaign(slug), None, embed=embed, thanks=thanks),
    )  # fmt: skip


def _campaign_page(slug: str, *, embed: bool) -> ResponseReturnValue:
    if request.method == "POST":
        return _post(slug, embed=embed)
    campaign = _campaign(slug)
    form = SignForm(campaign.id) if campaign.signing_open else None
    return _page(campaign, form, embed=embed, confirmed=request.args.get("confirmed") == "1")


def _post(slug: str, *, embed: bool) -> ResponseReturnValue:
    signing = _signing_campaign(slug)
    if not signing.signing_open:
        return _page(_campaign(slug), None, embed=embed, closed=True), 409
    good = read_good_post(request.form, signing.id)
    if good is None or good.fill_seconds < get_settings().sign_min_seconds:
        # Something to refuse or to word an error about: the form finds what (public_forms).
        return _post_with_form(slug, signing, embed=embed)
    fields = {
        "name": good.name,
        "email": good.email,
        "country": good.country,
        "organisation": good.organisation,
        "comment": good.comment,
        "updates_opt_in": good.updates,
        "named": good.named,
    }
    return _sign(slug, signing, embed=embed, **fields)


def _post_with_form(slug: str, signing: Campaign, *, embed: bool) -> ResponseReturnValue:
    form = SignForm(signing.id)
    valid = form.validate()
    if form.csrf_failed:
        return render_template("public/refused.html", campaign=signing), 400
    if form.honeypot_filled:
        # Answer as if it worked: a bot learns nothing, and nothing is stored or sent.
        return _thanks_page(slug, signing, embed=embed, thanks="new")
    if (form.fill_seconds or 0) < get_settings().sign_min_seconds:
        form.form_errors.append(
            _("That was very fast. Please check your details and send the form again.")
        )
        # The form is shown again as filled, with a new token (each rendering makes one).
        return _page(_campaign(slug), form, embed=embed), 400
    if not valid:
        return _page(_campaign(slug), form, embed=embed), 400
    return _sign(
        slug,
        signing,
        embed=embed,
        name=form.name.data or "",
        email=form.normalised_email,
        country=form.country.data or "",
        organisation=form.organisation.data or "",
        comment=form.comment.data or "",
        updates_opt_in=bool(form.updates.data),
        named=bool(form.named.data),
    )


def _notice(signing: Campaign, language: str) -> str:
    """The privacy notice a post consents to, kept with the campaign it was read from (the
    default one is translated: a gettext per signature cost more than the rest of the notice)."""
    key = (signing.id, signing.updated_at, language)
    return _kept(
        NOTICES, key, CAMPAIGN_SECONDS, CAMPAIGNS_KEPT, lambda: privacy_notice_text(signing)
    )


def _sign(slug: str, signing: Campaign, *, embed: bool, **fields: Any) -> ResponseReturnValue:
    """Store a valid post's signature and answer with the page after signing.

    The signature is one statement (INSERT … ON CONFLICT DO NOTHING, which decides the burst
    rule and checks that signing is open; or the compare-and-set of a repeat), atomic by itself:
    it runs on a connection of `Database.autocommit()`, without the ORM's session or the BEGIN
    and COMMIT round trips of a transaction around it."""
    settings = get_settings()
    language = str(get_locale() or "en")
    kicker = _kicker()
    with get_db().autocommit() as connection:
        result = sign(
            connection,
            signing,
            SignatureInput(**fields, language=language, privacy_notice=_notice(signing, language)),
            source=ip_hash(settings.secret_key, _client_ip()),
            burst=burst_limit(settings.sign_burst),
            known_notices=current_app.extensions.setdefault("outreach.known_notices", set()),
            kicker=kicker,
            only_open=True,  # `signing` may be a moment old
        )
    if result.outcome == "closed":
        current_app.extensions[SIGNING_CAMPAIGNS].pop(slug, None)
        return _page(_campaign(slug), None, embed=embed, closed=True), 409
    # A held signature is told the same as a new one: the sender of a burst learns nothing.
    return _thanks_page(
        slug, signing, embed=embed, thanks="again" if result.outcome == "again" else "new"
    )


@bp.route("/<slug>", methods=["GET", "POST"])
@_limited
def campaign(slug: str) -> ResponseReturnValue:
    return _campaign_page(slug, embed=False)


@bp.route("/<slug>/embed", methods=["GET", "POST"])
@_limited
def embed(slug: str) -> ResponseReturnValue:
    return _campaign_page(slug, embed=True)


def signature_of_link(campaign: Campaign, read: tuple[int, str] | None) -> Signature | None:
    """The signature a mailed link names (`read`: its verified token's signature id and address
    digest), if it belongs to this campaign and still has the address the link was made for."""
    if read is None:
        return None
    signature = get_db().session.get(Signature, read[0])
    if (
        signature is None
        or signature.campaign_id != campaign.id
        or not ConfirmationTokens.matches(read[1], signature.email)
    ):
        return None
    return signature


@bp.route("/<slug>/confirm/<token>", methods=["GET", "POST"])
def confirm_signature(slug: str, token: str) -> ResponseReturnValue:
    """GET shows a button; its POST confirms (mail scanners open links, but press no buttons)."""
    campaign = _campaign(slug)
    session = get_db().session
    signature = signature_of_link(
        campaign, ConfirmationTokens(get_settings().secret_key).read(token)
    )
    if signature is None:
        return render_template("public/confirm.html", campaign=campaign, invalid=True), 404
    form = ConfirmForm(campaign.id)
    # Write to your MEPs: the page also offers the supporter's letters (public_letters).
    letters = letter_choice(session, campaign, signature)
    page = {"campaign": campaign, "form": form, "signature": signature, "letters": letters}
    if request.method == "POST":
        if not form.validate():
            return render_template("public/refused.html", campaign=campaign), 400
        if letters is not None and not read_choice(letters, request.form):
            return render_template("public/confirm.html", invalid=False, **page), 400
        target: dict[str, Any] = {"slug": campaign.slug, "confirmed": "1", **_lang_args()}
        if confirm_pending(session, signature.id) and letters is not None:
            try:
                made = write_letters(
                    session, campaign, signature, sorted(letters.chosen), letters.message
                )
            except LettersError:
                session.rollback()
                return render_template("public/refused.html", campaign=campaign), 400
            target["letters"] = made.total
        session.commit()
        return redirect(url_for("public.campaign", **target))
    return render_template("public/confirm.html", invalid=False, **page)


@bp.get("/<slug>/count.json")
def count(slug: str) -> ResponseReturnValue:
    campaign = _campaign(slug)
    response = {
        "confirmed": confirmed_count(get_db().session, campaign.id),
        "goal": campaign.signature_goal,
        "open": campaign.signing_open,
    }
    return response
