"""The check of every copy (outreach.letters.lint), stored with its findings and run on a worker.

The check page used to render every copy of the letter on each view (0.3 to 0.5 s for 700
officials, half a minute for 100,000). Now each campaign has one `LetterCheck` row: the
fingerprint of what the last check read (`services.check_fingerprint`: the letter in every
language, the sender, signatories, addressing, each recipient's id, address and last change),
its state, its progress and its report (the counts, the digest staff confirm at launch, and the
first FINDINGS_KEPT officials with findings). `for_page` decides what the page shows:

- the stored report, when its fingerprint is the campaign's now (a few milliseconds to compute);
- else, for a letter of at most INLINE_COPIES copies, a check run in the request (under 0.1 s);
- else the progress of a check on a worker (`RUN_CHECK`, workers/reports.py), started if none
  is running for this fingerprint (or the one running has not reported for STALLED).

The worker runs `services.lint`, the same check as before, which also remembers the verdict on a
draft for launch; the report it stores is that check's.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from contacts.base import Base, utcnow
from outreach.campaigns import services
from outreach.campaigns.letters import letter_meta
from outreach.campaigns.models import Campaign
from outreach.jobs import Job, defer
from outreach.letters.lint import Finding, LintReport, RecipientFindings
from outreach.supporters.cosigners import cosigners_for

# The check of every copy of a campaign: args (campaign id,).
RUN_CHECK = Job("run_check", "checks")

INLINE_COPIES = 200  # about 0.1 s of rendering: checked in the request itself
FINDINGS_KEPT = 500  # officials with findings the page lists (the counts cover them all)
GROUPS_KEPT = 20  # groups of identical copies the page lists
STALLED = timedelta(minutes=2)  # a run that has not reported for this long is started again
PROGRESS_EVERY = 0.5  # seconds between two progress writes of a worker


class RunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class LetterCheck(Base):
    """The last check of every copy of a campaign, or the one under way."""

    __tablename__ = "letter_checks"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(12))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --- the stored report ---------------------------------------------------------------------------
@dataclass
class StoredReport:
    """What the check page shows of a check: LintReport's figures, its digest, and its lists
    cut to what the page prints (with the number left out)."""

    recipients: int
    errors: int
    warnings: int
    digest: str
    identical_share: float
    languages: dict[str, int]
    campaign_findings: list[Finding] = field(default_factory=list)
    identical_groups: list[list[str]] = field(default_factory=list)
    identical_group_count: int = 0
    with_findings: list[RecipientFindings] = field(default_factory=list)
    with_findings_count: int = 0


def encode_report(report: LintReport) -> dict[str, Any]:
    def finding(f: Finding) -> list[str]:
        return [f.level, f.code, f.message]

    return {
        "recipients": report.recipients,
        "errors": report.errors,
        "warnings": report.warnings,
        "digest": report.digest,
        "identical_share": report.identical_share,
        "languages": report.languages,
        "campaign_findings": [finding(f) for f in report.campaign_findings],
        "identical_groups": report.identical_groups[:GROUPS_KEPT],
        "identical_group_count": len(report.identical_groups),
        "with_findings": [
            [r.contact_id, r.display_name, r.language, [finding(f) for f in r.findings]]
            for r in report.with_findings[:FINDINGS_KEPT]
        ],
        "with_findings_count": len(report.with_findings),
    }


def decode_report(data: dict[str, Any]) -> StoredReport:
    return StoredReport(
        recipients=data["recipients"],
        errors=data["errors"],
        warnings=data["warnings"],
        digest=data["digest"],
        identical_share=data["identical_share"],
        languages=data["languages"],
        campaign_findings=[Finding(*f) for f in data["campaign_findings"]],
        identical_groups=data["identical_groups"],
        identical_group_count=data["identical_group_count"],
        with_findings=[
            RecipientFindings(cid, name, language, [Finding(*f) for f in findings])
            for cid, name, language, findings in data["with_findings"]
        ],
        with_findings_count=data["with_findings_count"],
    )


# --- what the page shows -------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckPage:
    report: StoredReport | None = None  # the check of the campaign as it is now
    run: LetterCheck | None = None  # a check under way (report None), or the one shown
    error: str | None = None  # the letter or the audience cannot be checked, or the run failed
    earlier: bool = False  # a check of an earlier version of the letter or audience exists


def current(session: Session, campaign: Campaign, *, default_from: str) -> tuple[str, int]:
    """The fingerprint a check of the campaign now would store, and how many copies it would
    render (the joint message counts as one); CampaignError if it cannot be checked."""
    services._checked(campaign)
    plan = services._recipients(session, campaign, as_rows=True)
    meta = letter_meta(
        campaign, default_from=default_from, cosigners=cosigners_for(session, campaign)
    )
    copies = len(plan.copies) + (1 if plan.addressees else 0)
    return services.check_fingerprint(campaign, meta, plan), copies


def for_page(
    session: Session, campaign: Campaign, *, default_from: str, now: datetime | None = None
) -> CheckPage:
    """What the check page shows now (see the module docstring); the caller commits (a check
    run in the request is stored, a worker's is deferred until the commit)."""
    now = now or utcnow()
    try:
        fingerprint, copies = current(session, campaign, default_from=default_from)
    except services.CampaignError as exc:
        return CheckPage(error=str(exc))
    row = session.get(LetterCheck, campaign.id)
    if row is not None and row.fingerprint == fingerprint:
        if row.state == RunState.DONE and row.report is not None:
            return CheckPage(report=decode_report(row.report), run=row)
        if row.state == RunState.FAILED:
            return CheckPage(run=row, error=row.error)
        if now - _aware(row.heartbeat_at) < STALLED:
            return CheckPage(run=row)
    earlier = row is not None and row.report is not None
    if row is None:
        row = LetterCheck(campaign_id=campaign.id, state=RunState.QUEUED.value)
        session.add(row)
    if copies <= INLINE_COPIES:
        try:
            report = services.lint(session, campaign, default_from=default_from)
        except services.CampaignError as exc:
            return CheckPage(error=str(exc))
        _finished(row, fingerprint, report, now)
        return CheckPage(report=decode_report(encode_report(report)), run=row)
    row.state, row.fingerprint, row.done, row.total = RunState.QUEUED.value, fingerprint, 0, copies
    row.error, row.started_at, row.finished_at = None, None, None
    row.requested_at = row.heartbeat_at = now
    defer(session, RUN_CHECK, campaign.id)
    return CheckPage(run=row, earlier=earlier)


def start_again(session: Session, campaign_id: int) -> None:
    """Forget the stored check (staff asked for a new one); the next view starts it."""
    row = session.get(LetterCheck, campaign_id)
    if row is not None:
        row.fingerprint = None


def _finished(row: LetterCheck, fingerprint: str, report: LintReport, now: datetime) -> None:
    row.state, row.fingerprint, row.error = RunState.DONE.value, fingerprint, None
    row.report = encode_report(report)
    row.done = row.total = report.recipients
    row.started_at = row.started_at or now
    row.finished_at = row.heartbeat_at = now


# --- the worker ----------------------------------------------------------------------------------
Transaction = Callable[[], AbstractContextManager[Session]]


def run(transaction: Transaction, campaign_id: int, *, default_from: str) -> None:
    """The worker's job: check every copy of the campaign as it is now, recording progress as it
    goes, and store the report. A duplicate message (the run done, failed, or being run by
    another worker that reported recently) does nothing."""
    now = utcnow()
    with transaction() as session:
        row = session.get(LetterCheck, campaign_id)
        if row is None or row.state in (RunState.DONE, RunState.FAILED):
            return
        if row.state == RunState.RUNNING and now - _aware(row.heartbeat_at) < STALLED:
            return
        row.state, row.started_at, row.heartbeat_at = RunState.RUNNING.value, now, now

    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        if done < total and time.monotonic() - last < PROGRESS_EVERY:
            return
        last = time.monotonic()
        with transaction() as s:
            s.execute(
                update(LetterCheck)
                .where(LetterCheck.campaign_id == campaign_id)
                .values(done=done, total=total, heartbeat_at=utcnow())
            )

    try:
        with transaction() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                return  # deleted since: its check went with it
            # Read before the copies: a change made while they render shows as a new fingerprint.
            fingerprint, _ = current(session, campaign, default_from=default_from)
            report = services.lint(session, campaign, default_from=default_from, progress=progress)
            row = session.get(LetterCheck, campaign_id)
            if row is not None:
                session.refresh(row)
                _finished(row, fingerprint, report, utcnow())
    except services.CampaignError as exc:
        _failed(transaction, campaign_id, str(exc))
    except Exception as exc:
        _failed(transaction, campaign_id, f"the check stopped: {exc}")
        raise


def _failed(transaction: Transaction, campaign_id: int, error: str) -> None:
    with transaction() as session:
        session.execute(
            update(LetterCheck)
            .where(LetterCheck.campaign_id == campaign_id)
            .values(state=RunState.FAILED.value, error=error, finished_at=utcnow(),
                    heartbeat_at=utcnow())
        )  # fmt: skip
