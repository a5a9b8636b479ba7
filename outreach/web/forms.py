"""Flask-WTF forms of the admin console (every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length


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
