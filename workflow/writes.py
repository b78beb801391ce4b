"""The writing half of :class:`workflow.Workflow`: create, edit and fire, one history row each.

Each runs in one transaction on the fast path (:mod:`workflow.fastpath`): load, check state,
roles and every rule, change the record with a version check, append one history row to the
Merkle log. A refusal or a conflict writes nothing to the record and is logged on its own.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from workflow import access, values, views
from workflow.clock import as_utc, iso
from workflow.errors import (
    Busy,
    Conflict,
    InvalidInput,
    NotFound,
    Refused,
    Replan,
    UnknownUser,
    WorkflowError,
)
from workflow.fastpath import RecordRow, Tx, UserRow
from workflow.ledger import encode
from workflow.process import Context, Event, PolicyView, Process, Restriction, admitted_as

if TYPE_CHECKING:
    from workflow.clock import Clock
    from workflow.database import Database
    from workflow.machine import Machinery

RETRIES = 3
T = TypeVar("T")


def retrying(attempt: Callable[[], T], waiting: Callable[[str], None] | None = None) -> T:
    """Run a write again when the database stayed busy past its timeout; bounded.
    ``waiting`` is told before each new try (a person may wonder why nothing happens)."""
    for tried in range(1, RETRIES):
        try:
            return attempt()
        except Replan:
            continue  # nothing to wait for
        except Busy:
            if waiting is not None:
                waiting(f"the database is busy with another writer; waiting again (try "
                        f"{tried + 1} of {RETRIES})")
    return attempt()


_stamp = lru_cache(maxsize=4)(iso)  # a batch stamps every row with the same moment
PROGRESS_STEP = 1000
Progress = Callable[[int], None] | None


def _at(places: Sequence[str] | None, number: int) -> str:
    """Where item ``number`` of a batch comes from, if the caller said (``x.csv line 5: ``)."""
    if not places or number > len(places):
        return ""
    return f"{places[number - 1]}: "


def _told(items: Iterable[T], progress: Progress) -> Iterator[T]:
    """The items as they are, telling ``progress`` how many are done every so often."""
    if progress is None:
        yield from items
        return
    done = 0
    for done, item in enumerate(items, 1):
        yield item
        if done % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
    if done % PROGRESS_STEP:
        progress(done % PROGRESS_STEP)


@contextmanager
def collector_paused() -> Iterator[None]:
    """A batch allocates many objects that live until it commits and makes no reference
    cycles: the cyclic garbage collector's passes would only walk them over and over.

    The collector is process-wide: it is paused for the whole call (reading the input, the
    retries) and switched back on afterwards, unless it was already off when the call began.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse_fields(process: Process, fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """A record's fields as typed, checked and made canonical (JSON values) before anything is
    looked up; ``creating`` requires every required field."""
    parsed: dict[str, Any] = {}
    for name, value in fields.items():
        spec = process.field(name)
        if not spec.editable:
            raise InvalidInput(f"{name}: set only by events, not by hand")
        if value is not None:
            parsed[name] = values.to_json(values.parse(spec.kind, name, value))
    if creating:
        missing = [s.name for s in process.fields if s.required and s.name not in parsed]
        if missing:
            raise InvalidInput(f"missing required fields: {', '.join(missing)}")
    return parsed


def edit_values(process: Process, fields: dict[str, Any], clear: Iterable[str] = ()
                ) -> dict[str, Any]:
    """What an edit would set (None: cleared), checked before anything is looked up."""
    parsed = parse_fields(process, fields, creating=False)
    for name in dict.fromkeys(clear):  # the same field cleared twice is cleared once
        spec = process.field(name)
        if not spec.editable or spec.required:
            raise InvalidInput(f"{name}: cannot be cleared (it is "
                               f"{'required' if spec.editable else 'set only by events'})")
        if name in parsed:
            raise InvalidInput(f"{name}: given a value and cleared at once")
        parsed[name] = None
    if not parsed:
        raise InvalidInput("nothing to change: give at least one field")
    return parsed


class Writing:
    db: Database
    process: Process
    clock: Clock
    machinery: Machinery
    login: str | None
    waiting: Callable[[str], None] | None = None  # told when a busy database is tried again
    # the policy's canonical texts per set of subjects consulted, kept while the policy read
    # (the very list, as the writer reuses it) and the day are the same: (policy, day, texts)
    _consulted_memo: tuple[list[Restriction], date, dict[tuple[str, ...], str]] | None = None

    # -- shared checks ---------------------------------------------------------------------

    def _now(self) -> datetime:
        """The time a write is stamped with: read once the transaction holds the log head
        (every writer locks it, SQLite's BEGIN IMMEDIATE included), so a write that waited for
        another is not stamped before it."""
        return as_utc(self.clock())

    def _actor(self, tx: Tx, actor: str) -> UserRow:
        actor = values.given_text("actor", actor)
        access.authenticate(self.login, actor)
        return access.require_active(actor, tx.user(actor))

    def _context(self, record: RecordRow, user: UserRow, today: date,
                 restrictions: list[Restriction], reason: str | None = None,
                 args: dict[str, Any] | None = None) -> Context:
        return Context(
            ref=record.ref, state=record.state,
            fields=views.field_values(self.process, record.data),
            actor=user.name, roles=user.role_set, drafter=record.created_by,
            participants={k: tuple(v) for k, v in record.participants.items()},
            today=today, policy=PolicyView(restrictions, today),
            reason=reason, args=args or {},
        )

    def _firing_context(self, spec: Event, record: RecordRow, user: UserRow, today: date,
                        restrictions: list[Restriction], reason: str | None,
                        parsed: dict[str, Any]) -> Context:
        """The context a firing is checked in: its arguments, with the event's defaults."""
        ctx = self._context(record, user, today, restrictions, reason, parsed)
        if spec.defaults is not None:
            ctx = replace(ctx, args={**spec.defaults(ctx), **parsed})
        return ctx

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

    def _parse_fields(self, fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        return parse_fields(self.process, fields, creating=creating)

    def _parse_args(self, event: Event, args: dict[str, Any]) -> dict[str, Any]:
        event.check_arguments(args)
        return {name: values.parse(event.args[name], name, value)
                for name, value in args.items() if value is not None}

    def _log_refusal(self, actor: str, ref: str | None, event: str, seen: dict[str, Any],
                     error: Refused | Conflict | UnknownUser) -> None:
        """Append a refused attempt to the refusal log, in its own transaction; where the
        database authenticates by login, under the login that tried (whatever --as said).

        An unknown actor named otherwise than a user name can be is recorded under the name as
        :func:`workflow.access.recorded_name` spells it: its own text is not for an auditor's
        terminal."""
        rule = "conflict" if isinstance(error, Conflict) else error.rule
        if isinstance(error, Refused):
            error.tried(seen.get("event", event))
        who = self.login if self.login is not None else actor
        if isinstance(error, UnknownUser) and self.login is None:  # a login is what it is
            who = access.recorded_name(who)
        message = str(error)

        def record() -> None:
            with self.db.fast.transaction() as tx:
                tx.insert_refusal(self._now, who, seen.get("ref", ref),
                                  seen.get("event", event), seen.get("state"), rule, message)

        try:
            retrying(record, self.waiting)
        except WorkflowError as failure:  # the refusal is what the caller must see: with a word
            if isinstance(failure, Refused) and failure.rule == "database-permission":
                error.annotate("(not recorded: this database login may not write the refusal "
                               "log, as an auditor's may not)")
                return
            why = failure.reason if isinstance(failure, Refused) else str(failure)
            error.annotate(f"(and it could not be recorded: {why})")  # its rule alone named

    def _logged(self, actor: str, ref: str | None, event: str,
                attempt: Callable[[dict[str, Any]], T]) -> T:
        seen: dict[str, Any] = {}
        try:
            return retrying(lambda: attempt(seen), self.waiting)
        except (Refused, Conflict, UnknownUser) as error:
            self._log_refusal(actor, ref, event, seen, error)
            raise

    # -- the three writes --------------------------------------------------------------------

    def _append(self, tx: Tx, record: RecordRow, event: str, source: str | None, dest: str,
                user: UserRow, acted_as: list[str], now: datetime, reason: str | None,
                changes: dict[str, Any], consulted: dict[str, Any] | str) -> None:
        """The history row of a write; ``record`` as it was before it (a new one at version 1,
        which its drafting row keeps)."""
        tx.append_history(record, {
            "ref": record.ref, "event": event, "from": source, "to": dest, "actor": user.name,
            "roles": list(user.roles), "acted_as": acted_as, "at": _stamp(now),
            "reason": reason, "changes": changes, "consulted": consulted,
            "process_version": self.process.version,
            "version": record.version + (source is not None),
        }, now)

    def _due_on(self, data: dict[str, Any]) -> date | None:
        due = data.get(self.process.due_field) if self.process.due_field else None
        return date.fromisoformat(due) if isinstance(due, str) else None

    def _update(self, tx: Tx, record: RecordRow, state: str, data: dict[str, Any],
                participants: dict[str, list[str]]) -> None:
        if not tx.update_record(record, state, data, participants, self._due_on(data),
                                deferred=True):
            raise Conflict(record.ref)

    def create(self, *, actor: str, **fields: Any) -> str:
        """Draft a new record; returns its reference."""
        actor = values.given_text("actor", actor)
        parsed = self._parse_fields(fields, creating=True)
        return self._logged(actor, None, "create",
                            lambda seen: self._create_many(actor, [parsed])[0])

    def create_many(self, records: Iterable[dict[str, Any]], *, actor: str,
                    progress: Progress = None, places: Sequence[str] | None = None
                    ) -> list[str]:
        """Draft many records in one transaction: all or nothing. ``progress`` is told how many
        more are checked and written, every thousand and for the rest at the end; ``places``
        says where each record comes from (``"drafts.csv line 5"``), for the errors that name
        one."""
        with collector_paused():
            return self._drafted_many(records, actor, progress, places)

    def _drafted_many(self, records: Iterable[dict[str, Any]], actor: str,
                      progress: Progress = None, places: Sequence[str] | None = None
                      ) -> list[str]:
        actor = values.given_text("actor", actor)
        parsed = []
        for number, fields in enumerate(records, 1):
            try:
                if not isinstance(fields, Mapping):
                    raise InvalidInput(f"expected a mapping of fields, got {type(fields).__name__}")
                parsed.append(self._parse_fields(dict(fields), creating=True))
            except InvalidInput as error:
                raise InvalidInput(f"{_at(places, number)}record {number}: {error}") from None
        if not parsed:  # nothing drafted, no number taken; who asked is checked all the same
            return self._logged(actor, None, "create", lambda seen: self._nothing(actor, True))
        return self._logged(actor, None, "create",
                            lambda seen: self._create_from(actor, parsed, progress, places))

    def _create_from(self, actor: str, batch: list[dict[str, Any]], progress: Progress,
                     places: Sequence[str] | None) -> list[str]:
        """:meth:`_create_many`; a refusal of a file's records says how many, from where."""
        try:
            return self._create_many(actor, batch, progress)
        except Refused as refusal:
            if not places:
                raise
            drafts = "1 record" if len(batch) == 1 else f"{len(batch)} records"
            raise Refused(refusal.event, refusal.rule,
                          f"{refusal.reason} ({drafts} from {places[0]} on; nothing was "
                          "drafted)") from None

    def _nothing(self, actor: str, creating: bool) -> list[str]:
        """An empty batch: the actor checked as for any (and, ``creating``, allowed to draft),
        nothing written."""
        with self.db.fast.reading() as tx:
            user = self._actor(tx, actor)
        if creating:
            self._may_create(user)
        return []

    def _may_create(self, user: UserRow) -> list[str]:
        """The roles the user creates records as; refused when none may."""
        acted_as = sorted(set(self.process.create_roles) & user.role_set)
        if not acted_as:
            raise Refused("create", "role", f"only a {' or '.join(self.process.create_roles)}"
                          f" may create records; {user.name} holds {', '.join(user.roles)}")
        return acted_as

    def _create_many(self, actor: str, batch: list[dict[str, Any]],
                     progress: Progress = None) -> list[str]:
        try:
            return self._created(actor, batch, progress)
        except Refused as denied:
            if denied.rule != "database-permission":
                raise
            try:  # the database's own roles refused the login: say why in the process's terms
                with self.db.fast.reading() as tx:
                    self._may_create(self._actor(tx, actor))
            except WorkflowError as refusal:
                raise refusal from None
            raise

    def _created(self, actor: str, batch: list[dict[str, Any]],
                 progress: Progress = None) -> list[str]:
        refs = []
        with self.db.fast.transaction() as tx:
            tx.lock_head()
            now = self._now()  # in its place in the log: writers wait for the head in turn
            user = self._actor(tx, actor)
            acted_as = self._may_create(user)
            prefix = self.process.ref_prefix
            first = tx.reserve_records(prefix, now.year, len(batch))
            for number, parsed in enumerate(_told(batch, progress), first):
                ref = f"{prefix}-{now.year}-{number:04d}"
                record = tx.insert_record(ref, self.process.name, self.process.initial, parsed,
                                          actor, now, self._due_on(parsed), deferred=True)
                self._append(tx, record, "create", None, self.process.initial, user, acted_as,
                             now, None, {k: [None, v] for k, v in parsed.items()}, {})
                refs.append(ref)
        return refs

    def edit(self, ref: str, *, actor: str, expected_version: int | None = None,
             clear: Iterable[str] = (), **fields: Any) -> dict[str, Any]:
        """Change fields of a record while its process allows edits; returns the changes made.

        ``clear`` names optional fields to empty (recorded as ``[old, None]``).
        """
        ref = values.given_text("ref", ref)
        actor = values.given_text("actor", actor)
        expected_version = values.version("expected_version", expected_version)
        parsed = edit_values(self.process, fields, clear)
        return self._logged(actor, ref, "edit",
                            lambda seen: self._edit(ref, actor, expected_version, parsed, seen))

    def _edit(self, ref: str, actor: str, expected_version: int | None, parsed: dict[str, Any],
              seen: dict[str, Any]) -> dict[str, Any]:
        with self.db.fast.transaction() as tx:
            tx.prefetch(actor, ref.strip().upper())  # PostgreSQL: head, user, record at once
            tx.lock_head()
            now = self._now()
            user = self._actor(tx, actor)
            record = self._record(tx, ref)
            seen.update(ref=record.ref, state=record.state)
            if expected_version is not None and record.version != expected_version:
                raise Conflict(record.ref, record.version, expected_version)
            if record.state not in self.process.edit_states:
                raise Refused("edit", "state", f"{record.ref} is {record.state}; edits are "
                              f"allowed only while {' or '.join(self.process.edit_states)}")
            acted_as = admitted_as(self.process.edit_permits, user.role_set,
                                   actor == record.created_by)
            if not acted_as:
                who = " or ".join(p.describe(record.created_by)
                                  for p in self.process.edit_permits)
                raise Refused("edit", "role", f"only {who} may edit {record.ref}")
            changes = {k: [record.data.get(k), v] for k, v in parsed.items()
                       if record.data.get(k) != v}
            if not changes:
                return {}
            data = {k: v for k, v in {**record.data, **parsed}.items() if v is not None}
            self._update(tx, record, record.state, data, dict(record.participants))
            self._append(tx, record, "edit", record.state, record.state, user, acted_as, now,
                         None, changes, {})
        return changes

    def fire(self, ref: str, event: str, *, actor: str, reason: str | None = None,
             expected_version: int | None = None, **args: Any) -> str:
        """Fire ``event`` on record ``ref``; returns the new state or raises why it cannot.

        A refusal (state, role, rule) or a conflict is also appended to the refusal log.
        """
        ref = values.given_text("ref", ref)
        actor = values.given_text("actor", actor)
        expected_version = values.version("expected_version", expected_version)
        spec = self.process.event(event)
        cleaned = values.reason(reason)
        parsed = self._parse_args(spec, args)
        return self._logged(actor, ref, spec.name, lambda seen: self._fire_many(
            actor, [(ref, spec, cleaned, parsed, expected_version)], seen)[0])

    def fire_many(self, firings: Iterable[dict[str, Any]], *, actor: str,
                  progress: Progress = None, places: Sequence[str] | None = None
                  ) -> list[str]:
        """Fire many events in one transaction, all or nothing.

        Each firing is ``{"ref", "event", "reason"?, "expected_version"?, **args}``; the first
        refusal aborts the whole batch and names its position (and its place, from ``places``,
        such as ``"firings.csv line 5"``). ``progress`` is told how many more are checked, every
        thousand and for the rest at the end.
        """
        with collector_paused():
            return self._fired_many(firings, actor, progress, places)

    def _fired_many(self, firings: Iterable[dict[str, Any]], actor: str,
                    progress: Progress = None, places: Sequence[str] | None = None
                    ) -> list[str]:
        actor = values.given_text("actor", actor)
        batch = []
        for number, firing in enumerate(firings, 1):
            try:
                if not isinstance(firing, Mapping):
                    raise InvalidInput(f"expected a mapping of ref, event and the rest, got "
                                       f"{type(firing).__name__}")
                item = dict(firing)
                ref = str(item.pop("ref"))
                spec = self.process.event(str(item.pop("event")))
                cleaned = values.reason(item.pop("reason", None))
                expected = values.version("expected_version", item.pop("expected_version", None))
                batch.append((ref, spec, cleaned, self._parse_args(spec, item), expected))
            except KeyError as missing:
                raise InvalidInput(f"{_at(places, number)}firing {number}: {missing.args[0]} "
                                   "is missing") from None
            except InvalidInput as error:
                raise InvalidInput(f"{_at(places, number)}firing {number}: {error}") from None
        if not batch:  # nothing to fire; who asked is checked all the same
            return self._logged(actor, None, "batch", lambda seen: self._nothing(actor, False))
        return self._logged(actor, None, "batch",
                            lambda seen: self._fire_many(actor, batch, seen, progress, places))

    def _fire_many(self, actor: str, batch: list[tuple[str, Event, str | None, dict[str, Any],
                                                       int | None]],
                   seen: dict[str, Any], progress: Progress = None,
                   places: Sequence[str] | None = None) -> list[str]:
        try:
            return self._fired(actor, batch, seen, progress, places)
        except Refused as denied:
            if denied.rule != "database-permission":
                raise
            raise self._process_refusal(actor, batch[0]) or denied from None

    def _process_refusal(self, actor: str, firing: tuple[str, Event, str | None,
                                                         dict[str, Any], int | None]
                         ) -> Refused | None:
        """Where the database's own roles refused a login the writes of a firing (an auditor's,
        say), the process's refusal of its first firing, which says why in the process's
        terms, if it has one: read only, as that login may."""
        ref, spec, reason, parsed, _ = firing
        try:
            with self.db.fast.reading() as tx:
                user = self._actor(tx, actor)
                record = tx.record(ref.strip().upper())
                if record is None:
                    return None
                ctx = self._firing_context(spec, record, user, as_utc(self.clock()).date(),
                                           tx.policy(), reason, parsed)
        except WorkflowError:
            return None
        return self._refusal(spec, ctx, with_args=True)

    def _fired(self, actor: str, batch: list[tuple[str, Event, str | None, dict[str, Any],
                                                   int | None]],
               seen: dict[str, Any], progress: Progress = None,
               places: Sequence[str] | None = None) -> list[str]:
        states: list[str] = []
        committed: dict[str, str] = {}  # each record's state before the batch, for a refusal
        with self.db.fast.transaction() as tx:
            tx.prefetch(actor, batch[0][0].strip().upper())
            tx.lock_head()
            now = self._now()
            if len(batch) > 1:
                tx.prefetch_records([ref.strip().upper() for ref, *_ in batch])
            user = self._actor(tx, actor)
            restrictions = tx.policy()
            consulted = self._consulted_texts(restrictions, now.date())
            for number, (ref, spec, reason, parsed, expected) in enumerate(
                    _told(batch, progress), 1):
                seen.update(ref=ref, event=spec.name, state=None)
                try:
                    record = self._record(tx, ref)
                except NotFound as unknown:
                    if len(batch) == 1 and not places:  # a lone firing, not a file's
                        raise
                    raise NotFound(f"{unknown} ({_at(places, number)}firing {number} of "
                                   f"{len(batch)}; nothing was applied)") from None
                # a refusal is recorded in the state the database holds, not one this
                # batch reached and rolls back
                seen.update(ref=record.ref, state=committed.setdefault(record.ref, record.state))
                if expected is not None and record.version != expected:
                    conflict = Conflict(record.ref, record.version, expected)
                    if len(batch) > 1 or places:  # a file's firing: which, and that none was
                        conflict.annotate(f"({_at(places, number)}firing {number} of "
                                          f"{len(batch)}; nothing was applied)")
                    raise conflict
                try:
                    states.append(self._fire_one(tx, record, user, spec, reason, parsed, now,
                                                 restrictions, consulted))
                except Refused as refusal:
                    if len(batch) == 1 and not places:  # a lone firing, not a file's
                        raise
                    raise Refused(refusal.event, refusal.rule,
                                  f"{refusal.reason} ({_at(places, number)}firing {number} of "
                                  f"{len(batch)}; nothing was applied)") from None
        return states

    def _consulted_texts(self, restrictions: list[Restriction], today: date
                         ) -> dict[tuple[str, ...], str]:
        """The canonical texts of what firings consulted, per set of subjects: the same while
        the policy read and the day are (a policy read afresh is another list)."""
        memo = self._consulted_memo
        if memo is None or memo[0] is not restrictions or memo[1] != today:
            memo = self._consulted_memo = (restrictions, today, {})
        return memo[2]

    def _fire_one(self, tx: Tx, record: RecordRow, user: UserRow, spec: Event,
                  reason: str | None, parsed: dict[str, Any], now: datetime,
                  restrictions: list[Restriction], consulted: dict[tuple[str, ...], str]) -> str:
        """One firing of a batch; ``consulted`` keeps the policy's canonical text per set of
        subjects looked at, the same for every firing of the transaction (one day, one
        policy)."""
        ctx = self._firing_context(spec, record, user, now.date(), restrictions, reason, parsed)
        refusal = self._refusal(spec, ctx, with_args=True)
        if refusal is not None:
            raise refusal
        dest = self.machinery.advance(record.state, spec.name)
        updates = {k: values.to_json(v) for k, v in _effect(spec, ctx).items()}
        changes = {k: [record.data.get(k), v] for k, v in updates.items()
                   if record.data.get(k) != v}
        participants = {k: list(v) for k, v in record.participants.items()}
        if user.name not in participants.setdefault(spec.name, []):
            participants[spec.name].append(user.name)
        self._update(tx, record, dest, {**record.data, **updates}, participants)
        subjects = tuple(ctx.policy.consulted)
        text = consulted.get(subjects)
        if text is None:
            text = consulted[subjects] = encode(ctx.policy.consulted_record())
        self._append(tx, record, spec.name, record.state, dest, user,
                     admitted_as(spec.permits, user.role_set, user.name == record.created_by),
                     now, reason, changes, text)
        return dest


def _effect(spec: Event, ctx: Context) -> Mapping[str, Any]:
    """The fields an event sets: only those it declares (``Event.sets``), which verification
    holds its history rows to."""
    if spec.effect is None:
        return {}
    updates = spec.effect(ctx)
    if not updates.keys() <= set(spec.sets):
        raise RuntimeError(f"{spec.name} sets {', '.join(sorted(updates))} but declares "
                           f"{', '.join(spec.sets) or 'no field'} (Event.sets)")
    return updates
