"""Access rules shared by the blueprints: sign-in required, roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort
from flask_login import current_user

from outreach.accounts.models import Role
from outreach.accounts.roles import Permission, can
from outreach.extensions import login_manager

F = TypeVar("F", bound=Callable[..., Any])


def require_login_for(bp: Blueprint) -> None:
    """Every view of `bp` needs a signed-in, active user."""

    @bp.before_request
    def _require_login() -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return None


def roles_required(*roles: Role) -> Callable[[F], F]:
    allowed = {r.value for r in roles}

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def permission_required(permission: Permission) -> Callable[[F], F]:
    """The view needs `permission` (outreach.accounts.roles). Declaring it also tells the
    default-deny rule (outreach.web.auth) what a state-changing request needs here, e.g.
    `permission_required(Permission.TRIAGE)` lets a viewer sort replies."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not can(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_permission = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
