"""The administering part of :class:`workflow.Workflow`: set-up, users, policy, database roles.

These run through SQLModel sessions; the ORM is imported only when one of them is called.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from workflow import access, values
from workflow.clock import as_utc
from workflow.errors import InvalidInput, NotFound, Refused, UnknownUser

if TYPE_CHECKING:
    from workflow.clock import Clock
    from workflow.database import Database
    from workflow.models import User
    from workflow.process import Process

T = TypeVar("T")


class Administering:
    db: Database
    process: Process
    clock: Clock
    login: str | None
    _log_refusal: Callable[..., None]  # from the writing half: appends to the refusal log
    _database_login: Callable[[], str | None]  # from the engine: the login actors must be

    def _recorded(self, actor: str, action: str, attempt: Callable[[], T]) -> T:
        """Run an administrative change; a refusal is appended to the refusal log, as for
        requests, before it reaches the caller."""
        try:
            return attempt()
        except (Refused, UnknownUser) as error:
            self._log_refusal(actor, None, action, {}, error)
            raise

    def _user(self, s: Any, actor: str, *, owner: bool = False) -> User:
        """The acting user: registered, active and, where the database says so, its login
        (unless ``owner``: the login owns the tables, see :meth:`grant_database_roles`)."""
        from workflow.models import User

        actor = values.given_text("actor", actor)
        if not owner:
            access.authenticate(self.login, actor)
        stored = None if "\x00" in actor else s.get(User, actor)  # no stored name holds one
        return access.require_active(actor, stored)

    def _admin(self, s: Any, actor: str, action: str, *, owner: bool = False) -> User:
        """The acting admin of an administrative change.

        Once the role is known (a read-only login could not lock anything), the log head is
        locked, as every writer takes it, and the actor read again: the change then sees every
        change committed before it, the actor's own disabling included, and checks such as
        "the last admin" or "already restricted" cannot race.
        """
        access.require_admin(self._user(s, actor, owner=owner), action)
        _lock_log(s)
        s.expire_all()
        user = self._user(s, actor, owner=owner)
        access.require_admin(user, action)
        return user

    def require_admin(self, actor: str, action: str) -> None:
        """Refuse ``action`` (an administrative command of several changes, such as the demo)
        unless ``actor`` is a registered, active admin; the refusal is recorded as every
        administrative change's is."""

        def attempt() -> None:
            with self.db.read() as s:
                access.require_admin(self._user(s, actor), action)

        self._recorded(actor, action, attempt)

    def init(self, admin: str, *, direct_schema: bool = False) -> bool:
        """Create the schema, the first admin and the seeded policy; False if already done."""
        from sqlmodel import select

        from workflow import people, policy
        from workflow.models import User

        admin = people.check_name(admin)
        self.db.create_schema(direct=direct_schema)
        with self.db.read() as s:  # done already: nothing to lock (a reading login could not)
            if s.exec(select(User)).first() is not None:
                return False
        with self.db.write() as s:
            _lock_log(s)  # two inits at once: the second finds the first's admin
            if s.exec(select(User)).first() is not None:
                return False
            now = as_utc(self.clock())  # stamped in its place, as every write is
            people.add(s, admin, ["admin"], admin, now)
            for entry in self.process.seed_policy:
                policy.add(s, entry.subject, entry.kind, entry.since, entry.reason, admin, now,
                           action="seed")
        return True

    def add_user(self, name: str, roles: list[str], *, actor: str,
                 reason: str | None = None) -> dict[str, Any]:
        """Register ``name`` with ``roles``; the ``reason``, if given, is kept in the user
        log."""
        from workflow import people

        name = people.check_name(name)
        checked, cleaned = self._checked_roles(roles), values.reason(reason)

        def attempt() -> dict[str, Any]:
            with self.db.write() as s:
                self._admin(s, actor, "user add")
                return people.as_dict(people.add(s, name, checked, actor, as_utc(self.clock()),
                                                 cleaned))

        return self._recorded(actor, "user add", attempt)

    def _checked_roles(self, roles: list[str]) -> list[str]:
        if not roles:
            raise InvalidInput("a user needs at least one --role")
        return [self.process.check_role(role) for role in roles]

    def users(self, known_at: datetime | date | str | None = None) -> list[dict[str, Any]]:
        """The registered users; with ``known_at``, as the user log had them at that moment
        (a day: as it ended): its changes up to the first one made later."""
        from sqlmodel import select

        from workflow import people
        from workflow.models import User

        moment = (None if known_at is None
                  else values.moment("known_at", known_at, end_of_day=True))
        with self.db.read() as s:
            if moment is not None:
                return people.as_recorded_at(s, moment)
            return [people.as_dict(u) for u in s.exec(select(User).order_by(User.name)).all()]

    def user_history(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every user (or ``name``) added, disabled, enabled or given other roles, by whom and
        when, oldest first, each change with the roles held before it (``roles_before``)."""
        from workflow import people

        with self.db.read() as s:
            rows = people.changes(s, name)
            if name is not None and not rows:  # the user it differs from only in case, if any
                twin = next((n for n in sorted({c["name"] for c in people.changes(s)})
                             if n.lower() == name.lower()), None)
                hint = f"; did you mean {twin}?" if twin else ""
                raise NotFound(f"unknown user {name!r}: the user log has no change to them{hint}")
        return rows

    def disable_user(self, name: str, *, actor: str,
                     reason: str | None = None) -> dict[str, Any]:
        """Disable ``name`` (already disabled: nothing changes); returns the user. The
        ``reason``, if given, is kept in the user log."""
        from workflow import people

        name = people.check_name(name)
        cleaned = values.reason(reason)

        def attempt() -> dict[str, Any]:
            from workflow import grants

            with self.db.write() as s:
                self._admin(s, actor, "user disable")
                disabled = people.disable(s, name, actor, as_utc(self.clock()), cleaned)
                s.flush()  # written while the login may still write it (an admin's own)
                grants.revoke(s, name, disabled.roles)  # its login too, if any
                return people.as_dict(disabled)

        return self._recorded(actor, "user disable", attempt)

    def enable_user(self, name: str, *, actor: str,
                    reason: str | None = None) -> dict[str, Any]:
        """Enable ``name`` again, with the roles they held (already enabled: nothing changes);
        returns the user. Where the database authenticates by login, their login gets its
        roles' database roles back at once."""
        from workflow import people

        name = people.check_name(name)
        cleaned = values.reason(reason)

        def attempt() -> dict[str, Any]:
            from workflow import grants

            with self.db.write() as s:
                self._admin(s, actor, "user enable")
                enabled, changed = people.enable(s, name, actor, as_utc(self.clock()), cleaned)
                if changed:
                    s.flush()  # written while the login may still write it
                    grants.admit(s, name, enabled.roles, "user enable")
                return people.as_dict(enabled)

        return self._recorded(actor, "user enable", attempt)

    def set_user_roles(self, name: str, roles: list[str], *, actor: str,
                       reason: str | None = None) -> dict[str, Any]:
        """Give ``name`` exactly ``roles`` from now on (the same roles: nothing changes);
        returns the user, with ``"roles_before"``. The last active admin keeps ``admin``.
        Where the database authenticates by login, their login's database roles follow at
        once."""
        from workflow import people

        name = people.check_name(name)
        checked, cleaned = self._checked_roles(roles), values.reason(reason)

        def attempt() -> dict[str, Any]:
            from workflow import grants

            with self.db.write() as s:
                self._admin(s, actor, "user set-roles")
                user, before = people.set_roles(s, name, checked, actor,
                                                as_utc(self.clock()), cleaned)
                # the changes written, then the login given its roles (all of them: one
                # registered since the last `db grant` has none yet) before any taken away, so
                # that an admin giving up admin keeps the rights to finish
                s.flush()
                if user.active and before != user.roles:
                    grants.admit(s, name, user.roles, "user set-roles")
                grants.revoke(s, name, set(before) - set(user.roles), "user set-roles")
                return {**people.as_dict(user), "roles_before": before}

        return self._recorded(actor, "user set-roles", attempt)

    def grant_database_roles(self, *, actor: str) -> dict[str, Any]:
        """Create PostgreSQL roles for the process's roles and authenticate actors by login.

        Run again (after adding users) by an admin's own login, or over the login that owns the
        tables naming an admin: that login may change anything in them anyway, and only it may
        make roles the database does not have yet."""
        from workflow import grants

        def attempt() -> dict[str, Any]:
            with self.db.write() as s:
                owner = self.login is not None and grants.may_own(s)
                self._admin(s, actor, "db grant", owner=owner)
                granted = grants.grant(s, self.process.roles, self.process.read_only,
                                       lambda role: role in self.process.create_roles)
            self.login = self._database_login()  # from now on the actor is the login
            return granted

        return self._recorded(actor, "db grant", attempt)

    # -- policy -------------------------------------------------------------------------------

    def policy(self, as_of: date | str | None = None,
               known_at: datetime | date | str | None = None) -> list[dict[str, Any]]:
        """The restrictions, or those in force on ``as_of`` (by their dates as they stand
        now); with ``known_at``, as they were recorded at that moment (a day: as it ended),
        later additions and ends left out."""
        from workflow import policy

        day = None if as_of is None else values.iso_date("as_of", as_of)
        moment = (None if known_at is None
                  else values.moment("known_at", known_at, end_of_day=True))
        with self.db.read() as s:
            return policy.listing(s, self.process.policy_subject, day, moment)

    def policy_history(self) -> list[dict[str, Any]]:
        from workflow import policy

        with self.db.read() as s:
            return policy.changes(s, self.process.policy_subject)

    def _policy_reason(self, reason: str | None, action: str) -> str:
        cleaned = values.reason(reason)
        if not cleaned:
            raise Refused(action, "reason-required", "a reason is required")
        return cleaned

    def restrict(self, subject: str, kind: str, since: date | str, *, reason: str | None,
                 actor: str) -> dict[str, Any]:
        from workflow import policy

        subject = self.process.check_policy_subject(subject)
        kind = self.process.check_policy_kind(kind)
        since = values.iso_date("since", since)

        def attempt() -> dict[str, Any]:
            with self.db.write() as s:
                self._admin(s, actor, "policy add")  # who, before what they gave
                cleaned = self._policy_reason(reason, "policy add")
                entry = policy.add(s, subject, kind, since, cleaned, actor, as_utc(self.clock()))
                return policy.entry_dict(entry, self.process.policy_subject)

        return self._recorded(actor, "policy add", attempt)

    def end_restriction(self, subject: str, on: date | str, *, reason: str | None,
                        actor: str, kind: str | None = None) -> list[dict[str, Any]]:
        """End ``subject``'s restrictions in force on ``on`` or later (only those of ``kind``,
        if given), from ``on`` on; one planned to start later is called off."""
        from workflow import policy

        subject = self.process.check_policy_subject(subject)
        on = values.iso_date("on", on)
        if kind is not None:
            kind = self.process.check_policy_kind(values.given_text("kind", kind))

        def attempt() -> list[dict[str, Any]]:
            with self.db.write() as s:
                self._admin(s, actor, "policy end")  # who, before what they gave
                cleaned = self._policy_reason(reason, "policy end")
                ended = policy.end(s, subject, on, cleaned, actor, as_utc(self.clock()), kind)
                return [policy.entry_dict(e, self.process.policy_subject) for e in ended]

        return self._recorded(actor, "policy end", attempt)


def _lock_log(s: Any) -> None:
    """Lock the log head row before anything else is read."""
    from workflow.models import locked_head

    locked_head(s)
