"""Bounce detection: RFC 3464 delivery status notifications first, flufl.bounce's detectors for
the non-standard formats, and our own heuristics where both find nothing.

The result is one `Failure` per failed recipient with the SMTP reply code, the enhanced status,
the diagnostic text, the reason and hard or soft (reasons.py), and the Message-IDs of the returned
letter, by which a bounce that lost its VERP address can still be matched to its delivery.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Final

from flufl.bounce import all_failures

from outreach.tracking.parse import (
    address,
    body_text,
    header,
    message_ids,
    parse,
    part_text,
    walk,
)
from outreach.tracking.reasons import REPLY_CODE_RE, STATUS_RE, is_hard, reason_for

log = logging.getLogger(__name__)

DSN_TYPES: Final = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "text/delivery-status"}
)
RETURNED_TYPES: Final = frozenset(
    {"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"}
)
_BOUNCE_SENDER = re.compile(
    r"mailer-daemon|postmaster|mail delivery (subsystem|system)|mail administrator|"
    r"\bmaildelivery|\bmailer\b|mdaemon|\bnoreply-dmarc|\bdaemon@|\bbounce",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status notification|failure|failed|has failed|problem|notification)|"
    r"failure notice|returned mail|returned to sender|mail delivery failed|could not be delivered|"
    r"delivery (report|status)|non[- ]?remis|unzustellbar|nicht zustellbar|no se puede entregar|"
    r"mail system error|message (not delivered|delivery failed)|permanent (error|failure)|"
    r"rejected|warning: could not send|delayed mail|mail (could not|couldn't) be delivered|"
    r"unable to deliver|nondeliverable|non[- ]delivery|delivery notification|failed delivery|"
    r"returned message|error sending|mail failure|bounce|message you sent|sorry, your message|"
    r"wasn't delivered|was not delivered|problem delivering|\bnotice\b.*\bdeliver",
    re.IGNORECASE,
)
_DELAY_SUBJECT = re.compile(
    r"\(delay\)|delayed|still being retried|warning: message .* delayed|not yet been delivered",
    re.IGNORECASE,
)
_ADDRESS_IN_TEXT = re.compile(
    r"<?([A-Za-z0-9._%+'=/-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24})>?"
)
_RETURNED_ID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Failure:
    address: str
    action: str  # "failed" or "delayed" (a DSN's "delivered", "relayed" are not failures)
    status: str | None
    smtp_code: int | None
    diagnostic: str
    reason: str
    hard: bool


@dataclass
class BounceReport:
    """What a bounce says; `failures` empty means it was not found to be one."""

    failures: list[Failure] = field(default_factory=list)
    detected_by: str = ""
    returned_message_ids: list[str] = field(default_factory=list)
    # A DSN that reports success (Action: delivered / relayed / expanded), not a failure.
    success_report: bool = False

    @property
    def is_bounce(self) -> bool:
        return bool(self.failures)

    @property
    def final(self) -> list[Failure]:
        return [f for f in self.failures if f.action != "delayed"]


def detect_bounce(msg: Message) -> BounceReport:
    report = BounceReport(returned_message_ids=returned_message_ids(msg))
    text = body_text(msg)
    dsn = _dsn_failures(msg, text)
    if dsn:
        report.failures, report.detected_by = dsn, "dsn"
        return report
    if _dsn_success(msg):
        report.success_report = True
        return report
    looks_like = looks_like_bounce(msg)
    flufl = _flufl_failures(msg, text) if looks_like or _has_returned_part(msg) else []
    if flufl:
        report.failures, report.detected_by = flufl, "flufl"
        return report
    if looks_like:
        report.failures, report.detected_by = _heuristic_failures(msg, text), "heuristic"
    return report


def looks_like_bounce(msg: Message) -> bool:
    """Signs of a delivery report: the sender, the subject, the headers an MTA adds. (A null
    return path alone is not one: auto-replies are sent with it too, as RFC 3834 asks.)"""
    sender = header(msg, "From")
    subject = header(msg, "Subject")
    return_path = header(msg, "Return-Path")
    return bool(
        _BOUNCE_SENDER.search(sender)
        or _BOUNCE_SUBJECT.search(subject)
        or return_path.strip() == "<MAILER-DAEMON>"
        or header(msg, "X-Failed-Recipients")
        or msg.get_content_type() == "multipart/report"
    )


def returned_message_ids(msg: Message) -> list[str]:
    """Message-IDs of the letter a bounce returns (in its attached message or headers)."""
    own = set(message_ids(header(msg, "Message-ID")))
    found: list[str] = []
    for part in walk(msg):
        ctype = part.get_content_type()
        if ctype in RETURNED_TYPES:
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else payload
            if isinstance(inner, Message):
                found += message_ids(header(inner, "Message-ID"))
            elif isinstance(inner, str):
                found += _RETURNED_ID.findall(inner)
        elif ctype == "text/plain" and not part.is_multipart():
            found += _RETURNED_ID.findall(part_text(part))
    return [i for i in dict.fromkeys(found) if i not in own]


def _has_returned_part(msg: Message) -> bool:
    return any(p.get_content_type() in RETURNED_TYPES for p in walk(msg))


# --- RFC 3464 ----------------------------------------------------------------------------------
def _dsn_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = part_text(part) if isinstance(payload, (str, bytes)) else ""
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [parse(block.encode("utf-8", "replace")) for block in blocks if block.strip()]


def _dsn_recipient_blocks(msg: Message) -> list[Message]:
    out = []
    for part in walk(msg):
        if part.get_content_type() in DSN_TYPES:
            out += [
                b
                for b in _dsn_blocks(part)
                if b.get("Final-Recipient") or b.get("Original-Recipient")
            ]
    return out


def _dsn_failures(msg: Message, text: str) -> list[Failure]:
    failures = []
    for block in _dsn_recipient_blocks(msg):
        action = header(block, "Action").lower().split(" ")[0] if block.get("Action") else ""
        status = _status(header(block, "Status"))
        if action in {"delivered", "relayed", "expanded"} or (
            not action and (status or "").startswith("2")
        ):
            continue
        recipient = header(block, "Final-Recipient") or header(block, "Original-Recipient")
        addr = address(recipient.split(";", 1)[-1].strip())
        diagnostic = header(block, "Diagnostic-Code")
        diagnostic = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic[:12] else diagnostic
        if not action:
            action = (
                "delayed"
                if (status or "").startswith("4") and _DELAY_SUBJECT.search(header(msg, "Subject"))
                else "failed"
            )
        failures.append(
            _failure(addr, "delayed" if action == "delayed" else "failed", status, diagnostic, text)
        )
    return failures


def _dsn_success(msg: Message) -> bool:
    blocks = _dsn_recipient_blocks(msg)
    return bool(blocks) and all(
        header(b, "Action").lower().startswith(("delivered", "relayed", "expanded")) for b in blocks
    )


def _status(value: str) -> str | None:
    match = STATUS_RE.search(value or "")
    return match.group(0) if match else None


def _failure(addr: str, action: str, status: str | None, diagnostic: str, text: str) -> Failure:
    """One failure; a status inside the diagnostic wins over the report's Status field (which
    some MTAs fill with a generic or wrong value), and the code and status missing from the
    diagnostic are looked for in the report's words near the address."""
    context = _around(text, addr)
    evidence = diagnostic or context
    code_match = REPLY_CODE_RE.search(evidence)
    smtp_code = int(code_match.group(1)) if code_match else None
    status = _status(diagnostic) or status or _status(context)
    reason = reason_for(status, diagnostic, context)
    hard = action != "delayed" and is_hard(reason, status, smtp_code)
    return Failure(addr, action, status, smtp_code, evidence[:2000], reason, hard)


