"""The signing post's fast reading (public_forms.read_good_post) accepts only what the form
(SignForm, with its field-level errors) accepts, with the same values: generated posts mixing
valid, blank, over-long and malformed fields, tokens forged or for another campaign, and the
honeypot."""

from __future__ import annotations

from flask import Flask, request
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from outreach.web.public_forms import SignForm, form_tokens, read_good_post

CAMPAIGN = 7


def _text(limit: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            ["", " ", "\t", "Ana Example", "Zoë Ó Briain", "x" * limit, "y" * (limit + 1)]
        ),
        st.text(max_size=12),
        st.text(min_size=limit - 2, max_size=limit + 2, alphabet=" ab"),
    )


_EMAILS = st.one_of(
    st.sampled_from(
        ["ana@example.org", "Ana.Example@Example.ORG", " ana@example.org", "ana@example.org ",
         "not an address", "", "  ", "a@b", "ana@exa mple.org", "ana@@example.org",
         "élodie@exemple.fr", "ana@example.org\n", "a" * 310 + "@example.org",
         "x" * 330 + "@example.org", "ana@localhost", "ana@[127.0.0.1]"]
    ),
    st.emails().map(str),
    st.text(max_size=20),
)  # fmt: skip
_FLAGS = st.sampled_from([None, "", "y", "false", "False", "0", "on"])


_VALID = {
    "csrf_token": st.just("good"),
    "name": st.sampled_from(["Ana Example", "Zoë Ó Briain", " Jan ", "x" * 200]),
    "email": st.sampled_from(["ana@example.org", "Ana.Example@Example.ORG", "élodie@exemple.fr"]),
    "country": st.sampled_from(["BE", "FR", "DE"]),
    "organisation": st.sampled_from([None, "", "Coast Rights", " " * 250]),
    "comment": st.sampled_from([None, "", "Yes!", "z" * 1000]),
    "consent": st.sampled_from(["y", "on", "False"]),
    "named": _FLAGS,
    "updates": _FLAGS,
    "website": st.sampled_from([None, ""]),
}
_ANY = {
    "csrf_token": st.sampled_from(["good", "other", "forged", "", None]),
    "name": st.one_of(st.none(), _text(200)),
    "email": st.one_of(st.none(), _EMAILS),
    "country": st.sampled_from([None, "", "BE", "FR", "be", "EU", "ZZ", "XK", "QQ", "FR "]),
    "organisation": st.one_of(st.none(), _text(200)),
    "comment": st.one_of(st.none(), _text(1000)),
    "consent": _FLAGS,
    "named": _FLAGS,
    "updates": _FLAGS,
    "website": st.sampled_from([None, None, "", " ", "https://spam.example"]),
}


@st.composite
def posts(draw: st.DrawFn) -> dict[str, str]:
    """Half of the posts: every field valid but one or two drawn from anything; the others:
    every field drawn from anything."""
    wild = set(_ANY)
    if draw(st.booleans()):
        wild = set(draw(st.lists(st.sampled_from(sorted(_ANY)), min_size=0, max_size=2)))
    values = {key: draw(_ANY[key] if key in wild else _VALID[key]) for key in _ANY}
    tokens = {
        "good": form_tokens("k" * 32).make(CAMPAIGN),
        "other": form_tokens("k" * 32).make(CAMPAIGN + 1),
        "forged": form_tokens("z" * 32).make(CAMPAIGN),
    }
    values["csrf_token"] = tokens.get(values["csrf_token"] or "", values["csrf_token"])
    return {key: value for key, value in values.items() if value is not None}


# The app only gives the request context; nothing of it changes between examples.
@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=posts())
def test_what_the_fast_reading_accepts_the_form_accepts_with_the_same_values(
    app: Flask, data: dict[str, str]
) -> None:
    app.config["OUTREACH"] = _with_key(app)
    with app.test_request_context("/c/x", method="POST", data=data):
        good = read_good_post(request.form, CAMPAIGN)
        form = SignForm(CAMPAIGN)
        valid = form.validate()
        event("read fast" if good is not None else "left to the form")
        if good is None:
            return
        assert valid
        assert not form.honeypot_filled
        assert (
            good.name,
            good.email,
            good.country,
            good.organisation,
            good.comment,
            good.named,
            good.updates,
        ) == (
            form.name.data,
            form.normalised_email,
            form.country.data,
            form.organisation.data or "",
            form.comment.data or "",
            form.named.data,
            form.updates.data,
        )


def test_a_plain_valid_post_is_read_without_the_form(app: Flask) -> None:
    """The fast reading is what a real supporter's post takes (else it would save nothing)."""
    app.config["OUTREACH"] = _with_key(app)
    data = {"csrf_token": form_tokens("k" * 32).make(CAMPAIGN), "name": "Ana Example",
            "email": "Ana@Example.org", "country": "BE", "consent": "y", "named": "y"}  # fmt: skip
    with app.test_request_context("/c/x", method="POST", data=data):
        good = read_good_post(request.form, CAMPAIGN)
    assert good is not None
    assert (good.email, good.named, good.updates) == ("ana@example.org", True, False)


def _with_key(app: Flask) -> object:
    import dataclasses

    return dataclasses.replace(app.config["OUTREACH"], secret_key="k" * 32)
