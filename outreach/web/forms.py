"""Flask-WTF forms of the admin console (every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from contacts.models import ContactKind, EmailStatus


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=1000)])
    body = TextAreaField("Letter", validators=[DataRequired(), Length(max=100_000)])
    audience = StringField(
        "Audience",
        validators=[Length(max=2000)],
        description="e.g. body:AFET,DROI or body:D-CN except group:ESN",
    )

    def audience_dict(self) -> dict[str, str]:
        return {"filter": (self.audience.data or "").strip()}

    def fill_audience(self, audience: dict[str, object]) -> None:
        from contacts.audience import Audience

        self.audience.data = Audience.from_dict(audience).filter


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
