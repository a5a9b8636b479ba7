"""Flask-WTF forms of the admin console (every POST carries a CSRF token)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from babel.core import Locale, UnknownLocaleError
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from contacts.models import ContactKind, EmailStatus
from outreach.campaigns.letters import LetterCheckError, check_language, parse_signatories

# The languages offered for a letter; a campaign's current language is offered too if it is
# another one (set outside the console, e.g. pt-BR).
LETTER_LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pl", "pt")


@cache
def language_name(code: str) -> str:
    """ "German" for "de", "Portuguese (Brazil)" for "pt-BR"; the code itself if Babel has none."""
    try:
        return str(Locale.parse(code.replace("-", "_")).get_display_name("en") or code)
    except (UnknownLocaleError, ValueError, TypeError):
        return code


def language_choices(current: str | None = None) -> list[SelectChoice]:
    codes = list(LETTER_LANGUAGES)
    if current and current not in codes:
        codes.append(current)
    return [SelectChoice(code, f"{language_name(code)} ({code})") for code in codes]


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


SIGNATORIES_HINT = 'One organisation per line: "Name | https://url" (the link is optional).'


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=1000)])
    language = SelectField(
        "Language of the letter",
        choices=language_choices(),
        default="en",
        description="Officials who read none of the letter's languages get it in this one.",
    )
    body = TextAreaField("Letter", validators=[DataRequired(), Length(max=100_000)])
    signatories = TextAreaField(
        "Signatories", validators=[Length(max=20_000)], description=SIGNATORIES_HINT
    )
    audience = StringField(
        "Audience",
        validators=[Length(max=2000)],
        description="e.g. body:AFET,DROI or body:D-CN except group:ESN",
    )
    addressing = SelectField(
        "Addressing",
        choices=[
            SelectChoice("individual", "A personal copy to every official of the audience"),
            SelectChoice("joint", "A joint letter to the addressees, and a copy to everyone else"),
        ],
        default="individual",
    )
    joint_to = StringField(
        "Addressees of the joint letter",
        validators=[Length(max=2000)],
        description="contact ids, comma-separated, e.g. the two presidents",
    )
    joint_cc = StringField(
        "Copied on the joint message (Cc)",
        validators=[Length(max=2000)],
        description="contact ids, comma-separated",
    )

    pace_hours = IntegerField(
        "Spread the drive over (hours)",
        validators=[Optional(), NumberRange(min=1, max=24 * 60)],
        description="empty: as fast as each domain's limit allows",
    )
    office_hours = BooleanField(
        "Send only in office hours (Monday to Friday, 09:00 to 17:00 in each official's country)"
    )
    deadline = DateTimeLocalField(
        "Give up on letters not sent by (UTC)",
        validators=[Optional()],
        description="empty: a letter refused for now is retried 10 times, over about a day",
    )

    def sending_options(self) -> dict[str, Any]:
        return {
            "pace_hours": self.pace_hours.data,
            "office_hours": bool(self.office_hours.data),
            "deadline": self.deadline.data,
        }

    def fill_sending_options(
        self, pace_hours: int | None, office_hours: bool, deadline: datetime | None
    ) -> None:
        self.pace_hours.data = pace_hours
        self.office_hours.data = office_hours
        self.deadline.data = deadline.astimezone(UTC).replace(tzinfo=None) if deadline else None

    def validate_joint_to(self, field: Field) -> None:
        self._ids(field)

    def validate_joint_cc(self, field: Field) -> None:
        self._ids(field)

    @staticmethod
    def _ids(field: Field) -> list[int]:
        try:
            return [int(p) for p in (field.data or "").replace(",", " ").split()]
        except ValueError as exc:
            raise ValidationError("write contact ids as numbers separated by commas") from exc

    def addressing_values(self) -> dict[str, object]:
        return {
            "addressing": self.addressing.data or "individual",
            "joint_to": self._ids(self.joint_to),
            "joint_cc": self._ids(self.joint_cc),
        }

    def fill_addressing(self, addressing: str, joint_to: list[int], joint_cc: list[int]) -> None:
        self.addressing.data = addressing
        self.joint_to.data = ", ".join(str(i) for i in joint_to)
        self.joint_cc.data = ", ".join(str(i) for i in joint_cc)

    def offer_language(self, current: str) -> None:
        """Offer the campaign's current language too, if it is not one of the usual ones."""
        self.language.choices = language_choices(current)

    def validate_signatories(self, field: Field) -> None:
        try:
            parse_signatories(field.data or "")
        except LetterCheckError as exc:
            raise ValidationError(str(exc)) from exc

    def signatory_rows(self) -> list[dict[str, str]]:
        """The parsed signatories (call after validation)."""
        return parse_signatories(self.signatories.data or "")

    def audience_dict(self) -> dict[str, str]:
        return {"filter": (self.audience.data or "").strip()}

    def fill_audience(self, audience: dict[str, object]) -> None:
        from contacts.audience import Audience

        self.audience.data = Audience.from_dict(audience).filter


