"""Access rules shared by the blueprints: sign-in required, roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort
from flask_login import current_user

from outreach.accounts.models import Role
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
