"""The inbound classifier on real bounces (a sample of Sisimai's corpus, tests/data/bounces/) and
on the auto-replies and replies that come back from parliament offices."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.tracking.classify import classify_bytes
from outreach.tracking.models import InboundKind
from outreach.tracking.quoting import split_reply

DATA = Path(__file__).parent / "data" / "bounces"
SAMPLES = list(csv.DictReader((DATA / "expected.csv").read_text().splitlines()))


def test_the_sample_covers_the_main_families_hard_and_soft() -> None:
    """The regression sample keeps at least 60 real messages, hard and soft bounces of at
    least 30 formats, the two messages that are not bounces, an auto-reply and a complaint."""
    kinds = [row["kind"] for row in SAMPLES]
    assert len(SAMPLES) >= 60
    assert kinds.count("hard_bounce") >= 25
    assert kinds.count("soft_bounce") >= 25
    assert {"reply", "auto_reply", "complaint"} <= set(kinds)
    assert len({row["file"].rsplit("-", 1)[0] for row in SAMPLES}) >= 30
    assert (DATA / "LICENSE").exists()


@pytest.mark.parametrize("row", SAMPLES, ids=[row["file"] for row in SAMPLES])
def test_a_real_message_is_classified_as_sisimai_says(row: dict[str, str]) -> None:
    """Each sample gets the kind Sisimai's expected results give it (hard or soft bounce,
    auto-reply, complaint, not a bounce), and the reason where we map it the same way."""
    result = classify_bytes((DATA / row["file"]).read_bytes())
    assert result.kind == row["kind"]
    if row["kind"] in {"hard_bounce", "soft_bounce"}:
        assert result.bounce.final[0].reason != ""
        if row["reason"]:
            assert row["reason"] in {f.reason for f in result.bounce.failures}


def _mail(headers: str, body: str) -> bytes:
    return (headers.strip() + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("From: a@ep.eu\nSubject: Re: letter\nAuto-Submitted: auto-replied", "Thanks."),
        ("From: a@ep.eu\nSubject: Re: letter\nX-Autoreply: yes", "Thanks."),
        ("From: a@ep.eu\nSubject: Re: letter\nX-Autorespond: 1", "Thanks."),
        ("From: a@ep.eu\nSubject: Re: letter\nPrecedence: auto_reply", "Thanks."),
        (
            "From: a@ep.eu\nSubject: Abwesenheitsnotiz: Ihr Brief",
            "Ich bin bis Montag nicht im Büro.",
        ),
        ("From: a@ep.eu\nSubject: Réponse automatique : votre lettre", "Je suis absent."),
        ("From: a@ep.eu\nSubject: Risposta automatica: lettera", "Sono fuori ufficio."),
        ("From: a@ep.eu\nSubject: Automatyczna odpowiedź", "Jestem poza biurem."),
        (
            "From: a@ep.eu\nSubject: Re: letter",
            "This mailbox is not monitored. Write to the office.",
        ),
        (
            "From: a@ep.eu\nSubject: Re: letter",
            "Je suis actuellement absente du bureau jusqu'au 3 mai.",
        ),
        ("From: a@ep.eu\nSubject: Re: letter", "Ik ben momenteel afwezig tot maandag."),
    ],
)
def test_out_of_office_and_unmonitored_mailboxes_are_auto_replies(headers: str, body: str) -> None:
    """RFC 3834 and the older headers, out-of-office subjects and openings in several EU
    languages, and "this mailbox is not monitored" are auto-replies, never replies."""
    assert classify_bytes(_mail(headers, body)).kind == InboundKind.AUTO_REPLY


def test_a_french_reply_keeps_what_the_mep_wrote_and_folds_the_quoted_letter() -> None:
    """A person's reply is a reply; its own words are kept apart from the quoted letter."""
    raw = _mail(
        "From: Marie Dupont <marie.dupont@europarl.europa.eu>\nSubject: RE: Droits humains",
        "Madame, Monsieur,\n\nMerci pour votre lettre. Je soulèverai ces cas lors du sommet.\n\n"
        "Bien cordialement,\nMarie Dupont\n\n"
        "Le lun. 3 nov. 2026 à 10:00, Coalition <letters@example.org> a écrit :\n"
        "> Madame la Députée,\n> Nous vous écrivons…\n",
    )
    result = classify_bytes(raw)
    assert result.kind == InboundKind.REPLY
    assert result.reply_text.startswith("Madame, Monsieur,")
    assert "Marie Dupont" in result.reply_text
    assert "Nous vous écrivons" not in result.reply_text
    assert result.quoted_text.startswith("Le lun. 3 nov.")
    assert "Nous vous écrivons" in result.quoted_text


def test_outlook_separators_start_the_quote() -> None:
    """Outlook's header block (From/Sent/To/Subject) starts the quoted part."""
    own, quoted = split_reply(
        "Thank you.\n\nFrom: Coalition\nSent: Monday\nTo: MEP\nSubject: Letter\n\nDear…"
    )
    assert own == "Thank you."
    assert quoted.startswith("From: Coalition")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_the_classifier_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    """Whatever bytes arrive, classification returns a kind instead of raising."""
    assert classify_bytes(raw).kind in set(InboundKind)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n",
                b"From: MAILER-DAEMON\r\n",
                b"Subject: =?utf-8?q?=FF?=\r\n",
                b"\r\n",
                b"--x\r\n",
                b"Content-Type: message/delivery-status\r\n",
                b"Final-Recipient: rfc822; \xff@\r\n",
                b"Action: failed\r\nStatus: 5.1.1\r\n",
                b"Content-Type: message/rfc822\r\n",
                b"Message-ID: <a@b>\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"@@@@\r\n",
                b"Content-Type: text/plain; charset=nonexistent\r\n",
                b"--x--\r\n",
            ]
        ),
        max_size=40,
    )
)
def test_the_classifier_never_raises_on_broken_reports(pieces: list[bytes]) -> None:
    """Pieces of delivery reports in any order (broken MIME, unknown charsets) never raise."""
    assert classify_bytes(b"".join(pieces)).kind in set(InboundKind)
