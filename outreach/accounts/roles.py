"""What each role may do, as permissions: one table, read by the console, the API and templates.

| permission | admin | campaigner | viewer |
|---|---|---|---|
| `read` (every page of the console) | yes | yes | yes |
| `triage` (sort replies: mark read, assign, label) | yes | yes | yes |
| `edit` (contacts, audiences, campaigns, imports, test sends, launch, pause, cancel, resend) | yes | yes | no |
| `approve` (the second person of a four-eyes launch) | yes | yes | no |
| `admin` (users, settings, sending identities, webhooks, the audit log, supporters' data) | yes | no | no |

A view declares the permission it needs (`outreach.web.access.permission_required`); a
state-changing request to a console view that declares none needs `edit` (the default-deny rule of
`outreach.web.auth`), so a new view never lets a viewer change data by omission.
"""

from __future__ import annotations

import enum
from typing import Protocol

from outreach.accounts.models import Role


class Permission(enum.StrEnum):
    READ = "read"
    TRIAGE = "triage"
    EDIT = "edit"
    APPROVE = "approve"
    ADMIN = "admin"


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.ADMIN.value: frozenset(Permission),
    Role.CAMPAIGNER.value: frozenset(
        {Permission.READ, Permission.TRIAGE, Permission.EDIT, Permission.APPROVE}
    ),
    Role.VIEWER.value: frozenset({Permission.READ, Permission.TRIAGE}),
}

ROLE_LABELS = {
    Role.ADMIN.value: "admin: users, settings and everything else",
    Role.CAMPAIGNER.value: "campaigner: contacts, campaigns, launch",
    Role.VIEWER.value: "viewer: reads everything, triages replies",
}


class HasRole(Protocol):
    @property
    def role(self) -> str: ...


def _role_of(who: HasRole | str) -> str:
    return who if isinstance(who, str) else who.role


def can(who: HasRole | str, permission: Permission) -> bool:
    """Whether a user (or a role name) has `permission`; an unknown role has none."""
    return permission in ROLE_PERMISSIONS.get(_role_of(who), frozenset())


def may_edit(who: HasRole | str) -> bool:
    return can(who, Permission.EDIT)


def may_triage(who: HasRole | str) -> bool:
    """Viewers too: sorting replies changes no letter, contact or campaign."""
    return can(who, Permission.TRIAGE)


def may_approve(who: HasRole | str) -> bool:
    return can(who, Permission.APPROVE)


def is_admin(who: HasRole | str) -> bool:
    return can(who, Permission.ADMIN)
