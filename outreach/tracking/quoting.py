"""Separating what a person wrote from the letter they quote below (or above) it.

The reply is kept whole in the raw message; `split_reply` gives the text to show first and the
quoted part to fold away. It looks for the attribution lines of the common clients in the EU's
main languages ("On … wrote:", "Le … a écrit :", "Am … schrieb …:"), the separators of Outlook
and webmail ("-----Original Message-----", "From: … Sent: …" blocks, "De :", "Von:"), and a run of
`>` lines.
"""

from __future__ import annotations

import re
from typing import Final

_ATTRIBUTION: Final = re.compile(
    r"^\s*("
    r"on .{1,200}wrote:?|le .{1,200}a écrit\s*:?|am .{1,200}schrieb .{0,200}:?|"
    r"op .{1,200}schreef .{0,200}:?|il .{1,200}ha scritto:?|el .{1,200}escribió:?|"
    r"em .{1,200}escreveu:?|den .{1,200}skrev .{0,200}:?|.{1,200} kirjoitti:?|"
    r"w dniu .{1,200}napisał.{0,20}:?|dne .{1,200}napsal.{0,20}:?"
    r")\s*$",
    re.IGNORECASE,
)
_SEPARATOR: Final = re.compile(
    r"^\s*(-{2,}|_{5,})\s*("
    r"original message|message d'origine|message original|ursprüngliche nachricht|"
    r"original-nachricht|oorspronkelijk bericht|messaggio originale|mensaje original|"
    r"mensagem original|oprindelig meddelelse|ursprungligt meddelande|forwarded message|"
    r"message transféré|weitergeleitete nachricht"
    r")?\s*(-{2,})?\s*$",
    re.IGNORECASE,
)
_HEADER_BLOCK: Final = re.compile(
    r"^\s*\**(from|de|von|van|da|od|från|fra|lähettäjä|od|от|από)\s*:\**\s+\S", re.IGNORECASE
)
_HEADER_FOLLOW: Final = re.compile(
    r"^\s*\**(sent|envoyé|gesendet|verzonden|inviato|enviado|date|datum|to|à|an|aan|a|subject|objet|betreff|onderwerp|oggetto|asunto)\s*:",
    re.IGNORECASE,
)
_QUOTED: Final = re.compile(r"^\s*>")


def split_reply(text: str) -> tuple[str, str]:
    """(what the person wrote, the quoted part), both stripped; a reply quoted at the bottom."""
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if _starts_quote(lines, index, line):
            own = "\n".join(lines[:index]).strip()
            if own:
                return own, "\n".join(lines[index:]).strip()
    return text.strip(), ""


def _starts_quote(lines: list[str], index: int, line: str) -> bool:
    if _ATTRIBUTION.match(line) and len(line) < 300:
        return True
    if _SEPARATOR.match(line) and line.strip("-_ \t"):
        return True
    if _SEPARATOR.match(line) and index + 1 < len(lines) and _HEADER_BLOCK.match(lines[index + 1]):
        return True
    if _HEADER_BLOCK.match(line):
        following = lines[index + 1 : index + 4]
        return any(_HEADER_FOLLOW.match(f) for f in following)
    if _QUOTED.match(line):
        # A run of quoted lines (not a single "> " that a person typed) starts the quote.
        run = lines[index : index + 3]
        return sum(1 for r in run if _QUOTED.match(r) or not r.strip()) >= 2
    return False
