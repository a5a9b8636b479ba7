"""The campaign workspace: where a drive stands, step by step, computed from the campaign.

The console shows the steps of a drive (Letter, Audience, Signatories, Sending, Check, Test send,
Launch, Progress) on every campaign page, each done, needing attention, in progress or not yet,
so that a newcomer sees what is left. Nothing here is stored: every state is read from the
campaign as it is (the stored check and whether it still matches the letter and the audience, the
last test send, the schedule, the deliveries).

Also here: what a launch would make now (`launch_plan`: the letters, their languages, and their
domains and countries for the estimate) and the identity letters are sent under.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.audience import Audience, AudienceError, sendable_condition
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.estimate import domain_of
from outreach.campaigns.letters import (
    LetterCheckError,
    check_language,
    check_letter,
    compile_sources,
    copy_for,
    letter_meta,
)
from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.letters.render import RenderedCopy, choose_language
from outreach.mail.dkim_signer import DkimSigner
from outreach.settings import Settings
from outreach.supporters.cosigners import cosigners_for


class StepState(enum.StrEnum):
    DONE = "done"
    ATTENTION = "attention"  # something to fix or to read before going on
    RUNNING = "running"  # scheduled, or sending
    TODO = "todo"


STATE_LABELS = {
    StepState.DONE: "done",
    StepState.ATTENTION: "needs attention",
    StepState.RUNNING: "in progress",
    StepState.TODO: "not yet",
}


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: StepState
    note: str

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass
class LaunchPlan:
    """What a launch would make now: one letter per recipient, by language and by where it goes."""

    letters: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    groups: dict[tuple[str, str | None], int] = field(default_factory=dict)
    error: str | None = None

    def add(self, language: str, email: str | None, country: str | None) -> None:
        self.letters += 1
        self.languages[language] = self.languages.get(language, 0) + 1
        key = (domain_of(email), (country or "").upper() or None)
        self.groups[key] = self.groups.get(key, 0) + 1


def launch_plan(session: Session, campaign: Campaign) -> LaunchPlan:
    """The letters a launch would make now, in two queries (the joint message's recipients, the
    audience's sendable officials with their languages). A supporters' campaign makes none."""
    plan = LaunchPlan()
    if campaign.supporter_letters:
        return plan
    sources = list(campaign.letter_sources())
    in_message: set[int] = set()
    if campaign.addressing == "joint" and campaign.joint_to:
        ids = [*campaign.joint_to, *campaign.joint_cc]
        for cid, email, country in session.execute(
            select(Contact.id, Contact.email, Contact.country_code).where(
                Contact.id.in_(ids), sendable_condition()
            )
        ):
            in_message.add(cid)
            plan.add(campaign.default_language, email, country)  # the joint message's language
    try:
        condition = Audience.from_dict(campaign.audience).matching_condition(session)
    except AudienceError as exc:
        plan.error = f"audience: {exc}"
        return plan
    rows = session.execute(
        select(Contact.id, Contact.email, Contact.country_code, Contact.languages).where(
            condition, sendable_condition()
        )
    )
    for cid, email, country, languages in rows:
        if cid in in_message:
            continue
        language, _ = choose_language(languages or (), sources, campaign.default_language)
        plan.add(language, email, country)
    return plan


@dataclass(frozen=True)
class CheckState:
    """The stored check of every copy, and whether it still reads the letter and audience of now."""

    state: StepState
    note: str
    digest: str | None = None  # the digest to confirm at launch, when the check is current
    warnings: int = 0

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


def check_state(session: Session, campaign: Campaign, *, default_from: str) -> CheckState:
    if campaign.status != CampaignStatus.DRAFT:
        return CheckState(StepState.DONE, "checked before launch")
    if campaign.checked_at is None or campaign.check_fingerprint is None:
        return CheckState(StepState.TODO, "every copy not checked yet")
    if campaign.check_errors:
        return CheckState(StepState.ATTENTION, f"{campaign.check_errors} error(s) to fix")
    try:
        meta = letter_meta(
            campaign, default_from=default_from, cosigners=cosigners_for(session, campaign)
        )
        plan = services._recipients(session, campaign, as_rows=True)
        current = services.check_fingerprint(campaign, meta, plan) == campaign.check_fingerprint
    except services.CampaignError:
        current = False
    if not current:
        return CheckState(StepState.ATTENTION, "the letter or the audience changed since the check")
    warnings = campaign.check_warnings or 0
    if warnings:
        return CheckState(
            StepState.ATTENTION,
            f"{warnings} warning(s) to read and confirm",
            campaign.check_digest,
            warnings,
        )
    return CheckState(StepState.DONE, "every copy renders cleanly", campaign.check_digest)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def steps(
    campaign: Campaign,
    *,
    plan: LaunchPlan | None,
    check: CheckState,
    counts: dict[str, int],
    identity_problem: str | None = None,
) -> list[Step]:
    """The drive's steps in order, each with its state and a short note."""
    draft = campaign.status == CampaignStatus.DRAFT
    S = StepState
    try:
        check_letter(campaign)
        languages = len(campaign.letter_sources())
        letter = Step("letter", "Letter", S.DONE, _plural(languages, "language"))
    except LetterCheckError as exc:
        letter = Step("letter", "Letter", S.ATTENTION, str(exc))

    if not draft:
        audience = Step("audience", "Audience", S.DONE, _plural(sum(counts.values()), "letter"))
    elif campaign.supporter_letters:
        audience = Step("audience", "Audience", S.DONE, "each supporter's own MEPs")
    elif plan is None or plan.error:
        audience = Step("audience", "Audience", S.ATTENTION, (plan and plan.error) or "not read")
    elif not plan.letters:
        audience = Step("audience", "Audience", S.ATTENTION, "no one to write to")
    else:
        audience = Step("audience", "Audience", S.DONE, _plural(plan.letters, "recipient"))

    signatories = Step(
        "signatories",
        "Signatories",
        S.DONE if campaign.signatories else S.TODO,
        _plural(len(campaign.signatories), "organisation") if campaign.signatories else "none yet",
    )
    sending = Step(
        "sending",
        "Sending",
        S.ATTENTION if identity_problem else S.DONE,
        identity_problem
        or (
            f"spread over {campaign.pace_hours} h"
            if campaign.pace_hours
            else "at the domain limits"
        )
        + (", office hours" if campaign.office_hours else ""),
    )
    checked = Step("check", "Check", check.state, check.note)
    if campaign.test_sent_at is not None:
        test = Step("test", "Test send", S.DONE, f"last {campaign.test_sent_at:%d %b %H:%M} UTC")
    else:
        test = Step(
            "test", "Test send", S.TODO if draft else S.DONE, "no test yet" if draft else ""
        )

    if not draft:
        when = campaign.launched_at
        launch = Step("launch", "Launch", S.DONE, f"{when:%d %b %H:%M} UTC" if when else "")
    elif campaign.scheduled_at is not None:
        launch = Step(
            "launch", "Launch", S.RUNNING, f"scheduled {campaign.scheduled_at:%d %b %H:%M} UTC"
        )
    elif campaign.schedule_error:
        launch = Step("launch", "Launch", S.ATTENTION, "the scheduled launch was refused")
    else:
        launch = Step("launch", "Launch", S.TODO, "not launched")

    progress = _progress_step(campaign, counts)
    return [letter, audience, signatories, sending, checked, test, launch, progress]


def _progress_step(campaign: Campaign, counts: dict[str, int]) -> Step:
    S = StepState
    total = sum(counts.values())
    troubled = counts.get("uncertain", 0) + counts.get("failed", 0)
    if campaign.status == CampaignStatus.DRAFT:
        return Step("progress", "Progress", S.TODO, "nothing sent yet")
    done = sum(counts.get(s, 0) for s in ("sent", "failed", "bounced", "replied", "cancelled"))
    note = f"{done:,} of {total:,} done" if total else "letters come with supporters"
    if counts.get("uncertain"):
        return Step("progress", "Progress", S.ATTENTION, f"{counts['uncertain']} uncertain")
    if campaign.status in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        paused = " (paused)" if campaign.status == CampaignStatus.PAUSED else ""
        return Step("progress", "Progress", S.RUNNING, note + paused)
    if troubled:
        return Step("progress", "Progress", S.ATTENTION, f"{note}, {troubled} failed")
    return Step("progress", "Progress", S.DONE, f"{campaign.status}: {note}")


def next_step(all_steps: list[Step]) -> str | None:
    """The first step that needs something (attention first, then the first not done)."""
    for step in all_steps:
        if step.state == StepState.ATTENTION:
            return step.key
    for step in all_steps:
        if step.state == StepState.TODO and step.key != "signatories":
            return step.key
    return None


@dataclass(frozen=True)
class SendingIdentity:
    mail_from: str
    return_path: str
    reply_to: str
    dkim: str
    problem: str | None


def sending_identity(settings: Settings, campaign: Campaign) -> SendingIdentity:
    """Who the letters come from, where bounces and replies go, and whether they are signed;
    a DKIM misconfiguration, which would stop the workers at start, is a problem to show."""
    problem = None
    try:
        signer = DkimSigner.from_settings(settings)
        if signer is None:
            dkim = "not signed (no OUTREACH_DKIM_PRIVATE_KEY)"
        else:
            domain = signer.domain or "the From domain"
            dkim = f"signed with selector {signer.selector}, domain {domain}"
    except ValueError as exc:
        dkim, problem = "misconfigured", f"DKIM: {exc}"
    reply = settings.reply_address.strip()
    return SendingIdentity(
        mail_from=campaign.mail_from or settings.mail_from,
        return_path=settings.return_path,
        reply_to=reply or "",
        dkim=dkim,
        problem=problem,
    )


def describe_languages(languages: dict[str, Any]) -> list[tuple[str, int]]:
    """The language split, largest first."""
    return sorted(((k, int(v)) for k, v in languages.items()), key=lambda kv: (-kv[1], kv[0]))


def typed_copy(
    campaign: Campaign,
    contact: Contact,
    *,
    subject: str,
    body: str,
    language: str,
    as_default: bool,
    default_from: str,
) -> RenderedCopy:
    """`contact`'s copy with the letter in `language` as staff are typing it (nothing saved): the
    letter itself when `as_default` (its language may be changing), else one language version.
    Raises LetterCheckError with the part and line of what does not compile or render."""
    language = check_language(language)
    saved = campaign.letter_sources()
    if as_default:
        others = {k: v for k, v in saved.items() if k not in (campaign.default_language, language)}
        sources, default = {language: (subject, body), **others}, language
    else:
        if language == campaign.default_language:
            raise LetterCheckError(
                f"{language} is the campaign's default language: edit the letter itself"
            )
        sources, default = {**saved, language: (subject, body)}, campaign.default_language
    letter = compile_sources(sources, default)
    return copy_for(campaign, contact, default_from=default_from, language=language, letter=letter)
