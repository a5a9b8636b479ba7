"""The public signing form: fields, field-level errors in the page's language, a honeypot, and a
signed token in place of Flask-WTF's session CSRF token (see outreach.supporters.tokens for why).

The token is checked like CSRF (a missing, forged, foreign or day-old token refuses the whole
post with 400), and its issue time gives the minimum fill time: a form sent back faster than a
person can fill it is refused with a message, and a new token, so a real person can send again.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from babel import Locale
from email_validator import EmailNotValidError, validate_email
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, SelectField, StringField, TextAreaField
from wtforms.csrf.core import CSRF
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from outreach.extensions import get_settings
from outreach.supporters.signing import MAX_COMMENT, MAX_NAME, MAX_ORGANISATION
from outreach.supporters.tokens import FormTokens

# Not countries (regions, the EU itself, "unknown") among CLDR's two-letter territory codes.
_NOT_COUNTRIES = {"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB", "XK"}


@cache
def country_choices(language: str) -> list[tuple[str, str]]:
    """Every country by its ISO code, named and sorted in the page's language."""
    names = Locale.parse(language).territories
    rows = [
        (code, name)
        for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    ]

    def key(row: tuple[str, str]) -> str:
        # Accents do not decide the order (Österreich sorts with the O's).
        return unicodedata.normalize("NFKD", row[1]).encode("ascii", "ignore").decode().casefold()

    return sorted(rows, key=key)


@cache
def country_codes() -> frozenset[str]:
    """The codes a supporter may choose (the same in every language)."""
    return frozenset(code for code, _name in country_choices("en"))


def aria(field: Field, *more: str) -> dict[str, str]:
    """aria-invalid and aria-describedby (hint, error, `more` ids) for a field's input."""
    ids = list(more)
    if field.description:
        ids.append(f"{field.id}-hint")
    if field.errors:
        ids.append(f"{field.id}-error")
    attrs = {"aria-invalid": "true" if field.errors else "false"}
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    return attrs


@lru_cache(maxsize=8)
def form_tokens(secret_key: str) -> FormTokens:
    return FormTokens(secret_key)


class SignedFormCSRF(CSRF):
    """WTForms' CSRF hook with a stateless token bound to the campaign (no cookie needed)."""

    def setup_form(self, form: Any) -> Any:
        self.campaign_id: int = form.meta.campaign_id
        return super().setup_form(form)

    def generate_csrf_token(self, csrf_token_field: Field) -> str:
        return form_tokens(get_settings().secret_key).make(self.campaign_id)

    def validate_csrf_token(self, form: Any, field: Field) -> None:
        age = form_tokens(get_settings().secret_key).age(field.data or "", self.campaign_id)
        if age is None:
            raise ValidationError(_l("This form has expired. Please reload the page."))
        form.fill_seconds = age


class SignForm(FlaskForm):
    class Meta:
        csrf_class = SignedFormCSRF
        campaign_id = 0

    name = StringField(
        _l("Your name"),
        validators=[DataRequired(_l("Please enter your name.")), Length(max=MAX_NAME)],
    )
    email = EmailField(
        _l("E-mail address"),
        validators=[DataRequired(_l("Please enter your e-mail address.")), Length(max=320)],
        description=_l("We send you a link to confirm your signature."),
    )
    # validate_choice off: WTForms would walk the 250 choices of every post; validate_country
    # checks the code against a set instead.
    country = SelectField(
        _l("Country"), validators=[InputRequired()], choices=[], validate_choice=False
    )
    organisation = StringField(
        _l("Organisation (optional)"), validators=[Optional(), Length(max=MAX_ORGANISATION)]
    )
    comment = TextAreaField(
        _l("Comment (optional)"), validators=[Optional(), Length(max=MAX_COMMENT)]
    )
    named = BooleanField(_l("Show my name among the co-signers of the letter"))
    updates = BooleanField(_l("Send me news about this campaign (optional)"))
    consent = BooleanField(
        _l("I have read the privacy notice and agree that my signature is stored as it says"),
        validators=[DataRequired(_l("Your signature needs your consent to the privacy notice."))],
    )
    # The honeypot: hidden from people (and screen readers), filled in by form-filling bots.
    website = StringField("Website")

    fill_seconds: float | None = None
    normalised_email: str = ""

    def __init__(self, campaign_id: int, **kwargs: Any) -> None:
        super().__init__(meta={"campaign_id": campaign_id}, **kwargs)
        language = str(get_locale() or "en")
        self.country.choices = [("", _l("Choose your country")), *country_choices(language)]

    def validate_country(self, field: Field) -> None:
        if not field.data or field.data not in country_codes():
            raise ValidationError(_l("Please choose your country."))

    def validate_email(self, field: Field) -> None:
        try:
            checked = validate_email(
                field.data or "", check_deliverability=get_settings().check_deliverability
            )
        except EmailNotValidError as exc:
            raise ValidationError(_l("This is not a valid e-mail address.")) from exc
        # Lower case: one person, one signature, however they type their address.
        self.normalised_email = checked.normalized.lower()

    @property
    def csrf_failed(self) -> bool:
        return bool(self.csrf_token.errors)

    @property
    def honeypot_filled(self) -> bool:
        return bool((self.website.data or "").strip())


@dataclass(frozen=True)
class GoodPost:
    """A post that `SignForm` would accept, read without building the form."""

    name: str
    email: str  # normalised and lower-cased, as SignForm.normalised_email
    country: str
    organisation: str
    comment: str
    named: bool
    updates: bool
    fill_seconds: float


_FALSE = ("false", "")  # BooleanField's false values


def read_good_post(formdata: Mapping[str, str], campaign_id: int) -> GoodPost | None:
    """The signing post read straight from the request's form when every check of `SignForm`
    passes: the token (ours, for this campaign, under a day old), an empty honeypot, and each
    field's validators. None as soon as anything is missing, too long or wrong: the caller then
    builds `SignForm`, which finds and words the errors (and answers the honeypot). Building the
    form cost about a fifth of a signature; `tests/test_signing_form.py` checks that whatever
    this accepts, `SignForm` accepts with the same values."""
    age = form_tokens(get_settings().secret_key).age(formdata.get("csrf_token") or "", campaign_id)
    if age is None or (formdata.get("website") or "").strip():
        return None
    name = formdata.get("name") or ""
    email = formdata.get("email") or ""
    country = formdata.get("country") or ""
    organisation = formdata.get("organisation") or ""
    comment = formdata.get("comment") or ""
    if (
        not name.strip()
        or len(name) > MAX_NAME
        or not email.strip()
        or len(email) > 320
        or country not in country_codes()
        or len(organisation) > MAX_ORGANISATION
        or len(comment) > MAX_COMMENT
        or formdata.get("consent", "") in _FALSE
    ):
        return None
    try:
        checked = validate_email(email, check_deliverability=get_settings().check_deliverability)
    except EmailNotValidError:
        return None
    return GoodPost(
        name=name,
        email=checked.normalized.lower(),
        country=country,
        organisation=organisation,
        comment=comment,
        named=formdata.get("named", "") not in _FALSE,
        updates=formdata.get("updates", "") not in _FALSE,
        fill_seconds=age,
    )


class ConfirmForm(FlaskForm):
    """The button on the confirmation page (a link alone confirms nothing: mail scanners open
    links). Its token is the same stateless one."""

    class Meta:
        csrf_class = SignedFormCSRF
        campaign_id = 0

    fill_seconds: float | None = None

    def __init__(self, campaign_id: int, **kwargs: Any) -> None:
        super().__init__(meta={"campaign_id": campaign_id}, **kwargs)
