"""Why a letter bounced, from its enhanced status code and the diagnostic text, and whether that
makes the address bad (hard) or not (soft).

The reason names are Sisimai's (userunknown, mailboxfull, blocked...), so the classifier can be
measured against its corpus (bench/bounce_corpus.py). Hard means the *address* is bad: the user
or the domain does not exist, or the recipient has moved. A message refused as spam, a full
mailbox or a delivery that timed out is soft: the address may work tomorrow, so it only counts
towards the soft-bounce score (outreach.tracking.effects).

The text decides first, because many servers answer a generic 5.0.0 or 5.5.0 and say what they
mean in words; a specific status (5.1.1, 5.2.2...) decides when the words say nothing known.
"""

from __future__ import annotations

import re
from typing import Final

HARD_REASONS: Final = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})

# (reason, pattern) in order: the first that matches wins. Soft reasons whose words often appear
# beside "user" or "mailbox" (full, disabled, over quota) come before the unknown-user patterns.
_TEXT: Final[list[tuple[str, str]]] = [
    # The *sender* refused (our domain, our address): nothing to say about the recipient.
    (
        "rejected",
        r"sender address rejected|sender (address )?(is )?(rejected|denied|invalid|refused)|sender rejected|sender verify failed",
    ),
    (
        "requireptr",
        r"reverse (dns|lookup|hostname)|ptr (record|lookup)|no ptr|rdns|cannot find your hostname|client host .{0,80} (has no|without) ptr|not resolve",
    ),
    (
        "mailboxfull",
        r"mailbox (is )?full|over ?quota|quota (exceeded|exceed)|exceeded (the |his |her |its )?(storage|quota)|mailbox size limit|insufficient (disk )?space|mail ?box (has )?exceeded|not enough (storage|space)|user'?s? (mailbox|disk) (is )?(full|over)|mailfolder is full|mailbox has reached|(account|mailbox) is over|full mailbox|boite (aux lettres )?pleine|postfach (ist )?voll|storage quota",
    ),
    (
        "suspend",
        r"(account|mailbox) .{0,40}(is|has been) (disabled|inactive|suspended|deactivated)|(account|mailbox|user|address) (has been |is )?(disabled|suspended|deactivated|inactive|locked|expired|frozen|blocked due to inactivity)|(disabled|suspended|inactive|deactivated) (account|mailbox|user|recipient)|account (is )?not active|mailbox (is )?not (active|activated)|recipient (is )?(suspended|inactive)|no longer (active|in use)",
    ),
    (
        "speeding",
        r"rate limit|receiving mail at a rate|too many recipients this hour|too many (messages|mails|emails)|sending rate|exceeded .{0,30}rate|throttl|temporarily deferred",
    ),
    (
        "hasmoved",
        r"has (been )?moved|(user|recipient|address) (has )?(changed|moved) (address|to)|no longer (valid|with|at|employed)|new (e-?mail )?address is",
    ),
    (
        "expired",
        r"(delivery|message|retry) (time|timeout|period)? ?(has )?(expired|exceeded)|too long in (the )?queue|retry (time|timeout) (not reached|exceeded)|could not be delivered (with|for) (in )?\d+ (day|hour)|giving up|been (in the queue|undeliverable) for|was not delivered .{0,40} (days|hours)|retry timeout exceeded|message expired|unable to deliver .{0,40} within|delivery expired|maximum time|queue time|timed? out .{0,20} (queue|delivery)",
    ),
    # A domain that says it takes no mail (a null MX, RFC 7505, or no MX at all).
    (
        "notaccept",
        r"indicated no smtp service|no mx record found|null mx|does not accept (any )?(mail|e-?mail)",
    ),
    (
        "networkerror",
        r"malformed or unexpected name server reply|dns (timeout|servfail)|temporary dns",
    ),
    (
        "hostunknown",
        r"host (or domain name )?(not found|unknown)|unknown host|domain (name )?(not found|does not exist|is not found|unknown)|no such (domain|host)|name service error|unrouteable (mail )?domain|unrouteable address|domain .{0,60} (has|have) no (mx|mail exchanger)|no (mx|mail exchanger|route) (record )?(for|to) (the )?(domain|host)|(host|domain) (is )?(unreachable|not reachable)|account or domain may not exist|dns (lookup|error|failure)|nxdomain|recipient domain .{0,30}(invalid|unknown)|unknown domain|invalid domain|domain (name )?lookup failed",
    ),
    (
        "userunknown",
        r"user unknown|unknown user|no such (user|mailbox|recipient|account|address|local user)|(user|mailbox|recipient|account|address|addressee)( name)? (does not|doesn't|doesnt|did not|not) (exist|found|known|valid)|(invalid|unknown|bad|non-?existent) (recipient|mailbox|user|address|e-?mail address|destination)|(recipient|mailbox|user|address) (is )?(unknown|invalid|not found|not listed)|invalid final delivery userid|not a valid (mailbox|user|recipient)|no mailbox|mailbox (not found|does not exist)|undeliverable address|does not have an account|address (no longer|not) (exists?|in use)|user (not|doesn't) (found|exist)|unknown (local part|recipient|address)|unrouteable|not our customer|(address|recipient) (could ?n[o']t|cannot|can't) be found|recipient address rejected(: access denied|\.(\s|$))|requested action not taken: mailbox unavailable|not listed in (the )?(public |domino )?(name & address book|directory)|ディレクトリのリストにありません|(?<![a-z] )address rejected(?!:)|no such person|(unknown|invalid) or illegal alias|recipient not found|not listed in|address lookup failed|no valid recipients|user not in (the )?(directory|table)|this user doesn't have|account (does not|doesn't) exist|cannot find the recipient|user doesn't exist|destinataire inconnu|utilisateur inconnu|unbekannt",
    ),
    (
        "notaccept",
        r"does not accept (any )?(mail|e-?mail)|null mx|not accept(ing)? (any )?(mail|e-?mail|messages)|accepts no mail",
    ),
    (
        "toomanyconn",
        r"too many (connections|concurrent|sessions|simultaneous)|connection limit|connection rate",
    ),
    (
        "mesgtoobig",
        r"(message|mail|size) (is )?(too (big|large)|exceeds)|exceeds (the )?(maximum )?(message )?size|message size|size limit|message length exceeds",
    ),
    ("exceedlimit", r"exceeds? (the )?(recipient|size) limit|recipient limit"),
    ("virusdetected", r"virus|malware|infected"),
    ("spamdetected", r"spam|junk mail|bulk mail|unsolicited|classified as (junk|spam)"),
    (
        "authfailure",
        r"\bspf\b|\bdkim\b|\bdmarc\b|authentication (failed|failure|required)|not authorized to send|sender verify",
    ),
    ("badreputation", r"reputation"),
    (
        "norelaying",
        r"relay(ing)? (access )?(denied|not (allowed|permitted))|not permitted to relay|unable to relay|we do not relay|not a gateway|relay not permitted",
    ),
    (
        "blocked",
        r"blacklist|block ?list|blocked|\bdnsbl\b|\brbl\b|spamhaus|barracuda|access denied|banned|your (ip|host|server)|connection refused|client host rejected|not allowed to send|ip address .{0,60}(listed|rejected)",
    ),
    ("policyviolation", r"policy|not allowed|prohibited|content rejected"),
    ("securityerror", r"tls|encryption|starttls|certificate|security"),
    (
        "filtered",
        r"filtered|rejected by (the )?(recipient|user)|refused by (the )?recipient|message (was )?(rejected|refused)|delivery not authorized|not authorized",
    ),
    ("contenterror", r"content|mime|header|malformed"),
    (
        "networkerror",
        r"network|connection (timed out|reset|lost|dropped)|timed out|loop(s)? detected|routing loop|too many hops|mail loop|no route",
    ),
    ("systemfull", r"(system|disk) (is )?full|insufficient system storage"),
    (
        "systemerror",
        r"system (error|problem|failure)|internal (server )?error|temporary (local )?(failure|error|problem)|local error|server error|configuration error|try again later",
    ),
    ("syntaxerror", r"syntax error|command unrecognized|unrecognized command|bad sequence"),
    ("rejected", r"rejected|refused|denied|not accepted"),
]
_COMPILED: Final = [(reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in _TEXT]

# Enhanced status codes (RFC 3463) that name a reason by themselves; class 4 and 5 alike.
_STATUS: Final[dict[str, str]] = {
    "1.0": "userunknown",
    "1.1": "userunknown",
    "1.2": "hostunknown",
    "1.3": "userunknown",
    "1.4": "systemerror",
    "1.6": "hasmoved",
    "1.7": "rejected",
    "1.8": "rejected",
    "1.10": "notaccept",
    "2.0": "filtered",
    "2.1": "userunknown",  # "mailbox disabled" in RFC 3463; most servers mean "no such user"
    "2.2": "mailboxfull",
    "2.3": "exceedlimit",
    "2.4": "systemerror",
    "3.0": "systemerror",
    "3.1": "systemfull",
    "3.2": "notaccept",
    "3.4": "mesgtoobig",
    "3.5": "systemerror",
    "4.0": "networkerror",
    "4.1": "networkerror",
    "4.2": "networkerror",
    "4.3": "systemerror",
    "4.4": "hostunknown",
    "4.5": "networkerror",
    "4.6": "networkerror",
    "4.7": "expired",
    "5.0": "syntaxerror",
    "5.1": "syntaxerror",
    "5.2": "syntaxerror",
    "5.3": "exceedlimit",
    "5.4": "syntaxerror",
    "6.0": "contenterror",
    "6.1": "contenterror",
    "7.0": "securityerror",
    "7.1": "rejected",
    "7.7": "contenterror",
    "7.8": "authfailure",
    "7.9": "securityerror",
    "7.13": "suspend",
    "7.23": "authfailure",
    "7.25": "requireptr",
    "7.26": "authfailure",
    "7.27": "notaccept",
}
STATUS_RE: Final = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
REPLY_CODE_RE: Final = re.compile(r"(?<![\d.])([245]\d\d)(?:[ -]|$)(?!\s*(?:bytes|kb|mb))")


def reason_from_text(text: str) -> str | None:
    for reason, pattern in _COMPILED:
        if pattern.search(text):
            return reason
    return None


def reason_from_status(status: str | None) -> str | None:
    if not status:
        return None
    match = STATUS_RE.fullmatch(status.strip())
    if match is None:
        return None
    return _STATUS.get(f"{match.group(2)}.{match.group(3)}")


def reason_for(status: str | None, diagnostic: str, context: str = "") -> str:
    """The reason of one failure. With a diagnostic (the remote server's own words), the words
    decide and a specific status comes second; without one, a specific status decides before the
    words of the whole report (`context`), which describe the report more than the failure."""
    by_status = reason_from_status(status)
    if diagnostic:
        reason = reason_from_text(diagnostic) or by_status or reason_from_text(context)
    elif _specific(status):
        reason = by_status
    else:
        reason = reason_from_text(context) or by_status
    reason = reason or "undefined"
    if reason == "userunknown":
        # "User unknown" in answer to DATA, or with a mailbox status (x.2.0, x.2.1), is how some
        # servers refuse a message's content: the recipient exists (Sisimai calls it filtered).
        # (A specific 5.1.1 stays unknown: Sendmail reports pipelined RCPT refusals after DATA.)
        after_data = not _specific(status) and _AFTER_DATA.search(f"{diagnostic}\n{context}")
        if after_data or (status or "")[1:] == ".2.0":
            return "filtered"
    if reason == "hostunknown" and (status or "").startswith("4"):
        # A domain that a resolver could not find *for now* (a DNS failure with a 4.x.x status)
        # may resolve tomorrow.
        return "networkerror"
    return reason


# The refusal answered DATA: Postfix "(in reply to end of DATA command)", Exim "after end of
# data" (not a Sendmail transcript's DATA: it reports pipelined RCPT refusals there).
_AFTER_DATA: Final = re.compile(r"end of data|after data", re.IGNORECASE)


def _specific(status: str | None) -> bool:
    """Whether a status says more than "permanent/temporary failure of some kind"."""
    match = STATUS_RE.fullmatch((status or "").strip())
    return match is not None and (match.group(2), match.group(3)) not in {
        ("0", "0"),
        ("5", "0"),
        ("7", "1"),
        ("7", "0"),
        ("1", "0"),
        ("3", "0"),
        ("4", "0"),
    }


def is_hard(reason: str, status: str | None, smtp_code: int | None) -> bool:
    """Whether a failure means the address is bad: its user or domain does not exist, or it moved
    (even when a server says so with a 4xx, as Postfix does with soft_bounce: the words decide)."""
    if reason == "notaccept":
        # A null MX (RFC 7505) refuses for good; a 4xx "not accepting mail now" may pass later.
        return not ((status or "").startswith("4") or (smtp_code is not None and smtp_code < 500))
    return reason in HARD_REASONS
