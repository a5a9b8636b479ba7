"""What an inbound message is, from its content alone: a bounce (hard, soft or a delay warning),
a complaint, an auto-reply, or a reply written by a person.

The order matters: delivery reports often carry `Auto-Submitted: auto-replied` too, so bounces are
recognised before auto-replies, and a message is a person's reply only when nothing automatic was
found. Whether mail to a `+u` address is an unsubscription, and which delivery a message is about,
depends on the addresses and is decided in process.py and matching.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

from outreach.tracking.autoreply import auto_reply_signal
from outreach.tracking.bounces import BounceReport, detect_bounce
from outreach.tracking.models import InboundKind
from outreach.tracking.parse import address, body_text, header, message_ids, parse, walk
from outreach.tracking.quoting import split_reply


@dataclass
class Classification:
    kind: InboundKind
    detected_by: str
    bounce: BounceReport = field(default_factory=BounceReport)
    from_address: str = ""
    subject: str = ""
    reply_text: str = ""
    quoted_text: str = ""
    in_reply_to: list[str] = field(default_factory=list)


def classify_bytes(raw: bytes) -> Classification:
    return classify(parse(raw))


def classify(msg: Message) -> Classification:
    result = Classification(
        kind=InboundKind.UNKNOWN,
        detected_by="",
        from_address=address(header(msg, "From")),
        subject=header(msg, "Subject")[:2000],
        in_reply_to=message_ids(header(msg, "In-Reply-To"))
        + message_ids(header(msg, "References")),
    )
    if is_feedback_report(msg):
        result.kind, result.detected_by = InboundKind.COMPLAINT, "arf"
        result.bounce.returned_message_ids = []
        return result
    report = detect_bounce(msg)
    result.bounce = report
    if report.is_bounce:
        final = report.final
        if not final:
            result.kind = InboundKind.DELAY
        elif any(f.hard for f in final):
            result.kind = InboundKind.HARD_BOUNCE
        else:
            result.kind = InboundKind.SOFT_BOUNCE
        result.detected_by = report.detected_by
        return result
    if report.success_report:
        result.detected_by = "dsn-success"
        return result
    own, quoted = split_reply(body_text(msg))
    result.reply_text, result.quoted_text = own, quoted
    signal = auto_reply_signal(msg, own)
    if signal is not None:
        result.kind, result.detected_by = InboundKind.AUTO_REPLY, signal
        return result
    result.kind, result.detected_by = InboundKind.REPLY, "person"
    return result


def is_feedback_report(msg: Message) -> bool:
    """An ARF (RFC 5965) report: a recipient marked a message as spam, or similar."""
    if msg.get_content_type() == "multipart/report":
        report_type = str(msg.get_param("report-type", "") or "").lower()
        if report_type == "feedback-report":
            return True
    return any(p.get_content_type() == "message/feedback-report" for p in walk(msg))
