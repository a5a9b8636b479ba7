"""DKIM signing of outgoing messages (dkimpy), with the key read and checked once per process.

`DkimSigner.from_settings` reads `OUTREACH_DKIM_PRIVATE_KEY` (a PEM file: RSA or Ed25519, PKCS#1 or
PKCS#8, unencrypted) when the worker starts, and refuses at once what would otherwise fail at the
first letter or, worse, sign letters that no receiver can verify: a missing or unreadable file, a
file that is not a usable key, an RSA key under 1024 bits (RFC 8301), a key without a selector or a
selector without a key. `sign` takes the final bytes of a message and returns them with a
`DKIM-Signature` header in front: relaxed/relaxed canonicalisation (survives the header refolding
and trailing white space that relays are known to introduce) and a fixed list of headers to sign.

`python -m outreach.mail.dkim_signer KEY.pem SELECTOR DOMAIN` prints the DNS TXT record to publish.
"""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from outreach.mail.message import HeaderError, parse_address

if TYPE_CHECKING:
    from outreach.settings import Settings

# Every header that says who wrote what to whom, and how to read it. A name listed but absent from
# a message is still signed (as empty), so nobody can add that header later without breaking the
# signature: a relay cannot slip in a Reply-To, a Cc or a List-Unsubscribe. `from` is listed twice
# for the same reason: a second From added on the way would not be covered. RFC 8058 requires
# List-Unsubscribe and List-Unsubscribe-Post to be signed for one-click unsubscription to count.
SIGNED_HEADERS: Final = (
    "from",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-language",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
)

MIN_RSA_BITS: Final = 1024  # RFC 8301: verifiers refuse smaller keys


class DkimConfigError(ValueError):
    """The DKIM settings cannot be used; the message names the variable and what to do."""


class DkimSigningError(ValueError):
    """A message could not be signed (e.g. it has no usable From to take the domain from)."""


@dataclass(frozen=True)
class DkimKey:
    """A private key in the form dkimpy takes, and its public half as a DNS record wants it."""

    algorithm: bytes  # the a= tag: b"rsa-sha256" or b"ed25519-sha256"
    private: bytes  # RSA: PKCS#1 PEM (LF line ends); Ed25519: base64 of the 32-byte seed
    dns_key_type: str  # the k= tag of the TXT record: "rsa" or "ed25519"
    public: str  # the p= tag: base64 of the DER SubjectPublicKeyInfo (RSA) or raw key (Ed25519)

    @classmethod
    def from_pem(cls, pem: bytes, origin: str = "the key") -> DkimKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except TypeError as exc:  # cryptography's way of saying "this key needs a password"
            raise DkimConfigError(
                f"{origin} is encrypted; give an unencrypted PEM key (readable by the worker only)"
            ) from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise DkimConfigError(f"{origin} is not a PEM private key: {exc}") from exc
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < MIN_RSA_BITS:
                raise DkimConfigError(
                    f"{origin} is a {key.key_size}-bit RSA key; receivers refuse keys under "
                    f"{MIN_RSA_BITS} bits (2048 is the usual size)"
                )
            # dkimpy parses PKCS#1 itself, and only with LF line ends: hand it exactly that.
            private = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return cls(b"rsa-sha256", private, "rsa", base64.b64encode(public).decode("ascii"))
        if isinstance(key, ed25519.Ed25519PrivateKey):
            # dkimpy (PyNaCl) takes the raw seed in base64; RFC 8463 publishes the raw public key.
            seed = key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            return cls(
                b"ed25519-sha256",
                base64.b64encode(seed),
                "ed25519",
                base64.b64encode(public).decode("ascii"),
            )
        raise DkimConfigError(
            f"{origin} is a {type(key).__name__}; DKIM keys are RSA or Ed25519 (RFC 6376, RFC 8463)"
        )

    def dns_record(self) -> str:
        """The TXT record's text, for `<selector>._domainkey.<domain>`."""
        return f"v=DKIM1; k={self.dns_key_type}; p={self.public}"


