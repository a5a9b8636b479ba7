"""Proof before launch: render every copy of a campaign in a dry run and report what is wrong.

Per recipient: the copy cannot be rendered (error), the message would be too large (error), a
field the letter uses is empty for them, the greeting fell back to the nameless neutral form, the
recipient reads none of the letter's languages, a link is not https (warnings). For the campaign:
the share of recipients whose body is byte-identical to another recipient's, because parliament
filters quarantine floods of identical messages; above IDENTICAL_WARN_SHARE it is a warning.

Launch is refused while there are errors; warnings need an explicit confirmation, tied to the
report's digest so that a confirmation does not carry over to a letter changed since.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from jinja2 import nodes

from contacts.address import RULES, language_code, salutation
from contacts.models import Contact
from outreach.letters.render import (
    CampaignLetter,
    Joint,
    LetterError,
    LetterMeta,
    RecipientView,
    recipient_view,
)

MAX_MESSAGE_BYTES = 512 * 1024
IDENTICAL_WARN_SHARE = 0.10
_LINK = re.compile(r"""href="([^"]*)\"""")


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    code: str
    message: str


@dataclass
class RecipientFindings:
    contact_id: int | None
    display_name: str
    language: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(f.level == "error" for f in self.findings)


@dataclass
class LintReport:
    recipients: int = 0
    with_findings: list[RecipientFindings] = field(default_factory=list)
    campaign_findings: list[Finding] = field(default_factory=list)
    identical_share: float = 0.0
    # Groups of recipients who would get the very same body (names), largest first.
    identical_groups: list[list[str]] = field(default_factory=list)
    languages: dict[str, int] = field(default_factory=dict)

    def _all(self) -> Iterable[Finding]:
        yield from self.campaign_findings
        for item in self.with_findings:
            yield from item.findings

    @property
    def errors(self) -> int:
        return sum(1 for f in self._all() if f.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self._all() if f.level == "warning")

    @property
    def digest(self) -> str:
        """Fingerprint of the findings: confirming warnings means confirming exactly these."""
        hasher = hashlib.sha256(str(self.recipients).encode())
        for f in self.campaign_findings:
            hasher.update(f"{f.code}|{f.message}".encode())
        for item in self.with_findings:
            for f in item.findings:
                hasher.update(f"{item.contact_id}|{f.code}|{f.message}".encode())
        return hasher.hexdigest()[:16]

    def summary(self) -> str:
        parts = [f"{self.recipients} copies checked"]
        parts.append(f"{self.errors} error{'s' if self.errors != 1 else ''}")
        parts.append(f"{self.warnings} warning{'s' if self.warnings != 1 else ''}")
        return ", ".join(parts)


def recipient_fields_used(letter: CampaignLetter) -> set[str]:
    """The `recipient.<field>` names any variant of the letter reads."""
    used: set[str] = set()
    for variant in letter.variants.values():
        for part in (variant.subject, variant.body):
            tree = part.tree
            for node in tree.find_all(nodes.Getattr):
                if isinstance(node.node, nodes.Name) and node.node.name == "recipient":
                    used.add(node.attr)
    return used


def _salutation_fallback(contact: Contact, language: str) -> str | None:
    text = salutation(contact, language)
    neutral = RULES[language_code(language)].neutral_salutation
    if text == neutral and not (contact.salutation_overrides or {}).get(language):
        return f'greeted with the nameless form "{neutral}": no name is recorded'
    return None


def lint_campaign(
    letter: CampaignLetter,
    meta: LetterMeta,
    recipients: Iterable[Contact],
    *,
    joint_addressees: Sequence[Contact] = (),
    identical_warn_share: float = IDENTICAL_WARN_SHARE,
) -> LintReport:
    """Check the individual copies to `recipients`; with `joint_addressees`, also the joint
    message to them (once), and the copies as copies of it."""
    report = LintReport()
    used = recipient_fields_used(letter)
    bodies: dict[str, list[str]] = defaultdict(list)
    languages: dict[str, int] = defaultdict(int)
    joint = Joint(tuple(joint_addressees))
    if joint_addressees:
        names = ", ".join(c.display_name for c in joint_addressees)
        item = RecipientFindings(None, f"Joint letter to {names}", letter.default_language)
        report.recipients += 1
        try:
            message = letter.render(
                joint_addressees[0], meta, joint=Joint(tuple(joint_addressees), message=True)
            )
        except LetterError as exc:
            item.findings.append(Finding("error", "render", f"cannot be rendered: {exc}"))
        else:
            languages[message.language] += 1
            for href in sorted(set(_LINK.findall(message.html))):
                if href.startswith("http://"):
                    item.findings.append(Finding("warning", "link", f"link {href} is not https"))
        if item.findings:
            report.with_findings.append(item)
    for contact in recipients:
        report.recipients += 1
        item = RecipientFindings(contact.id, contact.display_name, "")
        try:
            copy = letter.render(contact, meta, joint=joint)
        except LetterError as exc:
            item.findings.append(Finding("error", "render", f"cannot be rendered: {exc}"))
            report.with_findings.append(item)
            continue
        item.language = copy.language
        languages[copy.language] += 1
        view: RecipientView = recipient_view(contact)
        for name in sorted(used):
            if not str(getattr(view, name, "") or "").strip():
                item.findings.append(
                    Finding(
                        "warning", "empty-field", f"recipient.{name} is empty for this official"
                    )
                )
        fallback = _salutation_fallback(contact, copy.language)
        if fallback:
            item.findings.append(Finding("warning", "salutation", fallback))
        if copy.fallback:
            reads = ", ".join(contact.languages or []) or "no recorded language"
            item.findings.append(
                Finding(
                    "warning",
                    "language",
                    f"reads {reads}; gets the {copy.language} version (the letter has no other)",
                )
            )
        size = len(copy.html.encode()) + len(copy.text.encode()) + len(copy.subject.encode())
        if size > MAX_MESSAGE_BYTES:
            item.findings.append(
                Finding(
                    "error",
                    "size",
                    f"the message is {size // 1024} KB, over the {MAX_MESSAGE_BYTES // 1024} KB limit",
                )
            )
        for href in sorted(set(_LINK.findall(copy.html))):
            if href.startswith("http://"):
                item.findings.append(Finding("warning", "link", f"link {href} is not https"))
        bodies[hashlib.sha256(copy.text.encode()).hexdigest()].append(contact.display_name)
        if item.findings:
            report.with_findings.append(item)
    report.languages = dict(languages)
    rendered = sum(len(names) for names in bodies.values())
    duplicated = sum(len(names) for names in bodies.values() if len(names) > 1)
    report.identical_share = duplicated / rendered if rendered else 0.0
    report.identical_groups = sorted(
        (names for names in bodies.values() if len(names) > 1), key=len, reverse=True
    )
    if rendered > 1 and report.identical_share > identical_warn_share:
        report.campaign_findings.append(
            Finding(
                "warning",
                "identical",
                f"{report.identical_share:.0%} of the copies are identical to another copy "
                f"(over {identical_warn_share:.0%}): parliament filters may quarantine them. "
                "Personalise the letter more (the salutation, the recipient's country, committee "
                "or group).",
            )
        )
    return report
