"""The identity of each outgoing message: who bounces go to, who replies go to, who signed it.

`MessageIdentity.from_settings(settings)` is made once per process (a worker at start, the web app
for test sends): it derives the token keys from the secret key and reads the DKIM key once, and
raises a ValueError naming the setting when something is wrong, so a misconfiguration stops the
process at start rather than failing letters one by one. Then, per message:

    msg = writer.letter(..., reply_to=identity.reply_to_for(delivery.id))   # or build_letter(...)
    data = identity.finalize(msg)        # DKIM-signed when a key is configured
    transport.send(data, identity.return_path_for(delivery.id), delivery.email)

The inbound side (tracking) asks `delivery_for_bounce(rcpt)` and `delivery_for_reply(rcpt)` with
the address a message came back to, and gets a delivery id or None (foreign or forged: log and
ignore). Unsubscribe links for supporter mail come from `unsubscribe_for(supporter_id)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from outreach.mail.dkim_signer import DkimSigner
from outreach.mail.message import Unsubscribe, message_bytes
from outreach.mail.tokens import TokenSigner
from outreach.mail.verp import SignedAddress
from outreach.mail.wire import WireLetter
from outreach.settings import Settings

UNSUBSCRIBE_PATH = "/unsubscribe/"


@dataclass(frozen=True)
class MessageIdentity:
    """Everything that marks a message as ours and routes what comes back. Thread-safe."""

    bounces: SignedAddress
    replies: SignedAddress | None
    unsubscribe_tokens: TokenSigner
    unsubscribe_mailbox: SignedAddress
    base_url: str
    dkim: DkimSigner | None

    @classmethod
    def from_settings(cls, settings: Settings) -> MessageIdentity:
        """Raises ValueError (DkimConfigError for the DKIM settings) with the variable's name."""
        secret = settings.secret_key
        if not secret:
            raise ValueError(
                "OUTREACH_SECRET_KEY is empty: bounce and reply tokens are signed with it "
                "(Settings.with_secret() fills it in development)"
            )
        bounces = SignedAddress(
            settings.return_path, TokenSigner(secret, "bounce"), "OUTREACH_RETURN_PATH"
        )
        replies = (
            SignedAddress(
                settings.reply_address, TokenSigner(secret, "reply"), "OUTREACH_REPLY_ADDRESS"
            )
            if settings.reply_address.strip()
            else None
        )
        unsubscribe = TokenSigner(secret, "unsubscribe")
        # The mailto of List-Unsubscribe goes where replies go (or bounces, with no reply address):
        # the inbound side tells the kinds apart by the token's first letter, and its key.
        mailbox = SignedAddress(
            settings.reply_address.strip() or settings.return_path,
            unsubscribe,
            "OUTREACH_REPLY_ADDRESS" if settings.reply_address.strip() else "OUTREACH_RETURN_PATH",
        )
        return cls(
            bounces=bounces,
            replies=replies,
            unsubscribe_tokens=unsubscribe,
            unsubscribe_mailbox=mailbox,
            base_url=settings.base_url.rstrip("/"),
            dkim=DkimSigner.from_settings(settings),
        )

    # --- outgoing -------------------------------------------------------------------------------
    def return_path_for(self, delivery_id: int) -> str:
        """The envelope sender (MAIL FROM) of a delivery: `bounces+b<id>.<mac>@domain`."""
        return self.bounces.for_id(delivery_id)

    def reply_to_for(self, delivery_id: int) -> str | None:
        """The Reply-To of a delivery, `replies+r<id>.<mac>@domain`, or None without a reply
        address (replies are then matched by In-Reply-To alone)."""
        return self.replies.for_id(delivery_id) if self.replies is not None else None

    def unsubscribe_for(self, supporter_id: int) -> Unsubscribe:
        """The List-Unsubscribe targets for a supporter: `<base_url>/unsubscribe/<token>` and
        `<reply local part>+u<id>.<mac>@<domain>` (the web route and the inbound handling that
        act on them belong to the supporters and tracking packages)."""
        token = self.unsubscribe_tokens.sign(supporter_id)
        return Unsubscribe(
            url=f"{self.base_url}{UNSUBSCRIBE_PATH}{token}",
            mailto=self.unsubscribe_mailbox.for_id(supporter_id),
        )

    def finalize(self, msg: EmailMessage | WireLetter) -> bytes:
        """The bytes to send: the message's wire form (a `WireLetter`'s bytes as they are), with
        a DKIM-Signature in front when a key is configured. Send these bytes as they are
        (`SmtpTransport.send` takes bytes): any change to a signed header or the body after
        this breaks the signature. Raises DkimSigningError if a message to sign has no single
        From address."""
        if isinstance(msg, WireLetter):
            data, sender = msg.data, msg.sender
        else:
            data, sender = message_bytes(msg), str(msg.get("From", ""))
        if self.dkim is None:
            return data
        return self.dkim.sign(data, sender)

    # --- inbound --------------------------------------------------------------------------------
    def delivery_for_bounce(self, address: object) -> int | None:
        """The delivery whose Return-Path a bounce was sent to, or None (foreign or forged)."""
        return self.bounces.id_of(address)

    def delivery_for_reply(self, address: object) -> int | None:
        """The delivery whose Reply-To a reply was sent to, or None (foreign or forged)."""
        return self.replies.id_of(address) if self.replies is not None else None

    def supporter_for_unsubscribe(self, token_or_address: object) -> int | None:
        """The supporter of an unsubscribe token (from the URL) or of the address a mailto
        unsubscription was sent to; None if it does not verify."""
        if isinstance(token_or_address, str) and "@" in token_or_address:
            return self.unsubscribe_mailbox.id_of(token_or_address)
        return self.unsubscribe_tokens.verify(token_or_address)
