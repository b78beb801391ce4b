"""Who may act at all: a registered, active user, and the database login where it says so."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from workflow import values
from workflow.errors import Refused, UnknownUser

U = TypeVar("U")
ADMIN = "admin"  # the role that manages users and the policy
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # a user name: a login's too


def recorded_name(name: str, limit: int = 64) -> str:
    """A name as the refusal log keeps it: as it is when a user could be so named, else quoted
    in printable ASCII (so ``'sato '`` or ``'\\uff53ato'``), cut short when long."""
    if NAME.fullmatch(name):
        return name
    if len(name) <= limit:
        return ascii(name)
    return f"{name[:limit]!a}... ({len(name)} characters)"


def authenticate(login: str | None, actor: str) -> None:
    """On a database that authenticates by login, the actor must be that login."""
    if login is not None and str.__str__(actor) != login:
        raise Refused("access", "database-login",
                      f"this database authenticates users by their login: you are {login}, "
                      f"not {actor}")


def require_active(actor: str, user: U | None) -> U:
    """``user`` as looked up for ``actor``: it must exist and be active."""
    if user is None:
        raise UnknownUser(f"unknown user {values.quoted(actor)}; an admin registers users with "
                          f"`workflow user add` [rule: {UnknownUser.rule}]")
    if not getattr(user, "active", False):
        raise Refused("access", "active-user", f"user {actor!r} is disabled")
    return user


ADMIN_COMMANDS = {"user add": "add users", "user disable": "disable users",
                  "user enable": "enable users", "user set-roles": "change users' roles",
                  "db grant": "set up database roles", "policy add": "change the policy",
                  "policy end": "change the policy",
                  "demo": "play the demo into a database already set up"}


def require_admin(user: Any, command: str) -> None:
    """Only an admin may run ``command`` (one of :data:`ADMIN_COMMANDS`, the event its refusal
    names, as the refusal log does)."""
    if ADMIN not in user.roles:
        doing = ADMIN_COMMANDS.get(command, f"run {command}")
        raise Refused(command, "role", f"only an admin may {doing}; {user.name} holds "
                      f"{', '.join(user.roles) or 'no role'}")
