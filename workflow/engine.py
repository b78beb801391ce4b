"""The one entry point: :class:`Workflow` binds a process to a database, a clock and actors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from workflow import grants, ledger, people, policy, schema, values, views
from workflow.auditing import Auditing
from workflow.clock import Clock, as_utc, system_clock, to_storage
from workflow.database import Database
from workflow.errors import Busy, Conflict, InvalidInput, NotFound, Refused, WorkflowError
from workflow.machine import machinery_for
from workflow.models import History, Record, RefCounter, Refusal, User
from workflow.process import Context, Event, PolicyView, Process

RETRIES = 3
T = TypeVar("T")


def retrying(attempt: Callable[[], T]) -> T:
    """Run a write again when the database stayed busy past its timeout; bounded."""
    for _ in range(RETRIES - 1):
        try:
            return attempt()
        except Busy:
            continue
    return attempt()


def _default_process() -> Process:
    from states import PROCESS

    return PROCESS


class Workflow(Auditing):
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

    def _parse_fields(self, fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        for name, value in fields.items():
            spec = self.process.field(name)
            if not spec.editable:
                raise InvalidInput(f"{name}: set only by events, not by hand")
            if value is not None:
                parsed[name] = values.to_json(values.parse(spec.kind, name, value))
        if creating:
            missing = [s.name for s in self.process.fields if s.required and s.name not in parsed]
            if missing:
                raise InvalidInput(f"missing required fields: {', '.join(missing)}")
        return parsed

    def _next_ref(self, s: Session, year: int) -> str:
        prefix = self.process.ref_prefix
        bump = (
            update(RefCounter)
            .where(RefCounter.prefix == prefix, RefCounter.year == year)  # type: ignore[arg-type]
            .values(last=RefCounter.last + 1)
            .returning(RefCounter.last)
        )
        for _ in range(3):
            number = s.execute(bump).scalar()
            if number is not None:
                return f"{prefix}-{year}-{number:04d}"
            try:
                with s.begin_nested():
                    s.add(RefCounter(prefix=prefix, year=year, last=1))
                return f"{prefix}-{year}-0001"
            except IntegrityError:
                continue
        raise Conflict(f"{prefix}-{year}")

    def create(self, *, actor: str, **fields: Any) -> str:
        """Draft a new record; returns its reference."""
        parsed = self._parse_fields(fields, creating=True)
        try:
            return retrying(lambda: self._create(actor, parsed))
        except (Refused, Conflict) as error:
            self._refusal_logged(actor, None, "create", {}, error)
            raise

    def _create(self, actor: str, parsed: dict[str, Any]) -> str:
        now = as_utc(self.clock())
        with self.db.write() as s:
            user = self._user(s, actor)
            if not set(self.process.create_roles) & set(user.roles):
                raise Refused("create", "role", f"only a {' or '.join(self.process.create_roles)}"
                              f" may create records; {actor} holds {', '.join(user.roles)}")
            ref = self._next_ref(s, now.year)
            record = Record(ref=ref, process=self.process.name, state=self.process.initial,
                            data=parsed, participants={}, created_by=actor,
                            created_at=to_storage(now))
            s.add(record)
            s.flush()
            self._log(s, record, "create", None, self.process.initial, user, now, None,
                      {k: [None, v] for k, v in parsed.items()}, {})
        return ref

    def _ref(self, s: Session, ref: str) -> str:
        return self._load(s, ref).ref

    def _load(self, s: Session, ref: str) -> Record:
        record = s.exec(select(Record).where(Record.ref == ref.strip().upper())).first()
        if record is None:
            raise NotFound(f"unknown reference {ref!r}")
        return record

    def _log(self, s: Session, record: Record, event: str, source: str | None, dest: str,
             user: User, now: datetime, reason: str | None, changes: dict[str, Any],
             consulted: dict[str, Any]) -> None:
        assert record.id is not None
        ledger.append(s, History(
            record_id=record.id, ref=record.ref, event=event, from_state=source, to_state=dest,
            actor=user.name, roles=list(user.roles), at=to_storage(now), reason=reason,
            changes=changes, consulted=consulted, process_version=self.process.version))

    def _write(self, s: Session, record: Record, state: str, data: dict[str, Any],
               participants: dict[str, list[str]]) -> None:
        """The version-checked update: if someone else wrote first, nothing is written."""
        due = data.get(self.process.due_field) if self.process.due_field else None
        result = s.execute(
            update(Record)
            .where(Record.id == record.id, Record.version == record.version)  # type: ignore[arg-type]
            .values(state=state, version=record.version + 1, data=data,
                    participants=participants,
                    due_on=date.fromisoformat(due) if isinstance(due, str) else None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(record.ref)

    def edit(self, ref: str, *, actor: str, expected_version: int | None = None,
             **fields: Any) -> dict[str, Any]:
        """Change fields of a record while its process allows edits; returns the changes made."""
        parsed = self._parse_fields(fields, creating=False)
        if not parsed:
            raise InvalidInput("nothing to change: give at least one field")
        seen: dict[str, Any] = {}
        try:
            return retrying(lambda: self._edit(ref, actor, expected_version, parsed, seen))
        except (Refused, Conflict) as error:
            self._refusal_logged(actor, ref, "edit", seen, error)
            raise

    def _edit(self, ref: str, actor: str, expected_version: int | None, parsed: dict[str, Any],
              seen: dict[str, Any]) -> dict[str, Any]:
        now = as_utc(self.clock())
        with self.db.write() as s:
            user = self._user(s, actor)
            record = self._load(s, ref)
            seen.update(ref=record.ref, state=record.state)
            if expected_version is not None and record.version != expected_version:
                raise Conflict(record.ref)
            if record.state not in self.process.edit_states:
                raise Refused("edit", "state", f"{record.ref} is {record.state}; edits are "
                              f"allowed only while {' or '.join(self.process.edit_states)}")
            roles = frozenset(user.roles)
            if not any(p.admits(actor, roles, record.created_by)
                       for p in self.process.edit_permits):
                who = " or ".join(p.describe(record.created_by)
                                  for p in self.process.edit_permits)
                raise Refused("edit", "role", f"only {who} may edit {record.ref}")
            changes = {k: [record.data.get(k), v] for k, v in parsed.items()
                       if record.data.get(k) != v}
            if not changes:
                return {}
            data = {**record.data, **parsed}
            self._write(s, record, record.state, data, dict(record.participants))
            self._log(s, record, "edit", record.state, record.state, user, now, None, changes, {})
        return changes

    def _context(self, s: Session, record: Record, user: User, today: date,
                 reason: str | None = None, args: dict[str, Any] | None = None) -> Context:
        return Context(
            ref=record.ref, state=record.state,
            fields=views.field_values(self.process, record.data),
            actor=user.name, roles=frozenset(user.roles), drafter=record.created_by,
            participants={k: tuple(v) for k, v in record.participants.items()},
            today=today, policy=PolicyView(policy.restrictions(s), today),
            reason=reason, args=args or {},
        )

    def _refusal(self, event: Event, ctx: Context, *, with_args: bool) -> Refused | None:
        if not self.machinery.allows(ctx.state, event.name):
            sources = " or ".join(event.sources)
            return Refused(event.name, "state",
                           f"{ctx.ref} is {ctx.state}; {event.name} applies only from {sources}")
        if not any(p.admits(ctx.actor, ctx.roles, ctx.drafter) for p in event.permits):
            held = ", ".join(sorted(ctx.roles)) or "no role"
            return Refused(event.name, "role", f"only {event.who(ctx.drafter)} may fire it; "
                           f"{ctx.actor} holds {held}")
        for rule in event.rules:
            if rule.uses_args and not with_args:
                continue
            reason = rule.check(ctx)
            if reason:
                return Refused(event.name, rule.name, reason)
        return None

    def _parse_args(self, event: Event, args: dict[str, Any]) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        for name, value in args.items():
            if value is None:
                continue
            if name not in event.args:
                takes = ", ".join(event.args) or "no arguments"
                raise InvalidInput(f"{event.name} does not take {name!r} (it takes {takes})")
            parsed[name] = values.parse(event.args[name], name, value)
        return parsed

    def _refusal_logged(self, actor: str, ref: str | None, event: str, seen: dict[str, Any],
                        error: Refused | Conflict) -> None:
        """Append a refused attempt to the refusal log, in its own transaction."""
        rule = error.rule if isinstance(error, Refused) else "conflict"
        try:
            with self.db.write() as s:
                s.add(Refusal(at=to_storage(as_utc(self.clock())), actor=actor,
                              ref=seen.get("ref", ref), event=event, state=seen.get("state"),
                              rule=rule, message=str(error)))
        except WorkflowError:
            pass  # the refusal itself is what the caller must see

    def fire(self, ref: str, event: str, *, actor: str, reason: str | None = None,
             expected_version: int | None = None, **args: Any) -> str:
        """Fire ``event`` on record ``ref``; returns the new state or raises why it cannot.

        A refusal (state, role, rule) or a conflict is also appended to the refusal log.
        """
        spec = self.process.event(event)
        cleaned_reason = values.reason(reason)
        parsed = self._parse_args(spec, args)
        seen: dict[str, Any] = {}
        try:
            return retrying(lambda: self._fire(ref, spec, actor, cleaned_reason, parsed,
                                               expected_version, seen))
        except (Refused, Conflict) as error:
            self._refusal_logged(actor, ref, spec.name, seen, error)
            raise

    def _fire(self, ref: str, spec: Event, actor: str, cleaned_reason: str | None,
              parsed: dict[str, Any], expected_version: int | None, seen: dict[str, Any]) -> str:
        now = as_utc(self.clock())
        with self.db.write() as s:
            user = self._user(s, actor)
            record = self._load(s, ref)
            seen.update(ref=record.ref, state=record.state)
            if expected_version is not None and record.version != expected_version:
                raise Conflict(record.ref)
            ctx = self._context(s, record, user, now.date(), cleaned_reason, parsed)
            if spec.defaults is not None:
                ctx = replace(ctx, args={**spec.defaults(ctx), **parsed})
            refusal = self._refusal(spec, ctx, with_args=True)
            if refusal is not None:
                raise refusal
            dest = self.machinery.advance(record.state, spec.name)
            updates = {k: values.to_json(v) for k, v in (spec.effect(ctx) if spec.effect
                                                          else {}).items()}
            changes = {k: [record.data.get(k), v] for k, v in updates.items()
                       if record.data.get(k) != v}
            participants = {k: list(v) for k, v in record.participants.items()}
            if user.name not in participants.setdefault(spec.name, []):
                participants[spec.name].append(user.name)
            self._write(s, record, dest, {**record.data, **updates}, participants)
            consulted = {
                "as_of": ctx.today.isoformat(),
                "restrictions": {
                    subject: [e.describe() for e in found]
                    for subject, found in ctx.policy.consulted.items()
                },
            }
            self._log(s, record, spec.name, record.state, dest, user, now, cleaned_reason,
                      changes, consulted)
        return dest

    # -- reading -----------------------------------------------------------------------------------

    def get(self, ref: str, *, actor: str | None = None) -> dict[str, Any]:
        """The record as a dict; with ``actor``, also every event and whether they may fire it."""
        with self.db.read() as s:
            user = self._user(s, actor) if actor is not None else None
            record = self._load(s, ref)
            out = views.record_dict(self.process, record)
            if user is not None:
                ctx = self._context(s, record, user, as_utc(self.clock()).date())
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