class VariantForm(FlaskForm):
    """The letter in one more language (editing: the language is in the URL)."""

    subject = StringField("Subject", validators=[DataRequired(), Length(max=1000)])
    body = TextAreaField("Letter", validators=[DataRequired(), Length(max=100_000)])


class NewVariantForm(VariantForm):
    language = StringField(
        "Language",
        validators=[DataRequired(), Length(max=8)],
    )

    def validate_language(self, field: Field) -> None:
        try:
            field.data = check_language(field.data or "")
        except LetterCheckError as exc:
            raise ValidationError(str(exc)) from exc


class TestSendForm(FlaskForm):
    """ "Send a test to me": which recipient's copy (default: the first recipient), which language
    (default: theirs), and which page to come back to."""

    contact_id = IntegerField(validators=[Optional()])
    lang = HiddenField(validators=[Optional(), Length(max=8)])
    back = HiddenField(validators=[Optional(), Length(max=16)])


class ScheduleForm(FlaskForm):
    """Launch a draft later: when (UTC), and the check's warnings confirmed as for a launch now."""

    at = DateTimeLocalField(
        "Launch on (UTC)",
        validators=[DataRequired("Choose the day and time of the launch.")],
        description="the worker launches it within a minute of that time, with the same checks",
    )
    lint_digest = HiddenField(validators=[Optional(), Length(max=16)])
    confirm = BooleanField("I have read the warnings of the check and want to send anyway")


KIND_LABELS = {
    ContactKind.MEP.value: "Member of the European Parliament",
    ContactKind.MINISTER.value: "Minister",
    ContactKind.INSTITUTION_LEADER.value: "Institution leader",
    ContactKind.OTHER.value: "Other official",
}


class ContactForm(FlaskForm):
    """Every editable field of a contact; contacts.editing validates the values themselves."""

    EDIT_FIELDS = (
        "kind", "honorific", "given_name", "family_name", "display_name", "gender", "country",
        "languages", "organisation", "position", "political_group_short", "national_party",
        "email", "email_status", "alternate_emails", "tags", "active", "term_end",
        "do_not_contact", "do_not_contact_reason", "needs_review", "review_reason", "notes",
        "salutation_overrides", "address_line_overrides",
    )  # fmt: skip

    kind = SelectField("Kind", choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()])
    honorific = StringField("Honorific", validators=[Length(max=32)], description="MR, MS, DR …")
    given_name = StringField("Given name", validators=[Length(max=200)])
    family_name = StringField("Family name", validators=[Length(max=200)])
    display_name = StringField("Display name", validators=[Length(max=400)])
    gender = SelectField(
        "Gender (for forms of address)",
        choices=[
            SelectChoice("", "not known"),
            SelectChoice("FEMALE", "female"),
            SelectChoice("MALE", "male"),
        ],
    )
    country = StringField("Country", validators=[Length(max=60)], description="ISO code, e.g. FR")
    languages = StringField("Languages", validators=[Length(max=100)], description="e.g. fr, de")
    organisation = StringField("Organisation", validators=[Length(max=300)])
    position = StringField("Position title", validators=[Length(max=300)])
    political_group_short = StringField("Political group", validators=[Length(max=32)])
    national_party = StringField("National party", validators=[Length(max=300)])
    email = StringField("Primary e-mail", validators=[Length(max=320)])
    email_status = SelectField(
        "Status of the primary address",
        choices=[SelectChoice(s.value, s.value) for s in EmailStatus],
    )
    alternate_emails = TextAreaField(
        "Other addresses",
        validators=[Length(max=5000)],
        description='one per line; add "bouncing" or "invalid" after one',
    )
    tags = StringField("Tags", validators=[Length(max=1000)], description="comma-separated")
    active = BooleanField("In office (active)")
    term_end = DateField("Left office on", validators=[Optional()])
    do_not_contact = BooleanField("Do not contact")
    do_not_contact_reason = StringField("Why not", validators=[Length(max=1000)])
    needs_review = BooleanField("Needs review before sending")
    review_reason = StringField("What to review", validators=[Length(max=1000)])
    notes = TextAreaField("Notes", validators=[Length(max=10_000)])
    salutation_overrides = TextAreaField(
        "Salutation overrides",
        validators=[Length(max=5000)],
        description='one per line: "fr: Madame la Présidente,"',
    )
    address_line_overrides = TextAreaField(
        "Address line overrides",
        validators=[Length(max=5000)],
        description='one per line: "en: H.E. Ms …"',
    )


class SavedAudienceForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    filter = StringField(
        "Filter",
        validators=[Length(max=2000)],
        description="e.g. body:AFET,DROI or body:D-CN except group:ESN",
    )
    contact_ids = StringField(
        "Hand-picked contacts",
        validators=[Length(max=20_000)],
        description="contact ids, comma-separated",
    )


class PublicPageForm(FlaskForm):
    """A campaign's public page (/c/<slug>): whether supporters can sign, and what the letter
    shows of them (outreach.supporters.review.set_public_settings checks the rest)."""

    slug = StringField(
        "Address of the public page: /c/…",
        validators=[Length(max=80)],
        description="lower-case letters, digits and hyphens, e.g. free-the-fishermen; empty: no public page",
    )
    signing_open = BooleanField("Supporters can sign")
    signature_goal = IntegerField(
        "Goal (signatures)", validators=[Optional(), NumberRange(min=1, max=100_000_000)]
    )
    cosigner_display = SelectField(
        "The letter shows its co-signers",
        choices=[
            SelectChoice("none", "not at all"),
            SelectChoice("count", "as a number ({{ cosigners.count }})"),
            SelectChoice("names", "by name, those who agreed ({{ cosigners.names }})"),
            SelectChoice("both", "the number and the names"),
        ],
        default="none",
    )
    privacy_notice = TextAreaField(
        "Privacy notice",
        validators=[Length(max=20_000)],
        description="shown next to the form; supporters consent to it and its exact text is stored "
        "with each signature. Empty: the built-in notice, in the page's language.",
    )
    supporter_letters = BooleanField(
        "Supporters write to their own MEPs (each confirmed supporter sends their own copy)"
    )
    supporter_committees = StringField(
        "Only MEPs of these committees",
        validators=[Length(max=400)],
        description="acronyms separated by commas, e.g. AFET, DROI; empty: every MEP of the "
        "supporter's country",
    )
    supporter_daily_cap = IntegerField(
        "Most supporter letters per MEP per day",
        validators=[Optional(), NumberRange(min=1, max=100_000)],
        description="beyond it a letter waits for the next day with room; empty: no cap",
    )
    supporter_message = TextAreaField(
        "Suggested text of {{ supporter.message }}",
        validators=[Length(max=10_000)],
        description="the part of the letter each supporter may edit, prefilled for them",
    )
    supporter_message_max = IntegerField(
        "Most characters a supporter may write",
        validators=[Optional(), NumberRange(min=100, max=10_000)],
        default=1500,
    )


class SupporterDataForm(FlaskForm):
    """A supporter's data request: the address whose data to export or erase."""

    email = StringField(
        "Supporter's e-mail address",
        validators=[DataRequired("Enter the supporter's e-mail address."), Length(max=320)],
    )
    confirm_erase = BooleanField("I understand that erasure cannot be undone")


class ReviewForm(FlaskForm):
    """Approve or reject one signature held for review (the button's value)."""
