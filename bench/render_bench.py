"""Rendering personalised letters: 10,000 copies (HTML + text) of the reference letter (issue 4:
target at least 50% of the limit).

The letter is the English reference letter of the golden tests (tests/golden/letter-en.md: address
and CC lines, date, bold passages, two links, a quotation, four numbered demands, a signatory loop
with hard line breaks), rendered through `CampaignLetter.render` for 10,000 synthetic recipients
with distinct names (MEPs, ministers, a few presidents; women, men, unknown gender).

The limit measured in the same run is a bare Jinja render of the same templates (subject and
body) for the same recipients: each recipient's context values (name, salutation, address line:
the inputs any personalised render needs, built by the same plain function `recipient_context`),
then a plain `jinja2.Environment` (not sandboxed, no Markdown escaping of placeholders, the same
babel `date` filter, no cache). It produces only the Markdown text, so the ratio says what
everything else costs on top: the sandbox and escaping, and formatting the Markdown into the HTML
and text parts.

Also printed, and stricter: the bare render alone with every context built beforehand (the first
version of this benchmark used it as the limit). The parts are timed alone too, over the same
recipients, so that a reader sees where the time goes: each part's time is its share of one full
copy. For comparison only, the bare render followed by markdown-it's HTML of the whole body (no
text part, no sanitising, no CSS, no cache) is timed too: what a letter costs without the caches of
outreach.letters.formatting.

    .venv/bin/python bench/render_bench.py [--copies 10000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, StrictUndefined, pass_context
from jinja2.runtime import Context
from markdown_it import MarkdownIt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import report
from contacts.models import Contact
from outreach.letters.formatting import format_body
from outreach.letters.render import (
    CampaignLetter,
    LetterMeta,
    SenderView,
    SignatoryView,
    recipient_context,
)

ROOT = Path(__file__).resolve().parent.parent
LETTER = ROOT / "tests" / "golden" / "letter-en.md"
META = LetterMeta(
    campaign_name="Transnational repression 2026",
    sender=SenderView("Coalition for Defenders in Exile", "letters@coalition.example.org"),
    signatories=(
        SignatoryView("Coalition for Defenders in Exile", "https://coalition.example.org"),
        SignatoryView("Rights Watch Europe", "https://rights.example.org"),
        SignatoryView("Association européenne des juristes pour les droits humains"),
        SignatoryView("Network of Exiled Journalists (NEJ)", "https://nej.example.org/en/"),
        SignatoryView("Uyghur & Tibetan Diaspora Forum"),
    ),
    today=date(2026, 11, 29),
)

GIVEN = ["Ana", "Jonas", "Élodie", "Marek", "Saoirse", "Giorgos", "Ieva", "Pau", "Katarzyna",
         "Dimitar", "Zsófia", "Henrik", "Maravillas", "Tomás", "Ingrid", "Luca", "Aino", "Radu",
         "Nathalie", "Jan", "Birgit", "Mateja", "Oskar", "Chiara", "Sven"]  # fmt: skip
FAMILY = ["Abadía Jover", "Lindqvist", "Marchand-Dubois", "Nowak", "Ó Briain", "Papadopoulos",
          "Kalniņa", "Puig", "Wiśniewska", "Petrov", "Szabó", "Møller", "van den Berg",
          "Rodrigues", "Hofer", "Bianchi", "Virtanen", "Popescu", "Lefèvre", "De Smet", "Gruber",
          "Novak", "Berg", "Esposito", "Andersson", "Fitzgerald", "Kovač", "Vella", "Schmitt",
          "Horváth", "Ionescu", "Dvořák", "Murphy", "Costa", "Jensen", "Kask", "Borg", "Zammit",
          "Weber", "Leclercq"]  # fmt: skip
SLICES = 10
WARM_UP = 300
POSITIONS = {
    "mep": "Member of the European Parliament",
    "minister": "Minister for Foreign Affairs",
    "president": "President of the European Parliament",
}


def letter_source() -> tuple[str, str]:
    """(subject, body) of tests/golden/letter-en.md, whose first line is "Subject: ..."."""
    first, _, body = LETTER.read_text(encoding="utf-8").partition("\n\n")
    return first.removeprefix("Subject: "), body


def recipients(count: int) -> list[Contact]:
    """`count` contacts with distinct names: each given name with each family name, then with
    a number added to the family name."""
    contacts = []
    for i in range(count):
        given = GIVEN[i % len(GIVEN)]
        family = FAMILY[(i // len(GIVEN)) % len(FAMILY)]
        if i >= len(GIVEN) * len(FAMILY):
            family = f"{family}-{i // (len(GIVEN) * len(FAMILY)) + 1}"
        role = "president" if i % 500 == 0 else "minister" if i % 10 == 0 else "mep"
        gender = ("FEMALE", "MALE", None)[i % 3]
        contacts.append(
            Contact(
                kind="minister" if role == "minister" else "mep",
                honorific={"FEMALE": "MS", "MALE": "MR"}.get(gender or ""),
                given_name=given,
                family_name=family,
                display_name=f"{given} {family}",
                gender=gender,
                country_code="BE",
                languages=["en"],
                position=POSITIONS[role],
                organisation="European Parliament" if role != "minister" else "Government",
                political_group_short="EPP",
                email=f"r{i}@example.org",
                salutation_overrides={},
                address_line_overrides={},
            )
        )
    return contacts


@pass_context
def _bare_date(context: Context, value: date, format: str = "long") -> str:
    """The same work as the letter environment's `date` filter: babel, in the copy's language."""
    return format_date(value, format=format, locale=context.get("language") or "en")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10_000)
    args = parser.parse_args()
    n = args.copies

    subject, body = letter_source()
    letter = CampaignLetter({"en": (subject, body)}, "en")
    variant = letter.variants["en"]
    # Markdown out, as the letter environment writes it: no HTML escaping here either.
    bare = Environment(undefined=StrictUndefined, keep_trailing_newline=True)  # noqa: S701
    bare.filters["date"] = _bare_date
    bare_subject, bare_body = bare.from_string(subject), bare.from_string(body)

    def bare_copy(context: dict[str, Any]) -> tuple[str, str]:
        return bare_subject.render(context), bare_body.render(context)

    markdown = MarkdownIt("commonmark")
    everyone = recipients(n + WARM_UP)
    people, extra = everyone[:n], everyone[n:]

    # Warm-up on other recipients: compiled templates, babel data, the layout, the shared blocks.
    for contact in extra:
        letter.render(contact, META, language="en")
    contexts = [recipient_context(c, META, language="en") for c in people]
    rendered = [variant.render(ctx) for ctx in contexts]

    def full(part: range) -> list[Any]:
        return [letter.render(people[i], META, language="en") for i in part]

    methods: dict[str, Callable[[range], Any]] = {
        "bare": lambda part: [
            bare_copy(recipient_context(people[i], META, language="en")) for i in part
        ],
        "bare render": lambda part: [bare_copy(contexts[i]) for i in part],
        "naive": lambda part: [markdown.render(bare_body.render(contexts[i])) for i in part],
        "full": full,
        "context": lambda part: [recipient_context(people[i], META, language="en") for i in part],
        "sandbox": lambda part: [variant.render(contexts[i]) for i in part],
        "format": lambda part: [
            format_body(rendered[i].body, subject=rendered[i].subject, language="en") for i in part
        ],
    }
    # The methods take turns over ten slices of the recipients, so that a disturbance on the
    # machine falls on all of them alike. format_body works on the slice five turns ahead of the
    # full render's, so that neither finds the other's per-recipient blocks still in the cache.
    slices = [range(k * n // SLICES, (k + 1) * n // SLICES) for k in range(SLICES)]
    seconds = dict.fromkeys(methods, 0.0)
    texts: set[str] = set()
    for turn in range(SLICES):
        for name, method in methods.items():
            part = slices[(turn + SLICES // 2) % SLICES if name == "format" else turn]
            # As timeit does: no cyclic garbage collection while timing, so that a collection
            # set off by one method's allocations does not fall on another's time.
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            result = method(part)
            seconds[name] += time.perf_counter() - start
            gc.enable()
            if name == "full":
                texts.update(copy.text for copy in result)

    print(f"{n} copies of the English reference letter; {len(texts)} distinct texts")
    limit = n / seconds["bare"]
    label = "the limit"
    report("bare: context + Jinja subject and body (limit)", limit, "cps", limit, label)
    report("CampaignLetter.render: HTML + text", n / seconds["full"], "cps", limit, label)
    print(f"{'  target: ratio >= 0.50':<44}")
    strict = n / seconds["bare render"]
    print("stricter, for comparison: the bare render alone, contexts built beforehand")
    report("  bare Jinja render alone", strict, "cps", limit, label)
    report("  CampaignLetter.render against it", n / seconds["full"], "cps", strict, "bare alone")
    print("for comparison, not the limit: the bare render, then markdown-it's HTML of all of it")
    report("  bare Jinja + markdown-it (HTML only)", n / seconds["naive"], "cps", limit, label)
    print("parts alone, and their share of one full copy's time:")
    for name, title in [
        ("context", "  context: recipient, forms of address"),
        ("sandbox", "  sandboxed Jinja: subject + body"),
        ("format", "  format_body: Markdown to HTML + text"),
    ]:
        report(title, n / seconds[name], "cps", limit, label)
        share = seconds[name] / seconds["full"]
        print(f"{'':<44} {seconds[name] / n * 1e6:8.0f} µs a copy, {share:4.0%} of a full copy")
    print(f"{'full copy':<44} {seconds['full'] / n * 1e6:8.0f} µs a copy")


if __name__ == "__main__":
    main()
