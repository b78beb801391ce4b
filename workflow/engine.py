"""The one entry point: :class:`Workflow` binds a process to a database, a clock and actors."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, select

from workflow import grants, people, policy, schema, values, views
from workflow.auditing import Auditing
from workflow.clock import Clock, as_utc, system_clock
from workflow.database import Database
from workflow.errors import InvalidInput, NotFound, Refused
from workflow.machine import machinery_for
from workflow.models import History, Record, User
from workflow.process import Process
from workflow.writes import Writing


def _default_process() -> Process:
    from states import PROCESS

    return PROCESS


class Workflow(Writing, Auditing):
    """Create, edit, fire and read records of one process, on one database.

    ``target`` is a SQLite path or a SQLAlchemy URL; ``clock`` returns the current moment (UTC),
    so that "today" is the clock's, never the database server's.
    """

    def __init__(self, target: str, *, process: Process | None = None, clock: Clock | None = None,
                 create: bool = False) -> None:
        self.process = process or _default_process()
        self.clock = clock or system_clock
        self.db = Database(target, create=create)
        self.login: str | None = None
        if not create:
            self.db.check_schema()
            if not self.db.is_sqlite:
                with self.db.read() as s:
                    self.login = grants.login_if_enforced(s)
        self.machinery = machinery_for(self.process)

    def _user(self, s: Session, actor: str) -> User:
        """The acting user: registered, active and, where the database says so, its login."""
        if self.login is not None and actor != self.login:
            raise Refused("access", "database-login",
                          f"this database authenticates users by their login: you are "
                          f"{self.login}, not {actor}")
        return people.require_active(s, actor)

    def _admin(self, s: Session, actor: str, action: str) -> User:
        self._user(s, actor)
        return people.require_admin(s, actor, action)

    def grant_database_roles(self, *, actor: str) -> dict[str, Any]:
        """Create PostgreSQL roles for the process's roles and authenticate actors by login."""
        with self.db.write() as s:
            self._admin(s, actor, "set up database roles")
            return grants.grant(s, self.process.roles)

    @staticmethod
    def schema_revision(target: str) -> dict[str, Any]:
        """The database's schema revision and this program's, without checking them."""
        db = Database(target)
        try:
            return {"current": db.revision(), "head": schema.HEAD}
        finally:
            db.dispose()

    @staticmethod
    def upgrade(target: str) -> dict[str, Any]:
        """Migrate an existing database to this program's schema revision."""
        db = Database(target)
        try:
            before = db.revision()
            db.upgrade()
            return {"from": before, "to": schema.HEAD}
        finally:
            db.dispose()

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Workflow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- set-up and users ---------------------------------------------------------------------

    def init(self, admin: str, *, direct_schema: bool = False) -> bool:
        """Create the schema, the first admin and the seeded policy; False if already done."""
        people.check_name(admin)
        self.db.create_schema(direct=direct_schema)
        now = as_utc(self.clock())
        with self.db.write() as s:
            if s.exec(select(User)).first() is not None:
                return False
            people.add(s, admin, ["admin"], admin, now)
            for entry in self.process.seed_policy:
                policy.add(s, entry.subject, entry.kind, entry.since, entry.reason, admin, now,
                           action="seed")
        return True

    def require_user(self, actor: str) -> dict[str, Any]:
        with self.db.read() as s:
            return people.as_dict(self._user(s, actor))

    def add_user(self, name: str, roles: list[str], *, actor: str) -> dict[str, Any]:
        people.check_name(name)
        if not roles:
            raise InvalidInput("a user needs at least one --role")
        checked = [self.process.check_role(role) for role in roles]
        with self.db.write() as s:
            self._admin(s, actor, "add users")
            return people.as_dict(people.add(s, name, checked, actor, as_utc(self.clock())))

    def users(self) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return [people.as_dict(u) for u in s.exec(select(User).order_by(User.name)).all()]

    def disable_user(self, name: str, *, actor: str) -> None:
        people.check_name(name)
        with self.db.write() as s:
            self._admin(s, actor, "disable users")
            people.disable(s, name)

    # -- policy ------------------------------------------------------------------------------------

    def policy(self, as_of: date | None = None) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return policy.listing(s, self.process.policy_subject, as_of)

    def policy_history(self) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return policy.changes(s, self.process.policy_subject)

    def _policy_reason(self, reason: str | None, action: str) -> str:
        cleaned = values.reason(reason)
        if not cleaned:
            raise Refused(action, "reason-required", "a reason is required")
        return cleaned

    def restrict(self, subject: str, kind: str, since: date, *, reason: str | None,
                 actor: str) -> dict[str, Any]:
        self.process.check_policy_kind(kind)
        cleaned = self._policy_reason(reason, "policy add")
        with self.db.write() as s:
            self._admin(s, actor, "change the policy")
            entry = policy.add(s, subject, kind, since, cleaned, actor, as_utc(self.clock()))
            return policy.entry_dict(entry, self.process.policy_subject)

    def end_restriction(self, subject: str, on: date, *, reason: str | None,
                        actor: str) -> list[dict[str, Any]]:
        cleaned = self._policy_reason(reason, "policy end")
        with self.db.write() as s:
            self._admin(s, actor, "change the policy")
            ended = policy.end(s, subject, on, cleaned, actor, as_utc(self.clock()))
            return [policy.entry_dict(e, self.process.policy_subject) for e in ended]

    # -- records -----------------------------------------------------------------------------------

    def _ref(self, s: Session, ref: str) -> str:
        return self._load(s, ref).ref

    def _load(self, s: Session, ref: str) -> Record:
        record = s.exec(select(Record).where(Record.ref == ref.strip().upper())).first()
        if record is None:
            raise NotFound(f"unknown reference {ref!r}")
        return record

    def get(self, ref: str, *, actor: str | None = None) -> dict[str, Any]:
        """The record as a dict; with ``actor``, also every event and whether they may fire it."""
        with self.db.read() as s:
            user = self._user(s, actor) if actor is not None else None
            record = self._load(s, ref)
            out = views.record_dict(self.process, record)
            if user is not None:
                ctx = self._context(record, user, as_utc(self.clock()).date(),
                                    policy.restrictions(s))
                out["events"] = []
                for event in self.process.events:
                    refusal = self._refusal(event, ctx, with_args=False)
                    out["events"].append({
                        "event": event.name,
                        "allowed": refusal is None,
                        "reason": None if refusal is None
                        else f"{refusal.reason} [rule: {refusal.rule}]",
                    })
            return out

    def list(self, *, state: str | None = None) -> list[dict[str, Any]]:
        query = select(Record).order_by(Record.id)  # type: ignore[arg-type]
        if state is not None:
            query = query.where(Record.state == self.process.check_state(state))
        with self.db.read() as s:
            return [views.record_dict(self.process, r) for r in s.exec(query).all()]

    def due(self, on: date | None = None) -> list[dict[str, Any]]:
        """Records waiting in the process's due state whose due date has come by ``on``."""
        if self.process.due_state is None:
            return []
        day = on or as_utc(self.clock()).date()
        query = (
            select(Record)
            .where(Record.state == self.process.due_state, Record.due_on <= day)  # type: ignore[operator]
            .order_by(Record.due_on, Record.id)  # type: ignore[arg-type]
        )
        with self.db.read() as s:
            return [views.record_dict(self.process, r) for r in s.exec(query).all()]

    def history(self, ref: str) -> list[dict[str, Any]]:
        with self.db.read() as s:
            record = self._load(s, ref)
            rows = s.exec(
                select(History).where(History.record_id == record.id).order_by(History.seq)  # type: ignore[arg-type]
            ).all()
            return [views.history_dict(r) for r in rows]

    def path(self, ref: str) -> list[dict[str, Any]]:
        """The transitions a record has taken, oldest first (for marking it on a diagram)."""
        return [
            {"event": h["event"], "from": h["from"], "to": h["to"], "actor": h["actor"],
             "at": h["at"]}
            for h in self.history(ref)
        ]


