"""Flask-WTF forms of the admin console (every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from contacts.models import ContactKind


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


KIND_LABELS = {
    ContactKind.MEP.value: "Members of the European Parliament",
    ContactKind.MINISTER.value: "Ministers",
    ContactKind.INSTITUTION_LEADER.value: "Institution leaders",
    ContactKind.OTHER.value: "Other officials",
}


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=1000)])
    body = TextAreaField("Letter", validators=[DataRequired(), Length(max=100_000)])
    kinds = MultiCheckboxField(
        "Kinds of official",
        choices=[SelectChoice(value, label) for value, label in KIND_LABELS.items()],
    )
    countries = StringField("Countries", description="ISO codes, comma-separated, e.g. FR, DE")
    groups = StringField("Political groups", description="e.g. EPP, S&D, Renew")
    bodies = StringField("Committees and delegations", description="e.g. AFET, DROI, D-CN")
    exclude_groups = StringField("Minus political groups", description="e.g. ESN")

    def audience_dict(self) -> dict[str, list[str]]:
        def split(value: str | None) -> list[str]:
            return [p.strip() for p in (value or "").replace(";", ",").split(",") if p.strip()]

        return {
            "kinds": list(self.kinds.data or []),
            "countries": split(self.countries.data),
            "groups": split(self.groups.data),
            "bodies": split(self.bodies.data),
            "exclude_groups": split(self.exclude_groups.data),
        }

    def fill_audience(self, audience: dict[str, list[str]]) -> None:
        self.kinds.data = audience.get("kinds", [])
        for name in ("countries", "groups", "bodies", "exclude_groups"):
            getattr(self, name).data = ", ".join(audience.get(name, []))
