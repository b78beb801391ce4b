"""Who may act at all: a registered, active user, and the database login where it says so."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from workflow.errors import Refused, UnknownUser

U = TypeVar("U")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # a user name: a login's too


def authenticate(login: str | None, actor: str) -> None:
    """On a database that authenticates by login, the actor must be that login."""
    if login is not None and actor != login:
        raise Refused("access", "database-login",
                      f"this database authenticates users by their login: you are {login}, "
                      f"not {actor}")


def require_active(actor: str, user: U | None) -> U:
    """``user`` as looked up for ``actor``: it must exist and be active."""
    if user is None:
        raise UnknownUser(f"unknown user {actor!r}; an admin registers users with "
                          "`workflow user add`")
    if not getattr(user, "active", False):
        raise Refused("access", "active-user", f"user {actor!r} is disabled")
    return user


def require_admin(user: Any, action: str) -> None:
    if "admin" not in user.roles:
        raise Refused(action, "role", f"only an admin may {action}; {user.name} holds "
                      f"{', '.join(user.roles) or 'no role'}")
