"""Registered users and their roles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from workflow.access import ADMIN, NAME
from workflow.clock import as_utc, iso, to_storage
from workflow.errors import InvalidInput, NotFound, Refused
from workflow.ledger import chain_link, user_change_row
from workflow.models import User, UserChange, after_row, locked_head


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput(
            f"user name {name!r}: use 1-64 ASCII letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return str.__str__(name)


def add(session: Session, name: str, roles: list[str], by: str, now: datetime,
        reason: str | None = None) -> User:
    if session.get(User, name) is not None:
        raise Refused("user add", "unique-name", f"user {name!r} already exists")
    from sqlalchemy import func

    twin = session.exec(select(User.name).where(func.lower(User.name) == name.lower())).first()
    if twin is not None:  # two people told apart by case alone would pass for one another
        raise Refused("user add", "unique-name",
                      f"user {name!r} differs only in case from the existing user {twin!r}")
    user = User(name=name, roles=sorted(set(roles)), active=True, created_by=by,
                created_at=to_storage(now))
    session.add(user)
    _record(session, "add", user, by, now, reason)
    return user


def _record(session: Session, action: str, user: User, actor: str, now: datetime,
            reason: str | None = None) -> None:
    """Append the change, linked to the one before; the log head (locked, as every writer locks
    it) keeps the count and the last link."""
    head = locked_head(session)
    place = after_row(head)
    roles = sorted(user.roles)
    link = chain_link(head.user_chain, user_change_row(action, user.name, roles, user.active,
                                                       actor, iso(now), place, reason))
    session.add(UserChange(action=action, name=user.name, roles=roles, active=user.active,
                           actor=actor, at=to_storage(now), chain=link, after_row=place,
                           reason=reason))
    head.user_changes += 1
    head.user_chain = link
    session.add(head)


def disable(session: Session, name: str, by: str, now: datetime,
            reason: str | None = None) -> User:
    user = _registered(session, name)
    if not user.active:
        return user
    if ADMIN in user.roles:
        _not_last_admin(session, "user disable", name, f"{name} is the last active admin")
    user.active = False
    session.add(user)
    _record(session, "disable", user, by, now, reason)
    return user


def enable(session: Session, name: str, by: str, now: datetime,
           reason: str | None = None) -> tuple[User, bool]:
    """A disabled user may act and read again, with the roles they held; returns the user and
    whether they were disabled (already enabled: nothing changes)."""
    user = _registered(session, name)
    if user.active:
        return user, False
    user.active = True
    session.add(user)
    _record(session, "enable", user, by, now, reason)
    return user, True


def set_roles(session: Session, name: str, roles: list[str], by: str, now: datetime,
              reason: str | None = None) -> tuple[User, list[str]]:
    """``name`` holds exactly ``roles`` from now on; returns the user and the roles they held
    before (the same roles: nothing changes). Rows written before keep the roles they were
    written with, which verification holds to the user log at their place."""
    user = _registered(session, name)
    before, wanted = list(user.roles), sorted(set(roles))
    if wanted == before:
        return user, before
    if user.active and ADMIN in before and ADMIN not in wanted:
        _not_last_admin(session, "user set-roles", name,
                        f"{name} is the last active admin and would hold {ADMIN} no more")
    user.roles = wanted
    session.add(user)
    _record(session, "set_roles", user, by, now, reason)
    return user, before


def _registered(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None:
        raise NotFound(f"unknown user {name!r}")
    return user


def _not_last_admin(session: Session, event: str, name: str, message: str) -> None:
    admins = session.exec(select(User).where(User.active)).all()
    if not any(ADMIN in u.roles for u in admins if u.name != name):
        raise Refused(event, "last-admin", message)


def as_dict(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "roles": list(user.roles),
        "active": user.active,
        "created_by": user.created_by,
        "created_at": iso(user.created_at),
    }


def as_recorded_at(session: Session, moment: datetime) -> list[dict[str, Any]]:
    """The users as the user log had them at ``moment``: who was registered, with which
    roles, enabled or not, the changes replayed up to the first one made later. Going by the
    log's order (not by each change's time alone, which is its writer's clock), as the policy
    and the requests are rebuilt, what is rebuilt is a set of users that really stood. Sorted
    by name, as :func:`as_dict` gives them."""
    users: dict[str, dict[str, Any]] = {}
    query = select(UserChange).order_by(UserChange.seq)  # type: ignore[arg-type]
    for change in session.exec(query):
        if as_utc(change.at) > moment:
            break
        if change.action in ("add", "found"):
            users[change.name] = {"name": change.name, "created_by": change.actor,
                                  "created_at": iso(change.at)}
        if change.name in users:
            users[change.name].update(roles=list(change.roles), active=change.active)
    return [{key: users[name][key] for key in ("name", "roles", "active", "created_by",
                                                 "created_at")} for name in sorted(users)]


def changes(session: Session, name: str | None = None) -> list[dict[str, Any]]:
    """Every change to the users (or to ``name``), oldest first. ``roles_before`` is what the
    log said the user held before the change: the roles of that user's previous change, None
    at their first (``add``, or ``found`` where the log began), before which it says nothing.
    Read from the rows themselves, so it holds for rows of every revision."""
    held: dict[str, list[str]] = {}
    shown = []
    for c in session.exec(select(UserChange).order_by(UserChange.seq)):  # type: ignore[arg-type]
        before, held[c.name] = held.get(c.name), list(c.roles)
        if name is None or c.name == name:
            shown.append({"seq": c.seq, "action": c.action, "name": c.name,
                          "roles": list(c.roles), "active": c.active, "actor": c.actor,
                          "at": iso(c.at), "reason": c.reason, "after_row": c.after_row,
                          "roles_before": before})
    return shown
