"""Sending one recipient's copy of a letter to a staff member, to see it in a real mail client.

The copy is rendered exactly as the official would get it (their language, their name), then
addressed to the staff member instead: the subject is prefixed "[TEST] " and an
X-Outreach-Test header names the official it was rendered for. It goes through the configured relay
on its own connection, closed afterwards. It is never sent to the official and leaves no Delivery
row: a test is not part of the campaign's sending history.
"""

from __future__ import annotations

import logging

from contacts.models import Contact
from outreach.campaigns.letters import LetterCheckError, copy_for
from outreach.campaigns.models import Campaign
from outreach.mail.message import HeaderError, build_letter, new_message_id, parse_address
from outreach.mail.transport import SendOutcome, SmtpConfig, SmtpTransport

log = logging.getLogger(__name__)

TEST_SUBJECT_PREFIX = "[TEST] "
TEST_HEADER = "X-Outreach-Test"


def rendered_for(contact: Contact) -> str:
    """How the X-Outreach-Test header names the official the copy was rendered for."""
    address = f" <{contact.email}>" if contact.email else ""
    return f"{contact.display_name}{address} (contact {contact.id})"


def send_test(
    campaign: Campaign,
    contact: Contact,
    *,
    staff_address: str,
    smtp_url: str,
    default_from: str,
    return_path: str,
    smtp_timeout: float = 30.0,
    language: str | None = None,
) -> SendOutcome:
    """Send `contact`'s copy (or its `language` version) to `staff_address`; never raises for a
    letter, address or relay problem: the outcome says what happened, for staff to read."""
    try:
        copy = copy_for(campaign, contact, default_from=default_from, language=language)
        from_addr = campaign.mail_from or default_from
        sender = parse_address(from_addr, "From")
        msg = build_letter(
            from_addr=from_addr,
            to_addr=staff_address,
            to_name="",
            subject=TEST_SUBJECT_PREFIX + copy.subject,
            text=copy.text,
            html=copy.html,
            language=copy.language,
            message_id=new_message_id(sender.domain),
            extra_headers={TEST_HEADER: rendered_for(contact)},
        )
        config = SmtpConfig.from_url(smtp_url, timeout=smtp_timeout)
    except (LetterCheckError, HeaderError) as exc:
        return SendOutcome("permanent", None, f"not sent: {exc}")
    except ValueError as exc:  # the relay URL
        return SendOutcome("temporary", None, f"relay: {exc}")
    transport = SmtpTransport(config)
    try:
        outcome = transport.send(msg, envelope_from=return_path, recipient=staff_address)
    finally:
        transport.close()
    log.info(
        "test copy of campaign %s for contact %s to %s: %s %s",
        campaign.id,
        contact.id,
        staff_address,
        outcome.kind,
        outcome.code,
    )
    return outcome
