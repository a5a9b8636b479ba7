"""Forms of address: how a letter greets an official.

The greeting never degrades to "Dear ,": when no family name is known, it falls back to the position
or to a neutral form.
"""

from __future__ import annotations

from contacts.models import Contact

_HONORIFICS = {"MR": "Mr", "MS": "Ms", "MRS": "Mrs", "DR": "Dr"}


def honorific(contact: Contact) -> str:
    """The courtesy title in English ("Mr", "Ms"), from the record or the gender, or ""."""
    if contact.honorific:
        return _HONORIFICS.get(
            contact.honorific.strip().upper().rstrip("."), contact.honorific.strip()
        )
    if contact.gender:
        return {"MALE": "Mr", "FEMALE": "Ms"}.get(contact.gender.upper(), "")
    return ""


def formal_name(contact: Contact) -> str:
    """ "Ms Abadía Jover": the title and family name, or the display name when no family name."""
    family = contact.family_name.strip()
    if not family:
        return contact.display_name.strip()
    title = honorific(contact)
    return f"{title} {family}" if title else f"{contact.given_name} {family}".strip()


def salutation(contact: Contact) -> str:
    """The opening line of a letter, e.g. "Dear Ms Abadía Jover," (never "Dear ,")."""
    if contact.kind == "mep" and contact.family_name.strip():
        return f"Dear {formal_name(contact)},"
    if contact.position and not contact.family_name.strip():
        return f"Dear {contact.position},"
    name = formal_name(contact)
    return f"Dear {name}," if name else "Dear Sir or Madam,"
