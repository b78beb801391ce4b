"""What verification holds each user and policy change to: a change the program makes.

A change appended behind the program's back, however well chained, must still be one the
program could have written: a user registered or disabled by an active admin, under a name no
other user has in another case, with roles the process has, never the last admin; a
restriction added or ended by a user registered as an admin (the two logs share no order), of
a kind the process has, on a subject as the program spells it, with a reason. Only what every
version of the program held to is checked: a database upgraded from an older one keeps the
changes it made. Each replayer walks its log in order and returns, for each change, what is
wrong with it (None: nothing).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from workflow import values
from workflow.access import ADMIN, NAME
from workflow.errors import InvalidInput


def sorted_or_not(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value


def _written_reason(reason: Any) -> bool:
    """A reason as every version wrote one: trimmed, not empty, not too long."""
    return (isinstance(reason, str) and reason == reason.strip() and bool(reason)
            and len(reason) <= values.MAX_REASON)


def _holds_admin(roles: Any) -> bool:
    return isinstance(roles, list) and ADMIN in roles


class UserChanges:
    """The user log replayed: ``users`` maps each name to (roles, active, actor, at)."""

    def __init__(self, roles: Collection[str] | None = None) -> None:
        self.roles = None if roles is None else frozenset(roles)
        self.users: dict[str, tuple[Any, ...]] = {}
        self.begun = False  # a user added or changed: the upgrade's `found` entries are over
        self.admins: set[str] = set()  # everyone ever registered as an admin

    def replay(self, users: dict[str, tuple[Any, ...]], action: str, name: str, roles: Any,
               active: Any, actor: str, at: Any, reason: Any = None, placed: bool = True
               ) -> str | None:
        """``placed``: the change keeps its place in the history's order; the programs that
        enable users or change roles keep it, so that rows are judged by the roles of theirs."""
        self.users = users
        if reason is not None and not _written_reason(reason):
            return f"gives a reason the program does not write ({reason!r})"
        if action in ("enable", "set_roles") and not placed:
            did = f"enables {name}" if action == "enable" else f"gives {name} other roles"
            return f"{did} without keeping its place in the history's order"
        if action == "found":
            if self.begun:
                return (f"enters {name} as found after users were added or disabled (only the "
                        "upgrade that began the user log enters users so)")
        elif action == "add":
            wrong = self._wrong_add(name, roles, active, actor)
            if wrong:
                return wrong
        elif action == "disable":
            return self._disable(name, roles, active, actor)
        elif action == "enable":
            return self._enable(name, roles, active, actor)
        elif action == "set_roles":
            return self._set_roles(name, roles, active, actor)
        else:
            return f"is not a change the program makes ({action!r})"
        if name in users:
            return f"registers {name} again"
        self.begun = self.begun or action == "add"
        users[name] = (sorted_or_not(roles), active, actor, at)
        if _holds_admin(roles):
            self.admins.add(name)
        return None

    def _active_admin(self, name: str) -> bool:
        user = self.users.get(name)
        return user is not None and user[1] is True and _holds_admin(user[0])

    def _last_admin(self, name: str) -> bool:
        """No one but ``name`` is an active admin."""
        return not any(self._active_admin(other) for other in self.users if other != name)

    def _wrong_add(self, name: str, roles: Any, active: Any, actor: str) -> str | None:
        if active is not True:
            return f"adds {name} disabled"
        if not isinstance(name, str) or not NAME.fullmatch(name):
            return f"registers {name!r}, a name no user may have"
        twin = next((n for n in self.users if n.lower() == name.lower() and n != name), None)
        if twin is not None:
            return f"registers {name}, differing only in case from {twin}"
        wrong = self._wrong_roles(roles)
        if wrong:
            return f"registers {name} with {wrong}"
        if not self.users:  # the first user: the admin `init` registers, by itself
            if actor != name or ADMIN not in roles:
                return (f"registers {name} by {actor} as the first user; the first user is "
                        "an admin registering itself")
        elif not self._active_admin(actor):
            return f"registers {name} by {actor}, who is no active admin then"
        return None

    def _wrong_roles(self, roles: Any) -> str | None:
        if (not isinstance(roles, list) or not roles
                or not all(isinstance(role, str) for role in roles)
                or roles != sorted(set(roles))):
            return f"roles the program does not write ({roles!r})"
        unknown = sorted(set(roles) - self.roles) if self.roles is not None else []
        if unknown:
            return f"a role the process does not have ({unknown[0]})"
        return None

    def _enable(self, name: str, roles: Any, active: Any, actor: str) -> str | None:
        user = self.users.get(name)
        if user is None:
            return f"enables {name}, whom no change registered"
        if user[1] is not False or active is not True or sorted_or_not(roles) != user[0]:
            return f"is not the enabling of {name} as disabled"
        if not self._active_admin(actor):
            return f"enables {name} by {actor}, who is no active admin then"
        return self._changed(name, (user[0], True, *user[2:]))

    def _set_roles(self, name: str, roles: Any, active: Any, actor: str) -> str | None:
        user = self.users.get(name)
        if user is None:
            return f"gives roles to {name}, whom no change registered"
        wrong = self._wrong_roles(roles)
        if wrong:
            return f"gives {name} {wrong}"
        if active is not user[1] or roles == user[0]:
            return f"is not a change of {name}'s roles as registered"
        if not self._active_admin(actor):
            return f"gives {name} other roles by {actor}, who is no active admin then"
        if self._active_admin(name) and not _holds_admin(roles) and self._last_admin(name):
            return f"takes {ADMIN} from {name}, the last active admin"
        return self._changed(name, (roles, *user[1:]))

    def _disable(self, name: str, roles: Any, active: Any, actor: str) -> str | None:
        user = self.users.get(name)
        if user is None:
            return f"disables {name}, whom no change registered"
        if user[1] is not True or active is not False or sorted_or_not(roles) != user[0]:
            return f"is not the disabling of {name} as registered"
        if not self._active_admin(actor):
            return f"disables {name} by {actor}, who is no active admin then"
        if _holds_admin(user[0]) and self._last_admin(name):
            return f"disables {name}, the last active admin"
        return self._changed(name, (user[0], False, *user[2:]))

    def _changed(self, name: str, user: tuple[Any, ...]) -> None:
        """A registered user changed as the change says: the upgrade's `found` entries are
        over."""
        self.begun = True
        self.users[name] = user
        if _holds_admin(user[0]):
            self.admins.add(name)


class PolicyChanges:
    """The policy log replayed: entries by id, as (subject, kind, since, until, reason)."""

    def __init__(self, admins: Collection[str] | None = None, kinds: Collection[str] | None = None,
                 subject_kind: str | None = None) -> None:
        self.admins = admins
        self.kinds = None if kinds is None else frozenset(kinds)
        self.subject_kind = subject_kind
        self.begun = False  # a restriction added or ended: the seeds of `init` are over

    def replay(self, replayed: dict[Any, tuple[Any, ...]], entry_id: Any, action: str,
               subject: str, kind: str, since: Any, until: Any, actor: str, at: Any,
               reason: str, placed: bool = False) -> str | None:
        """``placed``: the change keeps its place in the history's order, so it was made by a
        program that refuses to end a restriction in force on a day not after its start
        (older ones let an end on its first day through)."""
        if action not in ("seed", "add", "end"):
            return f"is not a change the program makes ({action!r})"
        if self.admins is not None and actor not in self.admins:
            return f"is made by {actor}, whom no change registered as an admin"
        if action == "seed" and self.begun:
            return "seeds the policy after it was changed (only `init` seeds it)"
        self.begun = self.begun or action != "seed"
        wrong = self._wrong_terms(subject, kind, reason)
        if wrong:
            return wrong
        if action != "end":
            if entry_id in replayed:
                return f"opens entry {entry_id} again"
            if until is not None:
                return f"opens entry {entry_id} already ended"
            replayed[entry_id] = (subject, kind, since, None, reason)
            return None
        entry = replayed.get(entry_id)
        if entry is None:
            return f"ends entry {entry_id}, which no change opened"
        if entry[:3] != (subject, kind, since) or until is None:
            return (f"ends entry {entry_id} ({entry[0]} {entry[1]} since {entry[2]}) but names "
                    f"{subject} {kind} since {since} until {until}")
        if placed and all(isinstance(v, str) for v in (since, until, at)) and (
                until <= since <= at[:10]):
            return (f"ends entry {entry_id} ({subject} {kind}, in force since {since}) on "
                    f"{until}, not after its start (the program refuses that)")
        replayed[entry_id] = (*entry[:3], until, entry[4])
        return None

    def _wrong_terms(self, subject: str, kind: str, reason: str) -> str | None:
        if self.kinds is not None and kind not in self.kinds:
            return f"names a kind of restriction the process does not have ({kind!r})"
        try:
            if self.subject_kind is not None and str(
                    values.parse(self.subject_kind, "subject", subject)) != subject:
                raise InvalidInput("not as the program spells it")
        except InvalidInput:
            return f"names a subject the program does not write ({subject!r})"
        if not _written_reason(reason):
            return f"gives a reason the program does not write ({reason!r})"
        return None