class DkimSigner:
    """Signs final message bytes with one key and selector. Immutable and thread-safe: each
    signature uses its own dkimpy object."""

    def __init__(self, key: DkimKey, selector: str, domain: str | None = None) -> None:
        """`domain` is the d= tag; None takes it from each message's From address."""
        self.key = key
        self.selector = selector
        self.domain = domain

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The signer the settings ask for, or None when DKIM is off (no key and no selector)."""
        path, selector = settings.dkim_private_key, settings.dkim_selector.strip()
        if not path:
            if selector or settings.dkim_domain:
                raise DkimConfigError(
                    "OUTREACH_DKIM_SELECTOR or OUTREACH_DKIM_DOMAIN is set but "
                    "OUTREACH_DKIM_PRIVATE_KEY is not: set the key's path, or unset them"
                )
            return None
        if not selector:
            raise DkimConfigError(
                "OUTREACH_DKIM_PRIVATE_KEY is set but OUTREACH_DKIM_SELECTOR is not: give the "
                "selector under which the public key is published (<selector>._domainkey.<domain>)"
            )
        if not _is_dns_name(selector, min_labels=1):
            raise DkimConfigError(f"OUTREACH_DKIM_SELECTOR={selector!r} is not a DNS name")
        domain = settings.dkim_domain.strip().lower() or None
        if domain is not None and not _is_dns_name(domain):
            raise DkimConfigError(f"OUTREACH_DKIM_DOMAIN={domain!r} is not a domain name")
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise DkimConfigError(
                f"OUTREACH_DKIM_PRIVATE_KEY={path!r} cannot be read: {exc.strerror or exc}"
            ) from exc
        key = DkimKey.from_pem(pem, origin=f"OUTREACH_DKIM_PRIVATE_KEY={path!r}")
        return cls(key, selector, domain)

    def domain_for(self, from_header: str) -> str:
        """The d= domain: the configured one, or the domain of the From address (an
        internationalised domain in its ASCII form, as DNS holds it)."""
        if self.domain is not None:
            return self.domain
        try:
            domain = parse_address(from_header, "From").domain.lower()
            return domain.encode("idna").decode("ascii")
        except (HeaderError, UnicodeError) as exc:
            raise DkimSigningError(f"cannot take the DKIM domain from From: {exc}") from exc

    def sign(self, message: bytes, from_header: str) -> bytes:
        """The message with its DKIM-Signature header in front (CRLF line ends in and out)."""
        signature = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain_for(from_header).encode("ascii"),
            self.key.private,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=self.key.algorithm,
            include_headers=[h.encode("ascii") for h in SIGNED_HEADERS],
            linesep=b"\r\n",
        )
        return signature + message


def _is_dns_label(value: str) -> bool:
    return 0 < len(value) <= 63 and value.isascii() and all(c.isalnum() or c == "-" for c in value)


def _is_dns_name(value: str, *, min_labels: int = 2) -> bool:
    labels = value.split(".")
    return len(labels) >= min_labels and len(value) <= 253 and all(map(_is_dns_label, labels))


def txt_record_lines(key: DkimKey, selector: str, domain: str) -> str:
    """The record as a zone file line. A TXT string holds at most 255 octets, and a 2048-bit
    RSA key's record is longer, so the text is given as several quoted strings (DNS joins them)."""
    text = key.dns_record()
    chunks = " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))
    return f"{selector}._domainkey.{domain}. IN TXT ( {chunks} )"


def main(argv: list[str] | None = None) -> int:
    """Print the TXT record for a key: `python -m outreach.mail.dkim_signer KEY SELECTOR DOMAIN`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m outreach.mail.dkim_signer KEY.pem SELECTOR DOMAIN", file=sys.stderr)
        return 2
    path, selector, domain = args
    if not (_is_dns_name(selector, min_labels=1) and _is_dns_name(domain)):
        print(f"{selector!r} or {domain!r} is not a DNS name", file=sys.stderr)
        return 2
    try:
        key = DkimKey.from_pem(Path(path).read_bytes(), origin=path)
    except (OSError, DkimConfigError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(txt_record_lines(key, selector, domain))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