def _around(text: str, addr: str, width: int = 600) -> str:
    """The report's words near the failed address (most reports explain just below it)."""
    if not text:
        return ""
    at = text.lower().find(addr.lower()) if addr else -1
    if at < 0:
        return text[:2000]
    return text[max(0, at - 60) : at + width]


# --- non-standard formats ------------------------------------------------------------------------
def _flufl_failures(msg: Message, text: str) -> list[Failure]:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on an odd message must not stop ours
        log.debug("flufl.bounce raised on a message", exc_info=True)
        return []
    failures = []
    for raw_addr in sorted(permanent):
        addr = address(raw_addr.decode("utf-8", "replace"))
        if addr:
            failures.append(_failure(addr, "failed", None, "", text))
    for raw_addr in sorted(temporary - permanent):
        addr = address(raw_addr.decode("utf-8", "replace"))
        if addr:
            failures.append(
                _failure(
                    addr,
                    "delayed" if _DELAY_SUBJECT.search(header(msg, "Subject")) else "failed",
                    None,
                    "",
                    text,
                )
            )
    return failures


def _heuristic_failures(msg: Message, text: str) -> list[Failure]:
    """A report that looks like a bounce but that no detector understood: the failed address from
    X-Failed-Recipients, else the first address in its text that is not the sender's."""
    delayed = bool(_DELAY_SUBJECT.search(header(msg, "Subject")))
    action = "delayed" if delayed else "failed"
    listed = [address(a) for a in header(msg, "X-Failed-Recipients").split(",")]
    candidates = [a for a in listed if a]
    if not candidates:
        ours = {address(header(msg, "From")), address(header(msg, "To"))}
        for match in _ADDRESS_IN_TEXT.finditer(text[:8000]):
            addr = address(match.group(1))
            if addr and addr not in ours and not _BOUNCE_SENDER.search(addr):
                candidates.append(addr)
                break
    if not candidates:
        candidates = [""]
    return [_failure(a, action, None, "", text) for a in candidates]
